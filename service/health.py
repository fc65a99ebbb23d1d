"""GET /healthz, for a load balancer: 200 while the database answers `SELECT 1`, 503 when not.

No sign-in, no session cookie, nothing cached: the answer is about this instance, right now.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from peewee import PeeweeException

from service.storage.db import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    # db.py's before_request leaves this endpoint alone, so a database that is down lands here
    try:
        db.connect(reuse_if_open=True)
        db.execute_sql("SELECT 1").fetchone()
    except (PeeweeException, OSError):
        current_app.logger.warning("health check: the database does not answer", exc_info=True)
        return _answer(503, status="unavailable", database="unreachable")
    return _answer(200, status="ok", database="ok")


def _answer(code: int, **body):
    response = jsonify(body)
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response

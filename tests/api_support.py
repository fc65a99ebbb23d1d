"""What the API's tests share: tokens made as `doorstep tokens create` makes them, and headers
that send them."""
from __future__ import annotations

from contextlib import nullcontext

from flask import has_app_context

from service.api import auth
from service.storage.db import db
from service.storage.models import Area


def make_token(app, name, role, area_code=None, expires=None) -> str:
    """A new token's secret (the line `doorstep tokens create` prints last)."""
    with nullcontext() if has_app_context() else app.app_context(), db.connection_context():
        area = Area.get(Area.code == area_code) if area_code else None
        _token, secret = auth.create(name, role, area, expires)
    return secret


def bearer(secret: str, lang: str = "en") -> dict:
    return {"Authorization": f"Bearer {secret}", "Accept-Language": lang}


#: A token per role and place, as the office fixture's areas hold them: name → (role, area).
TOKENS = {"admin": ("admin", None), "mgr-sq1": ("manager", "SQ1"), "mgr-sq2": ("manager", "SQ2"),
          "sv-sq1": ("surveyor", "SQ1"), "sv-sq2": ("surveyor", "SQ2")}


def tokens_for(app) -> dict[str, dict]:
    """Headers for each token of TOKENS."""
    return {name: bearer(make_token(app, name, role, area)) for name, (role, area) in
            TOKENS.items()}


def is_problem(response, status: int) -> dict:
    """The response is an RFC 9457 problem of `status`; returns its body."""
    assert response.status_code == status, response.text
    assert response.mimetype == "application/problem+json", response.headers
    problem = response.get_json(force=True)
    assert problem["status"] == status and problem["title"] and problem["detail"], problem
    assert problem["type"] == "about:blank" or problem["type"].startswith("tag:doorstep"), problem
    return problem

"""The least work a submission can be, served under the same gunicorn settings as Doorstep for
comparison: parse the same form body and insert it as one row with peewee, through the same
database layer (`service.db`: its pool, WAL and synchronous=FULL on SQLite, its write transaction);
and the form page as a ready string.

    BENCH_PAGE=page.html DATABASE_URL=... gunicorn -c gunicorn.conf.py 'bench.baseline:create_app()'
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from flask import Flask, Response, request
from peewee import CharField, Model, TextField

from service.storage.db import db, open_database, write_transaction


def row_model(database):
    class BaselineRow(Model):
        uuid = CharField(max_length=36, unique=True)
        receipt = CharField(max_length=16)
        answers = TextField()

        class Meta:
            table_name = "baseline_row"
    BaselineRow._meta.set_database(database)
    return BaselineRow


def create_table(url: str) -> None:
    """Made once by the driver: workers racing to create it would trip over each other."""
    database = open_database(url)
    with database.connection_context():
        database.create_tables([row_model(database)], safe=True)


def create_app() -> Flask:
    database = open_database(os.environ["DATABASE_URL"])
    db.initialize(database)          # write_transaction() works on service.db's handle
    row = row_model(database)
    page = Path(os.environ["BENCH_PAGE"]).read_text(encoding="utf-8")
    app = Flask(__name__)

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(exc):
        if not database.is_closed():
            database.close()

    @app.get("/form")
    def form():
        return Response(page, mimetype="text/html")

    @app.post("/submit")
    def submit():
        answers = request.form.to_dict(flat=False)
        code = secrets.token_hex(4).upper()
        with write_transaction():
            row.create(uuid=answers["submission_uuid"][0], receipt=code,
                       answers=json.dumps(answers, ensure_ascii=False))
        return f'<p>Thank you</p><p id="receipt">{code}</p>'

    return app

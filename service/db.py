"""The database handle: one peewee proxy, bound by the app factory to DATABASE_URL.

SQLite (the embedded default) runs in WAL mode with a busy timeout and synchronous=FULL, so several
gunicorn workers can write at once and nothing acknowledged is lost on a crash or power cut.
PostgreSQL is one `DATABASE_URL` away (playhouse.db_url).
"""
from __future__ import annotations

from pathlib import Path

from flask import request
from peewee import DatabaseProxy, SqliteDatabase
from playhouse.db_url import connect as url_connect

db = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 30000,   # ms: writers queue instead of failing with "database is locked"
    "synchronous": "full",
    "foreign_keys": 1,
    "cache_size": -32000,    # 32 MB page cache
}


def open_database(url: str):
    """A peewee database for `url`; SQLite files get their folder made and the pragmas above."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=30)
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://") and "connect_timeout=" not in url:
        # an unreachable server fails a request (and /healthz) in seconds, not a TCP timeout
        return url_connect(url, connect_timeout=5)
    return url_connect(url)


def is_sqlite() -> bool:
    return isinstance(db.obj, SqliteDatabase)


def write_transaction():
    """A transaction for writes. On SQLite it takes the write lock up front (BEGIN IMMEDIATE), so
    a busy writer waits for the busy timeout instead of failing half-way on lock upgrade."""
    if is_sqlite():
        return db.atomic("IMMEDIATE")
    return db.atomic()


def init_app(app) -> None:
    db.initialize(open_database(app.config["DATABASE_URL"]))

    @app.before_request
    def _connect():
        if request.endpoint == "health.healthz":   # it answers 503 itself when the database is down
            return
        db.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(exc):
        # teardown runs even when the request failed, so no connection is ever left open
        if not db.is_closed():
            db.close()


def keyset_batches(query, key, size: int = 1000):
    """Yield lists of rows of `query` in ascending `key` order, `size` at a time.

    Each batch is its own short query (WHERE key > last ORDER BY key LIMIT size), so a million-row
    export holds one batch in memory, on SQLite and PostgreSQL alike, and never a long cursor.
    """
    last = None
    while True:
        page = query.order_by(key)
        if last is not None:
            page = page.where(key > last)
        rows = list(page.limit(size))
        if not rows:
            return
        yield rows
        last = getattr(rows[-1], key.name)
        if len(rows) < size:
            return


"""The database handle: one peewee proxy, bound by the app factory to DATABASE_URL.

SQLite (the embedded default) runs in WAL mode with a busy timeout and synchronous=FULL, so several
gunicorn workers can write at once and nothing acknowledged is lost on a crash or power cut.
PostgreSQL is one `DATABASE_URL` away (playhouse.db_url).

Connections are pooled per process (playhouse.pool): a request takes one and gives it back, so a
gunicorn worker keeps its connection instead of opening one per request. That spares PostgreSQL's
connection set-up, and on SQLite the checkpoint it runs whenever the last connection to a file
closes (a quarter of a submission's time when measured; see bench/).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import io
import os
import threading
import time
from pathlib import Path

from flask import request
from peewee import SQL, DatabaseProxy, InterfaceError, NodeList, OperationalError, SqliteDatabase
from playhouse.db_url import connect as url_connect
from playhouse.pool import PooledSqliteDatabase

db = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 30000,   # ms: writers queue instead of failing with "database is locked"
    "synchronous": "full",
    "foreign_keys": 1,
    "cache_size": -32000,    # 32 MB page cache
}


POOL_STALE_SECONDS = 300    # a pooled connection is replaced after 5 minutes


def open_database(url: str):
    """A peewee database for `url`; SQLite files get their folder made and the pragmas above."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # one thread at a time uses a pooled connection, but not always the one that opened it
        return PooledSqliteDatabase(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False,
                                    max_connections=None, stale_timeout=POOL_STALE_SECONDS)
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        pooled = {"max_connections": None, "stale_timeout": POOL_STALE_SECONDS}
        if "connect_timeout=" not in url:
            # an unreachable server fails a request (and /healthz) in seconds, not a TCP timeout
            pooled["connect_timeout"] = 5
        return url_connect("postgresql+pool://" + url[len("postgresql://"):], **pooled)
    return url_connect(url)


def is_sqlite() -> bool:
    return isinstance(db.obj, SqliteDatabase)


def write_transaction():
    """A transaction for writes. On SQLite it takes the write lock up front (BEGIN IMMEDIATE), so
    a busy writer waits for the busy timeout instead of failing half-way on lock upgrade."""
    if is_sqlite():
        return _sqlite_write()
    return db.atomic()


@contextlib.contextmanager
def _sqlite_write():
    """Writers queue on a lock file next to the database before BEGIN IMMEDIATE.

    A writer that finds SQLite's lock taken polls for it, sleeping up to 100 ms between tries, so
    under load some wait many times longer than others (measured: p99 four times p50); the
    kernel's lock hands over to the next writer as soon as one is done. SQLite's lock still decides
    what is safe; this only orders the queue. A nested write is already inside the outer one's turn.
    """
    path = db.obj.database
    if db.in_transaction() or not path or path == ":memory:":
        with db.atomic("IMMEDIATE"):
            yield
        return
    turn = os.open(path + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(turn, fcntl.LOCK_EX)      # released when closed, or when the process dies
        with db.atomic("IMMEDIATE"):
            yield
    finally:
        os.close(turn)


def init_app(app) -> None:
    previous = db.obj
    db.initialize(open_database(app.config["DATABASE_URL"]))
    if previous is not None and hasattr(previous, "close_idle"):
        previous.close_idle()    # a second app in one process (tests): the first's idle connections

    @app.before_request
    def _connect():
        if request.endpoint == "health.healthz":   # it answers 503 itself when the database is down
            return
        db.connect(reuse_if_open=True)
        if not is_sqlite():
            _ping()

    @app.teardown_appcontext
    def _close(exc):
        # teardown runs even when the request failed, so no connection is ever left open
        if not db.is_closed():
            db.close()


def _ping() -> None:
    """Make sure the pooled PostgreSQL connection still works; after a server restart every pooled
    connection is dead, and without this check each would fail one request with an error page."""
    for _attempt in range(3):
        try:
            db.execute_sql("SELECT 1")
            return
        except (OperationalError, InterfaceError):
            if db.in_transaction():
                raise
            db.manual_close()     # drop the dead connection instead of returning it to the pool
            db.connect()
    db.execute_sql("SELECT 1")


def keyset_batches(query, key, size: int = 1000, raw: bool = False):
    """Yield lists of rows of `query` in ascending `key` order, `size` at a time.

    Each batch is its own short query (WHERE key > last ORDER BY key LIMIT size), so a million-row
    export holds one batch in memory, on SQLite and PostgreSQL alike, and never a long cursor.
    `raw=True` yields the driver's own tuples (no peewee conversion: datetimes stay as the driver
    returns them); `key` must then be the first column selected.
    """
    last = None
    while True:
        page = query.order_by(key)
        if last is not None:
            page = page.where(key > last)
        page = page.limit(size)
        rows = db.execute(page).fetchall() if raw else list(page)
        if not rows:
            return
        yield rows
        last = rows[-1][0] if raw else getattr(rows[-1], key.name)
        if len(rows) < size:
            return


def in_id_order(query, model):
    """`query` read in id order from a keyset. Without statistics SQLite takes a column's
    equality on an index for selective (one form holds every household: it is not), then sorts
    the whole table for each page or batch; NOT INDEXED walks the table by id from the keyset
    instead. PostgreSQL's planner makes that choice itself."""
    if is_sqlite():
        return query.from_(NodeList((model, SQL("NOT INDEXED"))))
    return query


def insert_rows(model, rows: list, add_on_conflict: tuple[tuple[str, ...], str] | None = None,
                batch: int = 200, plain: bool = False, names: tuple[str, ...] = ()) -> None:
    """INSERT `rows` (dicts with the same keys: field names) in multi-row statements.

    What `Model.insert_many(rows).execute()` does, without building a query tree per value: for a
    household submission (~40 answer rows, ~60 tally rows) that tree-building was a third of the
    whole request (see bench/README.md). Values still go through each field's `db_value`.
    `add_on_conflict=(key columns, column)`: on a key already present, add to that column instead
    (an upsert SQLite and PostgreSQL spell alike). `plain=True`: the values are str, int, float or
    None already, which both drivers take as they are, so `db_value` is skipped (~800 calls a
    household). `names`: the rows are tuples of these fields' values (plain, as above; the
    values of sealed fields are sealed here: sealed_fields.py).
    """
    if not rows:
        return
    if names:
        rows = _sealed(model, rows, names)
    tail = ""
    if add_on_conflict:
        key, column = add_on_conflict
        table = model._meta.table_name
        tail = (" ON CONFLICT (" + ", ".join(f'"{k}"' for k in key) + f') DO UPDATE SET "{column}"'
                f' = "{table}"."{column}" + excluded."{column}"')
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        if names:
            sql = _insert_sql(model, names, len(chunk))
            params = [value for row in chunk for value in row]
        else:
            sql, params = _insert(model, chunk, plain)
        db.execute_sql(sql + tail, params)


def copy_rows(model, rows: list, names: tuple[str, ...]) -> None:
    """Many rows at once (an import): PostgreSQL's COPY, which takes 100,000 households' rows in
    a fraction of the time multi-row INSERTs do; elsewhere `insert_rows`. `rows` are tuples of
    the `names` fields' plain values (str, int, float, bool, datetime or None)."""
    if is_sqlite() or not rows:
        insert_rows(model, rows, names=names)
        return
    rows = _sealed(model, rows, names)
    columns = ", ".join(f'"{model._meta.fields[name].column_name}"' for name in names)
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(copy_text(v) for v in row))
        buffer.write("\n")
    buffer.seek(0)
    db.cursor().copy_expert(f'COPY "{model._meta.table_name}" ({columns}) FROM STDIN', buffer)


def _sealed(model, rows: list, names: tuple[str, ...]) -> list:
    """`rows` with the values of the model's sealed fields sealed (raw writes skip `db_value`)."""
    from service.storage.sealed_fields import sealed_tuple, sealers
    found = sealers(model, names)
    return [sealed_tuple(row, found) for row in rows] if found else rows


def copy_text(value) -> str:
    """A value in COPY's text format: \\N for NULL, backslash escapes for the separators."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    text = value if isinstance(value, str) else str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return text


def insert_row(instance) -> int:
    """INSERT a new model instance (its defaults applied) and return and set its id: what
    `Model.create` does, without peewee building a query tree (a quarter of a submission's store)."""
    sql, params = _insert(type(instance), [{k: v for k, v in instance.__data__.items()
                                           if k != "id"}])
    if is_sqlite():
        instance.id = db.execute_sql(sql, params).lastrowid
    else:
        instance.id = db.execute_sql(sql + ' RETURNING "id"', params).fetchone()[0]
    return instance.id


def _insert_sql(model, names, count: int) -> str:
    fields = [model._meta.fields[name] for name in names]
    placeholders = "(" + ", ".join([db.obj.param] * len(fields)) + ")"
    return (f'INSERT INTO "{model._meta.table_name}" ('
            + ", ".join(f'"{f.column_name}"' for f in fields) + ") VALUES "
            + ", ".join([placeholders] * count))


def _insert(model, rows: list[dict], plain: bool = False) -> tuple[str, list]:
    names = list(rows[0])
    fields = [model._meta.fields[name] for name in names]
    sql = _insert_sql(model, names, len(rows))
    if plain:
        return sql, [row[name] for row in rows for name in names]
    return sql, [field.db_value(row[name]) for row in rows for name, field in zip(names, fields)]


class TimeLimitExceeded(Exception):
    """A `time_limit` block ran out of time; its queries were stopped by the database."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Stop this connection's queries once `seconds` have passed since the block began, and raise
    TimeLimitExceeded: SQLite interrupts the running statement (a progress handler), PostgreSQL's
    is cancelled by a timer (psycopg2's `cancel()`, meant to be called from another thread)."""
    deadline = time.monotonic() + seconds
    connection = db.connection()
    state = {"active": True, "fired": False}
    if is_sqlite():
        connection.set_progress_handler(lambda: time.monotonic() > deadline, 100_000)
        timer = None
    else:
        def cancel():
            if state["active"]:
                state["fired"] = True
                connection.cancel()
        timer = threading.Timer(seconds, cancel)
        timer.daemon = True
        timer.start()
    try:
        yield
    except Exception as exc:     # sqlite3's "interrupted"; psycopg2's QueryCanceledError
        if state["fired"] or time.monotonic() > deadline:
            raise TimeLimitExceeded() from exc
        raise
    finally:
        state["active"] = False
        if timer is not None:
            timer.cancel()
        else:
            connection.set_progress_handler(None, 0)

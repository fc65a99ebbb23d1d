"""Doorstep on PostgreSQL: one `DATABASE_URL` moves every part of it there; exports page through
rows instead of loading them all; SQLite, the default, keeps its WAL set-up and its writers queue."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import uuid

import psycopg2
import pytest
from peewee import PostgresqlDatabase, SqliteDatabase

from service.records import submissions
from service.storage.db import db, keyset_batches, open_database, write_transaction
from service.storage.models import Area, Submission

from .conftest import KITCHEN_ANSWERS, POSTGRES, receipt


@pytest.mark.postgres_only
def test_a_postgresql_database_url_puts_the_submissions_in_postgresql(app, visitor, tmp_path):
    url = app.config["DATABASE_URL"]
    assert url.startswith("postgresql://")
    page = visitor.submit("/f/kitchen", {"consent": "y", "name": "张三", "employed": "yes",
                                         "members-0-mname": "李四"})
    assert page.status_code == 200, page.text
    with psycopg2.connect(url) as con, con.cursor() as cur:   # PostgreSQL itself, not peewee
        cur.execute("SELECT receipt, form_id FROM submission")
        assert cur.fetchall() == [(receipt(page.text), "kitchen")]
        cur.execute("SELECT value FROM answer WHERE question = 'mname'")
        assert cur.fetchall() == [("李四",)]
    assert not list(tmp_path.rglob("*.db")), "nothing may fall back to a SQLite file"


def test_postgres_and_postgresql_urls_both_open_postgresql():
    """Hosting platforms hand out `postgres://`; peewee only knows `postgresql://`."""
    for scheme in ("postgres", "postgresql"):
        database = open_database(f"{scheme}://doorstep@db.example:5432/doorstep")
        assert isinstance(database, PostgresqlDatabase)
        assert database.connect_params["host"] == "db.example"


@pytest.mark.sqlite_only
def test_sqlite_stays_in_wal_mode_with_a_busy_timeout_and_full_sync(database):
    assert isinstance(database.obj, SqliteDatabase)
    pragma = lambda name: database.execute_sql(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
    assert pragma("journal_mode") == "wal"
    assert pragma("busy_timeout") == 30000
    assert pragma("synchronous") == 2          # FULL
    assert pragma("foreign_keys") == 1


@pytest.mark.sqlite_only
def test_sqlite_writers_queue_on_a_lock_file_and_a_nested_write_is_inside_the_outer_turn(database):
    """Another worker in the middle of a write (holding the queue's lock) makes a writer wait,
    without polling, until it is done; a write nested in a write does not wait for itself."""
    path = database.obj.database + "-writer.lock"
    other_worker = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(other_worker, fcntl.LOCK_EX)
    done = threading.Event()

    def write():
        with db.connection_context(), write_transaction():
            Area.create(code="Q1", name="排队", path="/")
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not done.wait(0.5), "the writer must wait for the worker holding the turn"
    os.close(other_worker)
    assert done.wait(10)
    writer.join()
    with write_transaction():
        with write_transaction():
            Area.create(code="Q2", name="嵌套", path="/")
    assert [a.code for a in Area.select().order_by(Area.code)] == ["Q1", "Q2"]


def store_many(app, n):
    spec = app.extensions["doorstep.catalog"].get("kitchen")
    app.extensions["doorstep.catalog"].ensure_published(spec)
    document = json.dumps(KITCHEN_ANSWERS, ensure_ascii=False)
    rows = [{"uuid": str(uuid.uuid4()), "receipt": f"R{i:07d}", "form_id": "kitchen",
             "form_version": 1, "answers": document} for i in range(n)]
    with db.atomic():
        for start in range(0, n, 500):
            Submission.insert_many(rows[start:start + 500]).execute()


class SQLLog(logging.Handler):
    """Every SELECT peewee sends, in order."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.selects: list[str] = []

    def emit(self, record):
        sql = record.msg[0] if isinstance(record.msg, tuple) else str(record.msg)
        if sql.lstrip().upper().startswith("SELECT"):
            self.selects.append(sql)


@pytest.fixture
def sql_log():
    logger = logging.getLogger("peewee")
    handler, level = SQLLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_an_export_reads_its_rows_a_page_at_a_time_never_all_at_once(app, database, sql_log):
    """The export's reader (db.keyset_batches) on this pass's database: each page is its own
    `WHERE id > last ORDER BY id LIMIT n` query, so memory holds one page however big the table."""
    store_many(app, 2500)
    sql_log.selects.clear()
    pages = keyset_batches(Submission.select(), Submission.id, 1000)

    first = next(pages)
    assert len(first) == 1000 and len(sql_log.selects) == 1, "the first page comes alone"
    rest = list(pages)
    ids = [s.id for page in [first, *rest] for s in page]
    assert [len(page) for page in rest] == [1000, 500]
    assert ids == sorted(ids) and len(set(ids)) == 2500
    assert len(sql_log.selects) == 3
    assert all("LIMIT" in sql for sql in sql_log.selects)
    assert all('"id" >' in sql for sql in sql_log.selects[1:])


def test_the_same_submission_sent_by_eight_threads_at_once_is_stored_once(app, database):
    """A double tap that reaches two workers: the unique UUID decides, on either database."""
    spec = app.extensions["doorstep.catalog"].get("kitchen")
    app.extensions["doorstep.catalog"].ensure_published(spec)
    the_uuid, barrier, results = str(uuid.uuid4()), threading.Barrier(8), []

    def send():
        barrier.wait()
        with db.connection_context():
            stored, _created = submissions.store(spec, the_uuid, KITCHEN_ANSWERS)
            results.append(stored.receipt)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8 and len(set(results)) == 1
    assert [s.receipt for s in Submission.select().where(Submission.uuid == the_uuid)] == \
        [results[0]]


def test_the_pass_runs_on_the_database_it_says(database):
    assert isinstance(database.obj, PostgresqlDatabase if POSTGRES else SqliteDatabase)

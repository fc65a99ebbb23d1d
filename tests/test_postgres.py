"""Doorstep on PostgreSQL: one `DATABASE_URL` moves every part of it there; the office's export
pages through rows instead of loading them all; SQLite, the default, keeps its WAL set-up and its
writers queue."""
from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import threading
import uuid

import psycopg2
import pytest
from peewee import PostgresqlDatabase, SqliteDatabase

from service.office import auth
from service.records import submissions
from service.reports import export
from service.storage.db import db, open_database, write_transaction
from service.storage.models import Area, Submission, User

from .conftest import KITCHEN_ANSWERS, PASSWORD, POSTGRES, login, receipt


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


EXPORT_HEAD = ("submission_id,receipt,received_at,form_version,area_code,area_name,surveyor,"
               "channel,status,employed,why,n,eth,phone,idn,d,tags/a,tags/b,tags/c,tags,story,"
               "income,moved,needs/x,needs/y,needs/z,needs\r\n")


def test_an_export_downloads_every_row_reading_them_a_page_at_a_time(app, fast_hashing, clock,
                                                                     sql_log, monkeypatch):
    """The office's CSV download, on this pass's database (PostgreSQL in its pass): every stored
    submission, byte for byte, read a page at a time. Each page is its own `WHERE id > last
    ORDER BY id LIMIT n` query, so memory holds one page however big the table (pages of 10 here
    instead of 1,000, to see three of them)."""
    monkeypatch.setattr(export, "BATCH", 10)
    spec = app.extensions["doorstep.catalog"].get("kitchen")
    clock(dt.datetime(2026, 3, 1, 2, 0))            # 10:00 in Beijing
    with app.app_context(), db.connection_context():
        app.extensions["doorstep.catalog"].ensure_published(spec)
        User.create(username="admin", role="admin", password_hash=auth.hash_password(PASSWORD))
        stored = [submissions.store(spec, str(uuid.uuid4()),
                                    {**KITCHEN_ANSWERS, "story": f"第{i}户"})[0]
                  for i in range(1, 26)]
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    sql_log.selects.clear()

    download = client.get("/admin/forms/kitchen/export.csv")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = "".join(f"{s.id},{s.receipt},2026-03-01 10:00:00,1,,,,web,valid,yes,,3,,,,,0,0,0,,"
                   f"第{i}户,,,0,0,0,\r\n" for i, s in enumerate(stored, start=1))
    assert download.data == ("\ufeff" + EXPORT_HEAD + rows).encode("utf-8")
    assert [s.id for s in stored] == sorted(s.id for s in stored)

    pages = [sql for sql in sql_log.selects if "cells_formula" in sql]   # the rows' own query
    assert len(pages) == 3                          # 10, 10 and 5 rows
    assert all("LIMIT" in sql for sql in pages)
    assert all('"id" >' in sql for sql in pages[1:])


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

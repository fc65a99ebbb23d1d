"""Real gunicorn, several workers, one database (the pass's: a SQLite file, or PostgreSQL):
concurrent submissions are all stored, none fails with "database is locked", and a double tap that
lands on two workers still stores one row.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, build_opener

import pytest

from service.storage.db import open_database

from . import live
from .conftest import TEST_FORMS, database_url_for, hidden, receipt

pytestmark = pytest.mark.slow

FORM = "/f/kitchen"


class Phone:
    """One browser: its own cookie jar, so its own session and CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()))

    def request(self, path, data=None) -> tuple[int, str]:
        body = urlencode(data, doseq=True).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, body, timeout=60) as r:
                return r.status, r.read().decode()
        except HTTPError as e:
            return e.code, e.read().decode()

    def open_form(self) -> tuple[str, str]:
        status, page = self.request(FORM)
        assert status == 200, page
        return hidden(page, "csrf_token"), hidden(page, "submission_uuid")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn with 3 workers on a fresh database; yields (base URL, DATABASE_URL, log file)."""
    tmp = tmp_path_factory.mktemp("gunicorn")
    database_url = database_url_for(tmp)
    env = {**os.environ, "DATABASE_URL": database_url, "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp)}
    live.doorstep_init(env)
    log = tmp / "gunicorn.log"
    with live.served(env, log, "-w", "3") as base:
        yield base, database_url, log


def all_at_once(n, work):
    """Run work(i) in n threads that start their posts together; return the results in order."""
    barrier = threading.Barrier(n, timeout=60)
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: work(i, barrier), range(n)))


def stored(url, sql, *args):
    database = open_database(url)
    try:
        with database.connection_context():
            cursor = database.execute_sql(sql.replace("?", database.param), args)
            return [tuple(row) for row in cursor.fetchall()]
    finally:
        database.close_all()


def assert_no_errors(log):
    text = log.read_text()
    assert "database is locked" not in text and "Traceback" not in text, text


def answers(i):
    return {"consent": "y", "name": f"住户{i}", "employed": "yes", "members-0-mname": f"成员{i}",
            "tags": ["a", "b"]}


def test_twenty_concurrent_submissions_are_all_stored(server):
    base, database_url, log = server

    def submit(i, barrier):
        phone = Phone(base)
        token, uuid = phone.open_form()
        barrier.wait()
        return phone.request(FORM, {"csrf_token": token, "submission_uuid": uuid, **answers(i)})

    results = all_at_once(20, submit)
    assert [status for status, _page in results] == [200] * 20, [p for s, p in results if s != 200]
    receipts = {receipt(page) for _status, page in results}
    assert len(receipts) == 20 and None not in receipts
    rows = stored(database_url, "SELECT receipt FROM submission WHERE form_id = 'kitchen'")
    assert {r for (r,) in rows} == receipts
    names = stored(database_url, "SELECT value FROM answer WHERE question = 'name'")
    with live.server_keys(log.parent) as opened:      # names are sealed at rest
        assert sorted(opened(v) for (v,) in names) == sorted(f"住户{i}" for i in range(20))
    assert stored(database_url, "SELECT count(*) FROM answer WHERE question = 'tags'") == [(40,)]
    assert_no_errors(log)


def test_the_same_uuid_posted_five_times_at_once_is_stored_once(server):
    base, database_url, log = server
    _token, uuid = Phone(base).open_form()

    def submit(i, barrier):
        phone = Phone(base)   # five sessions, likely several workers: only the uuid is shared
        token, _own = phone.open_form()
        barrier.wait()
        return phone.request(FORM, {"csrf_token": token, "submission_uuid": uuid, **answers(99)})

    results = all_at_once(5, submit)
    assert [status for status, _page in results] == [200] * 5
    rows = stored(database_url, "SELECT receipt FROM submission WHERE uuid = ?", uuid)
    assert len(rows) == 1
    assert {receipt(page) for _status, page in results} == {rows[0][0]}
    assert_no_errors(log)

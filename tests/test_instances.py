"""Two stateless instances behind one load balancer: two gunicorn servers on two ports, one
PostgreSQL database, one Redis for the rate limits, a shared SECRET_KEY and nothing else shared
(each has its own instance/ folder). Whichever instance a request lands on, the answer is the same.
"""
from __future__ import annotations

import contextlib
import os
import queue
import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, build_opener

import psycopg2
import pytest

from service.storage import keys

from . import live
from .ci import in_ci
from .conftest import TEST_FORMS, database_url_for, hidden, receipt

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

FORM = "/f/kitchen"
REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
SUBMISSIONS, SENT_TWICE, CLIENTS = 2000, 200, 8


def redis_problem() -> str | None:
    import redis
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return str(exc)
    return None


class NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Phone:
    """One browser: its own cookies, which it shows to whichever instance it talks to."""

    def __init__(self):
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()), NoRedirect())

    def request(self, url, data=None) -> tuple[int, str, dict]:
        body = urlencode(data, doseq=True).encode() if data is not None else None
        try:
            with self.opener.open(url, body, timeout=60) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)


@dataclass
class Instances:
    urls: list[str]
    database_url: str
    logs: list[Path]
    admin_password: str
    redis_prefix: str | None


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    """Two gunicorn instances (2 workers each) on one PostgreSQL schema made by `doorstep init`."""
    home = tmp_path_factory.mktemp("instances")
    redis_missing = redis_problem()
    if redis_missing and in_ci():
        pytest.fail(f"Redis at {REDIS_URL} does not answer: {redis_missing}")
    prefix = None if redis_missing else f"doorstep-test-{secrets.token_hex(4)}"
    env = {**os.environ, "DATABASE_URL": database_url_for(home), "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": secrets.token_hex(32), "WEB_CONCURRENCY": "2",
           # instances sharing a database share its keys, as they share the secret key
           "DOORSTEP_FIELD_KEY": keys.new_key(), "DOORSTEP_LOOKUP_KEY": keys.new_key()}
    if prefix:
        env |= {"REDIS_URL": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix}
    init = live.doorstep_init({**env, "INSTANCE_PATH": str(home / "init")})
    password = re.search(r"one-time password: (\S+)", init.stdout).group(1)
    logs = [home / f"gunicorn-{name}.log" for name in ("a", "b")]
    try:
        with contextlib.ExitStack() as stack:
            urls = [stack.enter_context(live.served(
                {**env, "INSTANCE_PATH": str(home / f"instance-{name}")}, log,
                "-c", "gunicorn.conf.py", ready="/healthz"))
                for name, log in zip(("a", "b"), logs)]
            yield Instances(urls, env["DATABASE_URL"], logs, password, prefix)
    finally:
        if prefix:
            import redis
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"*{prefix}*"):
                client.delete(key)


def answers(i: int) -> dict:
    return {"consent": "y", "name": f"住户{i}", "employed": "yes", "members-0-mname": f"成员{i}"}


def test_2000_submissions_through_both_instances_are_each_stored_once(instances):
    """8 phones post 2,000 submissions, alternating instances; 200 of them are also sent to the
    other instance at the same moment (a retry that the load balancer routed elsewhere)."""
    a, b = instances.urls
    posts: queue.Queue = queue.Queue()
    for i in range(SUBMISSIONS):
        first, other = (a, b) if i % 2 else (b, a)
        the_uuid = str(uuid.uuid4())
        posts.put((i, the_uuid, first))
        if i % (SUBMISSIONS // SENT_TWICE) == 0:
            posts.put((i, the_uuid, other))   # next in line: another phone takes it at once
    seen: dict[str, set] = {}
    failures, lock = [], threading.Lock()

    def phone_work():
        phone = Phone()
        status, page, _ = phone.request(a + FORM)      # the token from instance A ...
        assert status == 200
        token = hidden(page, "csrf_token")
        while True:
            try:
                i, the_uuid, url = posts.get_nowait()
            except queue.Empty:
                return
            status, page, _ = phone.request(url + FORM, {   # ... is good on B too
                "csrf_token": token, "submission_uuid": the_uuid, **answers(i)})
            with lock:
                if status != 200 or not receipt(page):
                    failures.append((url, status, page[:300]))
                seen.setdefault(the_uuid, set()).add((i, receipt(page)))

    threads = [threading.Thread(target=phone_work) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not failures, failures[:3]
    assert len(seen) == SUBMISSIONS
    assert all(len(receipts) == 1 for receipts in seen.values()), \
        "both instances must show the same receipt for one submission"

    with psycopg2.connect(instances.database_url) as con, con.cursor() as cur:
        cur.execute("SELECT uuid, receipt FROM submission WHERE form_id = 'kitchen'")
        stored = dict(cur.fetchall())
        cur.execute("SELECT count(*) FROM answer WHERE question = 'name'")
        (names,) = cur.fetchone()
    assert stored == {u: next(iter(r))[1] for u, r in seen.items()}
    assert names == SUBMISSIONS
    for log in instances.logs:
        assert "Traceback" not in log.read_text()


def test_a_signed_in_session_works_on_either_instance_and_ends_on_both(instances):
    a, b = instances.urls
    phone = Phone()
    token = hidden(phone.request(a + "/admin/login")[1], "csrf_token")
    status, _, headers = phone.request(a + "/admin/login", {
        "username": "admin", "password": instances.admin_password, "csrf_token": token})
    assert status == 302
    # B knows the session A started: it asks for the new password, not for a sign-in
    status, page, headers = phone.request(b + "/admin/")
    assert status == 302 and headers["Location"].endswith("/admin/password")
    token = hidden(phone.request(b + "/admin/password")[1], "csrf_token")
    new_password = secrets.token_urlsafe(12)
    status, _, _ = phone.request(b + "/admin/password", {
        "current": instances.admin_password, "new": new_password, "confirm": new_password,
        "csrf_token": token})
    assert status == 302
    assert phone.request(a + "/admin/")[0] == 200
    token = hidden(phone.request(a + "/admin/")[1], "csrf_token")
    assert phone.request(b + "/admin/logout", {"csrf_token": token})[0] == 302
    status, _, headers = phone.request(a + "/admin/")
    assert status == 302 and "/admin/login" in headers["Location"]


def test_the_login_throttle_counts_failures_on_both_instances_together(instances):
    """Five wrong passwords for one account, spread over A and B, and the sixth is refused by
    both: the count lives in the shared database, not in one worker's memory."""
    a, b = instances.urls
    phone = Phone()
    token = hidden(phone.request(a + "/admin/login")[1], "csrf_token")
    username = f"nobody-{secrets.token_hex(3)}"

    def attempt(url):
        return phone.request(url + "/admin/login", {"username": username,
                                                    "password": "wrong password!",
                                                    "csrf_token": token})[0]

    assert [attempt(url) for url in (a, b, a, b, a)] == [401] * 5
    assert attempt(b) == 429
    assert attempt(a) == 429
    with psycopg2.connect(instances.database_url) as con, con.cursor() as cur:
        cur.execute("SELECT count(*) FROM attempt WHERE name LIKE %s", (f"login:{username}|%",))
        (rows,) = cur.fetchone()
    assert rows, "the failures are kept in the database"

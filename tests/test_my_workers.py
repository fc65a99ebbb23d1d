"""/my's limits hold across real gunicorn workers (the pass's database: a SQLite file, or
PostgreSQL): attempts posted at the same moment, answered by two workers, never get more wrong
guesses through than the limit, per receipt (whatever the address) and per address (whatever the
receipt). The addresses come from X-Forwarded-For behind one trusted proxy (PROXY_HOPS=1).
"""
from __future__ import annotations

import os
import re
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from . import live
from .conftest import TEST_FORMS, database_url_for, hidden, receipt

pytestmark = pytest.mark.slow

LIMIT_RECEIPT, LIMIT_IP, AT_ONCE = 3, 6, 12


class Phone(live.ClientAt):
    """One browser at one address: its own cookies, its address in X-Forwarded-For."""

    def token(self, path) -> str:
        status, page = self.request(path)
        assert status == 200, page
        return hidden(page, "csrf_token")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn with 2 workers, each request's worker (pid) in the access log."""
    tmp = tmp_path_factory.mktemp("my-workers")
    env = {**os.environ, "DATABASE_URL": database_url_for(tmp), "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp), "PROXY_HOPS": "1",
           "MY_LIMIT_RECEIPT": str(LIMIT_RECEIPT), "MY_LIMIT_IP": str(LIMIT_IP)}
    live.doorstep_init(env)
    log = tmp / "gunicorn.log"
    with live.served(env, log, "-w", "2", "--access-logfile", "-",
                     "--access-logformat", "pid=%(p)s %(m)s %(U)s %(s)s") as base:
        both_workers_up(base, log)
        yield base, log


def both_workers_up(base, log, seconds: float = 60) -> None:
    """Wait until each worker has answered a page: on a loaded machine the second one may still
    be starting when the first answers, and would then take no part in the test."""
    deadline = time.monotonic() + seconds
    while len(set(re.findall(r"pid=<?(\d+)>? GET /healthz", log.read_text()))) < 2:
        assert time.monotonic() < deadline, "the second gunicorn worker never answered"
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: urllib.request.urlopen(f"{base}/healthz").read(), range(4)))


def all_at_once(attempts):
    """Post each (phone, data) to /my at the same moment; the statuses in order."""
    tokens = [phone.token("/my") for phone, _data in attempts]
    barrier = threading.Barrier(len(attempts), timeout=60)

    def post(i):
        phone, data = attempts[i]
        barrier.wait()
        return phone.request("/my", {"csrf_token": tokens[i], **data})[0]
    with ThreadPoolExecutor(len(attempts)) as pool:
        return list(pool.map(post, range(len(attempts))))


def workers_that_answered(log) -> set[str]:
    return set(re.findall(r"pid=<?(\d+)>? POST /my ", log.read_text()))


def test_a_receipt_lets_through_its_limit_of_wrong_digits_across_workers(server):
    base, log = server
    phone = Phone(base, "10.1.0.1")
    _status, form = phone.request("/f/kitchen")
    _status, page = phone.request("/f/kitchen", {
        "csrf_token": hidden(form, "csrf_token"),
        "submission_uuid": hidden(form, "submission_uuid"),
        "consent": "y", "name": "住户", "employed": "yes", "members-0-mname": "成员",
        "phone": "13812345678"})
    code = receipt(page)
    assert code, page
    # twelve phones at twelve addresses guess at once: three wrong answers, then the lock
    statuses = all_at_once([(Phone(base, f"10.2.0.{i}"), {"receipt": code, "digits": f"{i:04d}"})
                            for i in range(AT_ONCE)])
    assert sorted(statuses) == [400] * LIMIT_RECEIPT + [429] * (AT_ONCE - LIMIT_RECEIPT)
    assert len(workers_that_answered(log)) == 2
    # the household itself, right digits, from elsewhere: locked for a while all the same
    household = Phone(base, "10.3.0.2")
    token = household.token("/my")
    assert household.request("/my", {"csrf_token": token, "receipt": code,
                                      "digits": "5678"})[0] == 429


def test_an_address_lets_through_its_limit_across_receipts_and_workers(server):
    base, log = server
    codes = [f"{a}{b}{a}{b}-{b}{a}{b}{a}" for a, b in zip("23456789ABCD", "EFGHJKLMNPQR")]
    statuses = all_at_once([(Phone(base, "10.4.0.1"), {"receipt": c, "digits": "1234"})
                            for c in codes])
    assert sorted(statuses) == [400] * LIMIT_IP + [429] * (AT_ONCE - LIMIT_IP)
    elsewhere = Phone(base, "10.4.0.2")
    assert elsewhere.request("/my", {"csrf_token": elsewhere.token("/my"), "receipt": codes[0],
                                     "digits": "1234"})[0] == 400
    assert "Traceback" not in log.read_text()

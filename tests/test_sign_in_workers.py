"""The sign-in limits under real gunicorn with three workers: wrong passwords are counted in the
database, so the limit falls on the same attempt whichever worker takes each one. The server sits
behind one (pretend) proxy, so each test client gives its address in X-Forwarded-For."""
from __future__ import annotations

import os
import subprocess
import threading

import pytest

from . import live
from .conftest import TEST_FORMS, database_url_for, hidden

pytestmark = pytest.mark.slow

OWNER, OWNER_PASSWORD = "clerk", "lantern-orchard-river-42"


class Browser(live.ClientAt):
    """One browser at one address: its own cookies and the sign-in page's CSRF token."""

    def __init__(self, base: str, address: str):
        super().__init__(base, address)
        self.token = hidden(self.request("/admin/login")[1], "csrf_token")

    def sign_in(self, username, password) -> int:
        return self.request("/admin/login", {"username": username, "password": password,
                                             "csrf_token": self.token})[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sign-in")
    env = {**os.environ, "DATABASE_URL": database_url_for(tmp), "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp), "PROXY_HOPS": "1",
           "LOGIN_LIMIT_ACCOUNT_ALL": "12/hour"}
    live.doorstep_init(env)
    made = subprocess.run([str(live.BIN / "doorstep"), "users", "create", "--username", OWNER,
                           "--role", "admin", "--password-stdin"], input=OWNER_PASSWORD + "\n",
                          cwd=live.ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    log = tmp / "gunicorn.log"
    with live.served(env, log, "-w", "3") as base:
        yield base
    assert "Traceback" not in log.read_text()


def test_the_sixth_wrong_password_from_one_address_is_refused_on_any_worker(server):
    guesser = Browser(server, "10.0.0.5")
    assert [guesser.sign_in(OWNER, "wrong password") for _ in range(5)] == [401] * 5
    assert [guesser.sign_in(OWNER, OWNER_PASSWORD) for _ in range(3)] == [429] * 3
    assert Browser(server, "10.0.0.6").sign_in(OWNER, OWNER_PASSWORD) == 302


def test_the_thirty_first_from_one_address_is_refused_on_any_worker(server):
    guesser = Browser(server, "10.0.0.7")
    assert [guesser.sign_in(f"nobody{i % 10}", "wrong password") for i in range(30)] == [401] * 30
    assert [guesser.sign_in(OWNER, OWNER_PASSWORD) for _ in range(3)] == [429] * 3


def test_the_owner_signs_in_while_the_account_is_hammered_from_many_addresses(server):
    results: list[int] = []
    lock = threading.Lock()

    def hammer(n):
        attacker = Browser(server, f"10.0.1.{n}")
        for _ in range(5):
            status = attacker.sign_in(OWNER, "wrong password")
            with lock:
                results.append(status)

    attackers = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for thread in attackers:
        thread.start()
    owner_statuses = [Browser(server, "10.0.2.1").sign_in(OWNER, OWNER_PASSWORD)]
    for thread in attackers:
        thread.join(120)
    # the account is past its limit over all addresses: the attackers are refused now,
    # and the owner, from an address with no failure, still gets in
    assert 429 in results and 302 not in results
    assert Browser(server, "10.0.1.0").sign_in(OWNER, OWNER_PASSWORD) == 429
    owner_statuses.append(Browser(server, "10.0.2.2").sign_in(OWNER, OWNER_PASSWORD))
    assert owner_statuses == [302, 302]

"""Wrong office passwords, counted in the database per account and address (with backoff), per
address, and per account over all addresses: a guesser locks out only their own address, and the
account's owner signs in from elsewhere. (Several gunicorn workers: test_sign_in_workers.py.)"""
from __future__ import annotations

import pytest

from service import throttle
from service.office import sign_in_limits
from service.office.sign_in_limits import Limit

from .conftest import PASSWORD, login


class Clock:
    """The throttle's clock, moved by the test."""

    def __init__(self):
        self.now = 1_800_000_000.0

    def time(self):
        return self.now

    def later(self, minutes):
        self.now += minutes * 60


@pytest.fixture
def clock(monkeypatch):
    moved = Clock()
    monkeypatch.setattr(throttle, "time", moved)
    return moved


def at(office, address):
    return office.client(REMOTE_ADDR=address)


def test_the_owner_signs_in_from_another_address_while_one_address_is_locked_out(office, clock):
    guesser = at(office, "10.0.0.1")
    assert [login(guesser, "mgr1", "guess").status_code for _ in range(5)] == [401] * 5
    refused = login(guesser, "mgr1", PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many wrong passwords" in refused.text
    assert login(at(office, "10.0.0.2"), "mgr1").status_code == 302


def test_a_right_password_clears_that_addresss_failures(office, clock):
    here = at(office, "10.0.0.1")
    for _ in range(2):
        assert [login(here, "mgr1", "guess").status_code for _ in range(4)] == [401] * 4
        assert login(here, "mgr1").status_code == 302


def test_a_guesser_waits_longer_each_time(office, clock):
    guesser = at(office, "10.0.0.1")
    for _ in range(5):
        login(guesser, "mgr1", "guess")
    assert login(guesser, "mgr1", "guess").status_code == 429
    clock.later(11)                                   # the first lock lasts up to 5 minutes
    assert [login(guesser, "mgr1", "guess").status_code for _ in range(5)] == [401] * 5
    assert login(guesser, "mgr1", "guess").status_code == 429
    clock.later(11)
    assert login(guesser, "mgr1", PASSWORD).status_code == 429    # 10 in an hour: up to an hour
    clock.later(121)
    assert login(guesser, "mgr1", PASSWORD).status_code == 302


def test_thirty_failures_from_one_address_lock_it_out_of_every_account(office, clock):
    here = at(office, "10.0.0.1")
    for i in range(30):
        assert login(here, f"nobody{i % 10}", "guess").status_code == 401
    assert login(here, "admin").status_code == 429
    assert login(at(office, "10.0.0.2"), "admin").status_code == 302


def test_an_account_attacked_from_many_addresses_still_lets_its_owner_in(app, office, clock):
    app.config["LOGIN_LIMIT_ACCOUNT_ALL"] = "6/hour"
    for n in range(3):
        attacker = at(office, f"10.0.1.{n}")
        assert [login(attacker, "mgr1", "guess").status_code for _ in range(2)] == [401] * 2
    # past the account's limit: an address that failed on it waits, a new one gets one guess
    assert login(at(office, "10.0.1.0"), "mgr1", "guess").status_code == 429
    newcomer = at(office, "10.0.1.9")
    assert login(newcomer, "mgr1", "guess").status_code == 401
    assert login(newcomer, "mgr1", "guess").status_code == 429
    assert login(at(office, "10.0.2.1"), "mgr1").status_code == 302


def test_the_limits_read_as_documented():
    assert sign_in_limits.parse("5/5minutes") == Limit(5, 300)
    assert sign_in_limits.parse("30/10 minutes") == Limit(30, 600)
    assert sign_in_limits.parse("100/hour") == Limit(100, 3600)
    with pytest.raises(ValueError):
        sign_in_limits.parse("five a minute")


def test_the_refusal_says_why_in_chinese(office, clock):
    guesser = at(office, "10.0.0.1")
    guesser.set_cookie("lang", "zh")
    for _ in range(5):
        login(guesser, "mgr1", "guess")
    refused = login(guesser, "mgr1", PASSWORD)
    assert refused.status_code == 429 and "密码错误次数过多" in refused.text


def test_a_limit_that_does_not_read_stops_the_start(tmp_path):
    from .conftest import make_app
    with pytest.raises(ValueError, match="LOGIN_LIMIT_IP"):
        make_app(tmp_path, LOGIN_LIMIT_IP="thirty a minute")

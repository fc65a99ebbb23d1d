"""How many wrong passwords the office's sign-in takes, counted in the database (`throttle`), so
every gunicorn worker and every instance sees the same counts; Redis is not needed.

Three counts, each of wrong passwords only (a right one never counts):
- per account *and* address (`LOGIN_LIMIT_ACCOUNT`, 5 per 5 minutes), with backoff: twice as many
  within twelve times as long (10 per hour), then 20 per 12 hours. A right password from there
  clears this count. Someone guessing from one address locks out only that address.
- per address over all accounts (`LOGIN_LIMIT_IP`, 30 per 10 minutes): one address trying many
  accounts.
- per account over all addresses (`LOGIN_LIMIT_ACCOUNT_ALL`, 100 per hour): an account under attack
  from many addresses. Past it, an address that already failed on this account is refused, while an
  address with no failure may still try; so the owner with the right password still gets in, and
  each attacking address gets a single guess.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from flask import current_app

from service import throttle

DEFAULTS = {"LOGIN_LIMIT_ACCOUNT": "5/5minutes", "LOGIN_LIMIT_IP": "30/10minutes",
            "LOGIN_LIMIT_ACCOUNT_ALL": "100/hour"}
BACKOFF_TIERS = 3          # 5 per 5 min, 10 per hour, 20 per 12 hours
BACKOFF_FAILURES, BACKOFF_TIME = 2, 12
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d*)\s*(second|minute|hour|day)s?\s*$")


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


def parse(text: str) -> Limit:
    """`"5/5minutes"`, `"30/10 minutes"`, `"100/hour"` → Limit(count, seconds)."""
    m = _LIMIT.match(text.lower())
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"a sign-in limit reads like '5/5minutes', not {text!r}")
    return Limit(int(m.group(1)), int(m.group(2) or 1) * _UNITS[m.group(3)])


def check(config) -> None:
    """Refuse to start on a limit that does not read (rather than a 500 at every sign-in)."""
    for key in DEFAULTS:
        try:
            parse(config.get(key) or DEFAULTS[key])
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None


def _limit(key: str) -> Limit:
    return parse(current_app.config.get(key) or DEFAULTS[key])


def _tiers() -> list[tuple[Limit, str]]:
    base = _limit("LOGIN_LIMIT_ACCOUNT")
    return [(Limit(base.count * BACKOFF_FAILURES ** k, base.seconds * BACKOFF_TIME ** k), f"t{k}")
            for k in range(BACKOFF_TIERS)]


def _keys(username: str, address: str) -> tuple[str, str, str]:
    account = username.strip().lower()[:64]
    return f"login:{account}|{address}", f"login-ip:{address}", f"login-all:{account}"


def refusal(username: str, address: str) -> int:
    """Seconds to wait before this account may be tried from this address, or 0 if it may now."""
    pair, ip, everywhere = _keys(username, address)
    waits = []
    for limit, tier in _tiers():
        if throttle.over(f"{pair}:{tier}", limit.count, limit.seconds):
            waits.append(limit.seconds)
    by_ip = _limit("LOGIN_LIMIT_IP")
    if throttle.over(ip, by_ip.count, by_ip.seconds):
        waits.append(by_ip.seconds)
    by_account = _limit("LOGIN_LIMIT_ACCOUNT_ALL")
    longest, tier = _tiers()[-1]
    if throttle.over(everywhere, by_account.count, by_account.seconds) and \
            throttle.count(f"{pair}:{tier}", longest.seconds) > 0:
        waits.append(by_account.seconds)
    return max(waits, default=0)


def failed(username: str, address: str) -> None:
    """A wrong password for `username` from `address`: counted under all three."""
    pair, ip, everywhere = _keys(username, address)
    for limit, tier in _tiers():
        throttle.hit(f"{pair}:{tier}", limit.seconds)
    throttle.hit(ip, _limit("LOGIN_LIMIT_IP").seconds)
    throttle.hit(everywhere, _limit("LOGIN_LIMIT_ACCOUNT_ALL").seconds)


def succeeded(username: str, address: str) -> None:
    """The right password: this address's failures on this account are forgotten."""
    pair, _ip, _everywhere = _keys(username, address)
    for _limit_, tier in _tiers():
        throttle.clear(f"{pair}:{tier}")


def minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))

"""Limits on attempts that every gunicorn worker and every instance share: counts kept in the
database (table `attempt`), which all of them already reach; Redis stays optional.

Counts live in fixed windows of `seconds`; the figure compared with the limit slides over two of
them (the current window plus the previous one's share still in reach), so a burst across a window
boundary is not let through twice. Rows of a key older than its previous window are dropped when
the key is counted again.
"""
from __future__ import annotations

import time

from peewee import fn

from service.storage.db import write_transaction
from service.storage.models import Attempt


def _windows(seconds: int, now: float | None) -> tuple[float, int, int]:
    now = time.time() if now is None else now
    current = int(now // seconds * seconds)
    return now, current, current - seconds


def _estimate(name: str, seconds: int, now: float | None) -> float:
    now, current, previous = _windows(seconds, now)
    counts = dict(Attempt.select(Attempt.bucket, Attempt.hits)
                  .where(Attempt.name == name, Attempt.bucket.in_((current, previous))).tuples())
    reach = 1 - (now - current) / seconds
    return counts.get(current, 0) + counts.get(previous, 0) * reach


def hit(name: str, seconds: int, now: float | None = None) -> float:
    """Count one attempt under `name`; return the sliding count including it."""
    now, current, previous = _windows(seconds, now)
    with write_transaction():
        Attempt.delete().where(Attempt.name == name, Attempt.bucket < previous).execute()
        (Attempt.insert(name=name, bucket=current, hits=1)
         .on_conflict(conflict_target=[Attempt.name, Attempt.bucket],
                      update={Attempt.hits: Attempt.hits + 1})
         .execute())
        return _estimate(name, seconds, now)


def count(name: str, seconds: int, now: float | None = None) -> float:
    """The sliding count of attempts under `name`, without counting one."""
    return _estimate(name, seconds, now)


def over(name: str, limit: int, seconds: int, now: float | None = None) -> bool:
    """Whether `name` has already used up `limit` attempts in the last `seconds`."""
    return _estimate(name, seconds, now) >= limit


def clear(name: str) -> None:
    """Forget every attempt under `name` (a successful sign-in clears its account's failures)."""
    with write_transaction():
        Attempt.delete().where(Attempt.name == name).execute()


def purge(older_than_seconds: int = 86400, now: float | None = None) -> int:
    """Drop windows older than a day (keys never counted again); returns the rows dropped."""
    now = time.time() if now is None else now
    with write_transaction():
        return Attempt.delete().where(Attempt.bucket < now - older_than_seconds).execute()


def names_like(prefix: str) -> list[str]:
    """Keys in use under a prefix (for the office's view of locked accounts)."""
    return [n for (n,) in Attempt.select(fn.DISTINCT(Attempt.name))
            .where(Attempt.name.startswith(prefix)).tuples()]

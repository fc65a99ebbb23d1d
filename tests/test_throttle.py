"""Attempts are counted in the database: every worker and instance sees the same counts."""
from __future__ import annotations

from service import throttle
from service.storage.models import Attempt


def test_counts_slide_over_two_windows(app):
    with app.app_context():
        base = 1_000_000 * 60.0               # the start of a 60-second window
        for _ in range(4):
            throttle.hit("login:amy", 60, now=base + 50)
        assert throttle.count("login:amy", 60, now=base + 59) == 4
        assert throttle.over("login:amy", 4, 60, now=base + 59)
        # halfway through the next window, half of the previous one still counts
        assert throttle.hit("login:amy", 60, now=base + 90) == 1 + 4 * 0.5
        assert not throttle.over("login:amy", 4, 60, now=base + 90)
        # two windows on, the old ones are gone, rows included
        assert throttle.hit("login:amy", 60, now=base + 200) == 1
        assert Attempt.select().where(Attempt.name == "login:amy").count() == 1


def test_keys_are_apart_and_clear_forgets_one(app):
    with app.app_context():
        throttle.hit("login:amy", 300, now=0)
        throttle.hit("ip:10.0.0.1", 300, now=0)
        throttle.clear("login:amy")
        assert throttle.count("login:amy", 300, now=1) == 0
        assert throttle.count("ip:10.0.0.1", 300, now=1) == 1
        assert throttle.purge(older_than_seconds=60, now=10_000) == 1
        assert throttle.count("ip:10.0.0.1", 300, now=1) == 0

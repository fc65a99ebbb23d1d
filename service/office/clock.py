"""The office clock: the one place that knows the office's time zone (OFFICE_TIMEZONE).

Times are stored as naive UTC; everything the office reads by the calendar (a submission's day, a
list filtered by dates, a link's last day, the 'today' bound of a date question, an export's time
column) is the office's local day, so a household visited at 7:30 in Beijing counts on that day,
not the UTC day before.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def read_day(text: str | None) -> dt.date | None:
    """A day typed in a filter (YYYY-MM-DD), or None: also for a year before 1900 or after 9998,
    which no record holds and whose day after (an `until` filter) Python cannot reach."""
    try:
        day = dt.date.fromisoformat((text or "").strip())
    except ValueError:
        return None
    return day if 1900 <= day.year <= 9998 else None


class Clock:
    """Calendar arithmetic in one time zone (one per app, made by `init_app`)."""

    def __init__(self, zone_name: str):
        self.name = zone_name
        self.zone = ZoneInfo(zone_name)

    def today(self) -> dt.date:
        return dt.datetime.now(self.zone).date()

    def day_of(self, moment: dt.datetime) -> str:
        """The office-local calendar day (YYYY-MM-DD) of a naive-UTC moment."""
        return self.localise(moment).date().isoformat()

    def localise(self, moment: dt.datetime) -> dt.datetime:
        return moment.replace(tzinfo=dt.timezone.utc).astimezone(self.zone)

    def local_time(self, moment: dt.datetime) -> str:
        """A naive-UTC moment as the office reads it on screen: 'YYYY-MM-DD HH:MM'."""
        return self.localise(moment).strftime("%Y-%m-%d %H:%M")

    def day_start_utc(self, day: dt.date) -> dt.datetime:
        """The naive-UTC moment the office-local `day` begins (for filters on stored times)."""
        local = dt.datetime.combine(day, dt.time(), tzinfo=self.zone)
        try:
            return local.astimezone(dt.timezone.utc).replace(tzinfo=None)
        except OverflowError:       # a filter at year 1 or 9999: the start or end of time
            return dt.datetime.min if day.year < 2 else dt.datetime.max


_process_clock: Clock | None = None


def init_app(app) -> None:
    global _process_clock
    clock = app.extensions["doorstep.clock"] = Clock(app.config["OFFICE_TIMEZONE"])
    app.extensions["doorstep.today"] = clock.today     # the date questions' 'today' bound
    _process_clock = clock


def current() -> Clock:
    """The clock of the app handling this request or command; outside one (a worker thread that
    stores submissions), the clock of the app this process made: a process serves one office."""
    if has_app_context():
        return current_app.extensions["doorstep.clock"]
    if _process_clock is None:
        raise RuntimeError("no Doorstep app has been made in this process: no office clock")
    return _process_clock


def today() -> dt.date:
    return current().today()


def local_time(moment: dt.datetime) -> str:
    return current().local_time(moment)


def day_start_utc(day: dt.date) -> dt.datetime:
    return current().day_start_utc(day)

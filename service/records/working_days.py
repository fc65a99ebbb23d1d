"""Working days: due dates counted the way an office counts them (工作日).

A due date is the day `n` working days after the day a follow-up was opened: Saturdays, Sundays and
the public holidays are skipped, and the make-up working days (调休: a Saturday or Sunday worked
around a long holiday) count. The office keeps its calendar current on
/admin/follow-ups/holidays or with `doorstep holidays load`, one day a line (`YYYY-MM-DD,name` for
a day off, `YYYY-MM-DD,name,work` for a make-up working day); until it has saved one, the file
named by `HOLIDAYS` is the calendar. Days beyond the list are ordinary weekdays and weekends.

Every submission of a form with a follow-up asks for a due date, so the calendar is read once and
kept by the process for CALENDAR_SECONDS (a change made in this process is seen at once; one made
by another instance within that time).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, has_app_context

from service.storage.db import db, write_transaction
from service.storage.models import Holiday

CALENDAR_SECONDS = 60
#: Words that mark a line's day as a make-up working day (the third column); anything else, or
#: nothing, is a day off.
WORK_WORDS = frozenset({"work", "working", "上班", "班", "调休上班"})
OFF_WORDS = frozenset({"", "off", "holiday", "休", "放假", "休息"})
MAX_DAYS = 3660           # a due date is at most ten years of working days away


class CalendarError(ValueError):
    """Lines that are not a calendar; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Day:
    day: dt.date
    name: str = ""
    working: bool = False


@dataclass(frozen=True)
class Calendar:
    """Days off on weekdays and days worked at weekends; everything else by the week."""

    off: frozenset = field(default_factory=frozenset)
    worked: frozenset = field(default_factory=frozenset)

    @classmethod
    def of(cls, days) -> Calendar:
        days = list(days)
        return cls(off=frozenset(d.day for d in days if not d.working),
                   worked=frozenset(d.day for d in days if d.working))

    def is_working(self, day: dt.date) -> bool:
        if day in self.worked:
            return True
        return day.weekday() < 5 and day not in self.off

    def add(self, start: dt.date, n: int) -> dt.date:
        """The `n`th working day after `start` (`start` itself not counted; n = 0: `start`)."""
        if not 0 <= n <= MAX_DAYS:
            raise ValueError(f"{n} working days is out of range")
        day = start
        while n:
            day += dt.timedelta(days=1)
            if self.is_working(day):
                n -= 1
        return day

    def between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (negative when `end` is before)."""
        if end < start:
            return -self.between(end, start)
        return sum(1 for k in range(1, (end - start).days + 1)
                   if self.is_working(start + dt.timedelta(days=k)))


def parse(text: str) -> list[Day]:
    """Lines `YYYY-MM-DD[,name[,work]]` (commas, tabs or full-width commas; a header line and
    blank lines or `#` comments are skipped) → days, or CalendarError naming every bad line."""
    problems, days, seen = [], [], set()
    text = text.lstrip("\ufeff").replace("，", ",").replace("\t", ",")
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or cells[0].startswith("#"):
            continue
        try:
            day = dt.date.fromisoformat(cells[0])
        except ValueError:
            if n == 1 and not cells[0][:1].isdigit():
                continue                     # a header line (day,name,kind)
            problems.append(f"line {n}: {cells[0]!r} is not a date (YYYY-MM-DD)")
            continue
        kind = cells[2].lower() if len(cells) > 2 else ""
        if kind not in WORK_WORDS | OFF_WORDS:
            problems.append(f"line {n}: {cells[2]!r}: write 'work' for a make-up working day, "
                            "or nothing for a day off")
            continue
        if day in seen:
            problems.append(f"line {n}: {day} is listed twice")
            continue
        seen.add(day)
        days.append(Day(day, (cells[1] if len(cells) > 1 else "")[:100], kind in WORK_WORDS))
    if problems:
        raise CalendarError(problems)
    return sorted(days, key=lambda d: d.day)


def as_text(days) -> str:
    """The calendar as the lines `parse` reads (what the office's page shows to edit)."""
    return "".join(f"{d.day.isoformat()},{d.name}{',work' if d.working else ''}\n" for d in days)


def stored() -> list[Day]:
    return [Day(h.day, h.name, h.working) for h in Holiday.select().order_by(Holiday.day)]


def configured() -> list[Day]:
    """The days of the file named by HOLIDAYS (empty when unset); a bad file is an error."""
    path = current_app.config.get("HOLIDAYS", "") if has_app_context() else ""
    if not path:
        return []
    return parse(Path(path).read_text(encoding="utf-8-sig"))


def replace(days: list[Day]) -> tuple[int, int]:
    """Make `days` the office's calendar (all or nothing); returns (days off, days worked)."""
    with write_transaction():
        Holiday.delete().execute()
        if days:
            Holiday.insert_many([{"day": d.day, "name": d.name, "working": d.working}
                                 for d in days]).execute()
    forget()
    return sum(1 for d in days if not d.working), sum(1 for d in days if d.working)


_kept: tuple[float, tuple, Calendar] | None = None


def forget() -> None:
    global _kept
    _kept = None


def calendar() -> Calendar:
    """The office's calendar: its stored list, or HOLIDAYS while none is stored (kept a minute,
    per database and HOLIDAYS file: a test's fresh database is another calendar)."""
    global _kept
    key = (id(db.obj), current_app.config.get("HOLIDAYS", "") if has_app_context() else "")
    if _kept is not None and _kept[1] == key and time.monotonic() - _kept[0] < CALENDAR_SECONDS:
        return _kept[2]
    days = stored()
    if not days:
        try:
            days = configured()
        except (OSError, CalendarError) as exc:     # `doorstep holidays load` says it line by line
            current_app.logger.error("HOLIDAYS is not a calendar, weekends only: %s", exc)
    _kept = (time.monotonic(), key, Calendar.of(days))
    return _kept[2]


def due(opened: dt.date, n: int) -> dt.date:
    return calendar().add(opened, n)

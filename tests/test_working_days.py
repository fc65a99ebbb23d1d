"""Due dates in working days: weekends skipped, public holidays skipped, make-up working days
(调休) counted, across year ends; the office's calendar read from its lines, kept in the database
or, until it saves one, in the file HOLIDAYS names."""
from __future__ import annotations

import datetime as dt

import pytest

from service.records import working_days
from service.records.working_days import Calendar, CalendarError, Day, parse
from service.storage.db import db
from service.storage.models import Holiday

D = dt.date
#: 2026's National Day holiday as the State Council set it: 1–8 October off, Sunday 27 September
#: and Saturday 10 October worked.
GOLDEN_WEEK = """day,name,kind
2026-09-27,国庆节调休,work
2026-10-01,国庆节
2026-10-02,国庆节
2026-10-05,国庆节
2026-10-06,国庆节
2026-10-07,国庆节
2026-10-08,中秋节
2026-10-10,国庆节调休,上班
2027-01-01,元旦
"""


@pytest.fixture
def golden():
    return Calendar.of(parse(GOLDEN_WEEK))


@pytest.mark.parametrize("start, n, due", [
    (D(2026, 11, 30), 0, D(2026, 11, 30)),       # no working days: the day itself
    (D(2026, 11, 30), 1, D(2026, 12, 1)),        # Monday + 1: Tuesday
    (D(2026, 12, 4), 1, D(2026, 12, 7)),         # Friday + 1: Monday, the weekend skipped
    (D(2026, 12, 5), 1, D(2026, 12, 7)),         # opened on a Saturday: Monday is the first
    (D(2026, 12, 6), 5, D(2026, 12, 11)),        # opened on a Sunday: a whole week
    (D(2026, 11, 30), 15, D(2026, 12, 21)),      # three weeks
])
def test_weekends_are_skipped(start, n, due):
    assert Calendar().add(start, n) == due


def test_holidays_are_skipped_and_make_up_days_count(golden):
    # Friday 25 September + 1: Sunday 27th is a working day
    assert golden.add(D(2026, 9, 25), 1) == D(2026, 9, 27)
    # Monday 28th + 3: Tuesday 29th, Wednesday 30th, then 1–8 October off; Friday 9th
    assert golden.add(D(2026, 9, 28), 3) == D(2026, 10, 9)
    # Friday 9th + 1: Saturday 10th is worked
    assert golden.add(D(2026, 10, 9), 1) == D(2026, 10, 10)
    # opened in the middle of the holiday: the first working day after it counts as one
    assert golden.add(D(2026, 10, 3), 1) == D(2026, 10, 9)
    assert not golden.is_working(D(2026, 10, 5)) and golden.is_working(D(2026, 9, 27))


def test_a_due_date_crosses_the_year_end(golden):
    # Thursday 31 December 2026 + 1: 1 January is off, then the weekend: Monday 4 January
    assert golden.add(D(2026, 12, 31), 1) == D(2027, 1, 4)
    assert golden.add(D(2026, 12, 24), 15) == D(2027, 1, 15)
    assert golden.between(D(2026, 12, 24), D(2027, 1, 15)) == 15
    assert golden.between(D(2027, 1, 15), D(2026, 12, 24)) == -15


def test_fifteen_working_days_over_the_golden_week(golden):
    """The suggestion form's promise, made on the eve of National Day."""
    due = golden.add(D(2026, 9, 30), 15)
    assert due == D(2026, 10, 28)        # 9th, 10th (worked), 12–16th, 19–23rd, 26–28th
    assert golden.between(D(2026, 9, 30), due) == 15


def test_the_calendar_lines_are_read_and_written_back():
    days = parse(GOLDEN_WEEK)
    assert days[0] == Day(D(2026, 9, 27), "国庆节调休", True)
    assert Day(D(2026, 10, 1), "国庆节", False) in days
    assert parse(working_days.as_text(days)) == days
    # full-width commas, tabs, a BOM and comments are fine
    assert parse("\ufeff# 2026\n2026-10-01，国庆节\n2026-10-10\t调休\twork\n") == [
        Day(D(2026, 10, 1), "国庆节"), Day(D(2026, 10, 10), "调休", True)]


def test_bad_lines_are_each_named():
    with pytest.raises(CalendarError) as refused:
        parse("2026-10-01,国庆节\n2026-13-01,x\n2026-10-01,again\n2026-10-10,调休,maybe\n")
    assert refused.value.problems == [
        "line 2: '2026-13-01' is not a date (YYYY-MM-DD)",
        "line 3: 2026-10-01 is listed twice",
        "line 4: 'maybe': write 'work' for a make-up working day, or nothing for a day off"]


def test_the_stored_calendar_wins_over_the_holidays_file(tmp_path):
    from .conftest import make_app
    path = tmp_path / "holidays.csv"
    path.write_text("2026-12-01,file day\n", encoding="utf-8")
    app = make_app(tmp_path, HOLIDAYS=str(path))
    with app.app_context(), db.connection_context():
        # nothing stored: the file's day is off
        assert working_days.due(D(2026, 11, 30), 1) == D(2026, 12, 2)
        assert working_days.replace(parse(GOLDEN_WEEK)) == (7, 2)
        assert Holiday.select().count() == 9
        # the office's list replaced the file's: 1 December is a working day again
        assert working_days.due(D(2026, 11, 30), 1) == D(2026, 12, 1)
        assert working_days.due(D(2026, 9, 30), 1) == D(2026, 10, 9)
        working_days.replace([])
        assert working_days.due(D(2026, 11, 30), 1) == D(2026, 12, 2)


def test_the_command_loads_and_lists_the_calendar(app, cli, tmp_path):
    from .conftest import command_on
    run = command_on(app, cli, tmp_path, "holidays")
    good = tmp_path / "2026.csv"
    good.write_text(GOLDEN_WEEK, encoding="utf-8-sig")
    code, out, _err = run("load", str(good))
    assert (code, out) == (0, "7 day(s) off and 2 make-up working day(s) in the calendar\n")
    code, out, _err = run("list", "--year", "2027")
    assert (code, out) == (0, "2027-01-01,元旦\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("2026-10-01\n10/02/2026,国庆\n", encoding="utf-8")
    code, _out, err = run("load", str(bad))
    assert code == 1
    assert err == ("error: bad.csv: line 2: '10/02/2026' is not a date (YYYY-MM-DD)\n"
                   "nothing was changed\n")
    with app.app_context(), db.connection_context():
        assert Holiday.select().count() == 9
        from service.storage.models import AuditEvent
        assert AuditEvent.get(AuditEvent.action == "holidays_changed").username == "cli"
    code, _out, err = run("load", str(tmp_path / "missing.csv"))
    assert code == 1 and "cannot read" in err

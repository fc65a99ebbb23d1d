"""`doorstep holidays …`: the office's working calendar, which due dates count in working days
(records/working_days.py): public holidays and make-up working days (调休)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from service.cli import _connect, _fail, main
from service.office import audit
from service.records import working_days


@main.group("holidays")
def holidays_group():
    """The working calendar: days off and make-up working days."""


@holidays_group.command("load")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def holidays_load(file):
    """Make FILE (default: the file HOLIDAYS names) the office's calendar: one day a line,
    `YYYY-MM-DD,name` for a day off, `YYYY-MM-DD,name,work` for a make-up working day. All or
    nothing: a bad line is named and nothing changes."""
    _connect()
    file = file or (Path(current_app.config["HOLIDAYS"]) if current_app.config.get("HOLIDAYS")
                    else None)
    if file is None:
        _fail("name a FILE, or set HOLIDAYS")
    try:
        days = working_days.parse(file.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    except UnicodeDecodeError:
        _fail(f"{file} is not UTF-8 text (save it as CSV UTF-8)")
    except working_days.CalendarError as exc:
        for line in exc.problems:
            click.echo(f"error: {file.name}: {line}", err=True)
        click.echo("nothing was changed", err=True)
        sys.exit(1)
    off, worked = working_days.replace(days)
    audit.record("holidays_changed", target="holidays", user=None, username="cli",
                 file=str(file), days_off=off, days_worked=worked)
    click.echo(f"{off} day(s) off and {worked} make-up working day(s) in the calendar")


@holidays_group.command("list")
@click.option("--year", type=int, default=None, help="only this year's days")
@with_appcontext
def holidays_list(year):
    """The calendar as `load` reads it (the HOLIDAYS file's while none is stored)."""
    _connect()
    days = working_days.stored() or working_days.configured()
    click.echo(working_days.as_text(d for d in days if year is None or d.day.year == year),
               nl=False)

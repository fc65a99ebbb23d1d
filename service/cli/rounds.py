"""`doorstep rounds`: survey rounds from the command line (create, list, assign, close), as the
office does them, audit-logged as the command line ("cli")."""
from __future__ import annotations

import re

import click
from flask.cli import with_appcontext

from service.cli import _connect, _fail, main, spec_and_area
from service.office import audit


@main.group("rounds")
def rounds_group():
    """Survey rounds: a named period of visits of a ledger form over an area."""


_MESSAGES = {"name": "the round needs a name", "form": "that form is not a ledger form",
             "dates": "the end date is before the start date",
             "closed": "the round is closed", "surveyor": "not an active surveyor with an area",
             "scope": "some of those households are outside the surveyor's area"}


def _round(round_id: int):
    from service.storage.models import SurveyRound
    found = SurveyRound.get_or_none(SurveyRound.id == round_id)
    if found is None:
        _fail(f"no round {round_id}")
    return found


@rounds_group.command("create")
@click.option("--form", "form_id", required=True, help="the ledger form")
@click.option("--area", "area_code", required=True, help="the round covers it and what is below")
@click.option("--name", required=True)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True)
@with_appcontext
def rounds_create(form_id, area_code, name, start, end):
    """Create a round: its target is the form's active households in the area and below."""
    from service.records import rounds
    from service.reports.coverage import Figures
    from service.storage.db import write_transaction
    _connect()
    spec, area = spec_and_area(form_id, area_code)
    try:
        with write_transaction():
            made = rounds.create(name, spec, area, start.date(), end.date())
    except rounds.RoundError as exc:
        _fail(_MESSAGES.get(exc.reason, exc.reason))
    target = Figures.of(made).totals().target
    audit.record("round_create", target=f"round:{made.id}", user=None, username="cli",
                 name=made.name, form=spec.id, area=area.code, start=str(made.starts_on),
                 end=str(made.ends_on), households=target)
    click.echo(f"round {made.id} created: {made.name}, {target} household(s)")


@rounds_group.command("list")
@click.option("--form", "form_id", default=None)
@with_appcontext
def rounds_list(form_id):
    """The rounds, newest first: id, name, form, area, dates, status, done of target."""
    from service.reports.coverage import Figures
    from service.storage.models import Area, SurveyRound
    _connect()
    query = SurveyRound.select(SurveyRound, Area).join(Area).order_by(SurveyRound.id.desc())
    if form_id:
        query = query.where(SurveyRound.form_id == form_id)
    for r in query:
        totals = Figures.of(r).totals()
        click.echo(f"{r.id}\t{r.name}\t{r.form_id}\t{r.area.code}\t{r.starts_on}..{r.ends_on}\t"
                   f"{r.status}\t{totals.done}/{totals.target} ({totals.percent:.1f}%)")


@rounds_group.command("assign")
@click.argument("round_id", type=int)
@click.option("--surveyor", default=None, help="username; leave out with --unassign")
@click.option("--unassign", is_flag=True, help="take the households off anyone's list")
@click.option("--area", "area_code", default=None, help="every household of the area and below")
@click.option("--households", "codes", default=None,
              help="household codes, separated by commas or spaces")
@with_appcontext
def rounds_assign(round_id, surveyor, unassign, area_code, codes):
    """Assign (or reassign) the round's households of an area, or listed ones, to a surveyor."""
    from service.records import ledger, rounds
    from service.storage.db import write_transaction
    from service.storage.models import Area, User
    _connect()
    r = _round(round_id)
    if bool(surveyor) == unassign:
        _fail("give --surveyor USERNAME or --unassign")
    if bool(area_code) == bool(codes):
        _fail("give --area CODE or --households CODES")
    who = None
    if surveyor:
        who = User.get_or_none(User.username == surveyor)
        if who is None:
            _fail(f"no user '{surveyor}'")
    area, ids = None, None
    if area_code:
        area = Area.get_or_none(Area.code == area_code)
        if area is None:
            _fail(f"no area '{area_code}'")
    else:
        wanted = [c for c in re.split(r"[\s,，、;；]+", codes) if c]
        found = {c: ledger.find(c) for c in wanted}
        unknown = [c for c, h in found.items() if h is None or h.form_id != r.form_id]
        if unknown:
            _fail("unknown household code(s): " + ", ".join(unknown))
        ids = sorted({h.id for h in found.values()})
    try:
        with write_transaction():
            n = rounds.assign(r, who, area=area, household_ids=ids)
    except rounds.RoundError as exc:
        _fail(_MESSAGES.get(exc.reason, exc.reason))
    audit.record("round_assign", target=f"round:{r.id}", user=None, username="cli",
                 surveyor=surveyor or "", area=area_code or "", households=n)
    click.echo(f"{n} household(s) {'assigned to ' + surveyor if surveyor else 'unassigned'}")


@rounds_group.command("close")
@click.argument("round_id", type=int)
@with_appcontext
def rounds_close(round_id):
    """Close the round: its figures and report are frozen as they are now."""
    from service.records import rounds
    from service.reports import coverage
    from service.storage.db import write_transaction
    _connect()
    r = _round(round_id)
    try:
        with write_transaction():
            rounds.close(r, None, coverage.freeze(r))
    except rounds.RoundError as exc:
        _fail(_MESSAGES.get(exc.reason, exc.reason))
    totals = coverage.Figures.of(r).totals()
    audit.record("round_close", target=f"round:{r.id}", user=None, username="cli",
                 done=totals.done, target_households=totals.target)
    click.echo(f"round {r.id} closed: {totals.done} of {totals.target} household(s) done")

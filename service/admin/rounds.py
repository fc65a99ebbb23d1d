"""Survey rounds in the office (/admin/rounds): the rounds of one's areas, a round's coverage page
(per area drilling down the tree, per surveyor, per day, outcomes) and the households not yet done,
as a list to print for the surveyor. Changes are posted to rounds_actions.py.

A round over an area above one's own (the street's, seen by a community's office) shows only one's
part (policy.round_part): the pages start at one's area and go no higher or sideways, and leave out
per day and outcomes, which are counted for the whole round only.

The coverage page reads only the round's counts through reports/coverage.py (RoundCount while it
is open, the figures frozen at closing after), never its households, so a district's round costs
what a grid's does. The not-yet list reads the households of one area or surveyor, by keyset.
"""
from __future__ import annotations

from flask import abort, current_app, render_template, request
from flask_babel import lazy_gettext as _l

from service.admin import bp
from service.admin.forms import ConfirmForm
from service.admin.households import shown
from service.admin.households_actions import OUTCOME_WORDS
from service.admin.rounds_actions import AssignForm, surveyor_choices
from service.formspec.loader import LEDGER_ADDRESS
from service.i18n import current_lang
from service.office import audit, auth, clock, policy
from service.records.rounds import FLAG_ATTEMPTS
from service.reports import round_coverage
from service.reports.coverage import Figures
from service.storage.models import Area, Household, RoundHousehold, SurveyRound, User, utcnow

#: How a household was done or, not yet done, its latest attempt (RoundCount.outcome).
DONE_WORDS = {"form": _l("Visited with the form"), **OUTCOME_WORDS}
#: The most households one not-yet page lists (a grid's or a surveyor's whole list, to print).
LIST_SIZE = 2000


def _spec(r: SurveyRound):
    return current_app.extensions["doorstep.catalog"].get(r.form_id)


def _title(r: SurveyRound) -> str:
    spec = _spec(r)
    return spec.title.get(current_lang()) if spec is not None else r.form_id


@bp.get("/rounds")
@policy.requires("rounds.view")
def rounds_page():
    """The rounds one may view: one's own areas' whole, and one's part of those run over an area
    above (the street's round, for a community's office), each with the totals of that part."""
    me = auth.current_user()
    listed = round_coverage.listed(me)
    return render_template("admin/rounds.html", rounds=[
        {"r": r, "title": _title(r), "tally": tally, "part": part if part.id != r.area_id else None}
        for r, part, tally in listed])


def _trail(figures: Figures, top, area) -> list:
    """The areas from `top` down to `area`, for the page's way back up."""
    trail = [area]
    while trail[-1].id != top.id and trail[-1].parent_id in figures.areas:
        trail.append(figures.areas[trail[-1].parent_id])
    return trail[::-1]


@bp.get("/rounds/<int:round_id>")
@policy.requires("rounds.view")
def round_page(round_id):
    me = auth.current_user()
    r = policy.get_round_or_404(me, round_id)
    seen = round_coverage.coverage(me, r, request.args.get("area"))
    figures, top, level, people = seen.figures, seen.top, seen.level, seen.people
    usernames = dict(User.select(User.id, User.username).where(
        User.id.in_([u for u, *_rest in people if u])).tuples()) if people else {}
    assign = None
    if r.status == "open" and policy.can(me, "rounds.manage"):     # the part, if not the whole
        assign = AssignForm(formdata=None)
        assign.area.choices = [(level.code, level.name)] + [
            (a.code, "\u3000" + a.name) for a in figures.children(level)]
        assign.surveyor.choices = surveyor_choices(me, Area.get_by_id(level.id))
    return render_template(
        "admin/round.html", r=r, title=_title(r), figures=figures, top=top, level=level,
        trail=_trail(figures, top, level), totals=seen.totals, level_total=seen.level_total,
        parts=seen.parts, deeper={a.parent_id for a in figures.areas.values()},
        people=people, unlisted=seen.unlisted, usernames=usernames,
        days=seen.days, outcomes=seen.outcomes,
        done_words=DONE_WORDS, flag_attempts=FLAG_ATTEMPTS, assign=assign,
        may_close=r.status == "open" and policy.can(me, "rounds.manage", r),
        closed_at=clock.local_time(r.closed_at) if r.closed_at else "",
        now=clock.local_time(utcnow()), close_form=ConfirmForm(formdata=None))


def _not_yet(r: SurveyRound, area: Area, surveyor: User | None):
    """The round's households not yet done in `area` and below (and assigned to `surveyor`),
    by area, then address."""
    query = (RoundHousehold.select(RoundHousehold, Household.id, Household.code, Household.address,
                                   Area.id, Area.code, Area.name)
             .join(Household, on=(RoundHousehold.household == Household.id))
             .switch(RoundHousehold).join(Area, on=(RoundHousehold.area == Area.id))
             .where((RoundHousehold.round == r.id) &
                    RoundHousehold.state.in_(("not_yet", "attempted")) &
                    RoundHousehold.area.in_(policy.area_ids_under(area))))
    if surveyor is not None:
        query = query.where(RoundHousehold.assigned_to == surveyor.id)
    return query


def _page(query, household_id: int | None, size: int) -> list:
    """Up to `size` rows of the list by area, then address, from after one household of it.
    Addresses are sealed in the database (ORDER BY would sort their ciphertext): the order is
    made here from the list's (household, area, address), and only the page's rows are read."""
    walk = sorted(query.select(Area.code, Household.address, RoundHousehold.household).tuples())
    ids = [hid for _code, _address, hid in walk]
    start = ids.index(household_id) + 1 if household_id in ids else 0
    wanted = ids[start:start + size]
    rows = {m.household_id: m for m in query.where(RoundHousehold.household.in_(wanted))}
    return [rows[hid] for hid in wanted]


@bp.route("/rounds/<int:round_id>/not-yet", methods=["GET", "POST"])
@policy.requires("rounds.view")
def round_not_yet(round_id):
    """The not-yet list of an area (`?area=`) or a surveyor (`?surveyor=`), to print. Addresses
    are masked like the ledger's; a user who may reveal posts for them, and that is logged."""
    me = auth.current_user()
    r = policy.get_round_or_404(me, round_id)
    part = area = policy.round_part(me, r)
    if request.args.get("area"):
        area = Area.get_or_none(Area.code == request.args["area"])
        if area is None or not area.path.startswith(part.path):
            abort(404)
    surveyor = None
    if request.args.get("surveyor"):
        surveyor = User.get_or_none(User.username == request.args["surveyor"])
        if surveyor is None or (part.id != r.area_id and not policy.sees_area(
                me, surveyor.area)) or not RoundHousehold.select().where(
                (RoundHousehold.round == r.id) &
                (RoundHousehold.assigned_to == surveyor.id)).exists():
            abort(404)
    spec = _spec(r)
    address_q = spec.question(LEDGER_ADDRESS) if spec is not None else None
    may_reveal = (address_q is None or address_q.pii) and \
        policy.can(me, "responses.reveal", area)
    revealed = request.method == "POST"
    if revealed and not may_reveal:
        abort(404)
    if revealed and not ConfirmForm().validate_on_submit():
        abort(400)
    listed = _not_yet(r, area, surveyor)
    total = listed.count()
    after = request.args.get("after", type=int)
    rows = _page(listed, after, LIST_SIZE + 1)
    more = rows[LIST_SIZE].household_id if len(rows) > LIST_SIZE else None
    rows = rows[:LIST_SIZE]
    names = dict(User.select(User.id, User.username).where(User.id.in_(
        {m.assigned_to_id for m in rows if m.assigned_to_id})).tuples()) if rows else {}
    if revealed:
        audit.record("round_not_yet_print", target=f"round:{r.id}", round=r.id, area=area.code,
                     surveyor=surveyor.username if surveyor else None, count=len(rows),
                     after=after)
    table = [{"m": m, "code": m.household.code, "area": m.area.name,
              "address": shown(address_q, m.household.address, revealed),
              "flagged": m.state == "attempted" and m.attempts >= FLAG_ATTEMPTS,
              "surveyor": names.get(m.assigned_to_id, "")} for m in rows]
    return render_template(
        "admin/round_not_yet.html", r=r, title=_title(r), area=area, surveyor=surveyor,
        table=table, total=total, more=rows[-1].household_id if more and rows else None,
        after=after, revealed=revealed, may_reveal=may_reveal and not revealed,
        done_words=DONE_WORDS, now=clock.local_time(utcnow()), limit=LIST_SIZE)

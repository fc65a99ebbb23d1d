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
from service.reports.coverage import AreaInfo, Figures, Tally, totals_of
from service.storage.models import Area, Household, RoundHousehold, SurveyRound, User, utcnow

#: How a household was done or, not yet done, its latest attempt (RoundCount.outcome).
DONE_WORDS = {"form": _l("Visited with the form"), **OUTCOME_WORDS}
#: The most households one not-yet page lists (a grid's or a surveyor's whole list, to print).
LIST_SIZE = 2000
#: The most surveyors the coverage page lists at one level (drill down for the others).
SURVEYOR_ROWS = 100


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
    listed = list(policy.rounds_for(me).select(SurveyRound, Area).join(Area).order_by(
        SurveyRound.status != "open", SurveyRound.starts_on.desc(), SurveyRound.id.desc()))
    parts = {r.id: policy.round_part(me, r) for r in listed}
    covering = [r for r in listed if parts[r.id].id != r.area_id]
    # a closed round's counts are never touched again (rounds.py refreshes open rounds only):
    # they are its frozen figures, so one query serves the whole list
    totals = totals_of([r.id for r in listed if parts[r.id].id == r.area_id])
    # of a covering round, the part's: open ones in one query, closed ones from what they kept
    # (placed by the tree as it was, like their page)
    totals.update(totals_of([r.id for r in covering if r.status == "open"], within=me.area))
    for r in covering:
        if r.status != "open":
            figures = Figures.of(r)
            own = figures.areas.get(me.area_id)
            totals[r.id] = figures.area_total(own) if own is not None else Tally()
    return render_template("admin/rounds.html", rounds=[
        {"r": r, "title": _title(r), "tally": totals[r.id],
         "part": parts[r.id] if parts[r.id].id != r.area_id else None} for r in listed])


def top_of(figures: Figures, me) -> AreaInfo:
    """The top of what `me` sees of the round's figures (policy.round_part): the round's area,
    or their own below it; 404 if a closed round's figures do not hold it (an area made after it
    closed). The coverage page and the report (round_report.py) start there."""
    found = figures.areas.get(policy.round_part(me, figures.round).id)
    if found is None:
        abort(404)
    return found


def _level(figures: Figures, top, code: str | None):
    """The area a coverage page shows the parts of: `top`, or one below it by code (from the
    figures' areas: a closed round's as they were); 404 for any other."""
    if not code:
        return top
    found = next((a for a in figures.areas.values() if a.code == code), None)
    if found is None or not found.path.startswith(top.path):
        abort(404)
    return found


def _trail(figures: Figures, top, area) -> list:
    """The areas from `top` down to `area`, for the page's way back up."""
    trail = [area]
    while trail[-1].id != top.id and trail[-1].parent_id in figures.areas:
        trail.append(figures.areas[trail[-1].parent_id])
    return trail[::-1]


def _surveyor_rows(figures: Figures, level) -> tuple[list, int]:
    """The per-surveyor rows of the page: at the round's own area everyone and "not assigned",
    below it the surveyors whose own area lies there; past SURVEYOR_ROWS those with the most
    households left (a district's thousands of surveyors would make one slow, unreadable page).
    Also how many were left out."""
    people = figures.by_surveyor()
    if level.id != figures.round.area_id:
        here = {i for (i,) in User.select(User.id).join(Area).where(
            Area.path.startswith(level.path)).tuples()}
        people = [p for p in people if p[0] in here]
    if len(people) <= SURVEYOR_ROWS:
        return people, 0
    most = {p[0] for p in sorted(people, key=lambda p: -(p[2].not_yet + p[2].attempted))
            [:SURVEYOR_ROWS]}
    return [p for p in people if p[0] in most], len(people) - SURVEYOR_ROWS


@bp.get("/rounds/<int:round_id>")
@policy.requires("rounds.view")
def round_page(round_id):
    me = auth.current_user()
    r = policy.get_round_or_404(me, round_id)
    figures = Figures.of(r)
    top = top_of(figures, me)
    whole = top.id == r.area_id        # else a round over an area above: the holder's part
    level = _level(figures, top, request.args.get("area"))
    totals = figures.totals() if whole else figures.area_total(top)
    level_total = totals if level.id == top.id else figures.area_total(level)
    people, unlisted = _surveyor_rows(figures, level)
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
        trail=_trail(figures, top, level), totals=totals, level_total=level_total,
        parts=figures.by_area(level), deeper={a.parent_id for a in figures.areas.values()},
        people=people, unlisted=unlisted, usernames=usernames,
        # per day and per outcome are counted for the whole round only (RoundCount): a part's
        # page leaves them out rather than show figures of other offices' areas
        days=figures.by_day() if whole else None, outcomes=figures.outcomes() if whole else None,
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

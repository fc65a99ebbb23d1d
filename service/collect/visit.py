"""Visits on the phone (the ledger, 台帐): a surveyor's households (the current survey round's
progress, its households still to visit first), a household's visit page prefilled from its
current answers, one-tap visit outcomes, and the door-plate code's landing.

Surveyors sign in with the office login (/admin/login?next=/visit). A visit page posts the ledger
form as every form page does, plus `household` and `base_version` (routes.posted_visit); an
outcome posts `outcome` and its own `submission_uuid`. Both answer the outbox with JSON.
"""
from __future__ import annotations

import uuid

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from peewee import Case
from werkzeug.datastructures import MultiDict
from wtforms import fields
from wtforms.validators import AnyOf, ValidationError

from service import csrf
from service.collect import bp, offline
from service.collect.round_progress import TO_VISIT, RoundProgress, fill, round_words
from service.collect.render import page_context
from service.collect.routes import Refused, catalog, closed, form_closed, handle, \
    posted_visit, well_formed_code
from service.formspec import wtf
from service.office import auth, clock, policy
from service.records import household_search, ledger
from service.records.answers import now_hidden
from service.records.submissions import Attribution, Visit
from service.records.vocabulary import OUTCOMES
from service.storage.db import write_transaction
from service.storage.models import Household, utcnow

#: Households per page of the visit list.
PAGE_SIZE = 30

#: Households kept on the phone for revisits without signal: the first of the list's order (never
#: visited, then the longest unvisited: the ones to visit next), so a phone stores a bounded amount.
OFFLINE_LIMIT = 300

#: The words for the codes of vocabulary.OUTCOMES and HOUSEHOLD_STATUSES on the phone.
OUTCOME_WORDS = {"not_home": _l("Not at home"), "refused": _l("Refused"),
                 "vacant": _l("Vacant"), "moved_out": _l("Moved out"),
                 "no_change": _l("Checked, no change")}
STATUS_WORDS = {"active": _l("Being visited"), "moved_out": _l("Moved out"),
                "merged": _l("Merged"), "closed": _l("Closed")}
assert set(OUTCOME_WORDS) == set(OUTCOMES)


def ledger_forms() -> list:
    return [spec for spec in catalog().open_forms() if spec.ledger]


def surveyor_attribution(household: Household | None = None) -> Attribution:
    """A visit by the signed-in surveyor: in the household's area, or theirs for a new one."""
    user = auth.current_user()
    return Attribution(channel="surveyor", surveyor_id=user.id,
                       area_id=household.area_id if household is not None else user.area_id)


def last_visit(household: Household) -> str:
    return clock.local_time(household.last_visit_at) if household.last_visit_at else ""


@bp.get("/visit")
@policy.requires("households.visit")
def visits():
    """The households of the surveyor's areas: the current round's progress and its households
    still to visit first, then never visited, then the longest unvisited; by address or code with
    `?q=`; paged by keyset (`?after=<id>` of the last one shown)."""
    user, forms = auth.current_user(), ledger_forms()
    progress = RoundProgress.of(user, forms)
    query = policy.households_for(user).where(
        Household.form_id.in_([spec.id for spec in forms]) & (Household.status != "merged"))
    text = request.args.get("q", "").strip()[:100]
    if text:      # identifiers are sealed: household_search compares hashes, opens addresses
        found = household_search.condition(query, text)
        if well_formed_code(text):
            code = text.upper().replace("-", "")
            found |= Household.code == f"{code[:4]}-{code[4:]}"
        query = query.where(found)
    after = request.args.get("after", type=int)
    cursor = query.where(Household.id == after).first() if after else None
    if cursor is not None:
        query = query.where(_after(cursor, progress))
    rows = list(in_list_order(query, progress).limit(PAGE_SIZE + 1))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render_template("collect/visit_list.html", households=rows, forms=forms, q=text,
                           next_after=rows[-1].id if more else None, last_visit=last_visit,
                           status_words=STATUS_WORDS, progress=progress,
                           members=progress.members([h.id for h in rows]) if progress else {},
                           round_words=round_words(), fill=fill, to_visit=TO_VISIT)


@bp.get("/visit/offline.json")
@policy.requires("households.visit")
def offline_households():
    """What the phone keeps for revisits without signal (README, "Offline phones"): the active
    households of the surveyor's own areas, at most OFFLINE_LIMIT, in the list's order, with
    their current answers as a visit page would prefill them (never the sensitive ones), and the
    current round's progress with each of the surveyor's households' standing in it, so that the
    list drawn on the phone without signal is the one the server draws.

    static/visits.js stores this and, for each household, its very visit page (the service
    worker's `doorstep-visits` cache), fetching again only the pages whose version or last visit
    changed. Whole pages rather than a form rendered on the phone from these answers: a revisit
    offline is then exactly the page the server renders (its hidden `household` and `base_version`,
    its outcome buttons, the server's own prefill rules), with no second renderer to keep in step.
    `user` lets the phone drop what another account left behind; no-store keeps it out of every
    cache but the phone's own, which signing out empties (templates/admin/login.html).
    """
    user = auth.current_user()
    forms = {spec.id: spec for spec in ledger_forms()}
    progress = RoundProgress.of(user, list(forms.values()))
    rows = list(in_list_order(policy.households_for(user).where(
        Household.form_id.in_(list(forms)) & (Household.status == "active")), progress)
        .limit(OFFLINE_LIMIT + 1))
    members = progress.members([h.id for h in rows[:OFFLINE_LIMIT]]) if progress else {}
    households = [{"code": h.code, "form": h.form_id, "address": h.address, "status": h.status,
                   "version": h.version, "visits": h.visits, "last_visit": last_visit(h),
                   "answers": ledger.prefill(forms[h.form_id], h, sensitive_ok=False),
                   "round": members.get(h.id)}
                  for h in rows[:OFFLINE_LIMIT]]
    response = current_app.json.response(user=user.id, households=households,
                                         more=len(rows) > OFFLINE_LIMIT,
                                         round=progress.as_dict() if progress else None)
    response.headers["Cache-Control"] = "no-store"
    return response


def in_list_order(query, progress: RoundProgress | None):
    """The list's order: the round's households still to visit first (when a round is shown),
    then never visited (imported; no last visit: NULLS FIRST on both databases), then the longest
    unvisited."""
    order = [Household.last_visit_at.asc(nulls="first"), Household.id]
    if progress is not None:
        order.insert(0, Case(None, [(Household.id.in_(progress.to_visit()), 0)], 1))
    return query.order_by(*order)


def _after(cursor: Household, progress: RoundProgress | None = None):
    """The households after `cursor` in the list's order (still to visit in the round first;
    then last visit, nulls first; then id)."""
    if cursor.last_visit_at is None:
        later = ((Household.last_visit_at.is_null() & (Household.id > cursor.id)) |
                 Household.last_visit_at.is_null(False))
    else:
        later = ((Household.last_visit_at > cursor.last_visit_at) |
                 ((Household.last_visit_at == cursor.last_visit_at) &
                  (Household.id > cursor.id)))
    if progress is None:
        return later
    rest = Household.id.not_in(progress.to_visit())
    return rest | later if progress.is_to_visit(cursor.id) else rest & later


@bp.route("/visit/new/<form_id>", methods=["GET", "POST"])
@csrf.exempt  # the form checks its own flask-wtf token, as form_page
@policy.requires("households.visit")
def register(form_id):
    """A new household: the blank ledger form, its visit attributed to the surveyor."""
    spec = catalog().get(form_id)
    if spec is None or not spec.ledger:
        abort(404)
    if catalog().is_closed(form_id):
        return form_closed()
    return handle(spec, surveyor_attribution(), visit=Visit)


@bp.route("/visit/<code>", methods=["GET", "POST"])
@csrf.exempt  # as form_page: the form checks its own token
@policy.requires("households.visit")
def visit(code):
    """A household's visit page: the ledger form prefilled from its current answers, with its
    version, and the outcome buttons. A merged household's code leads to where it went."""
    user = auth.current_user()
    household = policy.get_household_or_404(user, code)
    spec = catalog().get(household.form_id)
    if spec is None:
        abort(404)
    if catalog().is_closed(spec.id):
        return form_closed()
    if request.method == "POST":
        def chosen():
            found = posted_visit(spec, user)
            if found.household != household.code:   # this page's post names this household
                raise Refused(400, _("This household code is not valid. Open the household "
                                     "again from the visit list; the answers below are kept."))
            return found
        return handle(spec, surveyor_attribution(household), visit=chosen)
    if code != household.code:
        return redirect(url_for("collect.visit", code=household.code))
    if household.status not in ledger.VISITABLE:
        return render_template("collect/visit.html", notice="closed", household=household,
                               status_words=STATUS_WORDS, last_visit=last_visit)
    form = prefilled_form(spec, household)
    return render_template(
        "collect/visit.html", **page_context(spec, form), household=household,
        visit_fields={"household": household.code, "base_version": household.version},
        outcomes=[(name, OUTCOME_WORDS[name], str(uuid.uuid4())) for name in OUTCOMES],
        outcome_form=OutcomeForm(), status_words=STATUS_WORDS, last_visit=last_visit)


def prefilled_form(spec, household: Household):
    """The ledger form as the household stands: `ledger.prefill` without the sensitive consent
    (sensitive answers never reach the page: its HTML sits in the phone's cache and drafts), and
    without answers the form would now hide (a follow-up whose condition no longer holds, e.g.
    because the question it follows is asked fresh), so nothing hidden shows as answered."""
    answers = ledger.prefill(spec, household, sensitive_ok=False)
    for q, item, _value in now_hidden(spec, answers, False):
        if item is None:
            answers.pop(q.name, None)
        else:
            answers[spec.parent_of(q.name).name][item].pop(q.name, None)
    wire = MultiDict()
    for q in spec.questions():
        if q.name not in answers:
            continue
        if not q.is_group:
            for value in q.qtype.posted(answers[q.name]):
                wire.add(q.name, value)
            continue
        for i, item in enumerate(answers[q.name]):
            for child in q.questions:
                if child.answerable and child.name in item:
                    for value in child.qtype.posted(item[child.name]):
                        wire.add(f"{q.name}-{i}-{child.name}", value)
    form = wtf.form_class(spec)(formdata=wire)
    for q in spec.questions():   # a blank page adds min_items empty items on top of these
        if q.is_group:
            keep = max(len(answers.get(q.name, [])), q.min_items)
            while len(form[q.name].entries) > keep:
                form[q.name].pop_entry()
    return form


def _uuid4(form, field):
    try:
        ok = str(uuid.UUID(field.data or "")) == (field.data or "").lower()
    except ValueError:
        ok = False
    if not ok:
        raise ValidationError(_l("This page is out of date; please reload it and try again."))
    field.data = field.data.lower()


class OutcomeForm(FlaskForm):
    """One outcome button: CSRF-protected, idempotent by its own UUID."""

    outcome = fields.HiddenField(validators=[AnyOf(OUTCOMES)])
    submission_uuid = fields.HiddenField(validators=[_uuid4])


@bp.post("/visit/<code>/outcome")
@csrf.exempt  # checked by OutcomeForm, so the outbox gets its refusal as data
@policy.requires("households.visit")
def outcome(code):
    """A visit that filled in no form (not at home, refused, ...), stored once per UUID."""
    user = auth.current_user()
    household = policy.get_household_or_404(user, code)
    form = OutcomeForm()
    if not form.validate() or wtf.posted_twice(request.form):   # one outcome, one UUID
        if offline.wants_json():
            response = current_app.json.response(
                errors={k: [str(e) for e in v] for k, v in form.errors.items()}, labels={},
                message=_("This page is out of date; please reload it and try again."))
            response.status_code = 400
            return response
        abort(400)
    moment = utcnow()
    try:
        with write_transaction():
            made, _created = ledger.record_outcome(
                household.id, form.submission_uuid.data, form.outcome.data,
                received_at=moment, day=clock.current().day_of(moment), channel="surveyor",
                area_id=household.area_id, surveyor_id=user.id)
    except ledger.LedgerError:   # moved out or closed (it was found above)
        if offline.wants_json():
            refused = closed()
            return offline.refused(refused.status, "outcome", refused.message)
        return render_template("collect/visit.html", notice="closed", household=household,
                               status_words=STATUS_WORDS, last_visit=last_visit), 409
    if offline.wants_json():
        return offline.outcome_recorded(made, household)
    return render_template("collect/visit.html", notice="recorded", household=household,
                           recorded=OUTCOME_WORDS[made.outcome], status_words=STATUS_WORDS,
                           last_visit=last_visit)


@bp.route("/d/<token>", methods=["GET", "POST"])
@csrf.exempt  # as form_page: the form checks its own token
def door(token):
    """A door-plate code (门牌码). A surveyor who may visit the household goes to its visit page;
    anyone else gets its self-report form: the blank ledger form (nothing of the household's
    answers), whose post changes only what it answers (channel `self`, the household's area)."""
    household = Household.get_or_none(Household.door_token == token[:64])
    if household is not None:
        household = ledger.find(household.code)       # a merged household's sticker still works
    spec = catalog().get(household.form_id) if household is not None else None
    if spec is None:
        return render_template("collect/link_closed.html", state="unknown",
                               contact=current_app.config.get("OFFICE_CONTACT", "")), 404
    if catalog().is_closed(spec.id):
        return form_closed()
    if request.method == "GET":
        if policy.can(auth.current_user(), "households.visit", household):
            return redirect(url_for("collect.visit", code=household.code))
        if household.status not in ledger.VISITABLE:
            return render_template("collect/visit.html", notice="door_closed"), 410
    return handle(spec, Attribution(channel="self", area_id=household.area_id),
                  visit=lambda: Visit(household.code, None, partial=True))

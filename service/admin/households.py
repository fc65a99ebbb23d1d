"""The ledger (台帐) in the office: the households of one's areas, and one household's page.

The list is paged by keyset on the household id (newest registration first), never by OFFSET, so
a page deep into a district's ledger costs what the first does. Changes to a household (conflicts,
duplicates, status) are posted to households_actions.py.
"""
from __future__ import annotations

import json

from flask import abort, current_app, redirect, render_template, request, url_for
from peewee import fn

from service.admin import bp
from service.admin.forms import ConfirmForm, ReasonForm
from service.admin.households_actions import OUTCOME_WORDS, SETTABLE, SOURCE_WORDS, STATUS_WORDS
from service.formspec.loader import LEDGER_ADDRESS
from service.i18n import current_lang
from service.office import audit, auth, clock, policy
from service.office.clock import local_time
from service.office.masking import mask
from service.records import ledger
from service.records.household_index import filterable
from service.records.vocabulary import HOUSEHOLD_STATUSES
from service.reports import household_history
from service.reports.household_list import HouseholdFilters, matching
from service.storage.db import in_id_order
from service.storage.models import (
    Area, AuditEvent, Household, HouseholdConflict, Submission, User, VisitOutcome,
)

PAGE_SIZE = 50
WORDS = {"status_words": STATUS_WORDS, "outcome_words": OUTCOME_WORDS,
         "source_words": SOURCE_WORDS}


def ledger_forms() -> list:
    return [spec for spec in current_app.extensions["doorstep.catalog"] if spec.ledger]


def shown(q, value, revealed=False) -> str:
    """A stored value as the office reads it: labels for codes, identifiers masked unless
    revealed; a question the form no longer has is hidden the same way, to be safe."""
    if value is None or value == "" or value == []:
        return ""
    if q is None:
        return json.dumps(value, ensure_ascii=False) if revealed else "***"
    if q.pii and not revealed:
        return mask(q, value)
    if isinstance(value, list):
        return ", ".join(q.qtype.label(q, v, current_lang()) for v in value)
    return q.qtype.label(q, value, current_lang())


def filtered(user, spec):
    """The user's households of one form narrowed by every filter but the status; the status
    filter apart (the counts per status are of the rest); and the filters used."""
    f = HouseholdFilters()
    code = request.args.get("area", "").strip()
    if code:
        f.area = policy.get_area_or_404(user, code)
    f.before = clock.read_day(request.args.get("before")) or f.before
    q = spec.question(request.args.get("question", ""))
    value = request.args.get("value", "").strip()[:200]
    if q is not None and q in filterable(spec) and value:
        f.question, f.value = q, value
    f.duplicates = bool(request.args.get("duplicates"))
    f.conflicts = bool(request.args.get("conflicts"))
    status = request.args.get("status", "")
    f.status = status if status in HOUSEHOLD_STATUSES else None
    query, condition = matching(user, spec.id, f)
    return query, condition, f.as_args()


def _id_arg(name):
    """A page's starting id, or None for a missing, malformed or impossible one."""
    value = request.args.get(name, type=int)
    return value if value is not None and 0 <= value < 2 ** 31 else None


def _page(query):
    """One keyset page, newest first: the households `older` than an id (the next page) or
    `newer` than one (the previous page); returns the rows and the ids the previous and next
    links continue from (None: no such page)."""
    after, before = _id_arg("older"), _id_arg("newer")
    if before is not None:
        rows = list(in_id_order(query.where(Household.id > before), Household).order_by(Household.id)
                    .limit(PAGE_SIZE + 1))
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        return rows, (rows[0].id if more and rows else None), (rows[-1].id if rows else None)
    if after is not None:
        query = query.where(Household.id < after)
    rows = list(in_id_order(query, Household).order_by(Household.id.desc())
                .limit(PAGE_SIZE + 1))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    newer = rows[0].id if after is not None and rows else None
    return rows, newer, (rows[-1].id if more else None)


@bp.get("/households")
@policy.requires("households.view")
def households():
    user = auth.current_user()
    forms = ledger_forms()
    if not forms:
        return render_template("admin/households.html", spec=None, forms=[], **WORDS)
    spec = next((s for s in forms if s.id == request.args.get("form")), None)
    if spec is None and request.args.get("form"):
        abort(404)
    spec = spec or forms[0]
    query, condition, used = filtered(user, spec)
    counts = dict(query.select(Household.status, fn.COUNT(Household.id))
                  .group_by(Household.status).order_by().tuples())
    listed = query.where(condition)
    # the listed total from the counts per status (one pass over the filtered households)
    total = counts.get(used["status"], 0) if "status" in used else \
        sum(n for status, n in counts.items() if status != "merged")
    rows, newer, older = _page(listed)
    ids = [r.id for r in rows]
    areas = {a.id: a for a in Area.select().where(
        Area.id.in_([r.area_id for r in rows if r.area_id]))} if rows else {}
    open_conflicts = dict(
        HouseholdConflict.select(HouseholdConflict.household, fn.COUNT(HouseholdConflict.id))
        .where(HouseholdConflict.household.in_(ids) & HouseholdConflict.resolved_at.is_null())
        .group_by(HouseholdConflict.household).tuples()) if ids else {}
    address_q = spec.question(LEDGER_ADDRESS)
    table = [{"h": r, "area": areas.get(r.area_id), "address": shown(address_q, r.address),
              "last": local_time(r.last_visit_at) if r.last_visit_at else "",
              "conflicts": open_conflicts.get(r.id, 0)} for r in rows]
    return render_template(
        "admin/households.html", spec=spec, forms=forms, table=table, total=total,
        counts=counts, statuses=HOUSEHOLD_STATUSES, used=used, newer=newer, older=older,
        questions=filterable(spec), areas=list(policy.visible_areas(user)), **WORDS)


def _timeline(user, ids):
    """Visits (submissions and outcomes without a form), newest first; a submission links to
    its response page when the user may open it."""
    subs = list(Submission.select().where(Submission.household.in_(ids)))
    visible = {i for (i,) in policy.submissions_for(user).where(Submission.household.in_(ids))
               .select(Submission.id).tuples()} if subs else set()
    outcomes = list(VisitOutcome.select().where(VisitOutcome.household.in_(ids)))
    people = {u.id: u.username for u in User.select().where(User.id.in_(
        [s.surveyor_id for s in subs + outcomes if s.surveyor_id]))} if subs or outcomes else {}
    entries = [{"at": s.received_at, "submission": s, "open": s.id in visible,
                "surveyor": people.get(s.surveyor_id, ""), "channel": s.channel} for s in subs]
    entries += [{"at": o.received_at, "outcome": o, "surveyor": people.get(o.surveyor_id, ""),
                 "channel": o.channel} for o in outcomes]
    entries.sort(key=lambda e: e["at"], reverse=True)
    for entry in entries:
        entry["when"] = local_time(entry["at"])
    return entries


def _history(spec, ids, revealed):
    """Each question's changes, in the form's order, oldest first."""
    order = {q.name: i for i, q in enumerate(spec.questions())}
    by_question: dict = {}
    for c in household_history.changes(ids):
        q = spec.question(c["question"])
        by_question.setdefault(c["question"], {"q": q, "label": q.label.get(current_lang())
                                               if q else c["question"], "changes": []})
        by_question[c["question"]]["changes"].append({
            "old": shown(q, c["old"], revealed), "new": shown(q, c["new"], revealed),
            "source": c["source"], "version": c["version"], "when": local_time(c["at"]),
            "receipt": c["receipt"] or "", "who": c["by"] or ""})
    return sorted(by_question.values(), key=lambda e: order.get(e["q"].name if e["q"] else "",
                                                                len(order)))


def _conflicts(spec, household, revealed):
    now = ledger.current(household)
    found = []
    conflicts = list(ledger.open_conflicts(household))
    receipts = dict(Submission.select(Submission.id, Submission.receipt).where(Submission.id.in_(
        [c.submission_id for c in conflicts])).tuples()) if conflicts else {}
    for c in conflicts:
        q = spec.question(c.question)
        found.append({"c": c, "label": q.label.get(current_lang()) if q else c.question,
                      "kept": shown(q, json.loads(c.kept_value), revealed),
                      "visit": shown(q, json.loads(c.visit_value), revealed),
                      "now": shown(q, now.get(c.question), revealed),
                      "receipt": receipts.get(c.submission_id, ""), "when": local_time(c.at)})
    return found


@bp.route("/households/<code>", methods=["GET", "POST"])
@policy.requires("households.view")
def household(code):
    """One household; a POST (CSRF-protected button) reveals its identifiers, and is logged."""
    user = auth.current_user()
    found = policy.get_household_or_404(user, code)
    if found.code != code:     # a merged code (or one typed loosely) leads to the household kept
        return redirect(url_for("admin.household", code=found.code))
    spec = current_app.extensions["doorstep.catalog"].get(found.form_id)
    if spec is None:
        abort(404)
    revealed = False
    can_reveal = policy.can(user, "responses.reveal", found)
    if request.method == "POST":
        if not can_reveal:
            abort(404)
        if not ConfirmForm().validate_on_submit():
            abort(400)
        revealed = True
        audit.record("reveal", target=f"household:{found.id}", form=found.form_id,
                     household=found.code)
    now = ledger.current(found)
    sections = [(section, [(q, shown(q, now.get(q.name), revealed)) for q in section.questions
                           if q.answerable and not q.is_group])
                for section in spec.sections]
    groups = [(q, [[(c, shown(c, item.get(c.name), revealed)) for c in q.questions
                    if c.answerable] for item in now.get(q.name, [])])
              for q in spec.questions() if q.is_group and spec.parent_of(q.name) is None]
    ids = household_history.family(found)
    duplicate_of = Household.get_or_none(Household.id == found.duplicate_of_id) \
        if found.duplicate_of_id else None
    flagged = list(policy.households_for(user, found.form_id).where(
        Household.duplicate_of == found.id))
    return render_template(
        "admin/household.html", spec=spec, h=found, sections=sections, groups=groups,
        revealed=revealed, can_reveal=can_reveal,
        has_pii=any(q.pii for q in spec.all_questions()),
        address=shown(spec.question(LEDGER_ADDRESS), found.address, revealed),
        last=local_time(found.last_visit_at) if found.last_visit_at else "",
        registered=local_time(found.registered_at), timeline=_timeline(user, ids),
        history=_history(spec, ids, revealed), conflicts=_conflicts(spec, found, revealed),
        duplicate_of=duplicate_of,
        duplicate_visible=duplicate_of is not None and policy.can(user, "households.view",
                                                                   duplicate_of),
        flagged=flagged, merged=[h for h in Household.select().where(Household.id.in_(ids[1:]))],
        can_manage=policy.can(user, "households.manage", found),
        status_log=_status_log(found), settable=SETTABLE, reason_form=ReasonForm(), **WORDS)


def _status_log(household):
    """The office's status changes of this household, with their reasons (from the audit log)."""
    return [{"when": local_time(e.at), "who": e.username, **json.loads(e.detail)}
            for e in AuditEvent.select().where((AuditEvent.target == f"household:{household.id}")
                                               & (AuditEvent.action == "household_status"))
            .order_by(AuditEvent.at)]

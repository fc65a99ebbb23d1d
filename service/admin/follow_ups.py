"""The follow-up queue of the office (/admin/follow-ups): what is owed to households in one's areas,
filtered by form, kind, state, assignee, area, overdue and due this week, exported as CSV (UTF-8
with a BOM, for Excel on Chinese Windows; audit-logged); and one follow-up's page with its history
and the changes the user may make (follow_ups_actions.py). Out of scope is a 404, like everywhere."""
from __future__ import annotations

from types import SimpleNamespace

from flask import current_app, render_template, request
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.validators import Length

from service.admin import bp, downloads
from service.i18n import current_lang
from service.office import audit, auth, clock, policy
from service.records import follow_up_actions as actions, follow_ups
from service.reports import export_files
from service.reports.export import neutralise
from service.storage.follow_up_models import DECISIONS, KINDS, OPEN_STATES, STATES, FollowUp
from service.storage.models import Area, Submission, User

PAGE_SIZE = 50
#: The office's words for the codes a follow-up carries (the resident's are /my's).
STATE_WORDS = {"new": _l("New"), "assigned": _l("Assigned"), "in_progress": _l("In progress"),
               "answered": _l("Replied"), "closed": _l("Done")}
KIND_WORDS = {"follow_up": _l("Follow-up"), "sign_up": _l("Sign-up"),
              "application": _l("Application"), "correction": _l("Correction request"),
              "deletion": _l("Deletion request"), "withdrawal": _l("Withdrawal of a sign-up")}
DECISION_WORDS = {"confirmed": _l("Confirmed"), "declined": _l("Declined"),
                  "withdrawn": _l("Withdrawn"), "approved": _l("Deletion approved"),
                  "refused": _l("Deletion refused")}
ACTION_WORDS = {"requested": _l("Asked by the resident"), "assigned": _l("Assigned"),
                "started": _l("Started"), "note": _l("Note"), "reply": _l("Replied"),
                "closed": _l("Marked done"), "confirmed": _l("Confirmed"),
                "declined": _l("Declined"),
                "withdrawn": _l("Withdrawn by the resident"), "step": _l("Review step"),
                "approved": _l("Deletion approved"), "refused": _l("Deletion refused")}
CSV_COLUMNS = (_l("Number"), _l("Receipt"), _l("Form"), _l("Kind"), _l("State"), _l("Area code"),
               _l("Area"), _l("Assignee"), _l("Opened"), _l("Due"), _l("Overdue"), _l("Closed on"),
               _l("Decision"), _l("Session"), _l("Review step"), _l("Replied"))
assert set(STATE_WORDS) == set(STATES) and set(KIND_WORDS) == set(KINDS)
assert set(DECISIONS) <= set(DECISION_WORDS)


def action_text(note) -> str:
    """A history entry's change as the office reads it (the note's text is shown apart)."""
    word = str(ACTION_WORDS.get(note.action, note.action))
    if note.action == "requested":
        return f"{word}: {KIND_WORDS.get(note.new, note.new)}"
    if note.action in ("assigned", "step", "confirmed") and note.new:
        return f"{word}: {note.new}"
    return word


#: What templates need to say a follow-up's codes (the response page's panel and the pages here).
WORDS = SimpleNamespace(state=STATE_WORDS, kind=KIND_WORDS, decision=DECISION_WORDS,
                        action=action_text)


def spec_of(follow_up: FollowUp):
    """The definition its submission was made with (its sessions and steps)."""
    submission = follow_up.submission
    return current_app.extensions["doorstep.catalog"].version(submission.form_id,
                                                              submission.form_version)


def filtered(user):
    """The user's follow-ups narrowed by the queue's filters (query arguments); the filters used."""
    query, used = policy.follow_ups_for(user), {}
    for name, values, column in (("form", None, FollowUp.form_id), ("kind", KINDS, FollowUp.kind),
                                 ("state", STATES, FollowUp.state)):
        value = request.args.get(name, "").strip()
        if value and (values is None or value in values):
            query, used[name] = query.where(column == value), value
    if request.args.get("state") == "open":
        query, used["state"] = query.where(FollowUp.state.in_(list(OPEN_STATES))), "open"
    assignee = request.args.get("assignee", "").strip()
    if assignee == "-":
        query, used["assignee"] = query.where(FollowUp.assignee.is_null()), assignee
    elif assignee:
        query = query.where(FollowUp.assignee.in_(
            User.select(User.id).where(User.username == assignee)))
        used["assignee"] = assignee
    code = request.args.get("area", "").strip()
    if code:
        area = policy.get_area_or_404(user, code)
        query, used["area"] = query.where(FollowUp.area.in_(policy.area_ids_under(area))), code
    today = clock.today()
    if request.args.get("overdue") == "1":
        query = query.where(FollowUp.state.in_(list(OPEN_STATES)) & (FollowUp.due_on < today))
        used["overdue"] = "1"
    if request.args.get("due") == "week":      # the home page's "due this week": to Sunday
        query = query.where(FollowUp.state.in_(list(OPEN_STATES)) & (FollowUp.due_on >= today) &
                            (FollowUp.due_on <= follow_ups.week_end(today)))
        used["due"] = "week"
    return query.order_by(FollowUp.due_on, FollowUp.id), used


def rows_of(query) -> list[dict]:
    """Each follow-up with its submission, area and assignee (three look-ups for a page)."""
    found = list(query)
    subs = {s.id: s for s in Submission.select(Submission.id, Submission.receipt,
                                               Submission.form_id, Submission.form_version)
            .where(Submission.id.in_([f.submission_id for f in found]))} if found else {}
    areas = {a.id: a for a in Area.select().where(
        Area.id.in_([f.area_id for f in found if f.area_id]))} if found else {}
    users = {u.id: u for u in User.select().where(
        User.id.in_([f.assignee_id for f in found if f.assignee_id]))} if found else {}
    today = clock.today()
    return [{"f": f, "s": subs.get(f.submission_id), "area": areas.get(f.area_id),
             "assignee": users.get(f.assignee_id), "overdue": follow_ups.is_overdue(f, today),
             "step": step_title(f)} for f in found]


def step_title(f: FollowUp) -> str:
    """An application's step as its form (the version served) names it, in the user's language."""
    spec = current_app.extensions["doorstep.catalog"].get(f.form_id) if f.step else None
    step = spec.follow_up.step(f.step) if spec and spec.follow_up else None
    return step.label.get(current_lang()) if step else (f.step or "")


def form_title(form_id: str) -> str:
    spec = current_app.extensions["doorstep.catalog"].get(form_id)
    return spec.title.get(current_lang()) if spec else form_id


@bp.get("/follow-ups")
@policy.requires("follow_ups.view")
def follow_ups_page():
    user = auth.current_user()
    query, used = filtered(user)
    total = query.count()
    page = min(max(1, request.args.get("page", 1, type=int)), 10**6)   # an offset SQL can count
    catalog = current_app.extensions["doorstep.catalog"]
    return render_template(
        "admin/follow_ups/queue.html", rows=rows_of(query.paginate(page, PAGE_SIZE)),
        total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)), used=used,
        forms=[s for s in catalog if s.follow_up], areas=list(policy.visible_areas(user)),
        counts=follow_ups.counts(policy.follow_ups_for(user)), form_title=form_title,
        states=STATES, kinds=KINDS, words=WORDS)


def _batches(query, size: int = 1000):
    """The query's rows with their look-ups, a thousand at a time (memory stays flat)."""
    page = 1
    while batch := rows_of(query.paginate(page, size)):
        yield from batch
        page += 1


def csv_rows(query):
    yield [str(c) for c in CSV_COLUMNS]
    today, local = clock.today(), clock.local_time
    for row in _batches(query):
        f, s, area = row["f"], row["s"], row["area"]
        yield [neutralise(c) for c in (
            f.id, s.receipt if s else "", form_title(f.form_id), KIND_WORDS[f.kind],
            STATE_WORDS[f.state], area.code if area else "", area.name if area else "",
            row["assignee"].username if row["assignee"] else "", local(f.opened_at),
            f.due_on.isoformat(), _("yes") if follow_ups.is_overdue(f, today) else "",
            local(f.closed_at) if f.closed_at else "",
            DECISION_WORDS[f.decision or f.outcome] if (f.decision or f.outcome) else "",
            f.session or "", f.step or "", local(f.replied_at) if f.replied_at else "")]


@bp.get("/follow-ups.csv")
@policy.requires("follow_ups.view")
def follow_ups_csv():
    user = auth.current_user()
    query, used = filtered(user)
    name = f"follow-ups-{clock.today().isoformat()}.csv"
    return downloads.streamed(
        lambda: export_files.csv_chunks(csv_rows(query)), name, "text/csv",
        lambda finished: audit.record("follow_ups_export", target="follow_ups", user=user,
                                      filters=used, complete=finished))


@bp.get("/follow-ups/<int:follow_up_id>")
@policy.requires("follow_ups.view")
def follow_up_page(follow_up_id):
    user = auth.current_user()
    f = policy.get_follow_up_or_404(user, follow_up_id)
    spec = spec_of(f)
    if f.request_text:        # a household's own words about its data: each view is logged
        audit.record("follow_up_view", target=f"follow_up:{f.id}", user=user, kind=f.kind,
                     submission=f.submission_id)
    return render_template(
        "admin/follow_ups/detail.html", f=f, row=rows_of(FollowUp.select().where(
            FollowUp.id == f.id))[0], spec=spec, notes=follow_ups.history(f),
        forms=forms_for(f, spec, user), steps=actions.next_steps(f, spec, user),
        local_time=clock.local_time, words=WORDS, form_title=form_title, sessions=session_choices(spec))


class FollowUpForm(FlaskForm):
    """Every change's form: the text (note, reply, reviewer's note, reason) and what it picks."""

    text = TextAreaField(_l("Text"), validators=[Length(max=actions.NOTE_MAX)])
    assignee = SelectField(_l("Assignee"), validate_choice=False)
    session = SelectField(_l("Session"), validate_choice=False)
    choice = HiddenField()            # confirmed | declined, approve | refuse, or a step's name


def assignees(follow_up) -> list[User]:
    """The active accounts who may deal with this follow-up (in its area, with the capability)."""
    return [u for u in User.select().where(User.active & User.role.in_(["admin", "manager"]))
            .order_by(User.username) if policy.can(u, "follow_ups.manage", follow_up)]


def forms_for(follow_up, spec, user) -> dict:
    """The forms the follow-up's page shows this user: none when they may not manage it."""
    if not policy.can(user, "follow_ups.manage", follow_up):
        return {}
    form = FollowUpForm(formdata=None)
    form.assignee.choices = [("", "—")] + [(u.username, u.display_name or u.username)
                                           for u in assignees(follow_up)]
    form.assignee.data = follow_up.assignee.username if follow_up.assignee_id else ""
    form.session.choices = session_choices(spec)
    form.session.data = follow_up.session
    return {"form": form, "open": follow_up.state in OPEN_STATES}


def session_choices(spec) -> list[tuple[str, str]]:
    """A sign-up form's sessions: the options of its session question, in the user's language."""
    rule = spec.follow_up if spec is not None else None
    if rule is None or rule.sign_up is None:
        return []
    q = spec.question(rule.sign_up.session_question)
    return [(c.value, c.label.get(current_lang())) for c in q.choices]

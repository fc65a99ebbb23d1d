"""What the office does to a follow-up: assign, start, note, answer, close; confirm or decline a
sign-up with its session; take an application's review step; approve or refuse a resident's
request for deletion.

Each change is one transaction holding the follow-up's row (two clicks at once change it once),
writes a FollowUpNote (who, when, from what to what) and one audit event. A change the follow-up
cannot take raises FollowUpError with the reason's code (REASONS), which the office's pages say
in the user's language; nothing is written then.
"""
from __future__ import annotations

from service.office import audit, policy
from service.records import follow_ups
from service.records.follow_ups import FollowUpError
from service.storage.db import is_sqlite, write_transaction
from service.storage.follow_up_models import OPEN_STATES, FollowUp, FollowUpNote
from service.storage.models import Submission, User, utcnow

#: Why a change is refused (the codes FollowUpError carries).
REASONS = ("closed", "not_sign_up", "not_application", "not_deletion", "no_session",
           "bad_session", "bad_step", "not_your_step", "note_needed", "text_needed",
           "bad_assignee", "bad_decision", "withdrawn")
NOTE_MAX = 2000


def _locked(follow_up: FollowUp) -> FollowUp:
    query = FollowUp.select().where(FollowUp.id == follow_up.id)
    return (query if is_sqlite() else query.for_update()).get()


def _text(text: str | None, needed: bool, reason: str = "text_needed") -> str:
    text = (text or "").strip()
    if (needed and not text) or len(text) > NOTE_MAX:
        raise FollowUpError(reason)
    return text


def _change(follow_up: FollowUp, by: User, action: str, *, old="", new="", text="",
            **columns) -> FollowUp:
    """Write `columns` to the follow-up, its note and its audit event (inside the caller's
    transaction); returns the follow-up as it is now."""
    if columns:
        FollowUp.update(**columns).where(FollowUp.id == follow_up.id).execute()
    FollowUpNote.create(follow_up=follow_up.id, user=by, action=action, old=old or "",
                        new=new or "", text=text)
    # the note's text stays in the follow-up's history: it may name the household
    audit.record(f"follow_up_{action}", target=f"follow_up:{follow_up.id}", user=by,
                 submission=follow_up.submission_id, kind=follow_up.kind, old=old or "",
                 new=new or "")
    return FollowUp.get_by_id(follow_up.id)


def _open(follow_up: FollowUp) -> FollowUp:
    current = _locked(follow_up)
    if current.state not in OPEN_STATES:
        raise FollowUpError("closed")
    return current


def assign(follow_up: FollowUp, assignee: User | None, by: User) -> FollowUp:
    """Give it to `assignee` (someone who may manage it; None: nobody), state `assigned` if new."""
    if assignee is not None and (not assignee.active or
                                 not policy.can(assignee, "follow_ups.manage", follow_up)):
        raise FollowUpError("bad_assignee")
    with write_transaction():
        current = _open(follow_up)
        state = "assigned" if current.state == "new" and assignee else current.state
        before = current.assignee.username if current.assignee_id else ""
        return _change(current, by, "assigned", old=before,
                       new=assignee.username if assignee else "",
                       assignee=assignee.id if assignee else None, state=state)


def start(follow_up: FollowUp, by: User) -> FollowUp:
    """Someone is working on it (its assignee, or `by` when it has none)."""
    with write_transaction():
        current = _open(follow_up)
        return _change(current, by, "started", old=current.state, new="in_progress",
                       state="in_progress", assignee=current.assignee_id or by.id)


def note(follow_up: FollowUp, text: str, by: User) -> FollowUp:
    """A note for the office's own history (not shown to the resident); any state."""
    text = _text(text, True)
    with write_transaction():
        return _change(_locked(follow_up), by, "note", text=text)


def reply(follow_up: FollowUp, text: str, by: User) -> FollowUp:
    """The reply meant for the resident (shown on /my): state `answered`."""
    text = _text(text, True)
    with write_transaction():
        current = _open(follow_up)
        return _change(current, by, "reply", old=current.state, new="answered", text=text,
                       reply=text, replied_at=utcnow(), state="answered")


def close(follow_up: FollowUp, by: User, text: str = "") -> FollowUp:
    with write_transaction():
        current = _open(follow_up)
        return _change(current, by, "closed", old=current.state, new="closed",
                       text=_text(text, False), state="closed", closed_at=utcnow())


def decide(follow_up: FollowUp, decision: str, session: str | None, spec, by: User,
           text: str = "") -> FollowUp:
    """A sign-up confirmed with `session` (one of the session question's options) or declined;
    either closes its follow-up. A decision may be changed (another session) until the
    resident withdraws."""
    if follow_up.kind != "sign_up" or spec.follow_up is None or spec.follow_up.sign_up is None:
        raise FollowUpError("not_sign_up")
    if decision not in ("confirmed", "declined"):
        raise FollowUpError("bad_decision")
    question = spec.question(spec.follow_up.sign_up.session_question)
    if decision == "confirmed":
        if not session:
            raise FollowUpError("no_session")
        if session not in {c.value for c in question.choices}:
            raise FollowUpError("bad_session")
    else:
        session = None
    with write_transaction():
        current = _locked(follow_up)
        if current.decision == "withdrawn":
            raise FollowUpError("withdrawn")
        return _change(current, by, decision, old=current.session or current.decision or "",
                       new=session or decision, text=_text(text, False), decision=decision,
                       session=session, state="closed", closed_at=current.closed_at or utcnow())


def may_take(user: User, step, follow_up: FollowUp) -> bool:
    """Whether `user` may move this application to `step`: the step's role (or an admin, who
    holds every capability), and the follow-up in their scope."""
    return step.role is not None and policy.can(user, "follow_ups.manage", follow_up) and \
        (user.role == step.role or user.role == "admin")


def take_step(follow_up: FollowUp, step_name: str, text: str, spec, by: User) -> FollowUp:
    """Move an application to `step_name` with the reviewer's note (required); a final step
    closes the follow-up, any other keeps it in progress."""
    rule = spec.follow_up
    if follow_up.kind != "application" or rule is None or not rule.steps:
        raise FollowUpError("not_application")
    step = rule.step(step_name)
    if step is None:
        raise FollowUpError("bad_step")
    if not may_take(by, step, follow_up):
        raise FollowUpError("not_your_step")
    text = _text(text, True, "note_needed")
    with write_transaction():
        current = _open(follow_up)
        if current.step not in step.after:
            raise FollowUpError("bad_step")
        ends = {"state": "closed", "closed_at": utcnow()} if step.final else \
            {"state": "in_progress"}
        return _change(current, by, "step", old=current.step or "", new=step.name, text=text,
                       step=step.name, **ends)


def next_steps(follow_up: FollowUp, spec, user: User) -> list:
    """The steps `user` may take this application to now."""
    rule = spec.follow_up if spec is not None else None
    if follow_up.kind != "application" or rule is None or follow_up.state not in OPEN_STATES:
        return []
    return [s for s in rule.steps if follow_up.step in s.after and may_take(user, s, follow_up)]


def decide_deletion(follow_up: FollowUp, approve: bool, text: str, by: User) -> FollowUp:
    """A resident's request for deletion: approved, the submission's answers are erased
    everywhere they are kept (records/erasure.py), and the words of the household's requests
    with them, in the same transaction; refused, the reason (required) is the reply the resident
    reads. Either closes the request."""
    if follow_up.kind != "deletion":
        raise FollowUpError("not_deletion")
    text = _text(text, not approve)
    with write_transaction():
        current = _open(follow_up)
        if approve:
            from service.records import erasure     # helper E's module: erasing is its own room
            submission = Submission.get_by_id(current.submission_id)
            erasure.erase_submission(submission, by=by, reason="resident request")
            follow_ups.forget_requests(submission)
        outcome = "approved" if approve else "refused"
        now = utcnow()
        return _change(current, by, outcome, old=current.state, new="closed",
                       text=text, outcome=outcome, reply=text, replied_at=now if text else None,
                       state="closed", closed_at=now)

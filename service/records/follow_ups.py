"""Follow-ups: what the office owes a household after a submission, opened and read here.

A form that declares `follow_up` (formspec/follow_up.py) opens one follow-up with each submission,
in the submission's own transaction and with one insert (`open_for`, called by
records/submissions.py): a suggestion to answer, a sign-up to confirm, an application to review.
A household opens its own requests through /my (`open_request`: a correction, a deletion, the
withdrawal of a sign-up), due in RESIDENT_REQUEST_WORKING_DAYS working days (PIPL: "in a timely
manner"). Due dates are office-local days counted in working days (working_days.py). What the
office then does to a follow-up is follow_up_actions.py; each change is a FollowUpNote and an
audit event.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app, has_app_context

from service.office import clock
from service.records import working_days
from service.storage.db import insert_row, is_sqlite, write_transaction
from service.storage.follow_up_models import (
    OPEN_STATES, REQUEST_KINDS, FollowUp, FollowUpNote,
)
from service.storage.models import Submission, utcnow

#: A resident's request is due in this many working days unless RESIDENT_REQUEST_WORKING_DAYS says
DEFAULT_REQUEST_DAYS = 15
#: A resident's request text, at most (the office reads it in its queue).
REQUEST_TEXT_MAX = 2000


class FollowUpError(ValueError):
    """A change the follow-up cannot take (wrong kind, step or state); `str()` says why, in
    English: the views say it in the user's language (follow_ups_actions.REFUSALS)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def _opened_day(moment: dt.datetime) -> dt.date:
    return clock.current().localise(moment).date()


def _new(submission: Submission, kind: str, days: int, opened: dt.datetime | None = None,
         **fields) -> FollowUp:
    opened = opened or utcnow()
    follow_up = FollowUp(submission=submission.id, form_id=submission.form_id,
                         area=submission.area_id, kind=kind, state="new", opened_at=opened,
                         due_on=working_days.due(_opened_day(opened), days), **fields)
    insert_row(follow_up)
    return follow_up


def open_for(submission: Submission, spec) -> FollowUp | None:
    """The follow-up a new submission of `spec` opens (None when its form declares none). Called
    inside the submission's transaction: one insert, nothing else written."""
    rule = spec.follow_up
    if rule is None:
        return None
    return _new(submission, rule.kind, rule.due_working_days, submission.received_at,
                step=rule.steps[0].name if rule.steps else None)


def request_days() -> int:
    if has_app_context():
        return int(current_app.config.get("RESIDENT_REQUEST_WORKING_DAYS", DEFAULT_REQUEST_DAYS))
    return DEFAULT_REQUEST_DAYS


def open_request(submission: Submission, kind: str, text: str) -> FollowUp:
    """A household's own request about its submission: `correction` or `deletion` (the office
    answers it), or `withdrawal` of a sign-up, which takes effect at once: the sign-up's decision
    becomes withdrawn, it leaves the roster and its follow-up closes; the request stays for the
    office to see. ValueError for another kind, an empty or over-long text, or a withdrawal of a
    submission that is no sign-up (or one already withdrawn)."""
    if kind not in REQUEST_KINDS:
        raise ValueError(f"unknown request kind {kind!r}")
    text = (text or "").strip()
    if len(text) > REQUEST_TEXT_MAX or (kind != "withdrawal" and not text):
        raise ValueError("a request needs a text of at most %d characters" % REQUEST_TEXT_MAX)
    with write_transaction():
        if kind == "withdrawal":
            _withdraw(submission)
        request = _new(submission, kind, request_days(), request_text=text)
        # (the resident's words stay on the request alone: erasing them is one update)
        FollowUpNote.create(follow_up=request.id, action="requested", new=kind)
    return request


def _withdraw(submission: Submission) -> None:
    query = FollowUp.select().where((FollowUp.submission == submission.id) &
                                    (FollowUp.kind == "sign_up"))
    sign_up = (query if is_sqlite() else query.for_update()).first()
    if sign_up is None or sign_up.decision == "withdrawn":
        raise ValueError("only a sign-up not withdrawn yet can be withdrawn")
    now = utcnow()
    FollowUp.update(decision="withdrawn", state="closed",
                    closed_at=sign_up.closed_at or now).where(FollowUp.id == sign_up.id).execute()
    FollowUpNote.create(follow_up=sign_up.id, action="withdrawn", old=sign_up.decision or "",
                        new="withdrawn")


def of_submission(submission: Submission) -> list[FollowUp]:
    """A submission's follow-ups and requests, newest first (what /my and the response page
    show: each one's state, due date and the office's reply)."""
    return list(FollowUp.select().where(FollowUp.submission == submission.id)
                .order_by(FollowUp.opened_at.desc(), FollowUp.id.desc()))


def forget_requests(submission: Submission) -> int:
    """Blank the words the household wrote in its requests about `submission` (called when its
    answers are erased: what it asked may repeat them); the requests themselves stay, as the
    record of what the office was asked and did."""
    return FollowUp.update(request_text="").where(
        (FollowUp.submission == submission.id) & FollowUp.kind.in_(REQUEST_KINDS)).execute()


def step_label(follow_up: FollowUp):
    """An application's current review step as its form names it (a Text: zh and en), for the
    applicant on /my and the office; None for any other follow-up."""
    if follow_up.kind != "application" or not follow_up.step or not has_app_context():
        return None
    submission = Submission.get_by_id(follow_up.submission_id)
    spec = current_app.extensions["doorstep.catalog"].version(submission.form_id,
                                                              submission.form_version)
    step = spec.follow_up.step(follow_up.step) if spec and spec.follow_up else None
    return step.label if step else None


def history(follow_up: FollowUp) -> list[FollowUpNote]:
    return list(FollowUpNote.select().where(FollowUpNote.follow_up == follow_up.id)
                .order_by(FollowUpNote.at, FollowUpNote.id))


def is_overdue(follow_up: FollowUp, today: dt.date | None = None) -> bool:
    return follow_up.state in OPEN_STATES and follow_up.due_on < (today or clock.today())


def week_end(today: dt.date) -> dt.date:
    """The Sunday ending `today`'s week: "due this week" runs from today to it."""
    return today + dt.timedelta(days=6 - today.weekday())


def counts(query, today: dt.date | None = None) -> dict[str, int]:
    """Of a scoped query of follow-ups, the open ones overdue and those due this week (from
    today to Sunday, not overdue): the office home page's figures."""
    today = today or clock.today()
    sunday = week_end(today)
    open_ones = query.where(FollowUp.state.in_(list(OPEN_STATES))).order_by()
    return {"overdue": open_ones.where(FollowUp.due_on < today).count(),
            "due_this_week": open_ones.where((FollowUp.due_on >= today) &
                                             (FollowUp.due_on <= sunday)).count()}

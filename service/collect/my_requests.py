"""What a household asks the office through /my, and what it is told back: the one place /my
uses the office's follow-ups (service/records/follow_ups.py).

A request is a follow-up of its submission (correction, deletion, withdrawal of a sign-up) due in
RESIDENT_REQUEST_WORKING_DAYS working days. A double tap, or the same request sent again while
the first is still open, stores one request: the check and the write are one transaction with
the submission locked, so two workers cannot both find none.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from service.records import follow_ups
from service.storage.db import is_sqlite, write_transaction
from service.storage.follow_up_models import OPEN_STATES, FollowUp
from service.storage.models import Submission

#: How a household reads each state of the office's work (the office's own words are apart).
STATE_WORDS = {
    "new": _l("Received, waiting for the office"),
    "assigned": _l("With a member of staff"),
    "in_progress": _l("Being dealt with"),
    "answered": _l("The office has replied"),
    "closed": _l("Finished"),
}
KIND_WORDS = {
    "follow_up": _l("Your submission"),
    "sign_up": _l("Your sign-up"),
    "application": _l("Your application"),
    "correction": _l("Your request for a correction"),
    "deletion": _l("Your request for deletion"),
    "withdrawal": _l("Your withdrawal"),
}
DECISION_WORDS = {
    "confirmed": _l("Confirmed by the office"),
    "declined": _l("Not accepted by the office"),
    "withdrawn": _l("Withdrawn by you"),
}
#: A request's text, at most (the office reads it in the queue).
TEXT_MAX = follow_ups.REQUEST_TEXT_MAX


@dataclass(frozen=True)
class Standing:
    """What /my shows of a submission's follow-ups and offers to ask."""

    items: list[FollowUp]

    def waiting(self, kind: str) -> FollowUp | None:
        return next((f for f in self.items if f.kind == kind and f.state in OPEN_STATES), None)

    @property
    def sign_up(self) -> FollowUp | None:
        return next((f for f in self.items if f.kind == "sign_up"), None)

    @property
    def may_withdraw(self) -> bool:
        sign_up = self.sign_up
        return sign_up is not None and sign_up.decision != "withdrawn" and \
            self.waiting("withdrawal") is None

    @property
    def may_ask_deletion(self) -> bool:
        return self.waiting("deletion") is None


def step_of(follow_up: FollowUp, lang: str) -> str:
    """An application's review step as its form names it, in `lang` ("" for other kinds)."""
    label = follow_ups.step_label(follow_up)
    return label.get(lang) if label else ""


def standing(submission: Submission) -> Standing:
    return Standing(list(follow_ups.of_submission(submission)))


def ask(submission: Submission, kind: str, text: str) -> tuple[FollowUp, bool]:
    """Open the household's request of `kind`; (the request, whether it is new). An open request
    of the same kind (for a correction: with the same text) is the one returned instead."""
    with write_transaction():
        query = Submission.select().where(Submission.id == submission.id)
        held = (query if is_sqlite() else query.for_update()).get()
        for earlier in follow_ups.of_submission(held):
            if earlier.kind == kind and earlier.state in OPEN_STATES and \
                    (kind != "correction" or earlier.request_text == text):
                return earlier, False
        return follow_ups.open_request(held, kind, text), True

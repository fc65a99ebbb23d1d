"""What the office does after a submission: follow-ups, their history, and the working calendar.

- `FollowUp` is one piece of work the office owes a household: answering a suggestion, confirming
  a sign-up, reviewing an application (opened with the submission when its form declares
  `follow_up`), or a resident's own request about their data (a correction, a deletion, a
  withdrawal: opened through /my). It has a state, an assignee, a due date in working days and
  the reply meant for the resident (records/follow_ups.py).
- `FollowUpNote` is its history: every note and every change, with who and when.
- `Holiday` is the office's working calendar: public holidays, and the make-up working days
  (调休, a Saturday worked) that China moves around them (records/working_days.py).

The references to submissions, areas and users are declared deferred (models.py imports this
module before it defines those tables, so neither module imports the other's at load) and made
ordinary foreign keys, constraints included, by `keep_references()` once their tables exist.
"""
from __future__ import annotations

from peewee import (
    BooleanField, CharField, DateField, DateTimeField, DeferredForeignKey, ForeignKeyField,
    TextField,
)

from service.storage.base import BaseModel, utcnow
from service.storage.sealed_fields import SealedText

#: What a follow-up is for: opened by a form's submission, or asked by a resident through /my.
FORM_KINDS = ("follow_up", "sign_up", "application")
REQUEST_KINDS = ("correction", "deletion", "withdrawal")
KINDS = FORM_KINDS + REQUEST_KINDS
#: Where a follow-up stands, in the order work moves it.
STATES = ("new", "assigned", "in_progress", "answered", "closed")
OPEN_STATES = STATES[:-1]
#: A sign-up's outcome: the office confirms (with the session chosen) or declines; the resident
#: may withdraw it.
DECISIONS = ("confirmed", "declined", "withdrawn")


class FollowUp(BaseModel):
    """One follow-up of one submission (see the module docstring)."""

    submission = DeferredForeignKey("Submission", backref="follow_ups", on_delete="RESTRICT")
    form_id = CharField(max_length=64)
    area = DeferredForeignKey("Area", null=True, backref="follow_ups", on_delete="RESTRICT",
                              index=False)
    kind = CharField(max_length=16)                    # KINDS
    state = CharField(max_length=16, default="new")    # STATES
    assignee = DeferredForeignKey("User", null=True, backref="follow_ups",
                                  on_delete="RESTRICT", index=False)
    opened_at = DateTimeField(default=utcnow)
    due_on = DateField()                               # office-local, in working days
    closed_at = DateTimeField(null=True)
    # a resident's request in their own words (it may repeat identifiers): sealed like answers
    request_text = SealedText(default="")
    reply = TextField(default="")                      # what the office tells the resident
    replied_at = DateTimeField(null=True)
    decision = CharField(max_length=16, null=True)     # a sign-up's: DECISIONS
    session = CharField(max_length=64, null=True)      # a sign-up's session (a choice's value)
    step = CharField(max_length=64, null=True)         # an application's current review step
    outcome = CharField(max_length=16, null=True)      # a deletion request: approved | refused

    class Meta:
        indexes = (
            (("area", "state", "due_on"), False),          # the queue and the home page's counts
            (("form_id", "kind", "opened_at"), False),     # rosters and the yearly applications
        )


class FollowUpNote(BaseModel):
    """One entry of a follow-up's history: a note, or a change (`action`) from `old` to `new`."""

    follow_up = ForeignKeyField(FollowUp, backref="notes", on_delete="CASCADE")
    at = DateTimeField(default=utcnow)
    user = DeferredForeignKey("User", null=True, backref="follow_up_notes",
                              on_delete="RESTRICT", index=False)
    action = CharField(max_length=16)      # opened, requested, assigned, started, note, reply, ...
    old = CharField(max_length=64, default="")
    new = CharField(max_length=64, default="")
    text = TextField(default="")


class Holiday(BaseModel):
    """A day off on a weekday (a public holiday), or a make-up working day (`working`: a weekend
    day worked, 调休) of the office's calendar."""

    day = DateField(unique=True)
    name = CharField(max_length=100, default="")
    working = BooleanField(default=False)


MODELS = [FollowUp, FollowUpNote, Holiday]


def keep_references() -> None:
    """Make the resolved references ordinary foreign keys: tables created with their constraints
    (peewee leaves a deferred one out) and in dependency order. models.py calls it once every
    table they point to is defined."""
    for model in (FollowUp, FollowUpNote):
        for field in model._meta.refs:
            field.deferred = False

"""Doorstep's tables, in one place (see README, "Why answers are rows").

- `Submission` is one response: metadata and attribution as columns, and `answers` as the JSON
  document exactly as it was accepted (never changed by a correction).
- `Answer` holds the current value of every answered question as rows (one per chosen value of a
  select_multiple, one per question per repeat item): per-question counts are a plain `GROUP BY
  value` that both databases run alike and indexes serve, with no JSON functions.
- `FormVersion` keeps each published definition: old submissions stay readable; it and `Form`
  live in form_models.py, `Attempt` (throttle.py) in attempt_models.py: importable from here.
- Identifiers are sealed at rest (sealed_fields.py): `SealedText` columns seal whatever is
  written, `OpenedText` ones hold sealed `pii` rows beside plain ones; both read back plain.
  Households are found by keyed hashes (`address_key`, `id_key`, `phone_key`), never by the
  plain values. A new column that may hold an identifier is one of these two types.
"""
from __future__ import annotations

from peewee import (
    AutoField, BooleanField, CharField, DateField, DateTimeField, DoubleField, ForeignKeyField,
    IntegerField, SQL, TextField, fn,
)

from service.storage.base import BaseModel, utcnow
from service.storage.db import db
from service.storage.form_models import Form, FormVersion  # noqa: F401  (their home is apart)
from service.storage.attempt_models import Attempt
from service.storage import follow_up_models
from service.storage.follow_up_models import FollowUp, FollowUpNote, Holiday  # noqa: F401
from service.storage import sealing
from service.storage.sealed_fields import OpenedText, SealedText


class Area(BaseModel):
    """A street office, community, grid or building; `path` (e.g. `/1/4/`) finds descendants fast."""

    code = CharField(max_length=64, unique=True)
    name = CharField(max_length=200)
    parent = ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    path = CharField(max_length=1000, index=True, default="/")


class User(BaseModel):
    """An office account: admin, manager or surveyor, belonging to one area."""

    username = CharField(max_length=64, unique=True)
    display_name = CharField(max_length=100, default="")
    password_hash = CharField(max_length=255)
    role = CharField(max_length=16)
    area = ForeignKeyField(Area, null=True, backref="users", on_delete="RESTRICT")
    active = BooleanField(default=True)
    must_change_password = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)


class LoginSession(BaseModel):
    """A signed-in browser. The cookie holds only `sid`; logging out, disabling the user or changing
    the password ends it on the server, whichever instance served the login."""

    sid = CharField(max_length=64, unique=True)
    user = ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)
    ip = CharField(max_length=64, default="")
    ended_at = DateTimeField(null=True)


class Link(BaseModel):
    """A QR link: a form fixed to an area (and maybe a surveyor) and a channel."""

    token = CharField(max_length=32, unique=True)
    form_id = CharField(max_length=64, index=True)
    area = ForeignKeyField(Area, backref="links", on_delete="RESTRICT")
    surveyor = ForeignKeyField(User, null=True, backref="links", on_delete="RESTRICT")
    channel = CharField(max_length=16, default="self")
    expires_at = DateTimeField(null=True)
    disabled = BooleanField(default=False)
    scans = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)


class Household(BaseModel):
    """One household of a ledger form (台帐): registered by a first visit, kept current by later ones.

    `current` is the JSON answers document as it stands after every visit, correction and import
    (service/records/ledger.py); `version` counts the changes applied, and a revisit names the
    version it was prefilled from (`Submission.base_version`) so that answers changed meanwhile
    by someone else become conflicts instead of being overwritten.
    """

    code = CharField(max_length=16, unique=True)          # read aloud, like a receipt: XXXX-XXXX
    form_id = CharField(max_length=64)
    area = ForeignKeyField(Area, null=True, backref="households", on_delete="RESTRICT")
    address = SealedText(default="")
    # keyed hashes (sealing.lookup_hash), never the values: the normalised address to spot
    # duplicates, and an ID number and a phone answered, likewise and to find a household
    address_key = CharField(max_length=500, default="")
    id_key = CharField(max_length=32, null=True)
    phone_key = CharField(max_length=32, null=True)
    status = CharField(max_length=16, default="active")   # active | moved_out | merged | closed
    version = IntegerField(default=0)
    current = SealedText(default="{}")
    visits = IntegerField(default=0)
    last_visit_at = DateTimeField(null=True)
    registered_at = DateTimeField(default=utcnow)
    merged_into = ForeignKeyField("self", null=True, backref="merged", on_delete="RESTRICT")
    duplicate_of = ForeignKeyField("self", null=True, backref="possible_duplicates",
                                   on_delete="RESTRICT")   # flagged until merged or dismissed
    door_token = CharField(max_length=32, unique=True)    # the door-plate QR code's token
    cells = TextField(null=True)       # `current` as export cells (household_index.py)
    pii_cells = SealedText(null=True)
    cells_formula = BooleanField(default=False)
    cells_layout = CharField(max_length=16, null=True)

    class Meta:
        indexes = (
            (("form_id", "area", "address_key"), False),
            (("form_id", "id_key"), False),
            (("form_id", "phone_key"), False),
            (("form_id", "status", "last_visit_at"), False),
            # the office's ledger counts per status, by area or among possible duplicates,
            # from this index alone (status first: the counts come out grouped)
            (("form_id", "status", "area", "duplicate_of"), False),
        )


class HouseholdAnswer(BaseModel):
    """A household's current answer to one question the office's list filters on, as text (one
    row per chosen value): the answer filter is an index lookup (household_index.py)."""

    household = ForeignKeyField(Household, backref="answer_index", on_delete="CASCADE",
                                index=False)
    question = CharField(max_length=64)
    value = CharField(max_length=200)

    class Meta:
        indexes = (
            (("household", "question", "value"), True),
            (("question", "value", "household"), False),
        )


class Submission(BaseModel):
    """One response to one version of a form."""

    id = AutoField()
    uuid = CharField(max_length=36, unique=True)   # made in the page: a retry finds the same row
    receipt = CharField(max_length=16, unique=True)
    form_id = CharField(max_length=64)
    form_version = IntegerField()
    received_at = DateTimeField(default=utcnow)    # UTC
    day = CharField(max_length=10, default="")     # YYYY-MM-DD in the office's time zone
    channel = CharField(max_length=16, default="web")
    status = CharField(max_length=16, default="valid")   # valid | duplicate | void
    area = ForeignKeyField(Area, null=True, backref="submissions", on_delete="RESTRICT")
    surveyor = ForeignKeyField(User, null=True, backref="submissions", on_delete="RESTRICT")
    link = ForeignKeyField(Link, null=True, backref="submissions", on_delete="RESTRICT")
    lang = CharField(max_length=8, default="zh")
    consent = BooleanField(default=False)
    sensitive_consent = BooleanField(default=False)
    answers = SealedText()                         # JSON as accepted, never rewritten
    cells = TextField(null=True)                   # current answers as CSV cells (cells.py)
    pii_cells = SealedText(null=True)              # … those of pii questions, kept apart
    cells_formula = BooleanField(default=False)    # a cell of `cells` starts like a formula
    cells_layout = CharField(max_length=16, null=True)   # cells.LAYOUT they were written in
    household = ForeignKeyField(Household, null=True, backref="visits_made", on_delete="RESTRICT")
    base_version = IntegerField(null=True)         # the household version a revisit started from
    erased_at = DateTimeField(null=True)           # its answers erased (erasure.py): the row stays

    class Meta:
        indexes = (
            (("form_id", "received_at"), False),
            (("form_id", "status"), False),
        )


class Answer(BaseModel):
    """The current value of one answered question (see the module docstring)."""

    # (no index of its own: the (submission, question) index below starts with it)
    submission = ForeignKeyField(Submission, backref="answer_rows", on_delete="CASCADE",
                                 index=False)
    form_id = CharField(max_length=64)
    question = CharField(max_length=64)
    item = IntegerField(null=True)      # index within a repeat group; NULL at top level
    value = OpenedText()                # sealed for a `pii` question (answers.rows_for)
    number = DoubleField(null=True)     # numeric questions, for min/max/mean in SQL

    class Meta:
        indexes = (
            (("submission", "question"), False),
        )


#: Answers up to this long are indexed by value (choice codes, numbers, dates: what the answer
#: filter looks up). Longer free text is left out: a PostgreSQL index entry holds at most 2,704
#: bytes, and a long Chinese answer is more, which would refuse the whole submission.
SHORT_VALUE = 200
SHORT_ANSWER = fn.LENGTH(Answer.value) <= SQL(str(SHORT_VALUE))   # a literal: SQLite wants one
Answer.add_index(Answer.index(Answer.form_id, Answer.question, Answer.value, where=SHORT_ANSWER))


class Correction(BaseModel):
    """One corrected answer: old and new values (JSON) and the required reason."""

    submission = ForeignKeyField(Submission, backref="corrections", on_delete="CASCADE")
    question = CharField(max_length=64)
    item = IntegerField(null=True)
    old_value = SealedText()
    new_value = SealedText()
    reason = TextField()
    user = ForeignKeyField(User, backref="corrections", on_delete="RESTRICT")
    at = DateTimeField(default=utcnow)


class StatusChange(BaseModel):
    """A submission marked duplicate or void, or restored: nothing is ever deleted."""

    submission = ForeignKeyField(Submission, backref="status_changes", on_delete="CASCADE")
    old_status = CharField(max_length=16)
    new_status = CharField(max_length=16)
    reason = TextField(default="")
    user = ForeignKeyField(User, backref="status_changes", on_delete="RESTRICT")
    at = DateTimeField(default=utcnow)


class HouseholdChange(BaseModel):
    """One question of a household changed: by a visit, an office correction, an import or the
    office resolving a conflict. Values are JSON; `version` is the household's after it."""

    household = ForeignKeyField(Household, backref="changes", on_delete="CASCADE")
    question = CharField(max_length=64)
    old_value = OpenedText()                 # sealed for a `pii` question (ledger._save)
    new_value = OpenedText()
    version = IntegerField()
    source = CharField(max_length=16)        # visit | correction | import | resolve | merge
    submission = ForeignKeyField(Submission, null=True, backref="household_changes",
                                 on_delete="RESTRICT")
    user = ForeignKeyField(User, null=True, backref="household_changes", on_delete="RESTRICT")
    at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("household", "question", "version"), False),)


class VisitOutcome(BaseModel):
    """A visit that filled in no form: not at home, refused, vacant, moved out, or checked with
    no change. One tap on the phone, idempotent by its UUID like a submission, offline alike."""

    uuid = CharField(max_length=36, unique=True)
    household = ForeignKeyField(Household, backref="outcomes", on_delete="RESTRICT")
    outcome = CharField(max_length=16)       # vocabulary.OUTCOMES
    received_at = DateTimeField(default=utcnow)
    day = CharField(max_length=10, default="")     # office-local YYYY-MM-DD
    channel = CharField(max_length=16, default="surveyor")
    area = ForeignKeyField(Area, null=True, backref="visit_outcomes", on_delete="RESTRICT")
    surveyor = ForeignKeyField(User, null=True, backref="visit_outcomes", on_delete="RESTRICT")
    note = TextField(default="")

    class Meta:
        indexes = ((("household", "received_at"), False),)


class HouseholdConflict(BaseModel):
    """A question a late visit answered differently from a change made since that visit's base:
    the household keeps the newer value until the office picks one."""

    household = ForeignKeyField(Household, backref="conflicts", on_delete="CASCADE")
    question = CharField(max_length=64)
    kept_value = SealedText()                # the household's value when the visit arrived
    visit_value = SealedText()               # what the late visit said
    submission = ForeignKeyField(Submission, backref="household_conflicts", on_delete="RESTRICT")
    at = DateTimeField(default=utcnow)
    resolved_at = DateTimeField(null=True)
    resolved_by = ForeignKeyField(User, null=True, backref="resolved_conflicts",
                                  on_delete="RESTRICT")
    chosen = SealedText(null=True)

    class Meta:
        indexes = ((("household", "resolved_at"), False),)


class SurveyRound(BaseModel):
    """A named period of visits of one ledger form over an area and below it (rounds.py)."""

    name = CharField(max_length=200)
    form_id = CharField(max_length=64)
    area = ForeignKeyField(Area, backref="rounds", on_delete="RESTRICT")
    starts_on = DateField()
    ends_on = DateField()
    status = CharField(max_length=16, default="open")     # open | closed
    report_questions = TextField(null=True)    # JSON names; NULL: the form's `report: true` ones
    frozen = TextField(null=True)              # JSON: its figures as they were at closing
    created_by = ForeignKeyField(User, null=True, backref="rounds_created", on_delete="RESTRICT")
    created_at = DateTimeField(default=utcnow)
    closed_at = DateTimeField(null=True)
    closed_by = ForeignKeyField(User, null=True, backref="rounds_closed", on_delete="RESTRICT")


class RoundHousehold(BaseModel):
    """A household of a round's target and where it stands in it (rounds.py)."""

    round = ForeignKeyField(SurveyRound, backref="households", on_delete="CASCADE", index=False)
    household = ForeignKeyField(Household, backref="rounds", on_delete="CASCADE")
    area = ForeignKeyField(Area, null=True, backref="round_households", on_delete="RESTRICT",
                           index=False)
    assigned_to = ForeignKeyField(User, null=True, backref="round_households",
                                  on_delete="RESTRICT", index=False)
    joined = CharField(max_length=16, default="target")     # target | registered (during it)
    state = CharField(max_length=16, default="not_yet")     # not_yet | attempted | done | left
    attempts = IntegerField(default=0)       # not at home, refused, vacant (before done)
    last_outcome = CharField(max_length=16, null=True)      # the latest of those
    done_kind = CharField(max_length=16, null=True)         # form | no_change | moved_out
    done_day = CharField(max_length=10, null=True)          # office-local YYYY-MM-DD
    done_by = ForeignKeyField(User, null=True, backref="round_done", on_delete="RESTRICT",
                              index=False)

    class Meta:
        indexes = (
            (("round", "household"), True),
            (("round", "area", "state"), False),             # the not-yet lists
            (("round", "assigned_to", "state"), False),
        )


class RoundCount(BaseModel):
    """How many of a round's households stand where, by area, assignee, who did it, day and
    outcome, kept with every RoundHousehold change (rounds.py): the coverage page reads these."""

    round = ForeignKeyField(SurveyRound, backref="counts", on_delete="CASCADE", index=False)
    dim = CharField(max_length=16)           # area | assignee | doer | day | outcome
    key = CharField(max_length=32)           # an id, a day or an outcome code ("0": none)
    state = CharField(max_length=16)         # not_yet | attempted | done | left | flagged
    n = IntegerField(default=0)

    class Meta:
        indexes = ((("round", "dim", "key", "state"), True),)


class Tally(BaseModel):
    """Pre-aggregated counts of valid submissions, kept in step with every write.

    One row per (form, version, day, area, channel, surveyor, question, value) with how many
    valid submissions (or repeat items) gave it. `question = ''` counts submissions themselves;
    `value = ''` counts those that answered the question at all; text-like answers are counted only
    that way. A repeat group's own rows count households by number of items (`value = '3'`).
    The dashboard sums these rows instead of scanning millions of answers (see aggregate.py).
    """

    form_id = CharField(max_length=64)
    form_version = IntegerField()
    day = CharField(max_length=10)
    area_id = IntegerField(default=0)        # 0: no area
    channel = CharField(max_length=16)
    surveyor_id = IntegerField(default=0)    # 0: no surveyor
    question = CharField(max_length=64)
    value = CharField(max_length=255)
    n = IntegerField(default=0)

    class Meta:
        indexes = (
            (("form_id", "form_version", "day", "area_id", "channel", "surveyor_id", "question",
              "value"), True),
            # covering the dashboard's sums, whichever of its filters apply
            (("form_id", "question", "value", "day", "area_id", "channel", "form_version", "n"),
             False),
        )


class AuditEvent(BaseModel):
    """Append-only record of who did what, when, from where."""

    at = DateTimeField(default=utcnow, index=True)
    user = ForeignKeyField(User, null=True, backref="audit_events", on_delete="RESTRICT")
    username = CharField(max_length=64, default="")
    ip = CharField(max_length=64, default="")
    action = CharField(max_length=32, index=True)
    target = CharField(max_length=200, default="")
    detail = SealedText(default="{}")


MODELS = [FormVersion, Form, Area, User, LoginSession, Link, Household, HouseholdAnswer, Submission,
          Answer, Correction, StatusChange, HouseholdChange, HouseholdConflict, VisitOutcome,
          SurveyRound, RoundHousehold, RoundCount, Tally, AuditEvent, Attempt,
          *follow_up_models.MODELS]
follow_up_models.keep_references()     # their tables are all defined now


def _api_tokens():    # token_models.py needs Area and User, defined above
    from service.storage.token_models import ApiToken
    MODELS.append(ApiToken)
_api_tokens()  # noqa: E305


def create_tables() -> None:
    with db.atomic():
        db.create_tables(MODELS, safe=True)


# every column that holds sealed values, for `doorstep keys rotate` (sealing.SEALED_PLACES)
sealing.register(*(field for model in MODELS for field in model._meta.sorted_fields
                   if isinstance(field, OpenedText)))

"""The one place a submission is written: idempotent by its UUID, all-or-nothing."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from flask import current_app
from peewee import IntegrityError

from service.office import clock
from service.records import cells, follow_ups, ledger, rounds, tally
from service.records.vocabulary import READ_ALOUD, STATUSES, read_aloud_code
from service.records.answers import current_answers, now_hidden, rows_for, answer_rows
from service.storage.db import db, insert_row, insert_rows, is_sqlite, write_transaction
from service.formspec import FormSpec, Question
from service.storage.models import Answer, Correction, StatusChange, Submission, utcnow

RECEIPT_ALPHABET = READ_ALOUD
new_receipt = read_aloud_code


@dataclass(frozen=True)
class Attribution:
    """Where a submission came from; a QR link fixes these on the server side."""

    channel: str = "web"
    area_id: int | None = None
    surveyor_id: int | None = None
    link_id: int | None = None


def _locked(submission: Submission) -> Submission:
    """The submission as it is now, read inside the write transaction and locked until it ends, so
    two requests changing it at once (a double click) count their change once, not twice. SQLite's
    IMMEDIATE transaction already holds the write lock; PostgreSQL needs FOR UPDATE."""
    query = Submission.select().where(Submission.id == submission.id)
    return (query if is_sqlite() else query.for_update()).get()


def correct(spec: FormSpec, submission: Submission, q: Question, item: int | None, new_value,
            reason: str, user) -> list[Correction]:
    """Replace one question's current value, keeping the old and new values and the reason.

    Answers the change hides (a follow-up whose show_if no longer holds: `why` after `employed`
    became yes, `school` after a member's age became 30) are cleared with it, as the public form
    would neither ask nor store them; each gets its own Correction with the same reason and user.
    Returns the Corrections made, `q`'s first."""
    with write_transaction():
        current = _locked(submission)
        if current.erased_at is not None:      # nothing left to correct (erasure.py)
            raise ValueError("the submission's answers are erased")
        return _correct(spec, current, q, item, new_value, reason, user)


def _correct(spec, submission, q, item, new_value, reason, user) -> list[Correction]:
    old = current_answers(spec, submission)
    new = json.loads(json.dumps(old))              # a deep copy, to count what the change changes
    target = _place(spec, old, q, item)
    old_value = target.get(q.name)
    _set(_place(spec, new, q, item, grow=True), q.name, new_value)
    changes = [(q, item, old_value, new_value)]
    changes += [(hidden, at, value, None) for hidden, at, value in
                now_hidden(spec, new, submission.sensitive_consent)]
    for hidden, at, _value, _none in changes[1:]:
        _set(_place(spec, new, hidden, at), hidden.name, None)
    # the whole document's keys: filling or emptying a repeat item also changes the item counts
    delta = tally.keys_for(spec, new)
    delta.subtract(tally.keys_for(spec, old))
    tally.count(submission, delta)
    made = []
    for question, at, before, after in changes:
        scope = (Answer.submission == submission) & (Answer.question == question.name)
        scope &= Answer.item.is_null() if at is None else (Answer.item == at)
        Answer.delete().where(scope).execute()
        if after is not None and after != []:
            rows = rows_for(spec.id, question, after, at)
            for row in rows:
                row["submission"] = submission.id
            Answer.insert_many(rows).execute()
        made.append(Correction.create(
            submission=submission, question=question.name, item=at, reason=reason, user=user,
            old_value=json.dumps(before, ensure_ascii=False),
            new_value=json.dumps(after, ensure_ascii=False)))
    Submission.update(**cells.columns(spec, new)).where(Submission.id == submission.id).execute()
    if submission.household_id is not None:      # a ledger visit: its household follows
        ledger.apply_correction(spec, submission.household_id, submission, new, user)
    return made


def _place(spec: FormSpec, answers: dict, q: Question, item: int | None, grow: bool = False):
    """The dict holding `q`'s answer: the document, or item `item` of q's repeat group."""
    if item is None:
        return answers
    parent = spec.parent_of(q.name)
    items = answers.setdefault(parent.name, []) if grow else answers.get(parent.name, [])
    if grow:
        items.extend({} for _ in range(item + 1 - len(items)))
    return items[item] if item < len(items) else {}


def _set(target: dict, name: str, value) -> None:
    target.pop(name, None)
    if value is not None and value != []:
        target[name] = value


def set_status(submission: Submission, status: str, reason: str, user) -> StatusChange:
    if status not in STATUSES:
        raise ValueError(status)
    spec = current_app.extensions["doorstep.catalog"].version(submission.form_id,
                                                              submission.form_version)
    with write_transaction():
        current = _locked(submission)
        keys = tally.keys_for(spec, current_answers(spec, current)) if spec else Counter()
        change = StatusChange.create(submission=current, old_status=current.status,
                                     new_status=status, reason=reason, user=user)
        Submission.update(status=status).where(Submission.id == current.id).execute()
        tally.count(current, keys, -1)             # counts only while it was valid
        current.status = submission.status = status
        tally.count(current, keys, +1)             # counts only if it is valid now
        if current.household_id is not None:       # a void visit no longer counts in a round
            rounds.refresh(current.household_id)
    return change


def find(submission_uuid: str) -> Submission | None:
    """The submission stored under this UUID, if any. Every post asks (a retry shows the stored
    receipt), almost always for a new UUID: so first one indexed look-up without peewee's query
    building, which cost more than the look-up itself."""
    row = db.execute_sql(f'SELECT "id" FROM "submission" WHERE "uuid" = {db.obj.param}',
                         (submission_uuid,)).fetchone()
    return Submission.get_by_id(row[0]) if row else None


@dataclass(frozen=True)
class Visit:
    """What a ledger form's post says about its household: none for a first visit (a new
    household is registered), else its code and the version its page was prefilled from."""

    household: str | None = None
    base_version: int | None = None
    partial: bool = False      # a self-report from a door-plate code: changes only what it answers


def store(spec: FormSpec, submission_uuid: str, answers: dict, *, lang: str = "zh",
          consent: bool = False, sensitive_consent: bool = False,
          attribution: Attribution = Attribution(),
          visit: Visit = Visit()) -> tuple[Submission, bool]:
    """Store one submission with its answer rows in one transaction.

    Returns (submission, created). Posting a UUID that is already stored returns the stored one
    untouched, so a double tap or a retry after a lost response shows the same receipt. The unique
    UUID decides (the insert fails and the stored one is returned): the form view has already
    looked the UUID up once, so no second look-up is spent on every new submission.

    A ledger form's submission is a visit: its household is registered or brought up to date in
    the same transaction (ledger.py); ledger.LedgerError (unknown or closed household) stores
    nothing.
    """
    rows = answer_rows(spec, answers)
    keys = tally.keys_for(spec, answers)
    document = json.dumps(answers, ensure_ascii=False, sort_keys=True)
    kept_cells = cells.columns(spec, answers)
    for _attempt in range(5):
        received = utcnow()
        try:
            with write_transaction():
                household = ledger.open_visit(spec, visit.household, visit.base_version,
                                              attribution.area_id) if spec.ledger else None
                submission = Submission(
                    received_at=received, day=clock.current().day_of(received),
                    uuid=submission_uuid, receipt=new_receipt(), form_id=spec.id,
                    form_version=spec.version, channel=attribution.channel,
                    area=attribution.area_id, surveyor=attribution.surveyor_id,
                    link=attribution.link_id, lang=lang, consent=consent,
                    sensitive_consent=sensitive_consent, answers=document, **kept_cells,
                    household=household.id if household else None,
                    base_version=visit.base_version)
                insert_row(submission)
                for row in rows:
                    row["submission"] = submission.id
                insert_rows(Answer, rows, plain=True)   # ~40 rows: insert_many was slow
                tally.count(submission, keys)
                if spec.follow_up is not None:      # a suggestion to answer, a sign-up to confirm
                    follow_ups.open_for(submission, spec)
                if household is not None:
                    ledger.record_visit(spec, household, submission, answers, visit.base_version,
                                        sensitive_consent, partial=visit.partial)
                    if visit.household is None:      # registered: joins the rounds it is in
                        rounds.join([(household.id, household.area_id)], spec.id, submission)
                    else:
                        rounds.refresh(household.id)
                    # (not a column: what the reply says, without asking the database again)
                    submission.registered = household.code if visit.household is None else None
            return submission, True
        except IntegrityError:
            existing = find(submission_uuid)
            if existing is not None:   # the same UUID won a race in another worker
                return existing, False
            # otherwise a receipt collision (1 in ~10^12): draw another
    raise RuntimeError("could not allocate a unique receipt code")

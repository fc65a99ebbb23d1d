"""The one place a submission is written: idempotent by its UUID, all-or-nothing."""
from __future__ import annotations

import datetime as dt
import json
import secrets
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from peewee import IntegrityError

from service.records import cells, tally
from service.storage.db import db, insert_row, insert_rows, is_sqlite, write_transaction
from service.formspec import FormSpec, Question
from service.storage.models import Answer, Correction, StatusChange, Submission, utcnow

RECEIPT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"   # no 0/O, 1/I: read aloud over a phone


def new_receipt() -> str:
    code = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


@dataclass(frozen=True)
class Attribution:
    """Where a submission came from; a QR link fixes these on the server side."""

    channel: str = "web"
    area_id: int | None = None
    surveyor_id: int | None = None
    link_id: int | None = None


def rows_for(form_id: str, q: Question, value, item: int | None) -> list[dict]:
    """The `Answer` rows of one answered question (one per value of a select_multiple)."""
    values = value if isinstance(value, list) else [value]
    number = q.type in ("integer", "decimal")
    return [{"form_id": form_id, "question": q.name, "item": item, "value": str(v),
             "number": float(v) if number else None} for v in values]


def answer_rows(spec: FormSpec, answers: dict) -> list[dict]:
    """The `Answer` rows of an answers document (without the submission id)."""
    rows = []
    for q in spec.questions():
        if q.name not in answers:
            continue
        if q.type == "repeat":
            for i, item in enumerate(answers[q.name]):
                for child in q.questions:
                    if child.name in item:
                        rows += rows_for(spec.id, child, item[child.name], i)
        else:
            rows += rows_for(spec.id, q, answers[q.name], None)
    return rows


def _typed(q: Question, text: str):
    return int(text) if q.type == "integer" else text


def shape(spec: FormSpec, rows) -> dict:
    """(question, item, value) answer rows → the answers document, shaped like the stored one."""
    answers: dict = {}
    for name, item, value in rows:
        q = spec.question(name)
        if q is None:
            continue
        target = answers
        if item is not None:
            parent = spec.parent_of(name)
            if parent is None:
                continue
            items = answers.setdefault(parent.name, [])
            while len(items) <= item:
                items.append({})
            target = items[item]
        if q.type == "select_multiple":
            target.setdefault(name, []).append(value)
        else:
            target[name] = _typed(q, value)
    return answers


def current_answers(spec: FormSpec, submission: Submission) -> dict:
    """The answers as they stand now (corrections applied)."""
    return shape(spec, Answer.select(Answer.question, Answer.item, Answer.value)
                 .where(Answer.submission == submission).order_by(Answer.id).tuples())


def answer_rows_of(ids: list[int]) -> dict[int, list[tuple]]:
    """The (question, item, value) rows of several submissions in one query, each submission's in
    stored order (for `shape`): recounts and upgrades read thousands of submissions."""
    rows: dict[int, list[tuple]] = {sid: [] for sid in ids}
    for sid, question, item, value in (
            Answer.select(Answer.submission, Answer.question, Answer.item, Answer.value)
            .where(Answer.submission.in_(ids)).order_by(Answer.id).tuples()):
        rows[sid].append((question, item, value))
    return rows


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
        return _correct(spec, _locked(submission), q, item, new_value, reason, user)


def _correct(spec, submission, q, item, new_value, reason, user) -> list[Correction]:
    old = current_answers(spec, submission)
    new = json.loads(json.dumps(old))              # a deep copy, to count what the change changes
    target = _place(spec, old, q, item)
    old_value = target.get(q.name)
    _set(_place(spec, new, q, item, grow=True), q.name, new_value)
    changes = [(q, item, old_value, new_value)]
    changes += [(hidden, at, value, None) for hidden, at, value in
                _now_hidden(spec, new, submission.sensitive_consent)]
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
    Submission.update(**cells.encode(spec, new)).where(Submission.id == submission.id).execute()
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


def _walk(spec: FormSpec, answers: dict, sensitive_ok: bool):
    """(question, item, shown, value) for every answerable question of an answers document, items
    of repeat groups included, in form order: `shown` as the public form decides it (a hidden
    question's answer does not count for the conditions after it, as on the page)."""
    from service.formspec.wtf import SurveyForm  # the rule the public form applies
    kept: dict = {}
    for q in spec.questions():
        if not q.answerable:
            continue
        shown = SurveyForm._shown(q, kept.get, sensitive_ok)
        if q.type != "repeat":
            yield q, None, shown, answers.get(q.name)
            if shown and q.name in answers:
                kept[q.name] = answers[q.name]
            continue
        if shown and q.name in answers:
            kept[q.name] = answers[q.name]
        for i, item in enumerate(answers.get(q.name, [])):
            seen: dict = {}
            lookup = lambda name, seen=seen: seen[name] if name in seen else kept.get(name)  # noqa: E731
            for child in q.questions:
                if not child.answerable:
                    continue
                child_shown = shown and SurveyForm._shown(child, lookup, sensitive_ok)
                yield child, i, child_shown, item.get(child.name)
                if child_shown and child.name in item:
                    seen[child.name] = item[child.name]


def _now_hidden(spec: FormSpec, answers: dict, sensitive_ok: bool):
    """(question, item, value) of the answers that the public form would now hide."""
    return [(q, item, value) for q, item, shown, value in _walk(spec, answers, sensitive_ok)
            if not shown and value is not None]


def missing_required(spec: FormSpec, answers: dict,
                     sensitive_ok: bool) -> list[tuple[Question, int | None]]:
    """Required questions the public form would ask for these (current) answers but that have
    none (a correction can open a follow-up, e.g. `why` once `employed` became no): the office
    should ask and fill them in."""
    return [(q, item) for q, item, shown, value in _walk(spec, answers, sensitive_ok)
            if shown and q.required and value in (None, [])]


STATUSES = ("valid", "duplicate", "void")


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
    return change


def office_day(moment: dt.datetime) -> str:
    """The office-local calendar day of a naive-UTC moment (what 'per day' means to the office)."""
    zone = ZoneInfo(current_app.config["OFFICE_TIMEZONE"]) if has_app_context() else \
        ZoneInfo("Asia/Shanghai")
    return moment.replace(tzinfo=dt.timezone.utc).astimezone(zone).date().isoformat()


def find(submission_uuid: str) -> Submission | None:
    """The submission stored under this UUID, if any. Every post asks (a retry shows the stored
    receipt), almost always for a new UUID: so first one indexed look-up without peewee's query
    building, which cost more than the look-up itself."""
    row = db.execute_sql(f'SELECT "id" FROM "submission" WHERE "uuid" = {db.obj.param}',
                         (submission_uuid,)).fetchone()
    return Submission.get_by_id(row[0]) if row else None


def store(spec: FormSpec, submission_uuid: str, answers: dict, *, lang: str = "zh",
          consent: bool = False, sensitive_consent: bool = False,
          attribution: Attribution = Attribution()) -> tuple[Submission, bool]:
    """Store one submission with its answer rows in one transaction.

    Returns (submission, created). Posting a UUID that is already stored returns the stored one
    untouched, so a double tap or a retry after a lost response shows the same receipt. The unique
    UUID decides (the insert fails and the stored one is returned): the form view has already
    looked the UUID up once, so no second look-up is spent on every new submission.
    """
    rows = answer_rows(spec, answers)
    keys = tally.keys_for(spec, answers)
    document = json.dumps(answers, ensure_ascii=False, sort_keys=True)
    kept_cells = cells.encode(spec, answers)
    for _attempt in range(5):
        received = utcnow()
        try:
            with write_transaction():
                submission = Submission(
                    received_at=received, day=office_day(received),
                    uuid=submission_uuid, receipt=new_receipt(), form_id=spec.id,
                    form_version=spec.version, channel=attribution.channel,
                    area=attribution.area_id, surveyor=attribution.surveyor_id,
                    link=attribution.link_id, lang=lang, consent=consent,
                    sensitive_consent=sensitive_consent, answers=document, **kept_cells)
                insert_row(submission)
                for row in rows:
                    row["submission"] = submission.id
                insert_rows(Answer, rows, plain=True)   # ~40 rows: insert_many was slow
                tally.count(submission, keys)
            return submission, True
        except IntegrityError:
            existing = find(submission_uuid)
            if existing is not None:   # the same UUID won a race in another worker
                return existing, False
            # otherwise a receipt collision (1 in ~10^12): draw another
    raise RuntimeError("could not allocate a unique receipt code")

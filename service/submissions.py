"""The one place a submission is written: idempotent by its UUID, all-or-nothing."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from peewee import IntegrityError, chunked

from .db import write_transaction
from .formspec import FormSpec
from .models import Answer, Submission

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


def answer_rows(spec: FormSpec, answers: dict) -> list[dict]:
    """The `Answer` rows of an answers document (without the submission id)."""
    rows = []

    def add(q, value, item):
        values = value if isinstance(value, list) else [value]
        for v in values:
            number = float(v) if q.type in ("integer", "decimal") else None
            rows.append({"form_id": spec.id, "question": q.name, "item": item,
                         "value": str(v), "number": number})

    for q in spec.questions():
        if q.name not in answers:
            continue
        if q.type == "repeat":
            for i, item in enumerate(answers[q.name]):
                for child in q.questions:
                    if child.name in item:
                        add(child, item[child.name], i)
        else:
            add(q, answers[q.name], None)
    return rows


def find(submission_uuid: str) -> Submission | None:
    return Submission.get_or_none(Submission.uuid == submission_uuid)


def store(spec: FormSpec, submission_uuid: str, answers: dict, *, lang: str = "zh",
          consent: bool = False, sensitive_consent: bool = False,
          attribution: Attribution = Attribution()) -> tuple[Submission, bool]:
    """Store one submission with its answer rows in one transaction.

    Returns (submission, created). Posting a UUID that is already stored returns the stored one
    untouched, so a double tap or a retry after a lost response shows the same receipt.
    """
    existing = find(submission_uuid)
    if existing is not None:
        return existing, False
    rows = answer_rows(spec, answers)
    document = json.dumps(answers, ensure_ascii=False, sort_keys=True)
    for _attempt in range(5):
        try:
            with write_transaction():
                submission = Submission.create(
                    uuid=submission_uuid, receipt=new_receipt(), form_id=spec.id,
                    form_version=spec.version, channel=attribution.channel,
                    area=attribution.area_id, surveyor=attribution.surveyor_id,
                    link=attribution.link_id, lang=lang, consent=consent,
                    sensitive_consent=sensitive_consent, answers=document)
                for row in rows:
                    row["submission"] = submission.id
                for batch in chunked(rows, 200):
                    Answer.insert_many(batch).execute()
            return submission, True
        except IntegrityError:
            existing = find(submission_uuid)
            if existing is not None:   # the same UUID won a race in another worker
                return existing, False
            # otherwise a receipt collision (1 in ~10^12): draw another
    raise RuntimeError("could not allocate a unique receipt code")

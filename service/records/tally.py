"""Keeping `Tally` (pre-aggregated counts) in step with submissions, corrections and status changes.

Two grains share the table. Submission counts (`question = ''`) are kept per day, area, channel and
surveyor, for the totals and their charts. Answer counts are kept per *month*, area and channel
(surveyor 0), and dates are counted by month: at a million households that is ~660,000 rows
to sum, where a per-day, per-surveyor grain would hold about as many rows as answers. Filters finer
than that (a surveyor, dates that cut a month, one question's answer) count answers from the raw
rows instead (aggregate.py decides).

Every write path calls `count()` inside its own transaction, so the dashboard's figures are exactly
what a full recount would give (`rebuild()` does that recount; the tests compare the two).
"""
from __future__ import annotations

from collections import Counter

from peewee import chunked

from service.records.answers import answer_rows_of, shape
from service.storage.db import db, insert_rows, keyset_batches
from service.formspec import FormSpec
from service.storage.models import Submission, Tally

KEY = ("form_id", "form_version", "day", "area_id", "channel", "surveyor_id", "question", "value")


def grain(form_id, version, day, area_id, channel, surveyor_id, question) -> tuple:
    """The cell a key is counted in: per day, channel and surveyor for the submission itself,
    per month, area and channel for its answers."""
    if question == "":
        return (form_id, version, day, area_id or 0, channel, surveyor_id or 0)
    return (form_id, version, day[:7], area_id or 0, channel, 0)


def _dims(submission: Submission, question: str) -> tuple:
    return grain(submission.form_id, submission.form_version, submission.day, submission.area_id,
                 submission.channel, submission.surveyor_id, question)


def _question_keys(q, value) -> list[tuple[str, str]]:
    """"Answered", and the values the question's type counts (none for free text: a count per
    distinct text would be as large as the data; dates by month; none for a `pii` question,
    whose values are kept sealed only)."""
    if q.pii:
        return [(q.name, "")]
    return [(q.name, "")] + [(q.name, v[:255]) for v in q.qtype.tally_values(q, value)]


def keys_for(spec: FormSpec, answers: dict) -> Counter:
    """(question, value) → count for one submission's answers, plus ('', '') for itself."""
    counts: Counter = Counter({("", ""): 1})
    for q in spec.questions():
        if q.name not in answers:
            continue
        if q.is_group:
            # an item left blank has no answer rows: not counted (as the recount and raw counts)
            items = [item for item in answers[q.name] if item]
            if not items:
                continue
            counts[(q.name, "")] += 1
            counts[(q.name, str(len(items)))] += 1
            for item in items:
                for child in q.questions:
                    if child.name in item:
                        counts.update(_question_keys(child, item[child.name]))
        else:
            counts.update(_question_keys(q, answers[q.name]))
    return counts


def count(submission: Submission, keys: Counter, sign: int = 1) -> None:
    """Add (sign=1) or remove (sign=-1) one submission's keys; call inside the write transaction.
    Only a valid submission whose answers were not erased counts (erasure.py)."""
    if submission.status != "valid" or submission.erased_at is not None:
        return
    # the cells of both grains, computed once: the submission's own, and its answers'
    itself, answers = _dims(submission, ""), _dims(submission, "any question")
    rows = [(*(answers if question else itself), question, value, sign * n)
            for (question, value), n in keys.items() if n]
    # the upsert `n = n + excluded.n`, without insert_many's slow query building (db.insert_rows)
    insert_rows(Tally, rows, add_on_conflict=(KEY, "n"), names=(*KEY, "n"))


def rebuild(catalog, form_id: str | None = None) -> int:
    """Recount from the stored answers (after a restore from backup, or to verify). Returns rows."""
    query = Tally.delete()
    # the columns the grain needs, and no others: schema steps run this before later steps have
    # added their columns
    subs = (Submission.select(Submission.id, Submission.form_id, Submission.form_version,
                              Submission.day, Submission.area, Submission.channel,
                              Submission.surveyor, Submission.status)
            .where(Submission.status == "valid").order_by(Submission.id))
    if "erased_at" in {c.name for c in db.get_columns("submission")}:   # (not yet in step 3)
        subs = subs.where(Submission.erased_at.is_null())
    if form_id:
        query = query.where(Tally.form_id == form_id)
        subs = subs.where(Submission.form_id == form_id)
    query.execute()
    total: dict[tuple, int] = Counter()
    for batch in keyset_batches(subs, Submission.id, 1000):
        rows = answer_rows_of([sub.id for sub in batch])
        for sub in batch:
            spec = catalog.version(sub.form_id, sub.form_version)
            if spec is None:
                continue
            for key, n in keys_for(spec, shape(spec, rows[sub.id])).items():
                total[(*_dims(sub, key[0]), *key)] += n
    rows = [dict(zip(KEY, key), n=n) for key, n in total.items()]
    for batch in chunked(rows, 200):
        Tally.insert_many(batch).execute()
    return len(rows)

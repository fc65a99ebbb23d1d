"""Erasing a submission's answers everywhere they are kept: a resident's deletion request approved
in the office (follow_ups.py), or `doorstep purge` once its form's `retention_days` have passed.

In one transaction:

- the answer document (`Submission.answers` becomes `{}`), its `Answer` rows and its kept export
  cells (rewritten as those of no answers);
- its corrections' old and new values (the corrections stay: who, when, why), and the values the
  office's `correction` audit entries carried;
- for a ledger visit, what the household keeps of it (ledger_erasure.py): the visit's history rows
  and conflicts, and the household's current answers, answer index and kept cells made again from
  what remains;
- the live figures: the tally moves by the submission's keys (as a status change does), and the
  open rounds its household belongs to derive its standing again without it. Closed rounds keep
  their frozen figures: they were reported upwards as figures already.

The row stays, with its receipt, form, dates, status and `erased_at`, so a receipt looked up later
says "deleted on …" and the audit trail still names what was done. An erased submission counts
nowhere (tally.py, aggregate.submission_condition, rounds.standing) and takes no correction.
"""
from __future__ import annotations

import contextlib
import json

from flask import current_app

from service.office import audit
from service.records import cells, ledger_erasure, tally
from service.records.answers import current_answers
from service.storage.db import db, is_sqlite, write_transaction
from service.storage.models import AuditEvent, Answer, Correction, Submission, Tally, utcnow

#: The audit action of one erasure, and of one purge run.
ERASED = "erasure"


def erase_submission(submission: Submission, *, by, reason: str, record: bool = True) -> bool:
    """Erase one submission's answers everywhere (see the module docstring). `by` is the office
    user who approved it, or None for the command line; `record=False` leaves the audit entry to
    the caller (a purge run writes one for all it erased). Returns False when it was erased
    already (a second click, a purge after an approval): nothing changes then."""
    with _overwriting(), write_transaction():
        current = _locked(submission)
        if current.erased_at is not None:
            return False
        spec = current_app.extensions["doorstep.catalog"].version(current.form_id,
                                                                  current.form_version)
        answers = current_answers(spec, current) if spec is not None else {}
        if spec is not None:
            tally.count(current, tally.keys_for(spec, answers), -1)
            _drop_emptied_tallies(current)
        corrections = list(Correction.select(Correction.question, Correction.item,
                                             Correction.old_value, Correction.new_value,
                                             Correction.user)
                           .where(Correction.submission == current.id).tuples())
        Answer.delete().where(Answer.submission == current.id).execute()
        Correction.update(old_value="null", new_value="null").where(
            Correction.submission == current.id).execute()
        if corrections:     # (the audit log is read only when there is something to scrub)
            _scrub_correction_events(current.id)
        now = utcnow()
        emptied = cells.columns(spec, {}) if spec is not None else \
            {"cells": None, "pii_cells": None, "cells_formula": False, "cells_layout": None}
        Submission.update(answers="{}", erased_at=now, **emptied).where(
            Submission.id == current.id).execute()
        submission.erased_at = now
        if current.household_id is not None:
            given = ledger_erasure.Given.of(json.loads(current.answers or "{}"), answers,
                                            corrections)
            ledger_erasure.forget_visit(current, given, corrections)
        if record:
            audit.record(ERASED, target=f"submission:{current.id}", user=by,
                         username="" if by is not None else "cli", reason=reason,
                         receipt=current.receipt, form=current.form_id,
                         household=current.household_id)
    return True


@contextlib.contextmanager
def _overwriting():
    """On SQLite, what the erasure deletes or rewrites is overwritten with zeros in the file
    (`secure_delete`, which some builds have on already), rather than left in free pages until
    they are used again; the connection then goes back to its own setting."""
    if not is_sqlite():
        yield
        return
    before = db.execute_sql("PRAGMA secure_delete").fetchone()[0]
    db.execute_sql("PRAGMA secure_delete = 1")
    try:
        yield
    finally:
        db.execute_sql(f"PRAGMA secure_delete = {int(before)}")


def _locked(submission: Submission) -> Submission:
    """The submission as it is now, locked until the transaction ends: an approval and a purge
    at once erase it once. SQLite's IMMEDIATE transaction holds the write lock already."""
    query = Submission.select().where(Submission.id == submission.id)
    return (query if is_sqlite() else query.for_update()).get()


def _drop_emptied_tallies(submission: Submission) -> None:
    """The tally rows of the submission's cells (its day, month, area and channel) that went
    back to zero: a count of nothing says nothing, and a value counted once (an unusual number)
    would otherwise stay in the table as a row."""
    Tally.delete().where(
        (Tally.form_id == submission.form_id) & (Tally.form_version == submission.form_version)
        & Tally.day.in_([submission.day, submission.day[:7]])
        & (Tally.area_id == (submission.area_id or 0)) & (Tally.channel == submission.channel)
        & (Tally.n == 0)).execute()


def _scrub_correction_events(submission_id: int) -> None:
    """The office's `correction` audit entries of this submission keep who, when, which
    question and why; the old and new values they carried become "erased"."""
    for event_id, detail in AuditEvent.select(AuditEvent.id, AuditEvent.detail).where(
            (AuditEvent.target == f"submission:{submission_id}") &
            (AuditEvent.action == "correction")).tuples():
        found = json.loads(detail or "{}")
        found.update({key: "erased" for key in ("old", "new") if key in found})
        AuditEvent.update(detail=json.dumps(found, ensure_ascii=False, sort_keys=True)).where(
            AuditEvent.id == event_id).execute()

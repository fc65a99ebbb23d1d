"""Retention: a form's `retention_days` say how long its answers are kept; `doorstep purge` erases
those of submissions older than that (erasure.py), as a deletion the office approved would.

Days are the office's calendar days (OFFICE_TIMEZONE): a submission made on day D is kept through
day D + retention_days - 1 and erased by a purge run on day D + retention_days or later. The
form's served definition decides for all its versions' submissions (the notice a household reads
now is the promise kept). Each batch of erasures is its own transaction, so a long purge never
holds the database for long and a purge stopped half-way leaves every batch done whole; running it
again carries on where it stopped.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from service.office import clock
from service.records.erasure import erase_submission
from service.storage.db import write_transaction
from service.storage.models import Submission

BATCH = 200


@dataclass
class Run:
    """What a purge run found (dry run) or erased, per form, and the days it went by."""

    as_of: dt.date
    dry_run: bool
    cutoffs: dict[str, dt.date] = field(default_factory=dict)   # form: kept from this day on
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def kept_from(spec, as_of: dt.date) -> dt.date | None:
    """The first office day whose submissions are still kept on `as_of` (None: kept for ever)."""
    if spec.retention_days is None:
        return None
    return as_of - dt.timedelta(days=spec.retention_days - 1)


def expired(form_id: str, first_kept: dt.date):
    """The form's submissions made before `first_kept` (office-local) whose answers remain."""
    return Submission.select(Submission.id).where(
        (Submission.form_id == form_id) &
        (Submission.received_at < clock.day_start_utc(first_kept)) &
        Submission.erased_at.is_null())


def purge(catalog, as_of: dt.date, dry_run: bool = False, batch: int = BATCH) -> Run:
    """Erase (or with `dry_run` only count) every expired submission of every form that
    declares `retention_days`."""
    run = Run(as_of, dry_run)
    for spec in catalog:
        first_kept = kept_from(spec, as_of)
        if first_kept is None:
            continue
        run.cutoffs[spec.id] = first_kept
        if dry_run:
            run.counts[spec.id] = expired(spec.id, first_kept).count()
            continue
        done = 0
        while True:
            ids = [sid for (sid,) in expired(spec.id, first_kept).order_by(Submission.id)
                   .limit(batch).tuples()]
            if not ids:
                break
            with write_transaction():
                for sid in ids:
                    done += erase_submission(Submission(id=sid), by=None, reason="retention",
                                             record=False)
        run.counts[spec.id] = done
    return run

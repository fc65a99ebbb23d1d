"""What happened to a household, read for the office's page and the JSON API: the households
merged into it, its answers' changes, and its visits (submissions and outcomes without a form).

Values are returned as stored (decoded JSON); the callers mask identifiers for their readers.
"""
from __future__ import annotations

import json

from service.storage.models import (
    Household, HouseholdChange, Submission, User, VisitOutcome,
)

#: A household merged into another which had others merged into it…: the most followed.
FAMILY_MAX = 200


def family(household: Household) -> list[int]:
    """The household's id and those of the households merged into it (and into those)."""
    ids, frontier = [household.id], [household.id]
    while frontier and len(ids) < FAMILY_MAX:
        frontier = [i for (i,) in Household.select(Household.id)
                    .where(Household.merged_into.in_(frontier)).tuples() if i not in ids]
        ids += frontier
    return ids


def _usernames(ids) -> dict:
    ids = {i for i in ids if i}
    return dict(User.select(User.id, User.username).where(User.id.in_(sorted(ids))).tuples()) \
        if ids else {}


def changes(ids: list[int]) -> list[dict]:
    """Every change of these households' answers, oldest first: question, old and new value,
    the household version it made, its source, when, the visit's receipt and who (an office
    user's name)."""
    rows = list(HouseholdChange.select().where(HouseholdChange.household.in_(ids))
                .order_by(HouseholdChange.at, HouseholdChange.id))
    receipts = dict(Submission.select(Submission.id, Submission.receipt).where(Submission.id.in_(
        sorted({c.submission_id for c in rows if c.submission_id}))).tuples()) if rows else {}
    people = _usernames(c.user_id for c in rows)
    return [{"question": c.question, "old": json.loads(c.old_value),
             "new": json.loads(c.new_value), "version": c.version, "source": c.source,
             "at": c.at, "receipt": receipts.get(c.submission_id), "by": people.get(c.user_id)}
            for c in rows]


def visits(ids: list[int]) -> list[dict]:
    """These households' visits, newest first: a submission (its id and receipt) or an outcome
    recorded without a form, with when, how it came in and the surveyor's name."""
    subs = list(Submission.select(Submission.id, Submission.receipt, Submission.received_at,
                                  Submission.channel, Submission.surveyor)
                .where(Submission.household.in_(ids)))
    outcomes = list(VisitOutcome.select().where(VisitOutcome.household.in_(ids)))
    people = _usernames(v.surveyor_id for v in subs + outcomes)
    entries = [{"at": s.received_at, "submission": s.id, "receipt": s.receipt, "outcome": None,
                "channel": s.channel, "surveyor": people.get(s.surveyor_id)} for s in subs]
    entries += [{"at": o.received_at, "submission": None, "receipt": None,
                 "outcome": o.outcome, "channel": o.channel,
                 "surveyor": people.get(o.surveyor_id)} for o in outcomes]
    entries.sort(key=lambda e: e["at"], reverse=True)
    return entries

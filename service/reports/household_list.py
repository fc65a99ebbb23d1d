"""The ledger's households as a list: the office list's filters as one query, shared by the
ledger page (/admin/households) and the JSON API, so both narrow the same way."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from service.formspec.model import Question
from service.office import policy
from service.office.clock import day_start_utc
from service.storage.models import Area, Household, HouseholdAnswer, HouseholdConflict


@dataclass
class HouseholdFilters:
    area: Area | None = None
    before: dt.date | None = None      # not visited since this office-local day
    question: Question | None = None   # with `value`: the current answer (household_index.py)
    value: str = ""
    duplicates: bool = False           # flagged as a possible duplicate
    conflicts: bool = False            # with an open conflict
    status: str | None = None          # None: every status but merged

    def as_args(self) -> dict:
        """The filters in use, as query parameters (the page's links keep them)."""
        args = {"area": self.area.code if self.area is not None else None,
                "before": self.before.isoformat() if self.before else None,
                "question": self.question.name if self.question is not None and self.value
                else None, "value": self.value if self.question is not None else None,
                "duplicates": "1" if self.duplicates else None,
                "conflicts": "1" if self.conflicts else None, "status": self.status}
        return {name: value for name, value in args.items() if value}


def _answer_condition(q: Question, text: str):
    """Households whose current answer to `q` is `text` (a choice by its code or label; for a
    multiple choice, among those chosen): a lookup in the answer index (household_index.py),
    which keeps numbers as JSON writes them, so "3" finds the rating 3 as the text "3"."""
    for choice in q.choices:
        if text in (choice.value, choice.label.zh, choice.label.en):
            text = choice.value
            break
    return Household.id.in_(HouseholdAnswer.select(HouseholdAnswer.household).where(
        (HouseholdAnswer.question == q.name) & (HouseholdAnswer.value == text)))


def matching(holder, form_id: str, f: HouseholdFilters):
    """The holder's households of one form narrowed by every filter but the status, and the
    status condition apart (the page counts per status over the rest)."""
    query = policy.households_for(holder, form_id)
    if f.area is not None:
        query = query.where(Household.area.in_(policy.area_ids_under(f.area)))
    if f.before:   # not visited since: a household never visited (only imported) is among them
        query = query.where((Household.last_visit_at < day_start_utc(f.before)) |
                            Household.last_visit_at.is_null())
    if f.question is not None and f.value:
        query = query.where(_answer_condition(f.question, f.value))
    if f.duplicates:
        # a range on the (form, duplicate_of, status) index, which IS NOT NULL is not to SQLite
        query = query.where(Household.duplicate_of > 0)
    if f.conflicts:
        query = query.where(Household.id.in_(
            HouseholdConflict.select(HouseholdConflict.household)
            .where(HouseholdConflict.resolved_at.is_null())))
    # a merged household lives on in the one it went into: listed only when asked for
    condition = Household.status == f.status if f.status else Household.status != "merged"
    return query, condition

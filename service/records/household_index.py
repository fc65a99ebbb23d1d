"""A household's current answers kept in two more shapes, ready for the office to read fast.

`Household.current` is the JSON document the ledger works on. Two readers cannot afford to parse it
for every household of a district:

- the office's list filtered by an answer: `HouseholdAnswer` holds, per household, one row per
  answered question the list filters on (a multiple choice: one per chosen value), so the filter is
  an index lookup (half a second at 100,000 households reading JSON; milliseconds this way);
- the current-state export: `Household.cells` (and `pii_cells`, `cells_formula`, `cells_layout`)
  keep the answers as the export's CSV cells, exactly as `Submission.cells` does for a visit
  (cells.py), so the default download copies ready text.

Both are written in the transaction that changes `current` (ledger._save, household_import), from
the form's definition in the catalog; schema step 8 filled them in for households stored before,
and `doorstep init` rewrites the cells of households whose layout is not their form's (`rewrite_stale`).
"""
from __future__ import annotations

import json

from service.formspec import FormSpec
from service.records import cells
from service.storage.db import db, insert_rows
from service.storage.models import Household, HouseholdAnswer, SHORT_VALUE

ANSWER_FIELDS = ("household", "question", "value")
CELL_FIELDS = ("cells", "pii_cells", "cells_formula", "cells_layout")


def filterable(spec: FormSpec) -> list:
    """Questions the list filters on: top-level answers that are not identifiers (a filter on a
    masked value would reveal it by trial)."""
    return [q for q in spec.questions()
            if q.answerable and not q.is_group and not q.pii and spec.parent_of(q.name) is None]


def filterable_names(spec: FormSpec) -> frozenset:
    cached = spec.__dict__.get("_filterable_names")
    if cached is None:
        cached = frozenset(q.name for q in filterable(spec))
        object.__setattr__(spec, "_filterable_names", cached)
    return cached


def as_text(value) -> str | None:
    """One scalar answer as the index keeps it (and the filter looks it up): text as it is,
    numbers and booleans as JSON writes them; None for what is not kept (a blank, an object, a
    text longer than the index holds: the filter's own input is cut at that length)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bool, int, float)):
        text = json.dumps(value)
    else:
        return None
    return text if text and len(text) <= SHORT_VALUE else None


def values(value) -> set[str]:
    """The index texts of one answer: one, or one per chosen value of a list."""
    found = (as_text(v) for v in value) if isinstance(value, list) else (as_text(value),)
    return {text for text in found if text is not None}


def answer_rows(spec: FormSpec, household_id: int, answers: dict, names=None) -> list[tuple]:
    """(household, question, value) rows of `answers`, for the questions in `names` (all the
    filterable ones by default)."""
    wanted = filterable_names(spec)
    if names is not None:
        wanted = wanted & set(names)
    return [(household_id, name, text) for name in sorted(wanted)
            for text in sorted(values(answers.get(name)))]


def replace_answers(spec: FormSpec, household_id: int, answers: dict, names,
                    fresh: bool = False) -> None:
    """Rewrite the index rows of the questions `names` (those a change touched); `fresh`: a
    household just registered, which has none to delete yet."""
    names = sorted(filterable_names(spec) & set(names))
    if not names:
        return
    if not fresh:
        HouseholdAnswer.delete().where((HouseholdAnswer.household == household_id) &
                                       HouseholdAnswer.question.in_(names)).execute()
    insert_rows(HouseholdAnswer, answer_rows(spec, household_id, answers, names),
                names=ANSWER_FIELDS)


def spec_for(form_id: str) -> FormSpec | None:
    """The form's current definition, from the running app's catalog."""
    from flask import current_app
    return current_app.extensions["doorstep.catalog"].get(form_id)


def rewrite(spec: FormSpec, batch: int = 1000, only_stale: bool = True) -> int:
    """Rewrite the cells (and, with only_stale=False, the answer index) of the form's households
    from their current answers; `only_stale`: just those whose cells are not in this definition's
    layout. Returns how many households were rewritten."""
    digest, last, done = cells.layout_digest(spec), 0, 0
    while True:
        query = Household.select(Household.id, Household.current).where(
            (Household.form_id == spec.id) & (Household.id > last))
        if only_stale:
            query = query.where((Household.cells_layout != digest) |
                                Household.cells_layout.is_null())
        batch_rows = list(query.order_by(Household.id).limit(batch).tuples())
        if not batch_rows:
            return done
        last = batch_rows[-1][0]
        with db.atomic():
            for household_id, current in batch_rows:
                answers = json.loads(current or "{}")
                Household.update(**cells.columns(spec, answers)).where(
                    Household.id == household_id).execute()
                if not only_stale:
                    replace_answers(spec, household_id, answers, filterable_names(spec))
        done += len(batch_rows)


def rewrite_stale(catalog) -> int:
    """`rewrite` for every ledger form of the catalog (`doorstep init`)."""
    return sum(rewrite(spec) for spec in catalog if spec.ledger)

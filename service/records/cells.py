"""A submission's current answers laid out as the export's cells, kept beside it.

An export writes one CSV row per submission. Building that row from `Answer` rows costs Python work
per cell (~60 a household): ~500 µs a row as first built, ~120 µs at best, where `csv.writer` alone
needs ~6 µs. So every write keeps the row's answer part ready on the submission, as CSV text:

- `Submission.cells`: the cells of the questions that are not `pii`;
- `Submission.pii_cells`: those of the `pii` questions, kept apart, so the default download (no
  identifiers) copies `cells` as it is, and identifiers can later be encrypted as one value;
- `Submission.cells_formula`: whether `cells` holds text a spreadsheet would run as a formula.

`submissions.store` writes them, `submissions.correct` rewrites them, schema step 2 filled them in
for older rows. The default CSV (codes, no pii) then costs a row of metadata and a copy per
submission; other variants parse the text back (`parse`) and pick their columns (export.py).

The layout of a form version is derived from its (immutable) definition: per top-level answerable
question in form order, one cell, except `select_multiple`: one 0/1 cell per choice then the chosen
codes joined by ";". Values are codes and are stored as given (formula-like text is neutralised by
the export, not here). Repeat groups have no cells: their tables come from `Answer` rows.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from service.formspec import FormSpec

# (question name, choice code or None): a select_multiple choice's 0/1 cell has its code; every
# other cell (the joined select_multiple cell included) has None
Key = tuple[str, "str | None"]


@dataclass(frozen=True)
class Layout:
    public: tuple[Key, ...]     # the cells of `Submission.cells`, in column order
    pii: tuple[Key, ...]        # the cells of `Submission.pii_cells`, in column order


def keys(q) -> list[Key]:
    """The cell keys of one question: a 0/1 cell per choice of a select_multiple, then its value."""
    choices = [(q.name, c.value) for c in q.choices] if q.type == "select_multiple" else []
    return choices + [(q.name, None)]


def layout(spec: FormSpec) -> Layout:
    public: list[Key] = []
    pii: list[Key] = []
    for q in _questions(spec):
        (pii if q.pii else public).extend(keys(q))
    return Layout(tuple(public), tuple(pii))


def _questions(spec: FormSpec):
    return (q for q in spec.questions() if q.answerable and q.type != "repeat")


def values(spec: FormSpec, answers: dict) -> tuple[list, list]:
    """(public cells, pii cells) of an answers document: codes, "" where unanswered."""
    public, pii = [], []
    for q in _questions(spec):
        value = answers.get(q.name)
        target = pii if q.pii else public
        if q.type == "select_multiple":
            chosen = value or []
            target += [int(c.value in chosen) for c in q.choices]
            target.append(";".join(chosen))
        else:
            target.append("" if value is None else value)
    return public, pii


def line(cells: list) -> str:
    """Cells as one CSV line (no line end), quoted as `csv.writer` quotes them in a full row."""
    buffer = io.StringIO()
    # the export's line end: csv.writer quotes a field holding any of its characters
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()[:-2]


def parse(text: str | None) -> list[str]:
    """A stored line back into its cells (as text)."""
    return next(csv.reader([text])) if text else []


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def encode(spec: FormSpec, answers: dict) -> dict:
    """The stored columns of an answers document: `cells`, `pii_cells`, and `cells_formula`:
    whether a cell of `cells` starts like a spreadsheet formula (the CSV export then neutralises
    that row's cells; looking for it in the text at export time would cost as much as the copy)."""
    public, pii = values(spec, answers)
    risky = any(type(c) is str and c.startswith(FORMULA_START) for c in public)
    return {"cells": line(public), "pii_cells": line(pii), "cells_formula": risky}

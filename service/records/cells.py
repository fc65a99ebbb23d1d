"""A submission's current answers laid out as the export's cells, kept beside it.

An export writes one CSV row per submission. Building that row from `Answer` rows costs Python work
per cell (~60 a household): ~500 µs a row as first built, ~120 µs at best, where `csv.writer` alone
needs ~6 µs. So every write keeps the row's answer part ready on the submission, as CSV text:

- `Submission.cells`: the cells of the questions that are not `pii`;
- `Submission.pii_cells`: those of the `pii` questions, kept apart, so the default download (no
  identifiers) copies `cells` as it is, and the identifiers are sealed as one value (a column
  of sealed_fields.SealedText: one decryption a row for an export with them);
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
import datetime as dt
import io
import random
from dataclasses import dataclass
from hashlib import sha256

from service.formspec import FormSpec

# (question name, choice code or None): a select_multiple choice's 0/1 cell has its code; every
# other cell (the joined select_multiple cell included) has None
Key = tuple[str, "str | None"]


@dataclass(frozen=True)
class Layout:
    public: tuple[Key, ...]     # the cells of `Submission.cells`, in column order
    pii: tuple[Key, ...]        # the cells of `Submission.pii_cells`, in column order


def keys(q) -> list[Key]:
    """The cell keys of one question, as its type lays them out (a select_multiple: a 0/1 cell
    per choice, then its value)."""
    return q.qtype.cell_keys(q)


def layout(spec: FormSpec) -> Layout:
    public: list[Key] = []
    pii: list[Key] = []
    for q in _questions(spec):
        (pii if q.pii else public).extend(keys(q))
    return Layout(tuple(public), tuple(pii))


def _questions(spec: FormSpec):
    return (q for q in spec.questions() if q.answerable and not q.is_group)


def values(spec: FormSpec, answers: dict) -> tuple[list, list]:
    """(public cells, pii cells) of an answers document: codes, "" where unanswered."""
    public, pii = [], []
    for q in _questions(spec):
        value = answers.get(q.name)
        (pii if q.pii else public).extend(q.qtype.cell_values(q, value))
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


def columns(spec: FormSpec, answers: dict) -> dict:
    """What a write stores on the submission: `encode`'s columns and the layout they are in."""
    return {**encode(spec, answers), "cells_layout": layout_digest(spec)}


# --- the layout's fingerprint ---------------------------------------------------------------
# Stored cells are only as good as the code that wrote them: if a later release lays a form's
# cells out differently (another column per choice, another quoting), rows written before would
# silently misalign with the export's columns. So each row records the layout it was written in,
# and the layout is not a number someone must remember to raise but a digest of what this code
# makes of the row's form version: its cell keys, and the cells of sample answers (the types'
# own samples, and awkward text). The export rebuilds a row whose layout is not its version's
# digest from its answer rows, and `doorstep init` rewrites such rows (`rewrite_stale`). A new
# question type, or a change to one, leaves the rows of forms without it alone.

_AWKWARD = 'a "quoted", comma\nand =SUM(A1)'


def layout_digest(spec: FormSpec) -> str:
    """The layout of one form version's cells as this code writes them (12 hex digits)."""
    cached = spec.__dict__.get("_cells_layout")
    if cached is None:
        rng, day = random.Random(0), dt.date(2026, 1, 31)
        asked = list(_questions(spec))
        documents = ({q.name: q.qtype.sample(q, rng, day) for q in asked},
                     {q.name: _AWKWARD for q in asked if q.qtype.text_like}, {})
        made = [repr(layout(spec))] + [repr(sorted(encode(spec, d).items())) for d in documents]
        cached = sha256("\n".join(made).encode()).hexdigest()[:12]
        object.__setattr__(spec, "_cells_layout", cached)
    return cached


def rewrite_stale(catalog, batch: int = 1000) -> int:
    """Rewrite the cells of every submission whose stored layout is not its version's digest,
    from its current answer rows. Returns how many were rewritten."""
    from service.records.answers import answer_rows_of, shape
    from service.storage.models import Submission

    done = 0
    for form_id, version in list(Submission.select(Submission.form_id, Submission.form_version)
                                 .distinct().tuples()):
        spec = catalog.version(form_id, version)
        if spec is None:        # a version never published: the export rebuilds it by name
            continue
        digest, last = layout_digest(spec), 0
        while True:
            ids = [sid for (sid,) in Submission.select(Submission.id).where(
                (Submission.form_id == form_id) & (Submission.form_version == version) &
                (Submission.id > last) & ((Submission.cells_layout != digest) |
                                          Submission.cells_layout.is_null()))
                .order_by(Submission.id).limit(batch).tuples()]
            if not ids:
                break
            last = ids[-1]
            answers = answer_rows_of(ids)
            for sid in ids:
                Submission.update(**columns(spec, shape(spec, answers[sid]))).where(
                    Submission.id == sid).execute()
            done += len(ids)
    return done

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
    return {**encode(spec, answers), "cells_layout": LAYOUT}


# --- the layout's fingerprint ---------------------------------------------------------------
# Stored cells are only as good as the code that wrote them: if a later release lays cells out
# differently (another column per choice, another quoting), rows written before would silently
# misalign with the export's columns. So each row records the layout it was written in, and the
# layout is not a number someone must remember to raise but a digest of what this code makes of a
# probe form holding every kind of question and awkward answers. The export rebuilds a row whose
# layout differs from its answer rows, and `doorstep init` rewrites such rows (`rewrite_stale`).

_PROBE = {
    "id": "probe", "version": 1, "title": "probe",
    "sections": [{"questions": [
        {"name": "t", "type": "text", "label": "t"},
        {"name": "p", "type": "text", "label": "p", "pii": True},
        {"name": "a", "type": "textarea", "label": "a"},
        {"name": "i", "type": "integer", "label": "i"},
        {"name": "d", "type": "decimal", "label": "d"},
        {"name": "o", "type": "select_one", "label": "o",
         "choices": [{"value": "x", "label": "x"}, {"value": "y", "label": "y"}]},
        {"name": "m", "type": "select_multiple", "label": "m",
         "choices": [{"value": "x", "label": "x"}, {"value": "y", "label": "y"},
                     {"value": "z", "label": "z"}]},
        {"name": "day", "type": "date", "label": "day"},
        {"name": "ph", "type": "phone", "label": "ph", "pii": True},
        {"name": "idn", "type": "id_number", "label": "idn", "pii": True},
        {"name": "n", "type": "note", "label": "n"},
        {"name": "g", "type": "repeat", "label": "g",
         "questions": [{"name": "gt", "type": "text", "label": "gt"}]},
    ]}],
}
_PROBE_ANSWERS = ({"t": 'a "quoted", comma', "p": "张三", "a": "line\nbreak", "i": -3,
                   "d": "2.50", "o": "y", "m": ["x", "z"], "day": "2026-01-31",
                   "ph": "13812345678", "idn": "11010519491231002X", "g": [{"gt": "x"}]},
                  {"t": "=SUM(A1)", "m": ["y"]},
                  {})


def _fingerprint() -> str:
    from hashlib import sha256

    from service.formspec.loader import parse
    spec = parse(_PROBE, where="cells probe")
    made = [repr(layout(spec))] + [repr(sorted(encode(spec, a).items())) for a in _PROBE_ANSWERS]
    return sha256("\n".join(made).encode()).hexdigest()[:12]


#: The layout this code writes cells in (see above); stored beside each row's cells.
LAYOUT = _fingerprint()


def rewrite_stale(catalog, batch: int = 1000) -> int:
    """Rewrite the cells of every submission whose stored layout is not this code's, from its
    current answer rows and the definition of its version. Returns how many were rewritten."""
    from service.records.answers import answer_rows_of, shape
    from service.storage.models import Submission

    done = 0
    last = 0
    while True:
        rows = list(Submission.select(Submission.id, Submission.form_id, Submission.form_version)
                    .where((Submission.id > last) & ((Submission.cells_layout != LAYOUT) |
                                                     Submission.cells_layout.is_null()))
                    .order_by(Submission.id).limit(batch).tuples())
        if not rows:
            return done
        last = rows[-1][0]
        answers = answer_rows_of([sid for sid, _form, _version in rows])
        for sid, form_id, version in rows:
            spec = catalog.version(form_id, version)
            if spec is None:        # a version never published: the export rebuilds it by name
                continue
            Submission.update(**columns(spec, shape(spec, answers[sid]))).where(
                Submission.id == sid).execute()
            done += 1

"""Loading the office's own ledger (台帐) from a CSV or XLSX file: one row per household.

Columns: `area_code`, `address` (the ledger form's address question) and any top-level question's
`name`. Each cell is checked by the question's own WTForms field and validators, as the form
checks a post (wtf.field_for), so the messages are the form's. Choices may be given by code or by
their Chinese or English label, a select_multiple's as values separated by ";" or "、"; a blank
cell says nothing (it never clears an answer). All or nothing: every problem is reported as
`line N: column: message` in the current language, and nothing is stored unless there are none.

A row whose normalised address matches a household of the same form and area updates it: each
changed question is a HouseholdChange with the source "import" (one new version per household);
other rows register new households (never visited). Importing the same file again changes nothing.
Writes go in batches inside one write transaction.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import PurePath

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from wtforms import Form

from service.formspec import FormSpec, wtf
from service.formspec.loader import LEDGER_ADDRESS
from service.office import policy
from service.records import cells, household_index, rounds
from service.records.ledger import address_key, change_value, lookup_keys
from service.records.vocabulary import read_aloud_code
from service.storage.db import copy_rows, db, is_sqlite, write_transaction
from service.storage.models import (
    Area, Household, HouseholdAnswer, HouseholdChange, User, utcnow,
)

AREA_COLUMN = "area_code"
#: Between the values of a select_multiple cell: ";" (also full-width) or the enumeration comma.
SEPARATORS = re.compile(r"[;；、]")
BATCH = 2000


class ImportProblems(Exception):
    """The file was refused as a whole; `problems` are lines for the user, in their language."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class _Row:
    line: int
    area_id: int
    key: str                    # the keyed hash of its normalised address (ledger.address_key)
    answers: dict


def _problem(line: int, column: str, message) -> str:
    return _("line %(line)s: %(column)s: %(message)s", line=line, column=column,
             message=str(message))


def load(spec: FormSpec, filename: str, data: bytes, holder) -> Outcome:
    """Validate the whole file, then store it (see the module docstring). Raises ImportProblems."""
    if not spec.ledger:
        raise ImportProblems([_("%(form)s is not a ledger form.", form=spec.id)])
    rows = _validated(spec, _table(filename, data), holder)
    user = holder if isinstance(holder, User) else None
    outcome = Outcome()
    with write_transaction():
        if not is_sqlite():     # two imports at once would both register a new address: one
            # waits for the other (SQLite's write lock already makes them take turns)
            db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"import:{spec.id}",))
        for start in range(0, len(rows), BATCH):
            _store(spec, rows[start:start + BATCH], user, outcome)
    return outcome


# --- reading ---------------------------------------------------------------------------------

def _table(filename: str, data: bytes) -> list[list[str]]:
    """The file's rows as lists of text cells (row i is line i + 1, as Excel numbers them)."""
    kind = PurePath(filename or "").suffix.lower()
    if kind == ".csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030", errors="replace")   # "CSV" as Chinese Excel saves it
        return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    if kind == ".xlsx":
        return _xlsx_rows(data)
    raise ImportProblems([_("The file must be a .csv or .xlsx file.")])


def _xlsx_rows(data: bytes) -> list[list[str]]:
    """The first sheet's rows, from A1 (calamine: a district's 100,000 rows in about 2 s, where
    openpyxl takes 25)."""
    import python_calamine
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        rows = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except (python_calamine.CalamineError, IndexError, ValueError):
        raise ImportProblems([_("This is not an Excel workbook (.xlsx) that can be read.")]) \
            from None
    return [[_cell_text(c) for c in row] for row in rows]


def _cell_text(value) -> str:
    """An Excel cell as the text a form would have posted: numbers without a needless ".0",
    dates as YYYY-MM-DD, times as HH:MM."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else \
            value.isoformat(" ", "minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    return str(value).strip()


# --- checking --------------------------------------------------------------------------------

def _header(spec: FormSpec, header: list[str]):
    """The questions of the file's columns (None for area_code), or ImportProblems."""
    problems, columns, seen = [], [], set()
    for name in header:
        q = spec.question(name) if name not in (AREA_COLUMN, "") else None
        if not name:          # a column without a header (Excel's formatted empty columns)
            columns.append(None)
            continue
        if name in seen:
            problems.append(_problem(1, name, _("this column appears twice")))
        elif name != AREA_COLUMN and (q is None or not q.answerable or q.is_group
                                      or spec.parent_of(name) is not None):
            problems.append(_problem(1, name,
                                     _("not a question of this form that can be imported")))
        seen.add(name)
        columns.append(q)
    for needed in (AREA_COLUMN, LEDGER_ADDRESS):
        if needed not in seen:
            problems.append(_problem(1, needed, _("this column is missing")))
    if problems:
        raise ImportProblems(problems)
    return columns


def _choice_codes(q) -> dict[str, str]:
    """What a cell may say for each choice: its code, or its label in either language."""
    codes = {}
    for c in q.choices:
        for lang in ("en", "zh"):
            codes.setdefault(c.label.get(lang).strip().casefold(), c.value)
    codes.update({c.value.casefold(): c.value for c in q.choices})
    return codes


class _Checker:
    """A row's cells checked by the questions' own fields, bound once to a throwaway form. The
    checks depend on nothing but the cell, so each distinct (question, cell) is checked once:
    a ledger repeats its sizes, choices and dates on every other row."""

    CACHE = 50_000

    def __init__(self, questions):
        self.questions = [q for q in questions if q is not None]
        fields = {q.name: wtf.field_for(q) for q in self.questions}
        self.form = type("ImportRow", (Form,), {"Meta": wtf.MessagesMeta, **fields})()
        self.codes = {q.name: _choice_codes(q) for q in self.questions if q.choices}
        self.known: dict[tuple[str, str], tuple] = {}

    def posted(self, q, text: str) -> list[str]:
        codes = self.codes.get(q.name)
        if codes is None:
            return [text]
        parts = SEPARATORS.split(text) if q.qtype.multiple else [text]
        return [codes.get(p.strip().casefold(), p.strip()) for p in parts if p.strip()]

    def cell(self, q, text: str) -> tuple:
        """(the stored answer or None, the field's messages) for one cell."""
        found = self.known.get((q.name, text))
        if found is None:
            field = self.form[q.name]
            field.process(MultiDict([(q.name, v) for v in self.posted(q, text)]))
            found = (wtf.clean_value(q, field), []) if field.validate(self.form) else \
                (None, [str(e) for e in field.errors])
            if len(self.known) >= self.CACHE:
                self.known.clear()
            self.known[(q.name, text)] = found
        return found

    def check(self, cells: dict) -> tuple[dict, list[tuple[str, str]]]:
        """The row's answers as the form would store them, and (column, message) per problem."""
        answers, problems = {}, []
        for q in self.questions:
            value, messages = self.cell(q, cells.get(q.name, ""))
            if messages:
                problems += [(q.name, m) for m in messages]
            elif value is not None:
                answers[q.name] = value
        return answers, problems


def _validated(spec: FormSpec, table: list[list[str]], holder) -> list[_Row]:
    if not table or not any(table[0]):
        raise ImportProblems([_("The file has no header row.")])
    header = table[0]
    checker = _Checker(_header(spec, header))
    areas: dict[str, Area | None] = {}
    rows, problems, addresses = [], [], {}
    for line, texts in enumerate(table[1:], start=2):
        if not any(texts):
            continue                      # blank lines (Excel keeps some at the end)
        named = dict(zip(header, texts + [""] * (len(header) - len(texts))))
        answers, found = checker.check(named)
        code = named[AREA_COLUMN]
        if code not in areas:
            area = Area.get_or_none(Area.code == code)
            areas[code] = area if area and policy.can(holder, "households.import", area) else None
        if areas[code] is None:
            found.append((AREA_COLUMN, _("no area %(code)s among yours", code=code or '""')))
        key = address_key(answers.get(LEDGER_ADDRESS))
        if not key and all(column != LEDGER_ADDRESS for column, _m in found):
            found.append((LEDGER_ADDRESS, _("Please answer this question.")))
        if key and areas[code] is not None:
            first = addresses.setdefault((areas[code].id, key), line)
            if first != line:
                found.append((LEDGER_ADDRESS, _("the same address as line %(line)s",
                                                line=first)))
        if found:
            problems += [_problem(line, column, message) for column, message in found]
            continue
        rows.append(_Row(line, areas[code].id, key, answers))
    if problems:
        raise ImportProblems(problems)
    return rows


# --- storing ---------------------------------------------------------------------------------

def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _kept(spec: FormSpec, now: dict) -> dict:
    """The household fields that follow its current answers (as ledger._save sets them)."""
    return {"current": _dump(now), "address": "", **lookup_keys(now), **cells.columns(spec, now)}


def _store(spec: FormSpec, rows: list[_Row], user, outcome: Outcome) -> None:
    """One batch: match the rows' addresses, update what changed, register the rest."""
    existing: dict = {}
    for area_id in sorted({r.area_id for r in rows}):     # one lookup per area on its index
        query = (Household.select(Household.id, Household.area, Household.address_key,
                                  Household.version, Household.current)
                 .where((Household.form_id == spec.id) & (Household.area == area_id) &
                        Household.address_key.in_(sorted({r.key for r in rows
                                                          if r.area_id == area_id})) &
                        (Household.status != "merged")))
        # no ORDER BY: SQLite would then walk the whole table in id order instead of the index
        for found in (query if is_sqlite() else query.for_update()):   # SQLite: lock held
            key = (found.area_id, found.address_key)
            if key not in existing or found.id < existing[key].id:     # the oldest one
                existing[key] = found
    now_at, user_id = utcnow(), user.id if user is not None else None
    changes, new = [], []
    for row in rows:
        household = existing.get((row.area_id, row.key))
        if household is None:
            new.append(row)
            continue
        now = json.loads(household.current or "{}")
        changed = [(name, now.get(name), value) for name, value in row.answers.items()
                   if now.get(name) != value]
        if not changed:
            outcome.unchanged += 1
            continue
        version = household.version + 1
        now.update(row.answers)
        Household.update(version=version, **_kept(spec, now)).where(
            Household.id == household.id).execute()
        household_index.replace_answers(spec, household.id, now, [c[0] for c in changed])
        changes += [_change(spec, household.id, name, old, value, version, user_id, now_at)
                    for name, old, value in changed]
        outcome.updated += 1
    ids = _register(spec, new, now_at)
    rounds.join([(ids[row.line], row.area_id) for row in new], spec.id)
    indexed = []
    for row in new:
        changes += [_change(spec, ids[row.line], name, None, value, 1, user_id, now_at)
                    for name, value in row.answers.items()]
        indexed += household_index.answer_rows(spec, ids[row.line], row.answers)
    copy_rows(HouseholdAnswer, indexed, household_index.ANSWER_FIELDS)
    outcome.created += len(new)
    copy_rows(HouseholdChange, changes, CHANGE_FIELDS)


CHANGE_FIELDS = ("household", "question", "old_value", "new_value", "version", "source",
                 "submission", "user", "at")


def _change(spec, household_id, question, old, new, version, user_id, at) -> tuple:
    """A HouseholdChange row as the values of CHANGE_FIELDS (ready for the driver; a `pii`
    question's values sealed)."""
    return (household_id, question, change_value(spec, question, old),
            change_value(spec, question, new), version, "import", None, user_id, at)


def _register(spec: FormSpec, rows: list[_Row], at) -> dict[int, int]:
    """Insert new households (version 1: their imported answers; never visited); line → id."""
    if not rows:
        return {}
    codes = _fresh_codes(len(rows))
    made = [{"code": code, "form_id": spec.id, "area": row.area_id, "status": "active",
             "version": 1, "visits": 0, "registered_at": at,
             "door_token": secrets.token_urlsafe(12), **_kept(spec, row.answers)}
            for code, row in zip(codes, rows)]
    names = tuple(made[0])
    copy_rows(Household, [tuple(m.values()) for m in made], names)
    by_code = dict(Household.select(Household.code, Household.id)
                   .where(Household.code.in_(codes)).tuples())
    return {row.line: by_code[code] for code, row in zip(codes, rows)}


def _fresh_codes(n: int) -> list[str]:
    """n new household codes, none already taken (40 random bits each: a clash is rare, but
    in a district's worth of households not negligible)."""
    codes: set[str] = set()
    while len(codes) < n:
        wanted = {read_aloud_code() for _ in range(n - len(codes))} - codes
        taken = {c for (c,) in Household.select(Household.code)
                 .where(Household.code.in_(sorted(wanted))).tuples()}
        codes |= wanted - taken
    return sorted(codes)

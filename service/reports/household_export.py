"""The ledger's tables: the households' current state (one row per household) and their history
(one row per change), for the households the holder reaches (policy.households_for).

Answer columns follow the response export's rules (export.py): each question's columns as its
type lays them out, identifying (pii) questions only when asked for, choice labels instead of
codes when asked for, and for CSV every cell a spreadsheet would run neutralised. Rows are read in
keyset batches, so memory stays flat however large the ledger; export_files.csv_chunks makes the
CSV (with a BOM by default) and `write_xlsx` the workbook.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Iterator

from flask_babel import lazy_gettext as _l
from peewee import JOIN, SQL

from service.formspec import FormSpec
from service.office import clock, policy
from service.records import cells
from service.reports.export import KeptVersion, Options, formula_like, fragment, neutralise
from service.reports.export_files import XLSX_MAX_ROWS
from service.storage.db import db, in_id_order, keyset_batches
from service.storage.sealed_fields import opener
from service.storage.models import Area, Household, HouseholdChange, Submission, User

BATCH = 1000     # households a query
CELL_CACHE = 5000   # distinct answers of one question whose cells are kept (rows)
_MISSING = object()

#: The columns before the answers: (header as a code, header as shown with labels).
HOUSEHOLD_COLUMNS = (("household_code", _l("Household code")), ("status", _l("Status")),
                     ("version", _l("Version")), ("last_visit_at", _l("Last visit")),
                     ("visits", _l("Number of visits")), ("area_code", _l("Area code")),
                     ("area_name", _l("Area")))
HISTORY_COLUMNS = (("household_code", _l("Household code")), ("question", _l("Question")),
                   ("old_value", _l("Old value")), ("new_value", _l("New value")),
                   ("source", _l("Source")), ("by", _l("Visit receipt or user")),
                   ("at", _l("Time")))
#: Columns written as numbers in a workbook (positions in HOUSEHOLD_COLUMNS).
NUMERIC_META = (2, 4)


def _same(cell):
    return cell


class HouseholdExport:
    """One export of one ledger form's households, as `holder` may see them."""

    def __init__(self, spec: FormSpec, holder, opts: Options, area: Area | None = None):
        self.spec, self.opts = spec, opts
        self.households = policy.households_for(holder, spec.id)
        if area is not None:
            self.households = self.households.where(
                Household.area.in_(policy.area_scope(holder, area)))
        self.questions = [q for q in spec.questions() if q.answerable and not q.is_group
                          and (opts.with_pii or not q.pii)]
        self.rows_written = 0
        self.zone = clock.current().zone

    def count(self) -> int:
        return self.households.count()

    def _headers(self, columns) -> list[str]:
        return [str(label) if self.opts.labels else code for code, label in columns]

    def answer_columns(self) -> list[tuple]:
        """(header, answers → cell, numeric) per answer column, as the response export has them."""
        cols = []
        for q in self.questions:
            name = q.label.get(self.opts.lang) if self.opts.labels else q.name
            cols += q.qtype.columns(q, name, self.opts.labels, self.opts.lang)
        return cols

    def numeric_positions(self) -> set[int]:
        start = len(HOUSEHOLD_COLUMNS)
        return set(NUMERIC_META) | {start + i for i, col in enumerate(self.answer_columns())
                                    if col[2]}

    def _local(self, moment) -> str:
        if moment is None:
            return ""
        if isinstance(moment, str):                  # SQLite's driver gives text
            moment = dt.datetime.fromisoformat(moment)
        return moment.replace(tzinfo=dt.timezone.utc).astimezone(self.zone).strftime(
            "%Y-%m-%d %H:%M:%S")

    def _local_cached(self):
        """`_local` for a whole export: each hour of UTC timestamps is converted once; where
        the office's offset is not whole hours that hour's times are converted one by one."""
        hours: dict = {}

        def local(moment) -> str:
            if moment is None:
                return ""
            text = moment if isinstance(moment, str) else moment.isoformat(" ")
            if len(text) < 19:
                return self._local(moment)
            hour = hours.get(text[:13])
            if hour is None:
                start = dt.datetime.fromisoformat(text[:13] + ":00:00")
                shifted = start.replace(tzinfo=dt.timezone.utc).astimezone(self.zone)
                whole = shifted.utcoffset().total_seconds() % 3600 == 0
                hour = hours[text[:13]] = shifted.strftime("%Y-%m-%d %H") if whole else ""
            return hour + text[13:19] if hour else self._local(moment)
        return local

    def _areas(self, check) -> dict:
        return {a.id: (check(a.code), check(a.name)) for a in Area.select()}

    def rows(self, for_csv: bool = True) -> Iterator[list | str]:
        """A header, then one row per household (oldest registration first).

        Without labels the answers come from the cells each household keeps (household_index.py),
        as the response export's come from a submission's: for CSV, a household whose kept
        `cells` are exactly this export's columns (no pii: the default download) is ready CSV
        text, its metadata then `cells` as stored, unless that text may hold a formula. With
        labels, each question's cells are made from the current answers."""
        if self.opts.labels:
            yield from self._labelled_rows(for_csv)
            return
        check = neutralise if for_csv else _same
        keys = tuple(k for q in self.questions for k in cells.keys(q))
        kept = KeptVersion(self.spec, keys, for_csv)
        yield [check(h) for h in self._headers(HOUSEHOLD_COLUMNS) +
               [c[0] for c in self.answer_columns()]]
        areas = self._areas(check)
        area_text = {k: fragment(v) for k, v in areas.items()}
        query = self.households.select(
            Household.id, Household.code, Household.status, Household.version,
            Household.last_visit_at, Household.visits, Household.area, Household.cells,
            Household.pii_cells if kept.with_pii else SQL("NULL"), Household.cells_formula,
            Household.cells_layout)
        local, answers_at = self._local_cached(), len(HOUSEHOLD_COLUMNS)
        unseal = opener()          # (a plain cursor: the column's field is not asked)
        for batch in keyset_batches(in_id_order(query, Household), Household.id, BATCH, raw=True):
            for (hid, code, status, version, last, visits, area, public, pii, formula,
                 written_in) in batch:
                pii = unseal(pii)
                if public is None or written_in != kept.layout:
                    # no cells kept or kept in another layout (the form changed since: until
                    # `doorstep init` rewrites them): made from the current answers
                    public, pii, formula = self._rebuild(hid)
                self.rows_written += 1
                if kept.direct and not formula:
                    yield (f"{code},{status},{version},{local(last)},{visits},"
                           f"{area_text.get(area, ',')}{kept.tail}{public}\r\n")
                    continue
                row = [code, status, version, local(last), visits, *areas.get(area, ("", "")),
                       *kept.pick(public, pii)]
                if for_csv and (formula or (kept.with_pii and formula_like(pii))):
                    row[answers_at:] = [check(c) for c in row[answers_at:]]
                yield row

    def _rebuild(self, household_id: int) -> tuple[str, str, bool]:
        current = Household.select(Household.current).where(
            Household.id == household_id).scalar()
        made = cells.encode(self.spec, json.loads(current or "{}"))
        return made["cells"], made["pii_cells"], made["cells_formula"]

    def _labelled_rows(self, for_csv: bool) -> Iterator[list]:
        """`rows` with choice labels: each question's cells from the current answers."""
        check = neutralise if for_csv else _same
        cols = self.answer_columns()
        yield [check(h) for h in self._headers(HOUSEHOLD_COLUMNS) + [c[0] for c in cols]]
        areas = self._areas(check)
        groups = self._cell_groups(check)
        query = self.households.select(
            Household.id, Household.code, Household.status, Household.version,
            Household.last_visit_at, Household.visits, Household.area, Household.current)
        local, unseal = self._local_cached(), opener()
        for batch in keyset_batches(in_id_order(query, Household), Household.id, BATCH, raw=True):
            for _id, code, status, version, last, visits, area, current in batch:
                answers = json.loads(unseal(current) or "{}")
                self.rows_written += 1
                row = [code, status, version, local(last), visits,
                       *areas.get(area, ("", ""))]
                get = answers.get
                for name, texts, cells_of in groups:
                    value = get(name, _MISSING)
                    found = texts.get(value) if value.__class__ is str else None
                    row += found if found is not None else cells_of(value)
                yield row

    def _cell_groups(self, check) -> list:
        """Per question: (name, the cells of text answers seen so far, answer → cells). A
        question's columns read only its own answer, and a ledger repeats its choices, sizes and
        dates from row to row: each distinct answer's cells are made once (up to CELL_CACHE a
        question) and reused, rather than every column called on every row."""
        groups = []
        for q in self.questions:
            name = q.label.get(self.opts.lang) if self.opts.labels else q.name
            funcs = [col[1] for col in q.qtype.columns(q, name, self.opts.labels, self.opts.lang)]
            texts: dict = {}
            others: dict = {}

            def cells_of(value, q=q.name, funcs=funcs, texts=texts, others=others):
                # typed keys: 1, 1.0 and True are one dict key but not one cell
                key = (value.__class__, tuple(value) if isinstance(value, list) else value)
                try:
                    found = others.get(key)
                except TypeError:          # a dict (never at top level; safe all the same)
                    found, key = None, None
                if found is None:
                    one = {} if value is _MISSING else {q: value}
                    found = [check(f(one)) for f in funcs]
                    known = texts if value.__class__ is str else others
                    if key is not None:
                        if len(known) >= CELL_CACHE:
                            known.clear()
                        known[value if known is texts else key] = found
                return found
            groups.append((q.name, texts, cells_of))
        return groups

    def history_rows(self, for_csv: bool = True) -> Iterator[list]:
        """A header, then one row per change: household by household (oldest registration
        first), each one's changes in the order they were made. Households come in keyset
        batches and their changes by the (household, …) index."""
        check = neutralise if for_csv else _same
        yield [check(h) for h in self._headers(HISTORY_COLUMNS)]
        wanted = {q.name: q for q in self.spec.all_questions()
                  if q.answerable and (self.opts.with_pii or not q.pii)}
        changes = (HouseholdChange.select(
            HouseholdChange.household, HouseholdChange.question, HouseholdChange.old_value,
            HouseholdChange.new_value, HouseholdChange.source, Submission.receipt, User.username,
            HouseholdChange.at)
            .join(Submission, on=(HouseholdChange.submission == Submission.id),
                  join_type=JOIN.LEFT_OUTER).switch(HouseholdChange)
            .join(User, on=(HouseholdChange.user == User.id), join_type=JOIN.LEFT_OUTER)
            .order_by(HouseholdChange.household, HouseholdChange.id))
        households = self.households.select(Household.id, Household.code)
        unseal = opener()          # (a plain cursor: the column's field is not asked)
        for batch in keyset_batches(households, Household.id, BATCH, raw=True):
            codes = dict(batch)
            query = changes.where(HouseholdChange.household.in_(list(codes)) &
                                  HouseholdChange.question.in_(sorted(wanted)))
            for household, name, old, new, source, receipt, username, at in \
                    db.execute(query).fetchall():
                q = wanted[name]
                self.rows_written += 1
                yield [codes[household], check(name), check(self._value(q, unseal(old))),
                       check(self._value(q, unseal(new))), source, check(receipt or username or ""),
                       self._local(at)]

    def _value(self, q, stored: str) -> str:
        """A JSON value of the history as a cell: codes (or labels) of a list joined by ";"."""
        value = json.loads(stored)
        if value is None:
            return ""
        values = value if isinstance(value, list) else [value]
        if self.opts.labels and q.choices:
            return ";".join(q.choice_label(str(v), self.opts.lang) for v in values)
        return ";".join(json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else str(v)
                        for v in values)


def write_xlsx(job: HouseholdExport, path, history: bool = False) -> None:
    """The table as a one-sheet workbook (XlsxWriter's constant-memory mode); numbers as numbers,
    every other cell as text (never a formula)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True,
                                               "strings_to_formulas": False,
                                               "strings_to_numbers": False})
    bold = workbook.add_format({"bold": True})
    rows = job.history_rows(for_csv=False) if history else job.rows(for_csv=False)
    numeric = set() if history else job.numeric_positions()
    header = [str(cell) for cell in next(rows)]

    def new_sheet(part: int):
        suffix = f" ({part})" if part > 1 else ""
        sheet = workbook.add_worksheet(job.spec.id[:31 - len(suffix)] + suffix)
        for c, cell in enumerate(header):
            sheet.write_string(0, c, cell, bold)
        return sheet
    part, sheet, r = 1, new_sheet(1), 0
    for row in rows:
        r += 1
        if r == XLSX_MAX_ROWS:         # a longer table goes on in further sheets
            part, r = part + 1, 1
            sheet = new_sheet(part)
        for c, cell in enumerate(row):
            if cell is None or cell == "":
                continue
            if c in numeric:
                try:
                    sheet.write_number(r, c, float(cell))
                    continue
                except (TypeError, ValueError):
                    pass
            sheet.write_string(r, c, str(cell))
    workbook.close()

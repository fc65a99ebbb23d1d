"""Exports: CSV (streamed, constant memory), a ZIP with one CSV per repeat group, and XLSX.

Rows are read in keyset batches (db.keyset_batches), so memory stays flat however many submissions
there are, on SQLite and PostgreSQL. CSV defaults to UTF-8 with a BOM, which Excel on Chinese
Windows needs to read UTF-8 instead of GBK; `bom=False` gives plain UTF-8.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from . import aggregate
from .db import keyset_batches
from .formspec.model import FormSpec, Question
from .models import Answer, Area, Submission, User
from .submissions import shape

BOM = "\ufeff"
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BATCH = 1000


def neutralise(cell) -> str:
    """OWASP CSV-injection advice: a cell that a spreadsheet would run as a formula gets a leading
    apostrophe. Plain numbers (e.g. -3) are left alone so they stay numbers."""
    text = "" if cell is None else str(cell)
    if text.startswith(FORMULA_START) and not NUMBER.match(text):
        return "'" + text
    return text


@dataclass
class Options:
    labels: bool = False        # choice labels instead of codes, headers in the user's language
    with_pii: bool = False      # include questions flagged pii
    lang: str = "zh"
    tz: str = "Asia/Shanghai"
    statuses: tuple = ("valid",)


@dataclass
class Column:
    header: str
    value: Callable[[dict], object]     # answers (of a submission or an item) → cell
    numeric: bool = False


def _question_columns(q: Question, opts: Options) -> list[Column]:
    name = q.label.get(opts.lang) if opts.labels else q.name
    if q.type == "select_multiple":
        cols = []
        for c in q.choices:
            header = f"{name}: {c.label.get(opts.lang)}" if opts.labels else f"{q.name}/{c.value}"
            cols.append(Column(header, lambda a, q=q, v=c.value: int(v in (a.get(q.name) or [])),
                               numeric=True))

        def joined(a, q=q):
            chosen = a.get(q.name) or []
            return ";".join(q.choice_label(v, opts.lang) if opts.labels else v for v in chosen)
        return cols + [Column(name, joined)]
    if q.type == "select_one" and opts.labels:
        return [Column(name, lambda a, q=q: q.choice_label(a[q.name], opts.lang)
                       if q.name in a else "")]
    return [Column(name, lambda a, q=q: a.get(q.name, ""),
                   numeric=q.type in ("integer", "decimal"))]


def _wanted(q: Question, opts: Options) -> bool:
    return q.answerable and (opts.with_pii or not q.pii)


def _questions(specs: list[FormSpec]) -> list[Question]:
    """Top-level questions of the current version, then any that only older versions had."""
    seen, out = set(), []
    for spec in specs:
        for q in spec.questions():
            if q.name not in seen:
                seen.add(q.name)
                out.append(q)
    return out


class Export:
    """One export of one form: the filtered submissions and the tables they make."""

    def __init__(self, catalog, spec: FormSpec, user, filters: aggregate.Filters, opts: Options):
        self.spec, self.opts = spec, opts
        cond = aggregate.submission_condition(spec, user, filters, opts.statuses)
        self.query = Submission.select().where(cond)
        versions = [v for (v,) in Submission.select(Submission.form_version).where(cond)
                    .distinct().tuples() if v != spec.version]
        self.specs = [spec] + [s for s in (catalog.version(spec.id, v) for v in sorted(versions))
                               if s is not None]
        self.questions = [q for q in _questions(self.specs) if _wanted(q, opts)]
        self.groups = [q for q in self.questions if q.type == "repeat"]
        self.rows_written = 0
        self.zone = ZoneInfo(opts.tz)

    # --- tables --------------------------------------------------------------------------
    def meta_headers(self) -> list[str]:
        if not self.opts.labels:
            return ["submission_id", "receipt", "received_at", "form_version", "area_code",
                    "area_name", "surveyor", "channel", "status"]
        return [_("Submission id"), _("Receipt"), _("Received"), _("Form version"),
                _("Area code"), _("Area"), _("Surveyor"), _("Channel"), _("Status")]

    def main_columns(self) -> list[Column]:
        cols = []
        for q in self.questions:
            if q.type != "repeat":
                cols += _question_columns(q, self.opts)
        return cols

    def group_columns(self, group: Question) -> list[Column]:
        cols = []
        for child in group.questions:
            if _wanted(child, self.opts):
                cols += _question_columns(child, self.opts)
        return cols

    def _batches(self) -> Iterator[list[tuple[Submission, dict]]]:
        """(submission, current answers) in id order, one batch at a time."""
        areas = {a.id: a for a in Area.select()}
        users = {}
        specs = {s.version: s for s in self.specs}
        for batch in keyset_batches(self.query, Submission.id, BATCH):
            answers = defaultdict(list)
            rows = (Answer.select(Answer.submission, Answer.question, Answer.item, Answer.value)
                    .where(Answer.submission.in_([s.id for s in batch]))
                    .order_by(Answer.id).tuples())
            for sid, question, item, value in rows:
                answers[sid].append((question, item, value))
            missing = {s.surveyor_id for s in batch if s.surveyor_id and s.surveyor_id not in users}
            if missing:
                users.update({u.id: u for u in User.select().where(User.id.in_(list(missing)))})
            out = []
            for s in batch:
                s.area_obj = areas.get(s.area_id)
                s.surveyor_obj = users.get(s.surveyor_id)
                out.append((s, shape(specs.get(s.form_version, self.spec), answers[s.id])))
            yield out

    def _meta(self, s: Submission) -> list:
        local = s.received_at.replace(tzinfo=dt.timezone.utc).astimezone(self.zone)
        surveyor = s.surveyor_obj.username if s.surveyor_obj else ""
        return [s.id, s.receipt, local.strftime("%Y-%m-%d %H:%M:%S"), s.form_version,
                s.area_obj.code if s.area_obj else "", s.area_obj.name if s.area_obj else "",
                surveyor, _(s.channel) if self.opts.labels else s.channel,
                _(s.status) if self.opts.labels else s.status]

    def main_rows(self) -> Iterator[list]:
        cols = self.main_columns()
        yield self.meta_headers() + [c.header for c in cols]
        for batch in self._batches():
            for s, answers in batch:
                self.rows_written += 1
                yield self._meta(s) + [c.value(answers) for c in cols]

    def group_rows(self, group: Question) -> Iterator[list]:
        cols = self.group_columns(group)
        head = ["submission_id", "receipt", "item"] if not self.opts.labels else \
            [_("Submission id"), _("Receipt"), _("Item")]
        yield head + [c.header for c in cols]
        for batch in self._batches():
            for s, answers in batch:
                for i, item in enumerate(answers.get(group.name, []), start=1):
                    if item:     # a blank item (no answer rows) is not a member: see tally.py
                        yield [s.id, s.receipt, i] + [c.value(item) for c in cols]


# --- writers ------------------------------------------------------------------------------

def csv_chunks(rows: Iterator[list], bom: bool = True, flush_every: int = 500) -> Iterator[bytes]:
    """Encode rows as CSV bytes, a few hundred rows per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if bom:
        buffer.write(BOM)
    for n, row in enumerate(rows, start=1):
        writer.writerow([neutralise(cell) for cell in row])
        if n % flush_every == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


class _Sink(io.RawIOBase):
    """A write-only, non-seekable stream that hands written bytes to a generator."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.position = 0

    def writable(self):
        return True

    def write(self, data):
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self):
        return self.position

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def zip_chunks(export: Export, bom: bool = True) -> Iterator[bytes]:
    """The main table and one table per repeat group, as CSV files in a ZIP, streamed."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        tables = [(f"{export.spec.id}.csv", export.main_rows())]
        tables += [(f"{export.spec.id}-{g.name}.csv", export.group_rows(g)) for g in export.groups]
        for name, rows in tables:
            info = zipfile.ZipInfo(name, date_time=dt.datetime.now().timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as member:
                for chunk in csv_chunks(rows, bom=bom):
                    member.write(chunk)
                    data = sink.take()
                    if data:
                        yield data
    yield sink.take()


def write_xlsx(export: Export, path) -> None:
    """An XLSX workbook with one sheet per table (XlsxWriter's constant-memory mode)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True,
                                               "strings_to_formulas": False,
                                               "strings_to_numbers": False})
    bold = workbook.add_format({"bold": True})
    tables = [(export.spec.id, export.main_rows(), export.main_columns(), 9)]
    tables += [(g.name, export.group_rows(g), export.group_columns(g), 3) for g in export.groups]
    for title, rows, cols, meta_count in tables:
        sheet = workbook.add_worksheet(title[:31])
        numeric = {meta_count + i for i, c in enumerate(cols) if c.numeric}
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                if r == 0:
                    sheet.write_string(r, c, str(cell), bold)
                elif cell is None or cell == "":
                    continue
                elif c in numeric or isinstance(cell, int):
                    try:
                        sheet.write_number(r, c, float(cell))
                    except (TypeError, ValueError):
                        sheet.write_string(r, c, str(cell))
                else:
                    sheet.write_string(r, c, str(cell))
    workbook.close()

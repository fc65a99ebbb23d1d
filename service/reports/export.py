"""An export's tables: the main one (one row per submission) and one per repeat group, filtered
as the dashboard is, with the columns the user may and asked to see (export_files.py makes files).

Rows are read in keyset batches (db.keyset_batches), so memory stays flat however many submissions
there are, on SQLite and PostgreSQL. The main table comes from the cells each submission keeps
(cells.py): the default download copies them as ready CSV text. CSV defaults to UTF-8 with a BOM,
which Excel on Chinese Windows needs to read UTF-8 instead of GBK; `bom=False` gives plain UTF-8.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from operator import itemgetter
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from peewee import SQL

from service.reports import aggregate
from service.records import cells
from service.storage.db import db, keyset_batches
from service.storage.sealed_fields import opener
from service.formspec.model import FormSpec, Question
from service.storage.models import Answer, Area, Submission, User
from service.office import clock
from service.records.answers import answer_rows_of, shape

NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
FORMULA_START = cells.FORMULA_START
BATCH = 1000

#: The columns before the answers: (header as a code, header as shown with labels). A row's answer
#: cells start at len(META_COLUMNS) in the main table and at len(ITEM_COLUMNS) in a group's table.
META_COLUMNS = (("submission_id", _l("Submission id")), ("receipt", _l("Receipt")),
                ("received_at", _l("Received")), ("form_version", _l("Form version")),
                ("area_code", _l("Area code")), ("area_name", _l("Area")),
                ("surveyor", _l("Surveyor")), ("channel", _l("Channel")), ("status", _l("Status")))
ITEM_COLUMNS = (("submission_id", _l("Submission id")), ("receipt", _l("Receipt")),
                ("item", _l("Item")))


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
    statuses: tuple = ("valid",)


@dataclass
class Column:
    header: str
    value: Callable[[dict], object]     # answers (of a submission or an item) → cell
    numeric: bool = False


def _question_columns(q: Question, opts: Options) -> list[Column]:
    """The question's columns as its type lays them out (cells.keys: the same cells, in order)."""
    name = q.label.get(opts.lang) if opts.labels else q.name
    return [Column(header, value, numeric)
            for header, value, numeric in q.qtype.columns(q, name, opts.labels, opts.lang)]


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


class _LocalTimes:
    """UTC timestamps as the driver returns them → office-local 'YYYY-MM-DD HH:MM:SS'.

    The zone's offset is looked up once per hour of the timestamps (rows come in id order, which
    is nearly time order, so the small cache mostly hits); when it is whole hours and the same at
    both ends of the hour (no change of offset inside it), minutes and seconds are copied over."""

    def __init__(self, zone: ZoneInfo):
        self.zone, self.hours = zone, {}

    def __call__(self, received) -> str:
        if not isinstance(received, str):           # PostgreSQL's driver gives datetimes
            received = received.isoformat(" ")
        hour = self.hours.get(received[:13])
        if hour is None:
            if len(self.hours) > 4096:
                self.hours.clear()
            hour = self.hours[received[:13]] = self._hour(received[:13])
        if hour:
            return hour + received[13:19]
        moment = dt.datetime.fromisoformat(received).replace(tzinfo=dt.timezone.utc)
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def _hour(self, hour: str) -> str:
        """The local 'YYYY-MM-DD HH' of a UTC hour, or "" when minutes can't simply be copied."""
        start = dt.datetime.fromisoformat(hour + ":00").replace(tzinfo=dt.timezone.utc)
        first = start.astimezone(self.zone)
        last = (start + dt.timedelta(minutes=59, seconds=59)).astimezone(self.zone)
        offset = first.utcoffset()
        if offset != last.utcoffset() or offset.total_seconds() % 3600:
            return ""
        return first.strftime("%Y-%m-%d %H")


class Export:
    """One export of one form: the filtered submissions and the tables they make."""

    def __init__(self, catalog, spec: FormSpec, user, filters: aggregate.Filters, opts: Options):
        self.spec, self.opts = spec, opts
        self.condition = aggregate.submission_condition(spec, user, filters, opts.statuses)
        versions = [v for (v,) in Submission.select(Submission.form_version)
                    .where(self.condition).distinct().tuples() if v != spec.version]
        self.specs = [spec] + [s for s in (catalog.version(spec.id, v) for v in sorted(versions))
                               if s is not None]
        self.questions = [q for q in _questions(self.specs) if _wanted(q, opts)]
        self.groups = [q for q in self.questions if q.is_group]
        self.rows_written = 0
        self.zone = clock.current().zone

    def count(self) -> int:
        """How many submissions the export holds (rows of the main table)."""
        return Submission.select().where(self.condition).count()

    # --- tables --------------------------------------------------------------------------
    def meta_headers(self, columns=META_COLUMNS) -> list[str]:
        return [str(label) if self.opts.labels else code for code, label in columns]

    def main_columns(self) -> list[Column]:
        cols = []
        for q in self.questions:
            if not q.is_group:
                cols += _question_columns(q, self.opts)
        return cols

    def group_columns(self, group: Question) -> list[Column]:
        cols = []
        for child in group.questions:
            if _wanted(child, self.opts):
                cols += _question_columns(child, self.opts)
        return cols

    def main_rows(self, for_csv: bool = True) -> Iterator[list | str]:
        """The main table: a header, then one row per submission, from its kept cells.

        For CSV, cells a spreadsheet would run are neutralised, and a submission whose kept
        `cells` are exactly this export's columns (codes, no pii, the export's own version: the
        default download) comes as ready CSV text: its metadata, then `cells` as stored, unless
        that text may hold a formula. Other rows are lists of cells (for `csv_chunks` or XLSX)."""
        check = neutralise if for_csv else _same
        keys = tuple(k for q in self.questions if not q.is_group for k in cells.keys(q))
        versions = {s.version: KeptVersion(s, keys, for_csv and not self.opts.labels)
                    for s in self.specs}
        relabel = self._relabel(keys, check) if self.opts.labels else []
        areas, surveyors, words = self._meta_maps(check)
        yield [check(h) for h in self.meta_headers() + [c.header for c in self.main_columns()]]
        text = {"area": {k: fragment(v) for k, v in areas.items()},
                "surveyor": {k: fragment([v]) for k, v in surveyors.items()}}
        with_pii = any(v.with_pii for v in versions.values())
        query = Submission.select(
            Submission.id, Submission.receipt, Submission.received_at, Submission.form_version,
            Submission.area, Submission.surveyor, Submission.channel, Submission.status,
            Submission.cells, Submission.pii_cells if with_pii else SQL("NULL"),
            Submission.cells_formula, Submission.cells_layout).where(self.condition)
        local = _LocalTimes(self.zone)
        unseal = opener()          # (a plain cursor: the column's field is not asked)
        for batch in keyset_batches(query, Submission.id, BATCH, raw=True):
            for (sid, receipt, received, ver, area, surveyor, channel, status, public, pii,
                 formula, written_in) in batch:
                pii = unseal(pii)
                version = versions.get(ver)
                if version is None or public is None or written_in != version.layout:
                    # no cells kept (stored before step 2 by a version never published), cells in
                    # another layout than this code's (cells.layout_digest: until `doorstep init` rewrites
                    # them), or a version whose definition is gone: rebuilt from the answer rows
                    version = version or versions[self.spec.version]
                    public, pii, formula = self._rebuild(sid, version.spec)
                self.rows_written += 1
                if version.direct and not formula:
                    yield (f"{sid},{receipt},{local(received)},{ver},"
                           f"{text['area'].get(area, ',')},{text['surveyor'].get(surveyor, '')},"
                           f"{words[channel]},{words[status]}{version.tail}{public}\r\n")
                    continue
                picked = version.pick(public, pii)
                row = [sid, receipt, local(received), ver, *areas.get(area, ("", "")),
                       surveyors.get(surveyor, ""), words[channel], words[status], *picked]
                for i, names in relabel:
                    row[i] = names(row[i])
                if for_csv and (formula or (version.with_pii and formula_like(pii))):
                    row[len(META_COLUMNS):] = [check(c) for c in row[len(META_COLUMNS):]]
                yield row

    def _relabel(self, keys: list[cells.Key], check) -> list[tuple[int, Callable]]:
        """(row position, code → label) for the cells that hold choice codes."""
        out = []
        for position, (name, choice) in enumerate(keys, start=len(self.meta_headers())):
            q = next((q for q in self.questions if q.name == name), None)
            if choice is not None or q is None:
                continue
            labels = {c.value: check(c.label.get(self.opts.lang)) for c in q.choices}
            names = q.qtype.relabel(q, labels)
            if names is not None:
                out.append((position, names))
        return out

    def _meta_maps(self, check):
        areas = {a.id: (check(a.code), check(a.name)) for a in Area.select()}
        surveyors = {u.id: check(u.username) for u in
                     User.select().where(User.id.in_(Submission.select(Submission.surveyor)
                                                     .where(self.condition).distinct()))}
        return areas, surveyors, _Words(_ if self.opts.labels else _same)

    @staticmethod
    def _rebuild(sid: int, spec: FormSpec) -> tuple[str, str, bool]:
        kept = cells.encode(spec, shape(spec, answer_rows_of([sid])[sid]))
        return kept["cells"], kept["pii_cells"], kept["cells_formula"]

    def _items(self, group: Question) -> Iterator[tuple[int, str, list[dict]]]:
        """(submission id, receipt, the group's items) in id order, a batch at a time: only the
        group's own answer rows, through a plain cursor."""
        specs = {s.version: s for s in self.specs}
        children = sorted({c.name for s in self.specs for g in s.questions()
                           if g.name == group.name for c in g.questions})
        query = Submission.select(Submission.id, Submission.receipt, Submission.form_version)
        unseal = opener()
        for batch in keyset_batches(query.where(self.condition), Submission.id, BATCH, raw=True):
            rows = defaultdict(list)
            answers = (Answer.select(Answer.submission, Answer.question, Answer.item, Answer.value)
                       .where(Answer.submission.in_([sid for sid, _r, _v in batch])
                              & Answer.question.in_(children)).order_by(Answer.id))
            for sid, question, item, value in db.execute(answers).fetchall():
                rows[sid].append((question, item, unseal(value)))
            for sid, receipt, version in batch:
                if rows[sid]:
                    shaped = shape(specs.get(version, self.spec), rows[sid])
                    yield sid, receipt, shaped.get(group.name, [])

    def group_rows(self, group: Question, for_csv: bool = True) -> Iterator[list]:
        check = neutralise if for_csv else _same
        cols = self.group_columns(group)
        yield [check(h) for h in self.meta_headers(ITEM_COLUMNS) + [c.header for c in cols]]
        for sid, receipt, items in self._items(group):
            for i, item in enumerate(items, start=1):
                if item:     # a blank item (no answer rows) is not a member: see tally.py
                    yield [sid, receipt, i] + [check(c.value(item)) for c in cols]


def _same(cell):
    return cell


class _Words(dict):
    """Channel and status codes → what the export shows (translated once each when labelled)."""

    def __init__(self, word):
        super().__init__()
        self.word = word

    def __missing__(self, code):
        self[code] = shown = self.word(code)
        return shown


class KeptVersion:
    """How one form version's kept cells become this export's answer cells."""

    def __init__(self, spec: FormSpec, keys: tuple[cells.Key, ...], text_allowed: bool):
        self.spec = spec
        kept = cells.layout(spec)
        self.layout = cells.layout_digest(spec)     # what its rows' cells_layout should be
        # ready text only when the kept cells are the columns (and not a lone cell: csv.writer
        # quotes an empty lone field, "", where in a row it writes nothing)
        self.direct = text_allowed and kept.public == keys and len(keys) != 1
        self.tail = "," if keys else ""
        self.with_pii = any(k in keys for k in kept.pii)
        parsed = kept.public + kept.pii if self.with_pii else kept.public
        index = {k: i for i, k in enumerate(parsed)}
        filler = len(index)      # other versions' questions: "0" for a choice column, else ""
        picks = [index.get(k, filler if k[1] is not None else filler + 1) for k in keys]
        if len(picks) > 1:
            self.get = itemgetter(*picks)
        else:
            self.get = (lambda values, i=picks[0]: (values[i],)) if picks else (lambda _: ())

    def pick(self, public: str, pii: str | None) -> tuple:
        values = cells.parse(public)
        if self.with_pii:
            values += cells.parse(pii)
        values += ("0", "")
        return self.get(values)


_CELL_START = re.compile(r'[,"][=+\-@\t\r]')


def formula_like(text: str | None) -> bool:
    """Whether a stored line may hold a cell that starts like a formula (conservatively: any
    such character after a comma or a quote). For `pii_cells`, which keep no flag of their own."""
    return bool(text) and (text.startswith(FORMULA_START) or _CELL_START.search(text) is not None)


def fragment(values) -> str:
    """Cells as a piece of a CSV row (for ready-made lines)."""
    return cells.line(values) if any(v != "" for v in values) else "," * (len(values) - 1)

"""Bulk-load synthetic submissions of one form straight into the tables, for the benchmarks.

Storing a million submissions through `submissions.store()` costs ~20 ms each (one fsync'd
transaction apiece). This writes the same rows — `Submission`, `Answer` (`answers.answer_rows`)
and `Tally` (`tally.keys_for`, summed per cell of `tally.grain` in Python) — with executemany in transactions of
thousands of submissions, secondary indexes dropped during the load and rebuilt after, and
`PRAGMA synchronous=OFF` only while loading. `check_tally()` proves the result equals a recount
(`tally.rebuild`), i.e. what incremental writes would have produced; `verify()` (also
`python bench/load_synthetic.py [N]`) does that on a small temporary database, both generators.

Submissions arrive in time order over `days` days, 08:00–20:00 office time, attributed as the
product attributes them: 60% by a surveyor (through their QR link: their grid, channel `surveyor`),
30% by a household through a grid's QR link (channel `self`, no surveyor), 10% on the open web form
(no area, no surveyor). 1% are voided afterwards (with their StatusChange). The form's visit date is
the day the submission arrived.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))

from service.office import areas
from service.records import cells
from service.storage.db import db
from service.formspec import FormSpec
from service.storage.models import Area, Submission, User
from service.records.answers import answer_rows
from service.records.submissions import RECEIPT_ALPHABET
from service.records.tally import grain, keys_for

from bench.synthetic import answers_for

PLACEHOLDER = "0000-00-00"      # the visit date inside a prepared document, replaced per submission
MONTH_PLACEHOLDER = PLACEHOLDER[:7]   # the same date as the tally counts it (by month)
CHANNELS = (("surveyor", 0.6), ("self", 0.3), ("web", 0.1))
VOID_SHARE = 0.01
INDEXED_TABLES = ("submission", "answer", "tally")


@dataclass
class Office:
    """The area tree and accounts submissions are attributed to."""

    street: Area
    communities: list[Area]
    grids: list[Area]
    surveyors: list[tuple[int, int]]          # (user id, grid id)
    admin: User


def make_office(password_hash: str, communities: int = 4, grids_per_community: int = 4,
                surveyors: int = 60) -> Office:
    """A street office (街道) with communities (社区) and grids (网格), ~4 surveyors a grid, one admin."""
    street = areas.create("JD01", "幸福街道")
    comms, grids = [], []
    for c in range(1, communities + 1):
        comm = areas.create(f"SQ{c:02d}", f"第{c}社区", street)
        comms.append(comm)
        for g in range(1, grids_per_community + 1):
            grids.append(areas.create(f"SQ{c:02d}-G{g:02d}", f"第{c}社区第{g}网格", comm))
    now = dt.datetime(2025, 1, 1)
    with db.atomic():
        User.insert_many([{"username": f"sv{i:03d}", "display_name": f"调查员{i}",
                           "password_hash": password_hash, "role": "surveyor",
                           "area": grids[i % len(grids)].id, "created_at": now}
                          for i in range(surveyors)]).execute()
        admin = User.create(username="bench-admin", display_name="bench", role="admin",
                            password_hash=password_hash, area=None)
    rows = User.select(User.id, User.area).where(User.role == "surveyor").order_by(User.id)
    return Office(street, comms, grids, [(u.id, u.area_id) for u in rows], admin)


@dataclass
class Prepared:
    """One answers document turned into what the tables need, with the visit date left open."""

    document: str                                  # Submission.answers (JSON, keys sorted)
    answers: list[tuple]                           # (question, item, value, number)
    keys: Counter                                  # tally (question, value) → n
    sensitive: bool
    cells: dict | None = None                      # Submission.cells, … cells_layout (cells.py)


def prepare(spec: FormSpec, answers: dict, day_question: str | None, sensitive: bool) -> Prepared:
    if day_question:
        answers[day_question] = PLACEHOLDER
    rows = [(r["question"], r["item"], r["value"], r["number"]) for r in answer_rows(spec, answers)]
    return Prepared(json.dumps(answers, ensure_ascii=False, sort_keys=True), rows,
                    keys_for(spec, answers), sensitive, cells.columns(spec, answers))


def _receipt(i: int) -> str:
    """Unique and random-looking: an odd multiplier permutes the 32**8 codes."""
    x = (i * 0x9E3779B1) % 32 ** 8
    code = "".join(RECEIPT_ALPHABET[(x >> (5 * k)) & 31] for k in range(8))
    return f"{code[:4]}-{code[4:]}"


@dataclass
class LoadStats:
    submissions: int = 0
    answers: int = 0
    tally_rows: int = 0
    total_s: float = 0.0         # wall time of the whole load
    generate_s: float = 0.0      # of which making documents (answers_for, answer_rows, keys_for)
    index_s: float = 0.0         # of which rebuilding the secondary indexes
    mode: str = ""


def load(spec: FormSpec, office: Office, n: int, *, seed: int = 1, days: int = 365,
         last_day: dt.date | None = None, pool: int | None = None, batch: int = 10_000,
         day_question: str | None = "visit_date", tz: str = "Asia/Shanghai",
         progress=None) -> LoadStats:
    """Insert `n` valid-looking submissions of `spec` (into an empty form: ids follow the max).

    pool=None makes a fresh answers document for every submission; pool=K makes K documents first
    and gives each submission one of them at random (with its own metadata and visit date), which
    is ~15x faster and what a million submissions need on a small machine.
    """
    rng = random.Random(seed)
    zone = ZoneInfo(tz)
    last_day = last_day or dt.date.today() - dt.timedelta(days=1)
    first_day = last_day - dt.timedelta(days=days - 1)
    stats = LoadStats(mode=f"{pool:,} documents reused" if pool else "a fresh document each")
    began = time.perf_counter()

    def fresh() -> Prepared:
        started = time.perf_counter()
        sensitive = rng.random() < 0.7
        doc = prepare(spec, answers_for(spec, rng, last_day, sensitive=sensitive),
                      day_question, sensitive)
        stats.generate_s += time.perf_counter() - started
        return doc

    documents = [fresh() for _ in range(pool)] if pool else None
    conn = db.connection()
    start_id = (Submission.select(Submission.id).order_by(Submission.id.desc()).scalar() or 0) + 1
    dropped = _drop_indexes(conn)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")   # 1 GB while loading; the app's own is 32 MB
    channels, weights = zip(*CHANNELS)
    fid, version = spec.id, spec.version
    subs, answers, changes = [], [], []
    tally: Counter = Counter()     # full tally key → n, flushed when a month is complete
    per_day = [n * (d + 1) // days - n * d // days for d in range(days)]
    sid = start_id
    try:
        conn.execute("BEGIN")
        for d, count in enumerate(per_day):
            day = first_day + dt.timedelta(days=d)
            iso = day.isoformat()
            opening = dt.datetime.combine(day, dt.time(8), tzinfo=zone)
            moments = sorted(rng.randrange(12 * 3600 * 10 ** 6) for _ in range(count))
            for micros in moments:
                doc = fresh() if documents is None else documents[rng.randrange(pool)]
                received = (opening + dt.timedelta(microseconds=micros)).astimezone(
                    dt.timezone.utc).replace(tzinfo=None)
                channel = rng.choices(channels, weights)[0]
                if channel == "surveyor":
                    surveyor, area = office.surveyors[rng.randrange(len(office.surveyors))]
                elif channel == "self":
                    surveyor, area = None, office.grids[rng.randrange(len(office.grids))].id
                else:
                    surveyor = area = None
                void = rng.random() < VOID_SHARE
                subs.append((sid, str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                             _receipt(sid), fid, version, str(received), iso, channel,
                             "void" if void else "valid", area, surveyor, None,
                             "en" if rng.random() < 0.05 else "zh", True, doc.sensitive,
                             doc.document.replace(PLACEHOLDER, iso),
                             doc.cells["cells"].replace(PLACEHOLDER, iso),
                             doc.cells["pii_cells"].replace(PLACEHOLDER, iso),
                             doc.cells["cells_formula"], doc.cells["cells_layout"]))
                answers.extend((sid, fid, q, item, iso if v == PLACEHOLDER else v, num)
                               for q, item, v, num in doc.answers)
                if void:
                    changes.append((sid, "valid", "void", "录入错误", office.admin.id,
                                    str(received + dt.timedelta(hours=1))))
                else:
                    month = iso[:7]
                    for (q, v), k in doc.keys.items():
                        cell = grain(fid, version, iso, area, channel, surveyor, q)
                        tally[(*cell, q, month if v == MONTH_PLACEHOLDER else v)] += k
                sid += 1
                if len(subs) >= batch:
                    stats.answers += _flush(conn, subs, answers, changes)
                    conn.execute("COMMIT")
                    conn.execute("BEGIN")
                    if progress:
                        progress(sid - start_id, n)
            following = first_day + dt.timedelta(days=d + 1)
            if d == len(per_day) - 1 or following.month != day.month:   # the month is complete
                stats.tally_rows += _flush_tally(conn, tally)
                tally.clear()
        stats.answers += _flush(conn, subs, answers, changes)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA cache_size=-32000")
    started = time.perf_counter()
    _restore_indexes(conn, dropped)
    stats.index_s = time.perf_counter() - started
    stats.submissions = sid - start_id
    stats.total_s = time.perf_counter() - began
    return stats


def _flush(conn, subs, answers, changes) -> int:
    conn.executemany(
        'INSERT INTO submission (id, uuid, receipt, form_id, form_version, received_at, day, '
        'channel, status, area_id, surveyor_id, link_id, lang, consent, sensitive_consent, answers,'
        ' cells, pii_cells, cells_formula, cells_layout)'
        ' VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', subs)
    conn.executemany('INSERT INTO answer (submission_id, form_id, question, item, value, number) '
                     'VALUES (?, ?, ?, ?, ?, ?)', answers)
    conn.executemany('INSERT INTO status_change (submission_id, old_status, new_status, reason, '
                     'user_id, at) VALUES (?, ?, ?, ?, ?, ?)', changes)
    written = len(answers)
    subs.clear()
    answers.clear()
    changes.clear()
    return written


def _flush_tally(conn, tally: Counter) -> int:
    rows = [(*key, n) for key, n in tally.items() if n]
    conn.executemany('INSERT INTO tally (form_id, form_version, day, area_id, channel, '
                     'surveyor_id, question, value, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', rows)
    return len(rows)


def _drop_indexes(conn) -> list[str]:
    """Secondary indexes cost more row by row than built once at the end (a sort)."""
    marks = ", ".join("?" for _ in INDEXED_TABLES)
    found = [(name, sql) for name, sql in conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks})", INDEXED_TABLES)]
    for name, _sql in found:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _name, sql in found]


def _restore_indexes(conn, statements: list[str]) -> None:
    conn.execute("PRAGMA cache_size=-1000000")
    try:
        for sql in statements:      # unique ones (uuid, receipt, tally key) also prove uniqueness
            conn.execute(sql)
    finally:
        conn.execute("PRAGMA cache_size=-32000")


def tally_rows() -> Counter:
    """The Tally table as {key: n} (for comparing two states)."""
    cursor = db.execute_sql("SELECT form_id, form_version, day, area_id, channel, surveyor_id, "
                            "question, value, n FROM tally WHERE n != 0")
    return Counter({tuple(row[:-1]): row[-1] for row in cursor})


def check_tally(catalog, form_id: str) -> tuple[int, int]:
    """Recount with tally.rebuild and compare with what was loaded: (loaded rows, differing)."""
    from service.records import tally
    loaded = tally_rows()
    with db.atomic():
        tally.rebuild(catalog, form_id)
    recounted = tally_rows()
    differing = sum(1 for key in loaded.keys() | recounted.keys()
                    if loaded.get(key) != recounted.get(key))
    return len(loaded), differing


def verify(n: int = 2000, form_id: str = "household") -> list[tuple[str, int, int]]:
    """Load `n` submissions into a temporary database with each generator and compare the tally
    with a recount: [(generator, tally rows, rows differing)]."""
    from service import create_app
    from service.storage import schema
    out = []
    for pool in (None, max(1, n // 10)):
        folder = tempfile.mkdtemp(prefix="doorstep-verify-", dir="/tmp")
        try:
            app = create_app({"DATABASE_URL": f"sqlite:///{folder}/doorstep.db",
                              "SECRET_KEY": "verify", "FORMS_DIR": str(ROOT / "forms")})
            with app.app_context():
                db.connect(reuse_if_open=True)
                schema.upgrade()
                catalog = app.extensions["doorstep.catalog"]
                spec = catalog.get(form_id)
                catalog.ensure_published(spec)
                stats = load(spec, make_office("not-a-password-hash"), n, pool=pool, batch=500)
                out.append((stats.mode, *check_tally(catalog, form_id)))
                db.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return out


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    failed = False
    for mode, rows, differing in verify(size):
        print(f"{size:,} submissions, {mode}: {rows:,} tally rows, "
              f"{differing} differ from a recount")
        failed |= bool(differing)
    sys.exit(1 if failed else 0)

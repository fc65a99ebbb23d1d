"""The crash test: `kill -9` gunicorn's master and all its workers in the middle of a load, start
again, and check that every submission a phone was given a receipt for is stored, and that the
database is intact.

For SQLite and PostgreSQL, `--rounds` times on the same database:
1. 16 phones (threads) each open the household form once, then post submissions with new UUIDs
   as fast as the server answers; each phone notes every receipt it is shown.
2. After 3-6 s (random), SIGKILL the master and every worker at once: no graceful anything.
3. `doorstep init` again and a new gunicorn on the same database (SQLite recovers its WAL).
4. Every receipt shown is stored, under its UUID, with its answer rows. The posts whose answer
   was lost in the crash are sent again with the same UUID (as a phone's outbox does): each gets
   a receipt and every UUID is stored exactly once.
5. Integrity: SQLite `PRAGMA integrity_check` and `foreign_key_check`; on both, no submission
   without its answer rows, no answer without its submission, UUIDs and receipts unique, and the
   dashboard's pre-aggregated tallies equal a recount from the answers, and every submission's
   export cells are those of its answers.

    .venv/bin/python bench/crash_test.py [--rounds 3] [--databases sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import http.client
import random
import re
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import (  # noqa: E402
    FORM, Server, database, encode, environment, household_answers, init, scratch,
)

PHONES = 16
SECTION = "## Crash test"
RECEIPT = re.compile(r'id="receipt">([^<]+)<')


class Phone(threading.Thread):
    """Posts until the server goes away; `shown` maps UUID -> receipt, `lost` the UUIDs sent
    whose answer never came."""

    def __init__(self, url: str, body: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.body, self.stop = url, body, stop
        self.shown: dict[str, str] = {}
        self.lost: list[str] = []
        self.refused: list[tuple[int, str]] = []
        with urllib.request.urlopen(url, timeout=30) as answer:
            self.cookie = answer.headers["Set-Cookie"].split(";", 1)[0]
            page = answer.read().decode()
        self.token = re.search(r'name="csrf_token"[^>]*value="([^"]*)"', page).group(1)

    def send(self, the_uuid: str) -> tuple[int | None, str | None]:
        body = f"csrf_token={self.token}&submission_uuid={the_uuid}&{self.body}".encode()
        request = urllib.request.Request(self.url, body, {
            "Cookie": self.cookie, "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                match = RECEIPT.search(answer.read().decode())
                return answer.status, match.group(1).strip() if match else None
        except urllib.error.HTTPError as error:
            return error.code, None
        except (OSError, http.client.HTTPException):   # refused, reset, or cut off half-way
            return None, None

    def run(self):
        while not self.stop.is_set():
            the_uuid = str(uuid.uuid4())
            status, code = self.send(the_uuid)
            if status is None:
                self.lost.append(the_uuid)
                return
            if status == 200 and code:
                self.shown[the_uuid] = code
            else:
                self.refused.append((status, the_uuid))


def stored(url: str) -> dict[str, str]:
    from service.storage.db import open_database
    db = open_database(url)
    with db.connection_context():
        return dict(db.execute_sql("SELECT uuid, receipt FROM submission").fetchall())


def integrity(url: str, forms_dir: str) -> list[str]:
    """What is wrong with the database (nothing, when it is intact)."""
    from bench.load_synthetic import check_tally
    from service import create_app
    from service.storage.db import db, is_sqlite
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "crash-test", "FORMS_DIR": forms_dir})
    problems = []
    with app.app_context(), db.connection_context():
        def one(sql):
            return db.execute_sql(sql).fetchone()[0]
        if is_sqlite():
            if (result := one("PRAGMA integrity_check")) != "ok":
                problems.append(f"integrity_check: {result}")
            if db.execute_sql("PRAGMA foreign_key_check").fetchall():
                problems.append("foreign_key_check found broken references")
        if n := one("SELECT count(*) FROM submission s WHERE NOT EXISTS "
                    "(SELECT 1 FROM answer a WHERE a.submission_id = s.id)"):
            problems.append(f"{n} submission(s) without their answers")
        if n := one("SELECT count(*) FROM answer a WHERE NOT EXISTS "
                    "(SELECT 1 FROM submission s WHERE s.id = a.submission_id)"):
            problems.append(f"{n} answer row(s) without a submission")
        if one("SELECT count(*) - count(DISTINCT uuid) FROM submission") or \
                one("SELECT count(*) - count(DISTINCT receipt) FROM submission"):
            problems.append("a UUID or a receipt is stored twice")
        _rows, differing = check_tally(app.extensions["doorstep.catalog"], FORM)
        if differing:
            problems.append(f"{differing} tally row(s) differ from a recount")
        if n := _stale_cells(app.extensions["doorstep.catalog"]):
            problems.append(f"{n} submission(s) whose export cells differ from their answers")
    return problems


def _stale_cells(catalog) -> int:
    """Submissions whose kept export cells (service/records/cells.py) are not those of their answers."""
    from service.records import cells
    from service.storage.db import keyset_batches
    from service.storage.models import Submission
    from service.records.answers import answer_rows_of, shape
    stale = 0
    for batch in keyset_batches(Submission.select(), Submission.id, 1000):
        rows = answer_rows_of([s.id for s in batch])
        for s in batch:
            spec = catalog.version(s.form_id, s.form_version)
            kept = {"cells": s.cells, "pii_cells": s.pii_cells, "cells_formula": s.cells_formula}
            stale += kept != cells.encode(spec, shape(spec, rows[s.id]))
    return stale


def crash_round(url, env, home, body, number) -> dict:
    rows_before = len(stored(url))
    server = Server("service:create_app()", env, home / f"gunicorn-{number}.log")
    server.wait("/healthz")
    form_url = f"{server.url}/f/{FORM}"
    stop = threading.Event()
    phones = [Phone(form_url, body, stop) for _ in range(PHONES)]
    for phone in phones:
        phone.start()
    time.sleep(random.uniform(3, 6))
    killed = server.kill_everything()
    stop.set()
    for phone in phones:
        phone.join(60)
    shown = {u: c for p in phones for u, c in p.shown.items()}
    lost = [u for p in phones for u in p.lost]
    refused = [r for p in phones for r in p.refused]

    init(env)                                            # as the container's entry script does
    again = Server("service:create_app()", env, home / f"gunicorn-{number}-after.log")
    again.wait("/healthz")
    try:
        rows = stored(url)
        missing = [u for u, code in shown.items() if rows.get(u) != code]
        stored_before_retry = sum(1 for u in lost if u in rows)
        retry = Phone(f"{again.url}/f/{FORM}", body, threading.Event())
        retried = {u: retry.send(u) for u in lost}
        rows = stored(url)
        retry_ok = all(status == 200 and code and rows.get(u) == code
                       for u, (status, code) in retried.items())
    finally:
        again.stop()
    return {"killed": killed, "receipts": len(shown), "missing": missing, "lost": len(lost),
            "refused": refused, "retry_ok": retry_ok, "lost_stored": stored_before_retry,
            "rows": len(rows),
            # every UUID sent was answered or cut off: stored once each, nothing more
            "exactly_once": len(rows) == rows_before + len(shown) + len(lost)}


def run(kind: str, rounds: int, lines: list[str]) -> bool:
    home = scratch(f"doorstep-crash-{kind}-")
    ok = True
    with database(kind, home) as url:
        env = environment(url, home)
        init(env)
        body = encode(household_answers(1))
        for number in range(1, rounds + 1):
            r = crash_round(url, env, home, body, number)
            good = (not r["missing"] and not r["refused"] and r["retry_ok"]
                    and r["exactly_once"])
            ok &= good
            lines.append(f"  {kind:<10} round {number}: killed {r['killed']} processes mid-load; "
                  f"{r['receipts']} receipts shown, {len(r['missing'])} of them missing after "
                  f"restart; {r['lost']} posts cut off by the kill ({r['lost_stored']} of them stored "
                  f"before their answer was lost), re-sent and stored once: "
                  f"{'yes' if r['retry_ok'] and r['exactly_once'] else 'NO'}; "
                  f"{len(r['refused'])} refused; "
                  f"{r['rows']} rows in all")
            print(lines[-1], flush=True)
        problems = integrity(url, env["FORMS_DIR"])
        lines.append(f"  {kind:<10} integrity: {'; '.join(problems) if problems else 'ok'}")
        print(lines[-1], flush=True)
        ok &= not problems
    if ok:
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"  the gunicorn logs are kept in {home}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--results", default=str(Path(__file__).with_name("RESULTS.md")))
    args = parser.parse_args()
    lines: list[str] = []
    results = [run(kind, args.rounds, lines) for kind in args.databases.split(",")]
    verdict = "crash test: " + ("passed" if all(results) else "FAILED")
    print(verdict)
    record(args.results, lines + [verdict])
    sys.exit(0 if all(results) else 1)


def record(path: str, lines: list[str]) -> None:
    """Put this run's lines in RESULTS.md under its own heading (replacing an earlier run's)."""
    results = Path(path)
    text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
    text = text.split(SECTION)[0].rstrip("\n") + "\n\n"
    results.write_text(text + SECTION + f"\n\n`bench/crash_test.py`, {time.strftime('%Y-%m-%d %H:%M')}"
                       f" ({PHONES} phones; master and workers killed with SIGKILL):\n\n```\n"
                       + "\n".join(line.strip() for line in lines) + "\n```\n", encoding="utf-8")


if __name__ == "__main__":
    main()

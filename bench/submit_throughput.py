"""Submission throughput and latency under gunicorn, against the strongest open-source peer and a
bare-insert floor, each measured in the same run with the same gunicorn settings
(gunicorn.conf.py), on SQLite and on PostgreSQL.

- Doorstep: `POST /f/household`, CSRF and full validation on. Each client (a wrk connection with
  its own thread) opened the form once for its session cookie and CSRF token, then posts a valid
  two-member household again and again, each time with a new submission UUID (bench/submit.lua).
- The peer (SQLite only): django-survey-and-report (PyPI), installed into a virtualenv of its own
  in the run's temporary folder, with a minimal Django project and a 20-question survey made by
  bench/peer_survey.py. Each client opened the survey once for its csrftoken cookie and the page's
  csrfmiddlewaretoken, then posts the same valid answers again and again (bench/submit_peer.lua);
  a stored response is a 302 to its confirmation page.
- The floor (bench/baseline.py): a bare Flask endpoint that parses the same body as Doorstep's and
  inserts it as one row with peewee, through the same database settings — the least work a
  submission can be.
- The form page: `GET` of each one's form as a first visit (new session or CSRF cookie) — for the
  floor, the same HTML as Doorstep's returned from a string (bench/get.lua).

The load generator is wrk from Debian (`make wrk`). Every answer must be the success status (with
a receipt, for Doorstep's and the floor's submissions; with the confirmation redirect, for the
peer's), and the rows stored are counted against the answers. Results are printed and written to
bench/RESULTS.md.

Goal (issue #11): on SQLite, at least 4x the peer's submission rate, p99 under 100 ms at 16
clients, no failed request.

    .venv/bin/python bench/submit_throughput.py [--seconds 15] [--clients 16] [--databases ...]
        [--no-peer] [--peer-dir DIR]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import re
import resource
import runpy
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import baseline, peer_survey  # noqa: E402
from bench.servers import (  # noqa: E402
    FORM, ROOT, Server, database, encode, environment, household_answers, init, scratch,
)
from service.storage.db import open_database  # noqa: E402

HERE = Path(__file__).resolve().parent
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
WHO = ("Doorstep", "peer", "floor")
GOAL_RATIO, GOAL_P99_MS = 4, 100


def phone(url: str) -> tuple[str, str]:
    """Open Doorstep's form as a phone would: (its session cookie, the page's CSRF token)."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        cookie = answer.headers["Set-Cookie"].split(";", 1)[0]
        page = answer.read().decode()
    return cookie, re.search(r'name="csrf_token"[^>]*value="([^"]*)"', page).group(1)


def peer_phone(url: str) -> tuple[str, str, str]:
    """Open the peer's survey as a respondent would: (its csrftoken cookie, the page's
    csrfmiddlewaretoken, the page)."""
    with urllib.request.urlopen(url, timeout=60) as answer:
        cookies = [c.split(";", 1)[0] for c in answer.headers.get_all("Set-Cookie") or []]
        page = answer.read().decode()
    cookie = next(c for c in cookies if c.startswith("csrftoken="))
    return cookie, re.search(r'name="csrfmiddlewaretoken" value="([^"]*)"', page).group(1), page


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def post(url: str, cookie: str, body: str) -> tuple[int, str, str]:
    """(status, page, Location) of one post, redirects not followed."""
    request = urllib.request.Request(url, body.encode(), {
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=60) as answer:
            return answer.status, answer.read().decode(), answer.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get("Location", "")


def valid_answers(form_url: str) -> str:
    """A household that passes validation (synthetic answers are checked once against Doorstep)."""
    cookie, token = phone(form_url)
    for seed in range(1, 50):
        body = encode(household_answers(seed))
        status, page, _ = post(form_url, cookie, f"csrf_token={token}&submission_uuid="
                               f"00000000-0000-4000-8000-{seed:012d}&{body}")
        if status == 200 and 'id="receipt"' in page:
            return body
    raise SystemExit("no synthetic household passed validation")


def lua_script(name: str, phones: list[tuple[str, str]], body: str, home: Path) -> Path:
    """bench/<name> with the phones' cookies and tokens and the body filled in."""
    entries = ", ".join(f'{{cookie=[==[{c}]==], token=[==[{t}]==]}}' for c, t in phones)
    text = (HERE / name).read_text()
    text = text.replace("local phones = {}", f"local phones = {{{entries}}}", 1)
    text = text.replace('local body_rest = ""', f"local body_rest = [==[{body}]==]", 1)
    path = home / name
    path.write_text(text)
    return path


def wrk(url: str, script: Path, seconds: int, clients: int) -> dict:
    out = subprocess.run(["wrk", f"-t{clients}", f"-c{clients}", f"-d{seconds}s",
                          "--timeout", "10s", "-s", str(script), url],
                         capture_output=True, text=True, timeout=seconds + 120)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed:\n{out.stdout}\n{out.stderr}")
    result = json.loads(lines[-1])
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    # non_2xx: wrk's count of statuses >= 400; not_200: any other status than the success one
    # (200, or the peer's 302), 3xx included; without_receipt: success status, no receipt
    result["failed"] = (result["socket_errors"] + result["without_receipt"]
                        + max(result["non_2xx"], result["not_200"]))
    return result


def rows(url: str, table: str) -> int:
    db = open_database(url)
    with db.connection_context():
        return db.execute_sql(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]                                    # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this script and its finished children (wrk)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def settled(count, limit: float = 60) -> int:
    """The row count once the posts still queued in the server have landed (or 0 for no count):
    the same on two looks a second apart."""
    time.sleep(2)
    if not count:
        return 0
    deadline, last = time.monotonic() + limit, count()
    while time.monotonic() < deadline:
        time.sleep(1)
        now = count()
        if now == last:
            return now
        last = now
    return last


class Peer:
    """django-survey-and-report served by gunicorn from its own virtualenv (bench/peer_survey.py)."""

    def __init__(self, bin_: Path, home: Path, env: dict, clients: int):
        self.bin = bin_
        self.project = peer_survey.write_project(home)
        self.database = home / "peer.db"
        self.env = peer_survey.environment(env, self.project, self.database, home / "peer-access.log")
        self.path, self.fields = peer_survey.make_survey(bin_, self.project, self.env)
        self.server = Server("peerproj.wsgi:application", self.env, home / "peer.log",
                             bin_=bin_, cwd=self.project)
        self.server.wait(self.path)
        self.url = self.server.url + self.path
        self.body = urllib.parse.urlencode(self.fields)
        self.check()
        self.script = lua_script("submit_peer.lua", [peer_phone(self.url)[:2] for _ in range(clients)],
                                 self.body, home)

    def check(self) -> None:
        """The field names read from the package's source are the page's, and one post of the
        answers is stored: a 302 to its confirmation, one response, one answer per question."""
        cookie, token, page = peer_phone(self.url)
        on_page = set(re.findall(r'name="(question_\d+)"', page))
        posted = {name for name, _ in self.fields}
        if on_page != posted:
            raise SystemExit(f"the peer's form asks {sorted(on_page)}, the answers give {sorted(posted)}")
        before = self.stored()
        status, page, location = post(self.url, cookie, f"csrfmiddlewaretoken={token}&{self.body}")
        after = self.stored()
        if status != 302 or "/confirm/" not in location or after != (before[0] + 1, before[1] + 20):
            raise SystemExit(f"the peer did not store a valid post: {status} {location!r}, "
                             f"(responses, answers) {before} -> {after}\n{page[:2000]}")

    def stored(self) -> tuple[int, int]:
        return peer_survey.stored(self.database)

    def stop(self) -> None:
        self.server.stop()


def measure(kind: str, seconds: int, clients: int, peer_bin: Path | None) -> dict:
    home = scratch(f"doorstep-bench-{kind}-")
    results = {}
    servers = []
    with database(kind, home) as url:
        env = environment(url, home, BENCH_PAGE=str(home / "page.html"))
        init(env)
        baseline.create_table(url)
        try:
            doorstep = Server("service:create_app()", env, home / "doorstep.log")
            servers.append(doorstep)
            doorstep.wait("/healthz")
            form_url = f"{doorstep.url}/f/{FORM}"
            with urllib.request.urlopen(form_url) as answer:
                (home / "page.html").write_bytes(answer.read())
            base = Server("bench.baseline:create_app()", env, home / "baseline.log")
            servers.append(base)
            base.wait("/form")
            peer = None
            if peer_bin and kind == "sqlite":
                peer = Peer(peer_bin, home, env, clients)
                servers.append(peer)
            body = valid_answers(form_url)
            script = lua_script("submit.lua", [phone(form_url) for _ in range(clients)], body, home)
            get_script = HERE / "get.lua"
            # (what, who, server, url, wrk script, rows counter)
            plan = [("submit", "Doorstep", doorstep, form_url, script,
                     lambda: rows(url, "submission"))]
            if peer:
                plan.append(("submit", "peer", peer.server, peer.url, peer.script,
                             lambda: peer.stored()[0]))
            plan.append(("submit", "floor", base, f"{base.url}/submit", script,
                         lambda: rows(url, "baseline_row")))
            plan.append(("form page", "Doorstep", doorstep, form_url, get_script, None))
            if peer:
                plan.append(("form page", "peer", peer.server, peer.url, get_script, None))
            plan.append(("form page", "floor", base, f"{base.url}/form", get_script, None))
            for what, who, server, target, lua, count in plan:
                wrk(target, lua, 2, clients)                        # warm-up, not counted
                before = settled(count)  # the warm-up's last posts land before the count starts
                answers_before = peer.stored()[1] if who == "peer" else 0
                cpu, machine, ours = server.cpu_seconds(), machine_busy(), own_cpu()
                result = wrk(target, lua, seconds, clients)
                served = server.cpu_seconds() - cpu
                # the server's own CPU per request: what the rate would be on idle cores
                result["cpu_ms"] = served * 1000 / max(result["requests"], 1)
                # what the rest of the machine took meanwhile, in cores (other people's work:
                # the machine is shared), besides this server, wrk and this script
                others = machine_busy() - machine - served - (own_cpu() - ours)
                result["others"] = max(0.0, others) / (result["duration_us"] / 1e6)
                if count:   # every answered post is stored; a few more may be in flight at the end
                    result["stored"] = settled(count) - before
                    result["stored_ok"] = 0 <= result["stored"] - result["requests"] <= clients
                if who == "peer":
                    answers = peer.stored()[1]
                    result["answer_rows"] = (answers_before, answers)
                    if count:      # and each response has its 20 answer rows
                        result["stored_ok"] &= answers - answers_before == 20 * result["stored"]
                results[(what, who)] = result
                print(f"  {NAMES[kind]:<10} {what:<9} {who:<8} {result['rate']:8.1f}/s  "
                      f"p50 {result['p50_us'] / 1000:7.1f} ms  p99 {result['p99_us'] / 1000:7.1f}"
                      f" ms  server CPU {result['cpu_ms']:5.1f} ms/request  failed {result['failed']}"
                      f"  others {result['others']:.2f} cores"
                      + (f"  stored {result['stored']} of {result['requests']} answered"
                         if count else ""), flush=True)
        finally:
            for server in servers:
                server.stop()
    shutil.rmtree(home, ignore_errors=True)
    return results


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "CPU"


def _ms(result: dict | None) -> str:
    return "—" if result is None else f"{result['p50_us'] / 1000:.0f} / {result['p99_us'] / 1000:.0f}"


def _rate(result: dict | None) -> str:
    return "—" if result is None else f"{result['rate']:.1f}"


def report(all_results: dict, args, load: tuple, load_end: tuple, peer_versions: dict) -> str:
    workers = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "service", "forms"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    clients, seconds = args.clients, args.seconds
    lines = [
        "# Benchmark results",
        "",
        f"Measured {dt.datetime.now():%Y-%m-%d %H:%M} by `make bench` (bench/submit_throughput.py),"
        f" commit {commit}" + (" with uncommitted changes in service/ or forms/" if dirty else "")
        + f": {cpu_model()}, {multiprocessing.cpu_count()} cores, **1-minute load average {load[0]:.2f} before"
        f" the run** and {load_end[0]:.2f} at its end (the benchmark's own load included), Python"
        f" {platform.python_version()}, SQLite {sqlite3.sqlite_version}, gunicorn.conf.py ({workers}"
        f" sync workers, access log on) for all three, wrk with {clients} connections (one thread"
        f" each) for {seconds} s per row, after a 2 s warm-up. The client runs on the same machine"
        " and takes CPU from the server.",
        "",
    ]
    if peer_versions:
        lines += [
            "The peer: " + ", ".join(f"{name} {version}" for name, version in peer_versions.items())
            + " in a virtualenv of its own; a minimal Django project (startproject's middleware,"
            " DEBUG off, persistent connections, SQLite WAL, synchronous=FULL, BEGIN IMMEDIATE,"
            " each response saved in one transaction) and a 20-question survey (short text, text,"
            " date, integer, float, radio, select, select multiple) made by bench/peer_survey.py;"
            " a stored response answers 302 to its confirmation page.",
            "",
        ]
    lines += [
        f"| database | request | Doorstep /s | peer /s | Doorstep ÷ peer (goal ≥ {GOAL_RATIO}×)"
        " | floor /s | Doorstep ÷ floor | p50 / p99 ms: Doorstep · peer · floor"
        " | server CPU ms per request: Doorstep · peer · floor | failed | stored = answered"
        " | others' CPU, cores: Doorstep · peer · floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for kind, results in all_results.items():
        for what in ("submit", "form page"):
            d, p, f = (results.get((what, who)) for who in WHO)
            present = [r for r in (d, p, f) if r]
            stored = "—"
            if what == "submit":
                stored = "yes" if all(r["stored_ok"] for r in present) else "NO (" + ", ".join(
                    f"{who}: {r['stored']} for {r['requests']}" for who, r in zip(WHO, (d, p, f))
                    if r and not r["stored_ok"]) + ")"
            cpu = " · ".join("—" if r is None else f"{r['cpu_ms']:.1f}" for r in (d, p, f))
            others = " · ".join("—" if r is None else f"{r['others']:.2f}" for r in (d, p, f))
            ratio = f"**{d['rate'] / p['rate']:.1f}×**" if p else "—"
            lines.append(
                f"| {NAMES[kind]} | {'POST' if what == 'submit' else 'GET'} {what} "
                f"| {d['rate']:.0f} | {_rate(p)} | {ratio} "
                f"| {f['rate']:.0f} | {d['rate'] / f['rate']:.0%} "
                f"| {_ms(d)} · {_ms(p)} · {_ms(f)} | {cpu} "
                f"| {sum(r['failed'] for r in present)} | {stored} "
                f"| {others} |")
    cores = multiprocessing.cpu_count()
    lines += ["", "Others' CPU: what the rest of the machine used during each row, in cores of"
              f" {cores} (the machine is shared), besides that row's server, wrk and this script:"
              " near 0 for a row measured on an otherwise idle machine."]
    lines += ["", f"The server CPU per request depends less on what else the machine runs: on {cores}"
              " idle cores it allows at most"]
    for kind, results in all_results.items():
        d, p, f = (results.get(("submit", who)) for who in WHO)
        lines.append(f"- {NAMES[kind]}: {cores * 1000 / d['cpu_ms']:.0f} submissions/s for Doorstep"
                     + (f", {cores * 1000 / p['cpu_ms']:.0f}/s for the peer"
                        f" ({p['cpu_ms'] / d['cpu_ms']:.1f}× Doorstep's CPU)" if p else "")
                     + f", {cores * 1000 / f['cpu_ms']:.0f}/s for the floor"
                     f" ({f['cpu_ms'] / d['cpu_ms']:.0%} of Doorstep's CPU).")
    sqlite = all_results.get("sqlite", {})
    peer = sqlite.get(("submit", "peer"))
    if peer:
        a0, a1 = peer["answer_rows"]
        page = sqlite.get(("form page", "peer"), {}).get("answer_rows")
        lines += ["", f"The peer's database held {a0:,} answer rows when its measured submissions"
                  f" began and {a1:,} at their end (a fresh database: the check post and the"
                  " warm-up's)" + (f"; {page[0]:,} for its form page" if page else "") + ". Its"
                  " rate falls as that table grows: for an anonymous respondent the package looks"
                  " up earlier answers with `response_id IS NULL` (forms.py,"
                  " `_get_preexisting_answers`, 20 times on the form page and 40 times per post),"
                  f" for which SQLite {sqlite3.sqlite_version}'s plan is a full scan of survey_answer."
                  " Every stored response has its 20 answer rows: "
                  + ("yes." if peer["stored_ok"] else "NO.")]
    lines += ["", f"With {clients} clients each waiting for its answer before the next post, the mean"
              f" latency is {clients} ÷ the rate: a p99 under {GOAL_P99_MS} ms needs well over"
              f" {clients * 1000 // GOAL_P99_MS} answers/s."]
    d = sqlite.get(("submit", "Doorstep"))
    if d and peer:
        busy = max(r["others"] for who, r in
                   ((who, sqlite.get(("submit", who))) for who in WHO) if r)
        parts = [(f"rate {d['rate'] / peer['rate']:.1f}× the peer's",
                  d["rate"] >= GOAL_RATIO * peer["rate"]),
                 (f"p99 {d['p99_us'] / 1000:.0f} ms", d["p99_us"] < GOAL_P99_MS * 1000),
                 (f"{d['failed']} failed", d["failed"] == 0)]
        lines += ["", f"Goal on SQLite: submissions at least {GOAL_RATIO}× the peer's rate, p99 under"
                  f" {GOAL_P99_MS} ms at {clients} clients, no failed request — measured "
                  + ", ".join(f"{text} ({'met' if ok else 'NOT met'})" for text, ok in parts)
                  + (": **met**." if all(ok for _, ok in parts) else ": **NOT met**.")
                  + (f" The machine was not idle: other work took up to {busy:.2f} of its {cores}"
                     " cores during the submission rows." if busy > 0.25 else "")]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--no-peer", action="store_true", help="skip the peer (no pip install)")
    parser.add_argument("--peer-dir", help="install the peer's virtualenv here and keep it for "
                        "later runs (default: a new temporary folder, removed at the end)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: `make wrk` installs Debian's")
    peer_bin, peer_versions, peer_home = None, {}, None
    if not args.no_peer and "sqlite" in args.databases.split(","):
        peer_home = Path(args.peer_dir) if args.peer_dir else scratch("doorstep-bench-peer-")
        peer_home.mkdir(parents=True, exist_ok=True)
        print(f"installing the peer ({peer_survey.PACKAGE}) into {peer_home / 'venv'}", flush=True)
        peer_bin = peer_survey.install(peer_home)
        peer_versions = peer_survey.installed_versions(peer_bin)
        print(f"  {peer_versions}", flush=True)
    try:
        load = os.getloadavg()
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
        all_results = {}
        for kind in args.databases.split(","):
            print(f"{NAMES[kind]}:", flush=True)
            all_results[kind] = measure(kind, args.seconds, args.clients, peer_bin)
        text = report(all_results, args, load, os.getloadavg(), peer_versions)
    finally:
        if peer_home and not args.peer_dir:
            shutil.rmtree(peer_home, ignore_errors=True)
    print("\n" + text)
    write_results(Path(args.results), text)
    print(f"written to {args.results}")


def write_results(path: Path, text: str) -> None:
    """This run's part replaces the earlier run's; the sections after it (## Crash test, written
    by crash_test.py, and ## History) are kept."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    kept = re.search(r"^## ", old, re.MULTILINE)
    path.write_text(text + ("\n" + old[kept.start():] if kept else ""), encoding="utf-8")


if __name__ == "__main__":
    main()

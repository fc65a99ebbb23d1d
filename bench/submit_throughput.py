"""Submission throughput and latency under gunicorn, against a baseline measured in the same run
with the same gunicorn settings (gunicorn.conf.py), on SQLite and on PostgreSQL.

- Doorstep: `POST /f/household`, CSRF and full validation on. Each client (a wrk connection with
  its own thread) opened the form once for its session cookie and CSRF token, then posts a valid
  two-member household again and again, each time with a new submission UUID.
- Baseline (bench/baseline.py): a bare Flask endpoint that parses the same body and inserts it as
  one row with peewee, through the same database settings — the least work a submission can be.
- The form page: `GET /f/household` (a first visit: new session, CSRF token) against a bare
  endpoint returning the same HTML from a string.

The load generator is wrk from Debian (`make wrk`), with bench/submit.lua and bench/get.lua.
Every answer must be a 200 (with a receipt, for submissions), and the rows stored are counted
against the answers. Results are printed and written to bench/RESULTS.md.

    .venv/bin/python bench/submit_throughput.py [--seconds 15] [--clients 16] [--databases ...]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import re
import runpy
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import baseline  # noqa: E402
from bench.servers import (  # noqa: E402
    FORM, Server, database, encode, environment, household_answers, init, scratch,
)
from service.storage.db import open_database  # noqa: E402

HERE = Path(__file__).resolve().parent
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def phone(url: str) -> tuple[str, str]:
    """Open the form as a phone would: (its session cookie, the page's CSRF token)."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        cookie = answer.headers["Set-Cookie"].split(";", 1)[0]
        page = answer.read().decode()
    return cookie, re.search(r'name="csrf_token"[^>]*value="([^"]*)"', page).group(1)


def post(url: str, cookie: str, body: str) -> tuple[int, str]:
    request = urllib.request.Request(url, body.encode(), {
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def valid_answers(form_url: str) -> str:
    """A household that passes validation (synthetic answers are checked once against Doorstep)."""
    cookie, token = phone(form_url)
    for seed in range(1, 50):
        body = encode(household_answers(seed))
        status, page = post(form_url, cookie, f"csrf_token={token}&submission_uuid="
                            f"00000000-0000-4000-8000-{seed:012d}&{body}")
        if status == 200 and 'id="receipt"' in page:
            return body
    raise SystemExit("no synthetic household passed validation")


def lua_script(phones: list[tuple[str, str]], body: str, home: Path) -> Path:
    entries = ", ".join(f'{{cookie=[==[{c}]==], token=[==[{t}]==]}}' for c, t in phones)
    text = (HERE / "submit.lua").read_text()
    text = text.replace("local phones = {}", f"local phones = {{{entries}}}", 1)
    text = text.replace('local body_rest = ""', f"local body_rest = [==[{body}]==]", 1)
    path = home / "submit.lua"
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
    result["failed"] = (result["non_2xx"] + result["socket_errors"] + result["without_receipt"]
                        + result["not_200"])
    return result


def rows(url: str, table: str) -> int:
    db = open_database(url)
    with db.connection_context():
        return db.execute_sql(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def measure(kind: str, seconds: int, clients: int) -> dict:
    home = scratch(f"doorstep-bench-{kind}-")
    results = {}
    with database(kind, home) as url:
        env = environment(url, home, BENCH_PAGE=str(home / "page.html"))
        init(env)
        baseline.create_table(url)
        doorstep = Server("service:create_app()", env, home / "doorstep.log")
        doorstep.wait("/healthz")
        form_url = f"{doorstep.url}/f/{FORM}"
        with urllib.request.urlopen(form_url) as answer:
            (home / "page.html").write_bytes(answer.read())
        base = Server("bench.baseline:create_app()", env, home / "baseline.log")
        base.wait("/form")
        try:
            body = valid_answers(form_url)
            script = lua_script([phone(form_url) for _ in range(clients)], body, home)
            get_script = HERE / "get.lua"
            plan = [("submit", "Doorstep", doorstep, form_url, script, "submission"),
                    ("submit", "baseline", base, f"{base.url}/submit", script, "baseline_row"),
                    ("form page", "Doorstep", doorstep, form_url, get_script, None),
                    ("form page", "baseline", base, f"{base.url}/form", get_script, None)]
            for what, who, server, target, lua, table in plan:
                wrk(target, lua, 2, clients)                        # warm-up, not counted
                time.sleep(2)          # the warm-up's last posts land before the count starts
                before = rows(url, table) if table else 0
                cpu = server.cpu_seconds()
                result = wrk(target, lua, seconds, clients)
                # the server's own CPU per request: what the rate would be on idle cores
                result["cpu_ms"] = (server.cpu_seconds() - cpu) * 1000 / max(result["requests"], 1)
                if table:   # every answered post is stored; a few more may be in flight at the end
                    result["stored"] = rows(url, table) - before
                    result["stored_ok"] = 0 <= result["stored"] - result["requests"] <= clients
                results[(what, who)] = result
                print(f"  {NAMES[kind]:<10} {what:<9} {who:<8} {result['rate']:8.1f}/s  "
                      f"p50 {result['p50_us'] / 1000:6.1f} ms  p99 {result['p99_us'] / 1000:6.1f}"
                      f" ms  server CPU {result['cpu_ms']:5.1f} ms/request  failed {result['failed']}",
                      flush=True)
        finally:
            doorstep.stop()
            base.stop()
    shutil.rmtree(home, ignore_errors=True)
    return results


def report(all_results: dict, seconds: int, clients: int, load: tuple, load_end: tuple) -> str:
    workers = runpy.run_path(str(HERE.parent / "gunicorn.conf.py"))["workers"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {dt.datetime.now():%Y-%m-%d %H:%M} by `make bench` (bench/submit_throughput.py):"
        f" {multiprocessing.cpu_count()} CPU cores, 1-minute load average {load[0]:.2f} before and"
        f" {load_end[0]:.2f} after (the benchmark's own load included), Python"
        f" {platform.python_version()}, gunicorn.conf.py ({workers} sync workers, access log on),"
        f" wrk with {clients} connections (one thread each) for {seconds} s per row, after a 2 s"
        " warm-up. The client runs on the same machine and takes CPU from the server.",
        "",
        "| database | request | Doorstep /s | baseline /s | Doorstep ÷ baseline | Doorstep p50 / p99"
        " | baseline p50 / p99 | server CPU per request, Doorstep / baseline | failed"
        " | stored = answered |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind, results in all_results.items():
        for what in ("submit", "form page"):
            d, b = results[(what, "Doorstep")], results[(what, "baseline")]
            stored = "—" if "stored" not in d else (
                "yes" if d["stored_ok"] and b["stored_ok"] else
                f"NO ({d['stored']} for {d['requests']})")
            lines.append(
                f"| {NAMES[kind]} | {'POST' if what == 'submit' else 'GET'} {what} "
                f"| {d['rate']:.0f} | {b['rate']:.0f} | {d['rate'] / b['rate']:.0%} "
                f"| {d['p50_us'] / 1000:.1f} / {d['p99_us'] / 1000:.1f} ms "
                f"| {b['p50_us'] / 1000:.1f} / {b['p99_us'] / 1000:.1f} ms "
                f"| {d['cpu_ms']:.1f} / {b['cpu_ms']:.1f} ms "
                f"| {d['failed'] + b['failed']} | {stored} |")
    cores = multiprocessing.cpu_count()
    lines += ["", f"The server CPU per request does not depend on what else the machine runs: on {cores}"
              " idle cores it allows at most"]
    for kind, results in all_results.items():
        d, b = results[("submit", "Doorstep")], results[("submit", "baseline")]
        lines.append(f"- {NAMES[kind]}: {cores * 1000 / d['cpu_ms']:.0f} submissions/s for Doorstep,"
                     f" {cores * 1000 / b['cpu_ms']:.0f}/s for the baseline"
                     f" ({b['cpu_ms'] / d['cpu_ms']:.0%}).")
    lines += ["", f"With {clients} clients each waiting for its answer before the next post, the mean"
              f" latency is {clients} ÷ the rate: a p99 under 100 ms needs well over"
              f" {clients * 10} answers/s."]
    sqlite = all_results.get("sqlite")
    if sqlite:
        d, b = sqlite[("submit", "Doorstep")], sqlite[("submit", "baseline")]
        lines += ["", "Goal on SQLite: submissions at least 50% of the baseline, p99 under 100 ms, no "
                  f"failed request — measured {d['rate'] / b['rate']:.0%}, p99 "
                  f"{d['p99_us'] / 1000:.0f} ms, {d['failed']} failed: "
                  + ("met." if d["rate"] >= 0.5 * b["rate"] and d["p99_us"] < 100_000
                     and d["failed"] == 0 else "NOT met.")]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: `make wrk` installs Debian's")
    load = os.getloadavg()
    all_results = {}
    for kind in args.databases.split(","):
        print(f"{NAMES[kind]}:", flush=True)
        all_results[kind] = measure(kind, args.seconds, args.clients)
    text = report(all_results, args.seconds, args.clients, load, os.getloadavg())
    print("\n" + text)
    Path(args.results).write_text(text, encoding="utf-8")
    print(f"written to {args.results}")


if __name__ == "__main__":
    main()

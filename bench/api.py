"""The JSON API at 1,000,000 stored submissions, on SQLite and PostgreSQL (issue 17).

Goals: `GET /api/v1/forms/household/responses` of 1,000 responses a page under 200 ms at any
depth (keyset pages: the first, a middle and the last page cost the same); API submissions at
least as fast as form posts, measured in the same run.

For each database a fresh one (SQLite in a temporary folder, PostgreSQL in a schema of its own,
both removed afterwards) gets the demo `household` form, the office of bench/load_synthetic.py
and bench/ledger.py's loader's households: 200,000 households with 5 visits each, i.e.
1,000,000 submissions (COPY on PostgreSQL). Then, through the Flask test client with an admin
token, median of 5 after a warm-up (wall, CPU in brackets; bench/ledger.py's `_time_get`):
1,000 a page at the first, a middle and the last page, a middle page of one community, and a
middle page with `pii=1` (each reveal writes its audit event). Each page is checked to hold
1,000 responses (the last one: and no `next`).

Submissions: the demo household (two members) registered `--posts` times through the public
form (`POST /f/household`, CSRF off, as bench/ledger.py's `time_posts`) and as many times
through `POST /api/v1/forms/household/submissions` (JSON, the same answers), alternating in
blocks of 50 so both meet the same load; CPU per post (time.process_time) and wall.

    .venv/bin/python bench/api.py [--households 200000] [--databases sqlite,postgresql]
                                  [--posts 300]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ledger import _met, _progress, _time_get, make_app  # noqa: E402 (after the path)
from bench.ledger import load as load_households  # noqa: E402
from bench.servers import database, household_answers, machine_line  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-api.md"
FORM = "household"
PAGE = 1000
BLOCK = 50               # posts of one kind before the other kind's
GOAL_PAGE_S = 0.200


def household_document(seed: int = 7) -> dict:
    """bench/servers.household_answers's submission as the API's JSON answers."""
    from bench.synthetic import answers_for
    from service import formspec
    spec = formspec.load_dir(ROOT / "forms")[FORM]
    rng = random.Random(seed)
    while True:      # the same draw as household_answers: two members
        answers = answers_for(spec, rng, today=dt.date.today())
        if len(answers.get("members", [])) == 2:
            return json.loads(json.dumps(answers, default=str))


def time_pages(kind: str, client, ids: list[int]) -> dict:
    """The cases of the module docstring: {name: _time_get's figures}."""
    from service.reports.keyset import cursor_for
    base = f"/api/v1/forms/{FORM}/responses?limit={PAGE}"
    cases = {"first page": base,
             "middle page": f"{base}&next={cursor_for(ids[1])}",
             "last page": f"{base}&next={cursor_for(ids[2])}",
             "middle page, one community": f"{base}&area=SQ01&next={cursor_for(ids[1])}",
             "middle page, pii=1 (audited)": f"{base}&pii=1&next={cursor_for(ids[1])}"}
    timed = {}
    for name, url in cases.items():
        page = client.get(url).json
        assert len(page["responses"]) == PAGE, (name, len(page["responses"]))
        assert (page["next"] is None) == (name == "last page"), name
        timed[name] = t = _time_get(client, url)
        print(f"[{kind}] {name:<30} {t['wall'] * 1000:7.1f} ms (CPU {t['cpu'] * 1000:.1f})",
              file=sys.stderr)
    return timed


def time_posts(app, token: str, posts: int) -> dict:
    """CPU and wall per registration, form post against API submission (module docstring)."""
    fields = [(k, v) for k, v in household_answers() if k != "visit_date"]
    document = {k: v for k, v in household_document().items() if k != "visit_date"}
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def form_post():
        return client.post(f"/f/{FORM}", data=urlencode(fields + [
            ("visit_date", "2026-01-01"), ("submission_uuid", str(uuid.uuid4()))]),
            content_type="application/x-www-form-urlencoded")

    def api_post():
        return client.post(f"/api/v1/forms/{FORM}/submissions", headers=headers, json={
            "submission_uuid": str(uuid.uuid4()), "consent": True, "sensitive_consent": True,
            "answers": {**document, "visit_date": "2026-01-01"}})

    spent = {"form": [0.0, 0.0], "api": [0.0, 0.0]}
    expected = {"form": 200, "api": 201}
    for kind, post in (("form", form_post), ("api", api_post)):     # warm-up
        reply = post()
        assert reply.status_code == expected[kind], (kind, reply.status_code, reply.text[:500])
    for block in range(0, posts, BLOCK):
        for kind, post in (("form", form_post), ("api", api_post)):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(min(BLOCK, posts - block)):
                reply = post()
                if reply.status_code != expected[kind]:
                    raise SystemExit(f"{kind} post: {reply.status_code} {reply.text[:500]}")
            spent[kind][0] += time.process_time() - cpu
            spent[kind][1] += time.perf_counter() - wall
    return {"posts": posts, **{f"{kind}_{what}": spent[kind][i] / posts for kind in spent
                               for i, what in enumerate(("cpu", "wall"))}}


def run_database(kind: str, households: int, posts: int) -> dict:
    from bench import load_synthetic
    from service.api import auth
    from service.office import auth as office_auth
    from service.storage import schema
    from service.storage.db import db
    home = Path(tempfile.mkdtemp(prefix="doorstep-api-", dir="/tmp"))
    result: dict = {"database": kind, "load_average": [os.getloadavg()[0]]}
    try:
        with database(kind, home) as url:
            # the benchmark's own requests are not what the rate limit is for
            app = make_app(url, secrets.token_hex(32), API_RATE_LIMIT=10 ** 9,
                           WTF_CSRF_ENABLED=False)
            with app.app_context():
                db.connect(reuse_if_open=True)
                schema.upgrade()
                catalog = app.extensions["doorstep.catalog"]
                spec = catalog.get(FORM)
                catalog.ensure_published(spec)
                office = load_synthetic.make_office(office_auth.hash_password("bench-" +
                                                                              secrets.token_hex(8)))
                result["load"] = load_households(spec, office, households, kind == "sqlite",
                                                 progress=_progress)
                print(f"\n[{kind}] loaded {result['load']}", file=sys.stderr)
                n = db.execute_sql("SELECT COUNT(*) FROM submission").fetchone()[0]
                at = "SELECT id FROM submission ORDER BY id LIMIT 1 OFFSET %d"
                # (cursors continue after an id: the middle page, and the last 1,000)
                ids = [0] + [db.execute_sql(at % k).fetchone()[0] for k in (n // 2, n - PAGE - 1)]
                token = auth.create("bench", "admin")[1]
                result["submissions"] = n
                db.close()
            client = app.test_client()
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
            result["pages"] = time_pages(kind, client, ids)
            result["load_average"].append(os.getloadavg()[0])
            if posts:
                result["posts"] = p = time_posts(app, token, posts)
                print(f"[{kind}] posts {p}", file=sys.stderr)
                result["load_average"].append(os.getloadavg()[0])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return result


def report(results: list[dict]) -> str:
    loads = [x for r in results for x in r["load_average"]]
    lines = [
        "# JSON API benchmark (bench/api.py)", "", machine_line(loads), "",
        f"Data: {results[0]['submissions']:,} submissions of the `household` form "
        "(bench/ledger.py's loader: households with 5 visits each). Pages of "
        f"{PAGE:,} responses through the Flask test client with an admin token: median of 5 "
        "after a warm-up, wall (CPU in brackets).", ""]
    kinds = [r["database"] for r in results]
    lines += ["| | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(r) for r in results) + " |")

    row("load (submissions)", lambda r: f"{r['load']['seconds']:.0f} s "
                                        f"({r['load']['submissions']:,})")
    for name in results[0]["pages"]:
        row(f"GET {name}", lambda r, name=name: f"{r['pages'][name]['wall'] * 1000:.0f} ms "
                                                 f"({r['pages'][name]['cpu'] * 1000:.0f})")
    row("slowest page (goal < 200 ms)", lambda r: (lambda w: f"{w * 1000:.0f} ms: "
                                                            f"{_met(w < GOAL_PAGE_S)}")(
        max(t["wall"] for t in r["pages"].values())))
    if not all("posts" in r for r in results):
        return "\n".join(lines) + "\n"
    row("form post, CPU (wall) per registration",
        lambda r: f"{r['posts']['form_cpu'] * 1000:.1f} ms ({r['posts']['form_wall'] * 1000:.1f})")
    row("API submission, CPU (wall) per registration",
        lambda r: f"{r['posts']['api_cpu'] * 1000:.1f} ms ({r['posts']['api_wall'] * 1000:.1f})")
    row("API ÷ form post, CPU (goal ≤ 1)", lambda r: (
        lambda x: f"{x:.2f}: {_met(x <= 1.0)}")(r["posts"]["api_cpu"] / r["posts"]["form_cpu"]))
    lines += ["", f"Submissions: {results[0]['posts']['posts']} registrations of the demo "
              "household (two members) each way, in-process, alternating in blocks of "
              f"{BLOCK}; the form post with CSRF off (as bench/ledger.py), the API's with its "
              "token (each also audit-logged as `api_submitted`).", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=200_000,
                        help="households of 5 visits: 200,000 make 1,000,000 submissions")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--posts", type=int, default=300)
    args = parser.parse_args()
    results = [run_database(kind, args.households, args.posts)
               for kind in args.databases.split(",")]
    text = report(results)
    print(text)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()

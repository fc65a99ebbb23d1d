"""Survey rounds (issue 13) at a ward of 100,000 households and a district of 1,000,000, on SQLite
and PostgreSQL: the coverage page under 1 s.

For each database and size a fresh database (bench/servers.py `database`: a SQLite file in a
temporary folder, or a PostgreSQL schema of its own; removed afterwards) gets schema.upgrade(), the
demo `household` form published, an office (bench/load_synthetic.py `make_office`: a street, its
communities and grids, surveyors, "bench-admin") and N households written straight into the tables
by bench/ledger.py's loader with `households_only=True` (household rows with their cells and
household_answer rows; no visits but the one each open conflict names).

The office is sized to the ledger: by default one grid (网格) per --per-grid households (400), 10
grids a community and 2 surveyors a grid — 250 grids at 100,000, 2,500 at 1,000,000 —, since the
coverage page reads the round's counts (RoundCount: per area, assigned surveyor, surveyor who
did it, day and outcome), which grow with the grids, surveyors and days, not with the households.
`--per-grid 0` keeps make_office's own office (4 communities, 16 grids, 60 surveyors) at any size.
At a million the street stands for the district: its communities sit directly below it (no street
level), so the top of the coverage page lists more areas than a real district's would.

Then, per database and size:

1. Posts without a round (in-process, CPU by time.process_time, as bench/ledger.py time_posts):
   a surveyor of one grid, signed in, posts through their QR link (/s/<token>) --posts first
   registrations, then revisits of --posts of the grid's loaded households (`household` and
   `base_version`); and ledger.time_posts itself (the open web form /f/household as bench-admin:
   no area, so those households never belong to a round).
2. `rounds.create` over the street (the INSERT…SELECT of the target and `recount`), timed; dates:
   29 days ago to 30 days ahead.
3. A realistic state written in bulk (bench only, not the product's path): of the members not yet
   done, ~60% done (form visits, a tenth of them "checked, no change"; some after failed
   attempts) on days spread over the round's 30 days, by the grid's assigned surveyor (80%),
   another of the grid (10%) or the household itself (10%); ~10% attempted (not at home, refused,
   vacant), a quarter of them twice or more (flagged); each grid assigned to one of its surveyors
   but the grids of one community. One UPDATE…FROM a temporary table; PostgreSQL then gets the
   VACUUM ANALYZE autovacuum would have run. Then `rounds.recount(r)`, timed: the coverage page
   reads RoundCount, and recount makes it as the real code keeps it.
4. The grids of that community assigned to a surveyor each by `rounds.assign(area=grid)` (with its
   recount), timed.
5. The real path on a sample (--sample, 200) of members still not yet visited: visits through
   submissions.store (revisits as the grid's surveyor), outcomes through ledger.record_outcome on
   earlier days of the round, a few visits voided (submissions.set_status) and households closed
   (ledger.set_status): every hook of rounds.py as the product runs it. Checked: each sampled
   member's stored standing equals `rounds.standing(r, h)`, and RoundCount as the hooks kept it
   equals a `recount`.
6. Through the Flask test client as a signed-in admin, median of 5 after a warm-up (wall and CPU):
   the coverage page /admin/rounds/<id> at the top (the street), drilled down to a community and a
   grid (?area=CODE), and the not-yet list of one grid (/admin/rounds/<id>/not-yet?area=CODE); a
   route that answers 404 is reported as missing, not timed. And `Figures.of(r)` with totals,
   by_area (top, community, grid), by_surveyor, by_day and outcomes called directly, so the figure
   exists whatever the page adds.
7. The posts of step 1 again with the round open (other households of the same grid, members not
   yet visited; the new registrations join the round). The posted members are checked as in
   step 5, and RoundCount against a recount once more. Then the round is closed (rounds.close,
   with Figures' frozen figures) and the posts run a third time on other households: no round is
   open again. The cost of the round hooks (rounds.join and rounds.refresh inside
   submissions.store) is the open round's CPU per post less the mean of before and after, which
   brackets it against drift on a shared machine.

With --district the same runs again at 1,000,000 households (a fresh database of each kind,
its office sized to it) after the 100,000 of --households. Figures go to stdout and
bench/RESULTS-rounds.md.

    .venv/bin/python bench/rounds.py [--households 100000] [--district] [--databases sqlite,postgresql]
                                     [--posts 100] [--sample 200] [--per-grid 400]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ledger, servers  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-rounds.md"
FORM = ledger.FORM
GOAL = 1.0                  # s: the coverage page (issue 13)
PER_GRID = 400              # households a grid
GRIDS_PER_COMMUNITY = 10
SURVEYORS_PER_GRID = 2
DAYS = 30                   # the round started DAYS - 1 days ago
DONE, ATTEMPTED, FLAGGED = 0.60, 0.10, 0.25
BATCH = 50_000


def _timed(fn, *args, **kw):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def _say(kind: str, n: int, text: str) -> None:
    print(f"[{kind} {n:,}] {text}", file=sys.stderr, flush=True)


def _ms(t: dict) -> str:
    return f"{t['wall'] * 1000:.0f} ms ({t['cpu'] * 1000:.0f})"


# --- the office and the round's state ---------------------------------------------------------

def office_shape(n: int, per_grid: int) -> dict:
    """make_office's arguments for n households: one grid a `per_grid` (0: its defaults)."""
    if not per_grid:
        return {}
    grids = max(1, round(n / per_grid))
    communities = math.ceil(grids / GRIDS_PER_COMMUNITY)
    per = min(grids, GRIDS_PER_COMMUNITY)
    return {"communities": communities, "grids_per_community": per,
            "surveyors": SURVEYORS_PER_GRID * communities * per}


def grid_people(office) -> dict[int, list[int]]:
    """grid id → its surveyors' ids, in the order make_office made them."""
    people: dict = {}
    for user_id, area_id in office.surveyors:
        people.setdefault(area_id, []).append(user_id)
    return people


def _column(model, name: str) -> str:
    return model._meta.fields[name].column_name


def write_state(r, office, reserved: set[int], manual: set[int], seed: int = 3) -> Counter:
    """The bulk state (step 3 of the module docstring) for the round's members not yet visited,
    but `reserved` households (left not yet); grids in `manual` are left unassigned."""
    from service.records.rounds import FAILED_OUTCOMES
    from service.storage.db import db, is_sqlite, write_transaction
    from service.storage.models import RoundHousehold
    rng = random.Random(seed)
    sqlite = is_sqlite()
    people = grid_people(office)
    first = dt.date.fromisoformat(str(r.starts_on))
    days = [(first + dt.timedelta(days=k)).isoformat() for k in range(DAYS)]
    table = RoundHousehold._meta.table_name
    members = db.execute_sql(
        f'SELECT household_id, area_id FROM "{table}" WHERE round_id = {int(r.id)} AND '
        "state = 'not_yet' ORDER BY household_id").fetchall()
    made: Counter = Counter()
    columns = ("household_id", "state", "attempts", "last_outcome", "done_kind", "done_day",
               "done_by", "assigned_to")
    with write_transaction():
        db.execute_sql("CREATE TEMP TABLE bench_state (household_id INTEGER PRIMARY KEY, "
                       "state VARCHAR(16), attempts INTEGER, last_outcome VARCHAR(16), "
                       "done_kind VARCHAR(16), done_day VARCHAR(10), done_by INTEGER, "
                       "assigned_to INTEGER)")
        writer = ledger.Writer(sqlite)
        rows = []
        for k, (household, area) in enumerate(members):
            crew = people[area]
            assigned = None if area in manual else crew[0]
            u = rng.random()
            state, attempts, last, kind, day, by = "not_yet", 0, None, None, None, None
            if household in reserved:
                pass
            elif u < DONE:
                state, kind = "done", "form" if rng.random() < 0.9 else "no_change"
                day = days[min(DAYS - 1, int(rng.triangular(0, DAYS, DAYS * 0.6)))]
                who = rng.random()
                by = (crew[0] if who < 0.8 else crew[-1] if who < 0.9 or kind != "form"
                      else None)
                if rng.random() < 0.15:
                    attempts, last = rng.randint(1, 2), rng.choice(FAILED_OUTCOMES)
            elif u < DONE + ATTEMPTED:
                state = "attempted"
                attempts = rng.randint(2, 3) if rng.random() < FLAGGED else 1
                last = rng.choice(FAILED_OUTCOMES)
            made[state] += 1
            rows.append((household, state, attempts, last, kind, day, by, assigned))
            if len(rows) >= BATCH or k == len(members) - 1:
                writer.rows("bench_state", columns, rows)
                rows = []
        sets = ", ".join(f"{_column(RoundHousehold, c)} = s.{c}" for c in
                         ("state", "attempts", "last_outcome", "done_kind", "done_day",
                          "done_by", "assigned_to"))
        db.execute_sql(f'UPDATE "{table}" SET {sets} FROM bench_state AS s WHERE '
                       f'"{table}".round_id = {int(r.id)} AND '
                       f'"{table}".household_id = s.household_id')
        db.execute_sql("DROP TABLE bench_state")
    if not sqlite:      # what autovacuum would have done after a million updated rows
        db.connection().autocommit = True      # (peewee 4 runs psycopg2 in autocommit anyway)
        db.execute_sql(f'VACUUM ANALYZE "{table}"')
    return made


# --- the real path ------------------------------------------------------------------------------

def real_path(spec, r, office, households: list[int], seed: int = 5) -> Counter:
    """Visits and outcomes of `households` stored as the product stores them (step 5): every
    round hook runs. Call inside a request context."""
    from bench.synthetic import answers_for
    from service.office import clock
    from service.records import ledger as book, submissions
    from service.records.rounds import FAILED_OUTCOMES
    from service.records.submissions import Attribution, Visit
    from service.storage.db import write_transaction
    from service.storage.models import Household, utcnow
    rng = random.Random(seed)
    people = grid_people(office)
    today = clock.today()
    docs = [answers_for(spec, rng, today) for _ in range(20)]
    docs = [json.loads(json.dumps(d, default=str)) for d in docs]
    done: Counter = Counter()

    def outcome(h, what, days_ago, surveyor):
        at = utcnow() - dt.timedelta(days=days_ago, minutes=rng.randrange(600))
        with write_transaction():
            book.record_outcome(h.id, str(uuid.uuid4()), what, received_at=at,
                                day=clock.current().day_of(at), area_id=h.area_id,
                                surveyor_id=surveyor)

    def visit(h, surveyor):
        fresh = Household.get_by_id(h.id)
        sub, _ = submissions.store(
            spec, str(uuid.uuid4()), dict(rng.choice(docs)), consent=True,
            sensitive_consent=True,
            attribution=Attribution(channel="surveyor" if surveyor else "self",
                                    area_id=h.area_id, surveyor_id=surveyor),
            visit=Visit(fresh.code, fresh.version))
        return sub

    for household_id in households:
        h = Household.get_by_id(household_id)
        crew = people[h.area_id]
        who = crew[0] if rng.random() < 0.9 else crew[-1]
        u = rng.random()
        failed = sorted(rng.sample(range(2, DAYS - 1), 3), reverse=True)
        if u < 0.04:
            with write_transaction():
                book.set_status(h, "closed")
            done["closed"] += 1
        elif u < 0.08:
            sub = visit(h, who)
            submissions.set_status(sub, "void", "bench: entered twice", office.admin)
            done["voided"] += 1
        elif u < DONE:
            for days_ago in failed[:rng.choice((0, 0, 0, 0, 0, 1, 2))]:
                outcome(h, rng.choice(FAILED_OUTCOMES), days_ago, who)
            kind = rng.random()
            if kind < 0.85:
                visit(h, who if rng.random() < 0.9 else None)
                done["form"] += 1
            else:
                outcome(h, "no_change" if kind < 0.97 else "moved_out", 1, who)
                done["no_change / moved_out"] += 1
        elif u < DONE + ATTEMPTED:
            for days_ago in failed[:rng.randint(2, 3) if rng.random() < FLAGGED else 1]:
                outcome(h, rng.choice(FAILED_OUTCOMES), days_ago, who)
            done["attempted"] += 1
        else:
            done["untouched"] += 1
    return done


def check(r, households: list[int]) -> dict:
    """Each member's stored standing against `rounds.standing`, and RoundCount as kept against a
    recount (which it then is). Call inside an app context."""
    from service.records import rounds
    from service.storage.db import write_transaction
    from service.storage.models import RoundHousehold
    differing = []
    for household_id in households:
        stored = RoundHousehold.select().where((RoundHousehold.round == r.id) & (
            RoundHousehold.household == household_id)).dicts().first()
        if stored is None or {f: stored[f] for f in rounds.FIELDS} != \
                rounds.standing(r, household_id).__dict__:
            differing.append(household_id)

    def counts() -> Counter:
        return rounds.kept_counts(r)
    kept = counts()
    with write_transaction():
        rounds.recount(r)
    again = counts()
    return {"checked": len(households), "differing": len(differing),
            "examples": differing[:5], "counts_equal": kept == again,
            "count_keys_differing": len(set(kept.items()) ^ set(again.items()))}


# --- measuring ----------------------------------------------------------------------------------

def time_visits(url: str, secret: str, username: str, token: str, homes: list[tuple[str, int]],
                posts: int) -> dict:
    """As ledger.time_posts, but as a surveyor through their grid's QR link: `posts` first
    registrations, then a revisit of each of `homes` (code, version)."""
    from bench.servers import household_answers
    app = ledger.make_app(url, secret, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    ledger._sign_in(app, client, username)
    fields = [(k, v) for k, v in household_answers() if k != "visit_date"]
    path = f"/s/{token}"

    def post(extra) -> float:
        cpu = time.process_time()
        reply = client.post(path, data=urlencode(fields + extra + [
            ("submission_uuid", str(uuid.uuid4()))]),
            content_type="application/x-www-form-urlencoded")
        cpu = time.process_time() - cpu
        if reply.status_code != 200:
            raise SystemExit(f"POST {path}: {reply.status_code}")
        return cpu
    post([("visit_date", "2026-01-01")])                    # warm-up
    wall = time.perf_counter()
    first = [post([("visit_date", "2026-01-01")]) for _ in range(posts)]
    first_wall = (time.perf_counter() - wall) / posts
    wall = time.perf_counter()
    again = [post([("visit_date", "2026-02-02"), ("household", code),
                   ("base_version", str(version))]) for code, version in homes[:posts]]
    again_wall = (time.perf_counter() - wall) / len(again)
    return {"registration_cpu": statistics.mean(first), "registration_median": statistics.median(
        first), "registration_wall": first_wall, "revisit_cpu": statistics.mean(again),
        "revisit_median": statistics.median(again), "revisit_wall": again_wall,
        "posts": posts}


def time_page(client, url: str, runs: int) -> dict:
    probe = client.get(url)
    if probe.status_code != 200:
        return {"status": probe.status_code}
    return ledger._time_get(client, url, runs)


def time_figures(r, community: str, grid: str, runs: int) -> dict:
    """Figures.of(r) alone, and with every view the page draws, called directly. Call inside an
    app context."""
    from service.reports.coverage import Figures
    from service.storage.models import RoundCount, SurveyRound

    def views():
        f = Figures.of(SurveyRound.get_by_id(r.id))
        f.totals()
        f.by_area()
        for code in (community, grid):
            area = next(a for a in f.areas.values() if a.code == code)
            f.by_area(area)
            f.area_total(area)
        f.by_surveyor()
        f.by_day()
        f.outcomes()
        return f
    out = {}
    for name, fn in (("of", lambda: Figures.of(SurveyRound.get_by_id(r.id))), ("views", views)):
        walls, cpus = [], []
        for i in range(runs + 1):
            _f, t = _timed(fn)
            if i:
                walls.append(t["wall"])
                cpus.append(t["cpu"])
        out[name] = {"wall": statistics.median(walls), "cpu": statistics.median(cpus),
                     "max": max(walls)}
    out["rows"] = RoundCount.select().where((RoundCount.round == r.id) &
                                            (RoundCount.n != 0)).count()
    out["totals"] = Figures.of(SurveyRound.get_by_id(r.id)).totals().as_dict()
    return out


def run(kind: str, n: int, args) -> dict:
    from bench import load_synthetic
    from bench.servers import database
    from service import links
    from service.office import auth, clock
    from service.records import rounds
    from service.reports.coverage import Figures
    from service.storage import schema
    from service.storage.db import db, write_transaction
    from service.storage.models import Household, RoundHousehold, SurveyRound, User
    home = Path(tempfile.mkdtemp(prefix="doorstep-rounds-", dir="/tmp"))
    began = time.perf_counter()
    result: dict = {"database": kind, "n": n, "load_average": [os.getloadavg()[0]], "phases": {}}
    phases = result["phases"]

    def phase(name: str, since: float) -> float:
        phases[name] = time.perf_counter() - since
        return time.perf_counter()
    try:
        with database(kind, home) as url:
            secret = secrets.token_hex(32)
            app = ledger.make_app(url, secret)
            mark = time.perf_counter()
            with app.test_request_context():
                db.connect(reuse_if_open=True)
                schema.upgrade()
                catalog = app.extensions["doorstep.catalog"]
                spec = catalog.get(FORM)
                catalog.ensure_published(spec)
                office = load_synthetic.make_office(auth.hash_password(ledger.PASSWORD),
                                                    **office_shape(n, args.per_grid))
                result["office"] = {"communities": len(office.communities),
                                    "grids": len(office.grids),
                                    "surveyors": len(office.surveyors)}
                _say(kind, n, f"office {result['office']}")
                mark = phase("office", mark)
                result["load"] = ledger.load(spec, office, n, kind == "sqlite",
                                             progress=ledger._progress, households_only=True)
                print(file=sys.stderr)
                _say(kind, n, f"loaded {result['load']}")
                mark = phase("load", mark)
                people = grid_people(office)
                community = office.communities[0]
                manual = [g for g in office.grids if g.parent_id == community.id]
                post_grid = office.grids[-1]
                crew = people[post_grid.id]
                surveyor = User.get_by_id(crew[0])
                link = links.create(FORM, post_grid, surveyor)
                homes = [i for (i,) in Household.select(Household.id).where(
                    Household.area == post_grid.id).order_by(Household.id).tuples()]
                posts = min(args.posts, len(homes) // 3)
                before_homes, round_homes, after_homes = (homes[k * posts:(k + 1) * posts]
                                                          for k in range(3))
                db.close()

            def codes(ids):
                with app.app_context():
                    db.connect(reuse_if_open=True)
                    found = dict(Household.select(Household.id, Household.code).where(
                        Household.id.in_(ids)).tuples())
                    versions = dict(Household.select(Household.id, Household.version).where(
                        Household.id.in_(ids)).tuples())
                    db.close()
                return [(found[i], versions[i]) for i in ids]

            result["posts"] = {"none": time_visits(url, secret, surveyor.username, link.token,
                                                   codes(before_homes), posts)}
            _say(kind, n, f"posts, no round: {result['posts']['none']}")
            result["web"] = {"none": ledger.time_posts(url, secret, posts)}
            _say(kind, n, f"web posts, no round: {result['web']['none']}")
            mark = phase("posts without a round", mark)
            result["load_average"].append(os.getloadavg()[0])

            with app.test_request_context():
                db.connect(reuse_if_open=True)
                today = clock.today()

                def create():
                    with write_transaction():
                        return rounds.create("2026年第一轮", spec, office.street,
                                             today - dt.timedelta(days=DAYS - 1),
                                             today + dt.timedelta(days=30), user=office.admin)
                r, result["create"] = _timed(create)
                result["members"] = RoundHousehold.select().where(
                    RoundHousehold.round == r.id).count()
                _say(kind, n, f"round created over {result['members']:,} households "
                              f"in {_ms(result['create'])}")
                mark = phase("create", mark)
                result["state"], t = _timed(write_state, r, office, set(round_homes),
                                            {g.id for g in manual})
                result["state_s"] = t["wall"]
                _say(kind, n, f"bulk state {dict(result['state'])} in {t['wall']:.1f} s")

                def recount():
                    with write_transaction():
                        rounds.recount(r)
                _none, result["recount"] = _timed(recount)
                _say(kind, n, f"recount {_ms(result['recount'])}")
                assigns = []
                for grid in manual:
                    def assign(grid=grid):
                        with write_transaction():
                            return rounds.assign(r, User.get_by_id(people[grid.id][0]),
                                                 area=grid)
                    changed, t = _timed(assign)
                    assigns.append(dict(t, households=changed))
                result["assign"] = {
                    "grids": len(assigns), "households": sum(a["households"] for a in assigns),
                    "wall": sum(a["wall"] for a in assigns), "cpu": sum(a["cpu"] for a in assigns),
                    "median": statistics.median(a["wall"] for a in assigns),
                    "median_cpu": statistics.median(a["cpu"] for a in assigns)}
                _say(kind, n, f"assign {result['assign']}")
                mark = phase("state, recount, assign", mark)
                pool = [i for (i,) in RoundHousehold.select(RoundHousehold.household).where(
                    (RoundHousehold.round == r.id) & (RoundHousehold.state == "not_yet") &
                    RoundHousehold.household.not_in(round_homes)).order_by(
                    RoundHousehold.household).tuples()]
                sample = random.Random(9).sample(pool, min(args.sample, len(pool)))
                result["real"] = real_path(spec, r, office, sample)
                result["check"] = check(SurveyRound.get_by_id(r.id), sample)
                _say(kind, n, f"real path {dict(result['real'])}: {result['check']}")
                mark = phase("real path and check", mark)
                db.close()
            result["load_average"].append(os.getloadavg()[0])

            client = app.test_client()
            ledger._sign_in(app, client)
            grid = manual[0]
            base = f"/admin/rounds/{r.id}"
            result["urls"] = urls = {
                "coverage, top (street)": base,
                f"coverage, a community ({community.code})": f"{base}?area={community.code}",
                f"coverage, a grid ({grid.code})": f"{base}?area={grid.code}",
                f"not-yet list, a grid ({grid.code})": f"{base}/not-yet?area={grid.code}",
            }
            result["pages"] = {}
            for name, url_ in urls.items():
                result["pages"][name] = t = time_page(client, url_, args.runs)
                _say(kind, n, f"{name}: " + (_ms(t) if "wall" in t else f"HTTP {t['status']}"))
            with app.app_context():
                db.connect(reuse_if_open=True)
                result["figures"] = f = time_figures(r, community.code, grid.code, args.runs)
                db.close()
            _say(kind, n, f"Figures.of {_ms(f['of'])}, with every view {_ms(f['views'])}, "
                          f"{f['rows']:,} RoundCount rows; {f['totals']}")
            mark = phase("pages and figures", mark)
            result["load_average"].append(os.getloadavg()[0])

            result["posts"]["round"] = time_visits(url, secret, surveyor.username, link.token,
                                                   codes(round_homes), posts)
            _say(kind, n, f"posts, round open: {result['posts']['round']}")
            result["web"]["round"] = ledger.time_posts(url, secret, posts)
            _say(kind, n, f"web posts, round open: {result['web']['round']}")
            with app.test_request_context():
                db.connect(reuse_if_open=True)
                posted = round_homes + [i for (i,) in RoundHousehold.select(
                    RoundHousehold.household).where((RoundHousehold.round == r.id) &
                                                    (RoundHousehold.joined == "registered"))
                    .tuples()]
                result["check_posts"] = check(SurveyRound.get_by_id(r.id), posted)
                joined = len(posted) - len(round_homes)
                db.close()
            _say(kind, n, f"posted members checked ({joined} joined): {result['check_posts']}")
            mark = phase("posts with the round", mark)
            result["load_average"].append(os.getloadavg()[0])

            with app.test_request_context():    # no round open again: the posts once more
                db.connect(reuse_if_open=True)
                with write_transaction():
                    rounds.close(SurveyRound.get_by_id(r.id), None,
                                 Figures.of(SurveyRound.get_by_id(r.id)).frozen())
                db.close()
            result["posts"]["closed"] = time_visits(url, secret, surveyor.username, link.token,
                                                    codes(after_homes), posts)
            _say(kind, n, f"posts, round closed: {result['posts']['closed']}")
            result["web"]["closed"] = ledger.time_posts(url, secret, posts)
            _say(kind, n, f"web posts, round closed: {result['web']['closed']}")
            phase("posts after closing it", mark)
            result["load_average"].append(os.getloadavg()[0])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    result["seconds"] = time.perf_counter() - began
    _say(kind, n, f"done in {result['seconds']:.0f} s: " + ", ".join(
        f"{k} {v:.0f} s" for k, v in phases.items()))
    return result


# --- the report ---------------------------------------------------------------------------------

def _page_cell(t: dict) -> str:
    if "wall" not in t:
        return "no route yet (404)" if t["status"] == 404 else f"**HTTP {t['status']}**"
    return f"{_ms(t)}, slowest {t['max'] * 1000:.0f}"


def _goal(r: dict) -> str:
    timed = [t for name, t in r["pages"].items() if name.startswith("coverage") and "wall" in t]
    if timed:
        w = max(t["wall"] for t in timed)
        return f"{w * 1000:.0f} ms: {ledger._met(w < GOAL)}"
    w = r["figures"]["views"]["wall"]
    said = "not there yet" if all(t.get("status") == 404 for name, t in r["pages"].items()
                                  if name.startswith("coverage")) else "**failed**"
    return (f"page {said}; figures alone {w * 1000:.0f} ms "
            f"({'under' if w < GOAL else '**over**'} 1 s)")


def section(results: list[dict]) -> list[str]:
    n = results[0]["n"]
    kinds = [r["database"] for r in results]
    lines = [f"## {n:,} households", "",
             "| | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(r) for r in results) + " |")

    def extra(which, field):
        def cell(r):
            before, during, after = (r[which][k][field] for k in ("none", "round", "closed"))
            base = (before + after) / 2
            return (f"{before * 1000:.1f} / {during * 1000:.1f} / {after * 1000:.1f} ms: "
                    f"{(during - base) * 1000:+.1f} ({100 * (during - base) / base:+.0f}%)")
        return cell
    row("office (communities / grids / surveyors)",
        lambda r: f"{r['office']['communities']} / {r['office']['grids']} / "
                  f"{r['office']['surveyors']}")
    row("load, households only (households / household_answer rows)",
        lambda r: f"{r['load']['seconds']:.0f} s ({r['load']['households']:,} / "
                  f"{r['load']['answers']:,})")
    row("rounds.create over the street (INSERT…SELECT + recount), wall (CPU)",
        lambda r: f"{r['create']['wall']:.2f} s ({r['create']['cpu']:.2f}), "
                  f"{r['members']:,} members")
    row("bulk state (bench only: done / attempted / not yet)",
        lambda r: f"{r['state_s']:.0f} s ({r['state']['done']:,} / {r['state']['attempted']:,} "
                  f"/ {r['state']['not_yet']:,})")
    row("rounds.recount after it", lambda r: f"{r['recount']['wall']:.2f} s "
                                             f"({r['recount']['cpu']:.2f})")
    row("rounds.assign of one grid (with its recount), median",
        lambda r: f"{r['assign']['median']:.2f} s ({r['assign']['median_cpu']:.2f})")
    row("assigning a community, grid by grid (total)",
        lambda r: f"{r['assign']['wall']:.2f} s ({r['assign']['cpu']:.2f}), "
                  f"{r['assign']['grids']} grids, {r['assign']['households']:,} households")
    row("real path on a sample: stored standing ≠ rounds.standing",
        lambda r: f"{r['check']['differing']} of {r['check']['checked']}")
    row("RoundCount kept by the hooks = recount",
        lambda r: "yes" if r["check"]["counts_equal"] and r["check_posts"]["counts_equal"]
        else f"**no** ({r['check']['count_keys_differing']} / "
             f"{r['check_posts']['count_keys_differing']} keys differ)")
    row("RoundCount rows the page reads", lambda r: f"{r['figures']['rows']:,}")
    for name in results[0]["pages"]:
        row(f"{name}", lambda r, name=name: _page_cell(r["pages"][name]))
    row("Figures.of(r), direct", lambda r: _ms(r["figures"]["of"]))
    row("Figures.of + totals, by_area ×3, area_total ×2, by_surveyor, by_day, outcomes",
        lambda r: _ms(r["figures"]["views"]))
    row(f"**coverage page, slowest case (goal < {GOAL:.0f} s)**", _goal)
    row("surveyor link: registration, CPU per post: before / round open / after",
        extra("posts", "registration_cpu"))
    row("surveyor link: revisit of a member, CPU per post: before / round open / after",
        extra("posts", "revisit_cpu"))
    row("open web form (no area): registration: before / round open / after",
        extra("web", "registration_cpu"))
    row("open web form (no area): revisit: before / round open / after",
        extra("web", "revisit_cpu"))
    row("posted members: stored standing ≠ rounds.standing",
        lambda r: f"{r['check_posts']['differing']} of {r['check_posts']['checked']}")
    row("run time of this database (s)", lambda r: f"{r['seconds']:.0f}")
    lines.append("")
    return lines


def report(results: list[dict]) -> str:
    loads = [x for r in results for x in r["load_average"]]
    posts = results[0]["posts"]["none"]["posts"]
    lines = [
        "# Survey rounds benchmark (bench/rounds.py)", "",
        f"{dt.date.today()} · commit {servers.commit()} · {servers.cpu_model()}, "
        f"{os.cpu_count()} cores · "
        f"Python {platform.python_version()} · SQLite {sqlite3.sqlite_version} · "
        "PostgreSQL at 127.0.0.1 · 1-minute load average during the run "
        f"{min(loads):.1f}–{max(loads):.1f} (the machine is shared)", "",
        "Each database and size is fresh: the demo `household` form, an office sized to the "
        "ledger (`make_office`), households loaded households-only by bench/ledger.py's loader, "
        f"a round over the street ({DAYS} days in), ~60% of its members done, ~10% attempted (a "
        "quarter flagged) written in bulk then `rounds.recount`, one community assigned grid by "
        "grid through `rounds.assign`, and a sample stored through the real path "
        "(submissions.store, ledger.record_outcome, voids, closings) and checked against "
        "`rounds.standing` and a recount. Pages through the Flask test client as a signed-in "
        "admin, median of 5 after a warm-up: wall (CPU of this process; on PostgreSQL the "
        "server's work is not in it). Posts: "
        f"{posts} registrations then {posts} revisits, CPU per post (time.process_time, "
        "in-process), before the round was created, with it "
        "open, and after it was closed (other members of the same grid each time); the "
        "extra is the open round's less the mean of before and after.", ""]
    for n in dict.fromkeys(r["n"] for r in results):
        lines += section([r for r in results if r["n"] == n])
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--district", action="store_true",
                        help="then the same at 1,000,000 households (a fresh database each)")
    parser.add_argument("--district-households", type=int, default=1_000_000,
                        help=argparse.SUPPRESS)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--per-grid", type=int, default=PER_GRID,
                        help="households a grid (0: make_office's 16 grids, 60 surveyors)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--results", default=str(RESULTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [args.households] + ([args.district_households] if args.district else [])
    results = [run(kind, n, args) for n in sizes for kind in args.databases.split(",")]
    text = report(results)
    print(text)
    Path(args.results).write_text(text)


if __name__ == "__main__":
    main()

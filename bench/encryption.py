"""What sealing identifiers at rest costs (issue 16: submission and export at most 1.2x without).

For each database (SQLite in a temporary folder, PostgreSQL in a schema of its own; both removed
afterwards) a fresh Doorstep with the demo forms and its own keys gets two areas with a surveyor
each. Registrations of the demo `household` form (a ledger form: name, phone, ID number, address
and members' names are `pii`) are posted to /visit/new/household through the Flask test client,
in rounds that alternate: a round with sealing on (the keys configured) by the first surveyor,
then a round with it switched off (`sealing_off`: seal, unseal and the keyed hash replaced by
what the code did before encryption) by the second. CPU (time.process_time) and wall time per
registration are the medians of the rounds. Each registration gets its own address, name, phone
and ID number.

Then each area gets more households (--export-rows, stored by `submissions.store` in
transactions of 500, sealed in the first area, plain in the second) and the exports of each
area are timed, alternating likewise: the responses' CSV with identifiers
(`/admin/forms/household/export.csv?pii=1&area=…`, which opens every row's sealed pii cells) and
the ledger's current state with identifiers (`/admin/households/export.csv?…&pii=1`), each
repeated; rows per CPU second (time.process_time: the test client runs the export in this
process) from the median. The default download (no identifiers) copies cells that are
never sealed and is timed too, as a control.

    .venv/bin/python bench/encryption.py [--databases sqlite,postgresql] [--posts 200]
                                         [--rounds 5] [--export-rows 5000] [--exports 9]
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import platform
import random
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.servers import cpu_model  # noqa: E402 (after the path)

FORM = "household"
GOAL = 1.2


@contextlib.contextmanager
def sealing_off():
    """The code as it was before encryption: nothing sealed or opened, look-ups by the plain
    normalised value. Every module that took a sealing function by name is switched too."""
    from service.reports import export, household_export, household_stats
    from service.storage import sealing

    def plain_hash(kind, value):
        return sealing.NORMALISE[kind](value)[:32] or None if value is not None else None
    same = (lambda text: text)
    saved = []
    for module, name, stand_in in ((sealing, "seal", same), (sealing, "unseal", same),
                                   (sealing, "lookup_hash", plain_hash),
                                   (export, "opener", lambda: same),
                                   (household_export, "opener", lambda: same),
                                   (household_stats, "opener", lambda: same)):
        saved.append((module, name, getattr(module, name)))
        setattr(module, name, stand_in)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def sealing_on():
    return contextlib.nullcontext()


# --- set-up ---------------------------------------------------------------------------------

def make_app(url: str, home: Path):
    from service import create_app
    from service.storage import keys
    config = {"DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(16),
              "FORMS_DIR": str(ROOT / "forms"), "KEYS_DIR": str(home / "instance"),
              "WTF_CSRF_ENABLED": False}
    keys.create_missing(config)
    return create_app(config)


def prepare(app) -> dict:
    """The schema, the demo forms published, two areas with a surveyor each and an admin, each
    with a signed-in session id."""
    from service.office import areas, auth
    from service.storage import schema
    from service.storage.db import db
    from service.storage.models import LoginSession, User
    with app.app_context():
        db.connect(reuse_if_open=True)
        schema.upgrade()
        app.extensions["doorstep.catalog"].publish_all()
        street = areas.create("B0", "基准街道")
        made = {"on": areas.create("B1", "加密社区", street),
                "off": areas.create("B2", "明文社区", street)}
        password = auth.hash_password(secrets.token_urlsafe(16))
        sessions = {}
        for name, role, area in (("bench-on", "surveyor", made["on"]),
                                 ("bench-off", "surveyor", made["off"]),
                                 ("bench-admin", "admin", None)):
            user = User.create(username=name, role=role, area=area, password_hash=password)
            sessions[name] = LoginSession.create(sid=secrets.token_urlsafe(32), user=user,
                                                 ip="127.0.0.1").sid
        db.close()
    return sessions


def signed_in(app, sid: str):
    client = app.test_client()
    with client.session_transaction() as session:
        session["sid"] = sid
    return client


def registration(fields: list, i: int, rng: random.Random) -> str:
    """The household's fields with its own identifiers."""
    own = {"address": f"幸福路{i}号{rng.randint(1, 30)}栋", "head_name": f"户主{i}",
           "head_phone": f"139{rng.randint(0, 99_999_999):08d}",
           "head_id_number": id_number(f"110105{1950 + i % 50}0101{i % 1000:03d}")}
    return urlencode([(k, own.get(k, v)) for k, v in fields] +
                     [("submission_uuid", str(uuid.uuid4()))])


def id_number(body: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


# --- measuring ------------------------------------------------------------------------------

def post_round(client, fields, start: int, posts: int, rng) -> tuple[float, float]:
    """CPU and wall seconds per registration over `posts` registrations."""
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(start, start + posts):
        reply = client.post(f"/visit/new/{FORM}", data=registration(fields, i, rng),
                            content_type="application/x-www-form-urlencoded")
        if reply.status_code != 200:
            raise SystemExit(f"registration: {reply.status_code} {reply.text[:300]}")
    return (time.process_time() - cpu) / posts, (time.perf_counter() - wall) / posts


def load(app, mode: str, area_code: str, n: int, switch) -> None:
    """n more households of `area_code`, written as a visit writes them, 500 a transaction."""
    from bench.synthetic import answers_for
    from service.records import submissions
    from service.records.submissions import Attribution, Visit
    from service.storage.db import db, write_transaction
    from service.storage.models import Area, User
    rng = random.Random(len(mode))
    with app.app_context(), switch():
        db.connect(reuse_if_open=True)
        spec = app.extensions["doorstep.catalog"].get(FORM)
        by = Attribution(channel="surveyor", area_id=Area.get(Area.code == area_code).id,
                         surveyor_id=User.get(User.username == f"bench-{mode}").id)
        for start in range(0, n, 500):
            with write_transaction():
                for i in range(start, min(n, start + 500)):
                    answers = answers_for(spec, rng, today=dt.date.today())
                    answers.update(address=f"幸福路{i}号", head_name=f"户主{i}",
                                   head_phone=f"139{i:08d}",
                                   head_id_number=id_number(f"11010519800101{i % 1000:03d}"))
                    submissions.store(spec, str(uuid.uuid4()), answers, consent=True,
                                      sensitive_consent=True, attribution=by, visit=Visit())
        db.close()


def export_seconds(client, path: str) -> tuple[float, int]:
    """CPU seconds of one streamed export (the test client runs it in this process: CPU time
    is what the export costs, whatever else the machine runs meanwhile) and its rows."""
    started = time.process_time()
    response = client.get(path, buffered=False)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code}")
    lines = sum(chunk.count(b"\n") for chunk in response.response)
    response.close()
    return time.process_time() - started, lines - 1


def run_database(kind: str, posts: int, rounds: int, export_rows: int, exports: int) -> dict:
    from bench.servers import database, household_answers, scratch
    home = scratch("doorstep-bench-encryption-")
    modes = {"on": sealing_on, "off": sealing_off}
    with database(kind, home) as url:
        app = make_app(url, home)
        sessions = prepare(app)
        fields = [(k, v) for k, v in household_answers() if k != "visit_date"] + \
            [("visit_date", dt.date.today().isoformat())]
        clients = {mode: signed_in(app, sessions[f"bench-{mode}"]) for mode in modes}
        rng = random.Random(11)
        for mode, switch in modes.items():          # warm-up: one of each, not counted
            with switch():
                post_round(clients[mode], fields, 10**6 + len(mode), 1, rng)
        cpu = {mode: [] for mode in modes}
        wall = {mode: [] for mode in modes}
        for r in range(rounds):
            for mode, switch in modes.items():
                with switch():
                    c, w = post_round(clients[mode], fields, (r * 2 + len(mode)) * posts, posts,
                                      rng)
                cpu[mode].append(c)
                wall[mode].append(w)
                print(f"  {kind} round {r + 1} sealing {mode}: {c * 1000:.2f} ms CPU, "
                      f"{w * 1000:.2f} ms a registration", flush=True)
        area = {"on": "B1", "off": "B2"}
        for mode, switch in modes.items():
            load(app, mode, area[mode], export_rows, switch)
        admin = signed_in(app, sessions["bench-admin"])
        paths = {"responses, pii": "/admin/forms/household/export.csv?pii=1&area={}",
                 "ledger, pii": "/admin/households/export.csv?form=household&pii=1&area={}",
                 "responses, default": "/admin/forms/household/export.csv?area={}"}
        rates = {name: {mode: [] for mode in modes} for name in paths}
        for _ in range(exports):
            for name, path in paths.items():
                for mode, switch in modes.items():
                    with switch():
                        seconds, rows = export_seconds(admin, path.format(area[mode]))
                    rates[name][mode].append(rows / seconds)
    med = statistics.median
    return {"kind": kind, "posts": posts * rounds, "rows": rows,
            "cpu": {m: med(v) for m, v in cpu.items()},
            "wall": {m: med(v) for m, v in wall.items()},
            "export": {name: {m: med(v) for m, v in by.items()} for name, by in rates.items()}}


def report(results: list[dict]) -> str:
    lines = [f"Sealing identifiers at rest ({platform.machine()}, {platform.python_version()}, "
             f"{cpu_model()}); goal: with sealing at most {GOAL}x the cost without.", "",
             "| database | measure | sealing off | sealing on | on ÷ off |",
             "|---|---|---|---|---|"]
    for r in results:
        for label, of in (("registration CPU (ms)", r["cpu"]),
                          ("registration wall (ms)", r["wall"])):
            lines.append(f"| {r['kind']} | {label} | {of['off'] * 1000:.2f} | {of['on'] * 1000:.2f}"
                         f" | {of['on'] / of['off']:.2f}× |")
        for name, of in r["export"].items():
            lines.append(f"| {r['kind']} | export {name} ({r['rows']:,} rows; rows per CPU second) | "
                         f"{of['off']:,.0f} | {of['on']:,.0f} | {of['off'] / of['on']:.2f}× |")
    lines += ["", "(for exports, on ÷ off is the cost: the rate without divided by the rate with)"]
    return "\n".join(lines)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--posts", type=int, default=200, help="registrations a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--export-rows", type=int, default=5000,
                        help="households stored in each area before the exports")
    parser.add_argument("--exports", type=int, default=9, help="exports of each kind and mode")
    args = parser.parse_args()
    results = []
    for kind in args.databases.split(","):
        print(f"{kind}: {args.rounds} rounds of {args.posts} registrations each way", flush=True)
        results.append(run_database(kind, args.posts, args.rounds, args.export_rows,
                                    args.exports))
        print(report(results[-1:]), flush=True)      # each database's figures as they come
    if len(results) > 1:
        print(report(results))


if __name__ == "__main__":
    main()

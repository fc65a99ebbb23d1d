"""Shared fixtures: a fresh app and database per test, and a `visitor` that fills forms like a phone.

Tests run with CSRF protection ON, as in production: the visitor reads the token from the page.
"""
from __future__ import annotations

import re
from contextlib import nullcontext
from pathlib import Path
from uuid import uuid4

import pytest
from flask import has_app_context

from service import create_app
from service.cli import main as cli_main
from service.storage import keys, schema
from service.storage.db import db

from .databases import (  # noqa: F401  (hooks and fixtures: SQLite or the PostgreSQL pass)
    POSTGRES, _schemas_of_the_run, _schemas_of_the_test, database_url, database_url_for,
    pytest_collection_modifyitems, pytest_sessionstart,
)

ROOT = Path(__file__).resolve().parent.parent
TEST_FORMS = Path(__file__).resolve().parent / "forms"
DEMO_FORMS = ROOT / "forms"


#: the keys folder of each test app's database: `doorstep` run on that database uses its keys
KEYS_OF_DATABASE: dict[str, str] = {}


def make_app(tmp_path, forms_dir=TEST_FORMS, **config):
    # the test's own field and lookup keys, made as `doorstep init` makes them, in the instance
    # folder that tests running `doorstep` commands name too (INSTANCE_PATH)
    config.setdefault("KEYS_DIR", str(tmp_path / "instance"))
    keys.create_missing(config)
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": config.pop("DATABASE_URL", None) or database_url_for(tmp_path),
        "FORMS_DIR": str(forms_dir),
        **config,
    })
    KEYS_OF_DATABASE[app.config["DATABASE_URL"]] = app.config["KEYS_DIR"]
    with app.app_context():
        db.connect(reuse_if_open=True)
        schema.upgrade()
        db.close()
    return app


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def demo_app(tmp_path):
    return make_app(tmp_path, DEMO_FORMS)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def cli():
    """Invoke the `doorstep` command group as a user would."""
    from click.testing import CliRunner

    def invoke(*args, env=None):
        if env and env.get("DATABASE_URL") in KEYS_OF_DATABASE and "KEYS_DIR" not in env:
            # the keys a test app's database was sealed with, as an office keeps them together
            env = {**env, "KEYS_DIR": KEYS_OF_DATABASE[env["DATABASE_URL"]]}
        return CliRunner().invoke(cli_main, list(args), env=env, catch_exceptions=False)
    return invoke


class Visitor:
    """Opens a form page and posts answers with the page's CSRF token and submission UUID."""

    def __init__(self, client):
        self.client = client

    def open(self, path, **kw):
        page = self.client.get(path, **kw)
        assert page.status_code == 200, page.text
        return page, hidden(page.text, "csrf_token"), hidden(page.text, "submission_uuid")

    def submit(self, path, answers: dict, uuid=None, **kw):
        _page, token, page_uuid = self.open(path)
        data = {"csrf_token": token, "submission_uuid": uuid or page_uuid, **answers}
        return self.client.post(path, data=data, **kw)


def hidden(html: str, name: str) -> str | None:
    m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or \
        re.search(rf'value="([^"]*)"[^>]*name="{name}"', html)
    return m.group(1) if m else None


def receipt(html: str) -> str | None:
    m = re.search(r'id="receipt">([^<]+)<', html)
    return m.group(1).strip() if m else None


def errors(html: str) -> list[str]:
    return [e.strip() for e in re.findall(r'class="error"[^>]*>([^<]+)<', html)]


@pytest.fixture
def visitor(client):
    return Visitor(client)


@pytest.fixture
def database(app):
    """The app's database, connected, for assertions on stored rows. No app context is held open:
    requests made meanwhile get their own (and their own `g`), as in production."""
    db.connect(reuse_if_open=True)
    yield db
    if not db.is_closed():
        db.close()


# The office (/admin): an area tree, one account per role, and submissions in each area.

PASSWORD = "door-to-door-2025"   # every office fixture account's password (10+ characters)
KITCHEN_ANSWERS = {"name": "张三", "employed": "yes", "n": 3,
                   "members": [{"mname": "李四", "age": 30}, {"mname": "王五", "age": 8}]}


@pytest.fixture
def fast_hashing(monkeypatch):
    """Argon2id at its cheapest cost. Production's cost (64 MiB, 3 passes) takes ~0.5 s a hash here,
    and the role table signs in dozens of times; hashes stay `$argon2id$`, only cheaper."""
    from argon2 import PasswordHasher

    from service.office import auth
    monkeypatch.setattr(auth, "hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


class Office:
    """What the `office` fixture made: ids by short name, and signed-in test clients."""

    def __init__(self, app):
        self.app = app
        self.areas: dict[str, int] = {}
        self.users: dict[str, int] = {}
        self.subs: dict[str, int] = {}
        self.receipts: dict[str, str] = {}

    def client(self, username=None, password=PASSWORD, **environ):
        """A browser in English; signed in as `username` when given."""
        client = self.app.test_client()
        client.environ_base.update(environ)
        client.set_cookie("lang", "en")
        if username:
            page = login(client, username, password)
            assert page.status_code == 302, page.text
        return client

    @staticmethod
    def snapshot():
        """Every row an office action could touch: equal snapshots mean nothing changed."""
        from service.storage import models
        with db.connection_context():
            return [list(model.select().order_by(model.id).tuples()) for model in (
                models.Area, models.User, models.LoginSession, models.Submission, models.Answer,
                models.Correction, models.StatusChange, models.AuditEvent)]

    def store(self, key, form_id="kitchen", answers=None, *, channel="web", area=None,
              surveyor=None, **kw):
        """Store a submission the way the public form does, attributed to an area/surveyor."""
        from service.records.submissions import Attribution, store
        spec = self.app.extensions["doorstep.catalog"].get(form_id)
        # inside the fixture's own app context and transaction, or in one of its own
        with nullcontext() if has_app_context() else self.app.app_context():
            self.app.extensions["doorstep.catalog"].ensure_published(spec)
            submission, _ = store(spec, str(uuid4()), KITCHEN_ANSWERS if answers is None
                                  else answers, attribution=Attribution(
                                      channel=channel, area_id=self.areas.get(area),
                                      surveyor_id=self.users.get(surveyor)), **kw)
        self.subs[key], self.receipts[key] = submission.id, submission.receipt
        return submission


def login(client, username, password=PASSWORD):
    """Sign in through /admin/login with the page's CSRF token, as a browser would."""
    token = hidden(client.get("/admin/login").text, "csrf_token")
    return client.post("/admin/login", data={"username": username, "password": password,
                                             "csrf_token": token})


def csrf_token(client) -> str:
    """A CSRF token of the client's current session (every office page carries one)."""
    token = hidden(client.get("/admin/password").text, "csrf_token")
    assert token, "no CSRF token on /admin/password (signed in?)"
    return token


@pytest.fixture
def office(app, fast_hashing):
    """Areas JD (街道) > SQ1 (社区) > G1 (网格), JD > SQ2; an admin, a manager of SQ1 (mgr1), a
    manager of SQ2 (mgr2), a surveyor in SQ1 (sv1); kitchen submissions in SQ1 (by sv1), G1, SQ2
    and one with no area."""
    from service.office import areas, auth
    from service.storage.models import User
    made = Office(app)
    with app.app_context(), db.atomic():   # one commit: a sync per row would dominate the test
        jd = areas.create("JD", "幸福街道")
        sq1 = areas.create("SQ1", "东湖社区", jd)
        g1 = areas.create("G1", "东湖一网格", sq1)
        sq2 = areas.create("SQ2", "西山社区", jd)
        made.areas = {"JD": jd.id, "SQ1": sq1.id, "G1": g1.id, "SQ2": sq2.id}
        password_hash = auth.hash_password(PASSWORD)
        for username, role, area in (("admin", "admin", None), ("mgr1", "manager", sq1),
                                     ("mgr2", "manager", sq2), ("sv1", "surveyor", sq1)):
            made.users[username] = User.create(username=username, role=role, area=area,
                                               password_hash=password_hash).id
        made.store("sq1", channel="surveyor", area="SQ1", surveyor="sv1")
        made.store("g1", channel="self", area="G1")
        made.store("sq2", area="SQ2")
        made.store("none")
    return made


@pytest.fixture
def clock(monkeypatch):
    """`clock(moment)`: the next submissions are received at `moment` (naive UTC), so their office
    day and received time are known to the test."""
    from service.records import submissions

    def set_to(moment):
        monkeypatch.setattr(submissions, "utcnow", lambda: moment)
    return set_to


def command_on(app, cli, tmp_path, group: str):
    """`doorstep <group> …` run against `app`'s database and forms: (exit code, stdout, stderr)."""
    env = {"DATABASE_URL": app.config["DATABASE_URL"], "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance")}

    def run(*args):
        try:
            done = cli(group, *args, env=env)
            return done.exit_code, done.stdout, done.stderr
        finally:
            use_database_of(app)
    return run


def use_database_of(app) -> None:
    """Point the process's one database handle (and its keys) at `app`'s: each app made re-points
    them, so a test reusing an app made earlier (`office_once`) calls this first."""
    from service.storage import sealing
    from service.storage.db import open_database
    db.initialize(open_database(app.config["DATABASE_URL"]))
    sealing.reload_keys(app)     # and its keys, for what is read outside its app context


@pytest.fixture(scope="module")
def office_once(tmp_path_factory):
    """The office fixture's areas and accounts (without its submissions) in an app made once per
    test module: for tests that only read a data set, which would otherwise cost ~0.5 s a test.
    Tests using it call `use_database_of(office_once.app)` first (see there)."""
    from argon2 import PasswordHasher

    from service.office import areas
    from service.storage.models import User
    made = Office(make_app(tmp_path_factory.mktemp("office")))
    with made.app.app_context(), db.atomic():
        jd = areas.create("JD", "幸福街道")
        sq1 = areas.create("SQ1", "东湖社区", jd)
        made.areas = {"JD": jd.id, "SQ1": sq1.id, "G1": areas.create("G1", "东湖一网格", sq1).id,
                      "SQ2": areas.create("SQ2", "西山社区", jd).id}
        cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
        for username, role, area in (("admin", "admin", None), ("mgr1", "manager", "SQ1"),
                                     ("mgr2", "manager", "SQ2"), ("sv1", "surveyor", "SQ1")):
            made.users[username] = User.create(username=username, role=role, password_hash=cheap,
                                               area=made.areas.get(area)).id
    return made


# QR codes as a phone's scanner reads them (zxing-cpp), from images and from rendered PDF pages.

def decode_image(image) -> list:
    """Every QR code found in a PIL image, as zxing-cpp results (text, ec_level, position)."""
    import zxingcpp
    return [r for r in zxingcpp.read_barcodes(image.convert("L"))
            if r.valid and r.format == zxingcpp.BarcodeFormat.QRCode]


def decode_pdf(pdf: bytes, dpi: int = 150) -> list[list]:
    """The QR codes of each page of a PDF rendered at `dpi` (pdfium), page by page."""
    import pypdfium2
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [decode_image(page.render(scale=dpi / 72).to_pil()) for page in document]
    finally:
        document.close()


def code_width_mm(result, dpi: int = 150) -> float:
    """The printed width of a decoded code (its symbol, without the quiet zone)."""
    p = result.position
    return (p.top_right.x - p.top_left.x) / dpi * 25.4

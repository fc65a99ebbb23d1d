"""API tokens: made by `doorstep tokens create` (printed once, on the last line) or in the office,
kept only as a SHA-256; a token acts with exactly its role's capabilities in its area; unknown,
expired and revoked ones get a 401 problem; requests are limited per token across instances; no
session cookie, no CSRF, CORS only where configured; every error under /api/v1 is a problem in
the requested language, never an HTML page."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from service.api import auth
from service.office import policy
from service.storage.db import db
from service.storage.models import Area, AuditEvent, User
from service.storage.token_models import ApiToken

from .api_support import bearer, is_problem, make_token
from .conftest import command_on, csrf_token, make_app, use_database_of

FORMS = "/api/v1/forms"


@pytest.fixture
def tokens_cli(app, cli, tmp_path, office):
    return command_on(app, cli, tmp_path, "tokens")


def test_the_command_line_prints_the_token_once_on_its_last_line(app, client, tokens_cli):
    code, out, _err = tokens_cli("create", "--name", "district-platform", "--role", "manager",
                                 "--area", "SQ1", "--expires", "2099-12-31")
    assert code == 0, out
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("ds_") and len(secret) == 46
    with app.app_context(), db.connection_context():
        token = ApiToken.get(ApiToken.name == "district-platform")
        assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert (token.role, token.area.code, token.expires) == ("manager", "SQ1",
                                                                dt.date(2099, 12, 31))
        stored = [str(value) for row in ApiToken.select().tuples() for value in row]
        assert not any(secret in value for value in stored)      # only its hash is kept
        assert AuditEvent.get(AuditEvent.action == "token_created").target == "district-platform"
    assert client.get(FORMS, headers=bearer(secret)).status_code == 200

    code, out, _err = tokens_cli("list")
    assert code == 0 and "district-platform\tmanager\tSQ1\tactive\t2099-12-31" in out
    assert secret not in out
    assert tokens_cli("revoke", "district-platform")[0] == 0
    is_problem(client.get(FORMS, headers=bearer(secret)), 401)
    assert "district-platform\tmanager\tSQ1\trevoked" in tokens_cli("list")[1]
    assert tokens_cli("revoke", "district-platform")[0] == 1       # already revoked


@pytest.mark.parametrize("args, says", [
    (("--name", "x", "--role", "manager"), "needs an area"),
    (("--name", "x", "--role", "surveyor", "--area", "NOPE"), "no area with code"),
    (("--name", "x", "--role", "admin", "--expires", "2001-01-01"), "already passed"),
    (("--name", "y" * 51, "--role", "admin"), "1 to 50 characters"),
])
def test_the_command_line_refuses_a_token_it_cannot_make(tokens_cli, args, says):
    code, _out, err = tokens_cli("create", *args)
    assert code == 1 and says in err, err


def test_a_name_is_one_token(tokens_cli):
    assert tokens_cli("create", "--name", "bi", "--role", "admin")[0] == 0
    code, _out, err = tokens_cli("create", "--name", "bi", "--role", "admin")
    assert code == 1 and "exists already" in err


def test_unknown_expired_and_revoked_tokens_are_refused_alike(app, client, office):
    good = make_token(app, "good", "admin")
    old = make_token(app, "old", "admin", expires=dt.date.today() + dt.timedelta(days=1))
    gone = make_token(app, "gone", "admin")
    with app.app_context(), db.connection_context():
        ApiToken.update(expires=dt.date(2020, 1, 1)).where(ApiToken.name == "old").execute()
        auth.revoke(ApiToken.get(ApiToken.name == "gone"))
    assert client.get(FORMS, headers=bearer(good)).status_code == 200
    for headers in (bearer(old), bearer(gone), bearer("ds_" + "x" * 43), bearer(good[:-1]),
                    {"Authorization": good}, {"Authorization": f"Basic {good}"}, {}):
        problem = is_problem(client.get(FORMS, headers=headers), 401)
        assert "Bearer" in problem["detail"]
    assert client.get(FORMS).headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_acts_with_its_roles_capabilities_in_its_area(app, office):
    with app.app_context(), db.connection_context():
        for role, area in (("admin", None), ("manager", "SQ1"), ("surveyor", "SQ1")):
            grant = policy.grant_of(f"t-{role}", role, Area.get_or_none(Area.code == area))
            person = User.get(User.role == role)
            for action in policy.ACTIONS:
                assert policy.can(grant, action) == policy.can(person, action), (role, action)
            for code in ("JD", "SQ1", "G1", "SQ2"):
                place = Area.get(Area.code == code)
                assert policy.sees_area(grant, place) == policy.sees_area(person, place)
        assert "tokens.manage" in policy.capabilities_of(User.get(User.username == "admin"))
        assert "tokens.manage" not in policy.CAPABILITIES["manager"]


def test_last_use_is_kept(app, client, office):
    secret = make_token(app, "bi", "admin")
    client.get(FORMS, headers=bearer(secret))
    with app.app_context(), db.connection_context():
        assert ApiToken.get(ApiToken.name == "bi").last_used_at is not None


def test_the_rate_limit_is_per_token_and_shared_by_instances(tmp_path, office):
    """Two apps on one database stand for two instances: the count is the database's."""
    first = make_app(tmp_path, DATABASE_URL=office.app.config["DATABASE_URL"], API_RATE_LIMIT=3)
    second = make_app(tmp_path, DATABASE_URL=office.app.config["DATABASE_URL"], API_RATE_LIMIT=3)
    use_database_of(first)
    busy, calm = make_token(first, "busy", "admin"), make_token(first, "calm", "admin")
    answers = [app.test_client().get(FORMS, headers=bearer(busy)).status_code
               for app in (first, second, first)]
    assert answers == [200, 200, 200]
    refused = second.test_client().get(FORMS, headers=bearer(busy))
    is_problem(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    assert first.test_client().get(FORMS, headers=bearer(calm)).status_code == 200


def test_retry_after_waits_until_the_sliding_count_is_under_the_limit():
    """throttle.py weighs the previous window by the share of it still in reach."""
    assert auth.retry_after(4, 3, now=1200.0) == 60 + 15       # 1 - 3/4 of the next window
    assert auth.retry_after(100, 3, now=1230.0) == 30 + 59     # nearly all of it
    assert auth.retry_after(3.5, 3, now=1259.5) == 1 + 9


def test_no_session_cookie_and_no_csrf(app, client, office):
    secret = make_token(app, "bi", "admin")
    signed_in = office.client("admin")
    csrf_token(signed_in)        # a signed-in browser with a session and a CSRF token ...
    for c in (client, signed_in):
        answer = c.get(FORMS, headers=bearer(secret))
        assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
        post = c.post("/api/v1/forms/kitchen/submissions", json={}, headers=bearer(secret))
        assert post.status_code == 422 and "Set-Cookie" not in post.headers   # not a CSRF 400
    # ... and a session alone opens nothing: the API knows tokens only
    is_problem(signed_in.get(FORMS), 401)


def test_cors_is_off_unless_configured(tmp_path, office):
    secret = make_token(office.app, "bi", "admin")
    plain = office.app.test_client().get(FORMS, headers={**bearer(secret),
                                                         "Origin": "https://bi.example"})
    assert "Access-Control-Allow-Origin" not in plain.headers
    app = make_app(tmp_path, DATABASE_URL=office.app.config["DATABASE_URL"],
                   API_CORS_ORIGINS=("https://bi.example",))
    client = app.test_client()
    allowed = client.get(FORMS, headers={**bearer(secret), "Origin": "https://bi.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://bi.example"
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    other = client.get(FORMS, headers={**bearer(secret), "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options(FORMS, headers={
        "Origin": "https://bi.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


def test_every_error_is_a_problem_in_the_language_asked(app, client, office, monkeypatch):
    secret = make_token(app, "bi", "admin")
    zh = is_problem(client.get("/api/v1/nothing-here", headers=bearer(secret, "zh")), 404)
    en = is_problem(client.get("/api/v1/nothing-here", headers=bearer(secret, "en")), 404)
    assert zh["title"] == "未找到" and en["title"] == "Not found"
    default = is_problem(client.get("/api/v1/nothing-here"), 404)
    assert default["title"] == "未找到"                 # Chinese when nothing is asked
    is_problem(client.delete(FORMS, headers=bearer(secret)), 405)
    for form_post in ({"answers": "x"}, None):
        is_problem(client.post("/api/v1/forms/kitchen/submissions", data=form_post,
                               headers=bearer(secret)), 415)
    is_problem(client.post("/api/v1/forms/kitchen/submissions", data="x" * 2_000_000,
                           headers={**bearer(secret), "Content-Type": "application/json"}), 413)
    from service.api import forms

    def broken(*_args):
        raise RuntimeError("a bug")
    monkeypatch.setattr(forms, "summary", broken)
    problem = is_problem(client.get(FORMS, headers=bearer(secret, "zh")), 500)
    assert "<html" not in problem["detail"]


def test_admins_make_list_and_revoke_tokens_in_the_office(app, client, office):
    admin = office.client("admin")
    page = admin.get("/admin/tokens/new")
    assert page.status_code == 200
    made = admin.post("/admin/tokens/new", data={
        "csrf_token": csrf_token(admin), "name": "reporting", "role": "manager",
        "area": "SQ2", "expires": ""})
    assert made.status_code == 200
    secret = next(line.split(">")[1].split("<")[0] for line in made.text.splitlines()
                  if 'id="api-token"' in line)
    assert client.get(FORMS, headers=bearer(secret)).status_code == 200
    listing = admin.get("/admin/tokens").text
    assert "reporting" in listing and secret not in listing
    refused = admin.post("/admin/tokens/new", data={
        "csrf_token": csrf_token(admin), "name": "x", "role": "surveyor", "area": ""})
    assert refused.status_code == 400 and "needs an area" in refused.text
    with app.app_context(), db.connection_context():
        token = ApiToken.get(ApiToken.name == "reporting")
        assert token.created_by.username == "admin"
    revoked = admin.post(f"/admin/tokens/{token.id}/revoke",
                         data={"csrf_token": csrf_token(admin)})
    assert revoked.status_code == 302
    is_problem(client.get(FORMS, headers=bearer(secret)), 401)
    with app.app_context(), db.connection_context():
        events = {(e.action, e.username, e.target) for e in AuditEvent.select()}
    assert {("token_created", "admin", "reporting"), ("token_revoked", "admin", "reporting")} \
        <= events


@pytest.mark.parametrize("who", ["mgr1", "sv1"])
def test_only_admins_see_the_token_pages(office, who):
    browser = office.client(who)
    for path in ("/admin/tokens", "/admin/tokens/new"):
        assert browser.get(path).status_code == 404
    assert browser.post("/admin/tokens/1/revoke").status_code in (400, 404)

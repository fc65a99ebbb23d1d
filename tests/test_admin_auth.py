"""Signing in and out: passwords, throttling, rotating and ending sessions, cookies, one-time
passwords.

A login is the server-side `LoginSession` row the cookie names, so what these tests check is what a
stolen or copied cookie can still do after logout, a password change or a disabled account.
"""
from __future__ import annotations

import re

import pytest

from service.storage.db import db
from service.storage.models import AuditEvent, LoginSession, User

from .conftest import PASSWORD, csrf_token, hidden, login, make_app

NEW_PASSWORD = "a-brand-new-password"


def events(action):
    with db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id))


def user(username):
    with db.connection_context():
        return User.get(User.username == username)


def session_cookie(client):
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def with_cookie(office, value):
    """Another browser that presents a copied session cookie."""
    thief = office.client()
    thief.set_cookie("session", value)
    return thief


def signed_in(client) -> bool:
    return client.get("/admin/").status_code == 200


# Passwords

def test_a_wrong_password_is_refused_and_logged(office):
    client = office.client()
    page = login(client, "mgr1", "not-the-password")
    assert page.status_code == 401
    assert "Wrong username or password" in page.text
    assert not signed_in(client)
    [failed] = events("login_failed")
    assert (failed.username, failed.user_id, failed.ip) == ("mgr1", None, "127.0.0.1")
    assert events("login") == []


def test_an_unknown_username_is_refused_the_same_way(office):
    page = login(office.client(), "nobody", PASSWORD)
    assert page.status_code == 401
    assert "Wrong username or password" in page.text
    assert [e.username for e in events("login_failed")] == ["nobody"]


def test_a_good_login_is_logged_and_lands_in_the_office(office):
    page = login(office.client(), "mgr1")
    assert (page.status_code, page.headers["Location"]) == (302, "/admin/")
    [event] = events("login")
    assert (event.username, event.user_id) == ("mgr1", office.users["mgr1"])


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_login_never_redirects_off_site(office, target):
    client = office.client()
    token = hidden(client.get("/admin/login").text, "csrf_token")
    page = client.post("/admin/login", query_string={"next": target},
                       data={"username": "mgr1", "password": PASSWORD, "csrf_token": token})
    assert page.status_code == 302
    location = page.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location


def test_production_hashes_passwords_with_argon2id_at_rfc_9106_low_memory_cost():
    """The hasher production uses, not the cheap one the office fixtures swap in (`fast_hashing`).

    service/office/auth.py takes argon2-cffi's default profile, which is RFC 9106's second
    recommended option, "low memory": Argon2id, 64 MiB, 3 passes, 4 lanes, 16-byte salt, 32-byte
    hash. That is acceptable for an office server: ~0.5 s a sign-in here, 64 MiB a concurrent
    sign-in. The figures are written out, so an argon2-cffi release that changed its defaults fails
    here instead of silently changing what production stores."""
    from argon2 import Type, extract_parameters, profiles

    from service.office import auth
    stored = auth.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    used = extract_parameters(stored)
    assert (used.type, used.version, used.memory_cost, used.time_cost, used.parallelism,
            used.salt_len, used.hash_len) == (Type.ID, 19, 64 * 1024, 3, 4, 16, 32)
    assert used == profiles.RFC_9106_LOW_MEMORY
    assert auth.hasher.verify(stored, PASSWORD)
    assert not auth.hasher.check_needs_rehash(stored)


def test_passwords_are_stored_as_argon2id_hashes(office):
    stored = user("mgr1").password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


# Throttling

def test_the_sixth_failed_attempt_on_an_account_is_refused_even_with_the_right_password(office):
    client = office.client()
    for _ in range(5):
        assert login(client, "mgr1", "guess").status_code == 401
    assert login(client, "mgr1", PASSWORD).status_code == 429
    assert not signed_in(client)
    # the throttle is per account: another account from the same address still signs in
    assert login(office.client(), "mgr2").status_code == 302


def test_failed_attempts_from_one_address_are_throttled_across_accounts(app, office):
    app.config["LOGIN_LIMIT_IP"] = "6/10minutes"
    here = office.client(REMOTE_ADDR="10.0.0.1")
    for username in ("mgr1", "mgr2", "sv1") * 2:
        assert login(here, username, "guess").status_code == 401
    assert login(here, "admin").status_code == 429
    assert login(office.client(REMOTE_ADDR="10.0.0.2"), "admin").status_code == 302


def test_successful_logins_do_not_count_towards_the_throttle(office):
    for _ in range(7):
        assert login(office.client(), "mgr1").status_code == 302


# Sessions

def test_signing_in_rotates_the_session_and_its_csrf_token(office):
    client = office.client()
    old_token = hidden(client.get("/admin/login").text, "csrf_token")
    before = session_cookie(client)
    page = client.post("/admin/login", data={"username": "mgr1", "password": PASSWORD,
                                             "csrf_token": old_token})
    assert page.status_code == 302
    after = session_cookie(client)
    assert before and after and before != after
    # the pre-login cookie (say, one planted by someone else) is still anonymous
    assert not signed_in(with_cookie(office, before))
    # and the pre-login CSRF token no longer works for this session
    assert client.post("/admin/logout", data={"csrf_token": old_token}).status_code == 400
    assert signed_in(client)


def test_logging_out_ends_the_session_on_the_server(office):
    client = office.client("mgr1")
    copied = session_cookie(client)
    assert signed_in(with_cookie(office, copied))
    page = client.post("/admin/logout", data={"csrf_token": csrf_token(client)})
    assert (page.status_code, page.headers["Location"]) == (302, "/admin/login")
    assert not signed_in(client)
    assert not signed_in(with_cookie(office, copied))   # a copy of the old cookie is dead too
    with db.connection_context():
        assert [s.ended_at is not None for s in LoginSession.select().where(
            LoginSession.user == office.users["mgr1"])] == [True]
    assert [e.username for e in events("logout")] == ["mgr1"]


def test_a_disabled_user_is_signed_out_everywhere_and_cannot_sign_in(office):
    surveyor, admin = office.client("sv1"), office.client("admin")
    page = admin.post(f"/admin/users/{office.users['sv1']}/disable",
                      data={"csrf_token": csrf_token(admin)})
    assert page.status_code == 302
    assert user("sv1").active is False
    assert not signed_in(surveyor)
    assert login(office.client(), "sv1").status_code == 401
    assert [e.target for e in events("user_disabled")] == [f"user:{office.users['sv1']}"]

    admin.post(f"/admin/users/{office.users['sv1']}/enable", data={"csrf_token": csrf_token(admin)})
    assert login(office.client(), "sv1").status_code == 302


def test_the_session_cookie_is_httponly_and_samesite_lax(office):
    client = office.client()
    token = hidden(client.get("/admin/login").text, "csrf_token")
    page = client.post("/admin/login", data={"username": "mgr1", "password": PASSWORD,
                                             "csrf_token": token})
    cookie = next(c for c in page.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie   # plain http in this test: a Secure cookie would be lost


def test_the_session_cookie_is_secure_when_served_over_https(tmp_path, monkeypatch, fast_hashing):
    from service.office import auth
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    app = make_app(tmp_path / "https")
    with db.connection_context():
        User.create(username="admin", role="admin", password_hash=auth.hash_password(PASSWORD))
    client = app.test_client()
    token = hidden(client.get("/admin/login", base_url="https://localhost").text, "csrf_token")
    page = client.post("/admin/login", base_url="https://localhost",
                       headers={"Referer": "https://localhost/admin/login"},   # checked on https
                       data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert page.status_code == 302
    cookie = next(c for c in page.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# Changing passwords

def one_time_password_for(office, username):
    """An admin creates an account in the office UI; the page shows its one-time password."""
    admin = office.client("admin")
    page = admin.post("/admin/users/new", data={
        "username": username, "display_name": "新同事", "role": "surveyor", "area": "SQ1",
        "csrf_token": csrf_token(admin)})
    assert page.status_code == 200, page.text
    return re.search(r'id="one-time-password">([^<]+)<', page.text).group(1)


def test_a_one_time_password_leads_to_the_password_page_first(office):
    password = one_time_password_for(office, "newbie")
    assert user("newbie").must_change_password is True
    client = office.client()
    assert login(client, "newbie", password).status_code == 302
    for path in ("/admin/", "/admin/forms/kitchen/responses", "/admin/users"):
        page = client.get(path)
        assert (page.status_code, page.headers["Location"]) == (302, "/admin/password"), path
    page = client.get("/admin/password")
    assert page.status_code == 200
    assert "one-time password" in page.text

    token = csrf_token(client)
    page = client.post("/admin/password", data={"current": password, "new": NEW_PASSWORD,
                                                "confirm": NEW_PASSWORD, "csrf_token": token})
    assert (page.status_code, page.headers["Location"]) == (302, "/admin/")
    assert client.get("/admin/").status_code == 200
    assert user("newbie").must_change_password is False
    assert login(office.client(), "newbie", password).status_code == 401
    assert login(office.client(), "newbie", NEW_PASSWORD).status_code == 302
    assert [e.username for e in events("password_changed")] == ["newbie"]


@pytest.mark.parametrize("current, new, confirm, message", [
    ("wrong-password", NEW_PASSWORD, NEW_PASSWORD, "The current password is wrong."),
    (PASSWORD, "short", "short", "Use at least 10 characters."),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "The two new passwords differ."),
    (PASSWORD, PASSWORD, PASSWORD, "Choose a password different from the current one."),
])
def test_a_refused_password_change_says_why_and_changes_nothing(office, current, new, confirm,
                                                                message):
    client = office.client("mgr1")
    before = user("mgr1").password_hash
    page = client.post("/admin/password", data={"current": current, "new": new,
                                                "confirm": confirm,
                                                "csrf_token": csrf_token(client)})
    assert page.status_code == 400
    assert message in page.text
    assert user("mgr1").password_hash == before
    assert events("password_changed") == []


def test_changing_the_password_ends_the_users_other_sessions(office):
    here, elsewhere = office.client("mgr1"), office.client("mgr1")
    page = here.post("/admin/password", data={"current": PASSWORD, "new": NEW_PASSWORD,
                                              "confirm": NEW_PASSWORD,
                                              "csrf_token": csrf_token(here)})
    assert page.status_code == 302
    assert signed_in(here)
    assert not signed_in(elsewhere)


def test_a_reset_password_is_one_time_and_ends_the_users_sessions(office):
    surveyor, manager = office.client("sv1"), office.client("mgr1")
    page = manager.post(f"/admin/users/{office.users['sv1']}/reset",
                        data={"csrf_token": csrf_token(manager)})
    assert page.status_code == 200
    password = re.search(r'id="one-time-password">([^<]+)<', page.text).group(1)
    assert not signed_in(surveyor)
    assert login(office.client(), "sv1", PASSWORD).status_code == 401
    client = office.client()
    assert login(client, "sv1", password).status_code == 302
    assert client.get("/admin/").headers["Location"] == "/admin/password"


# Language

def test_the_sign_in_page_is_in_chinese_by_default(app):
    page = app.test_client().get("/admin/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "工作人员登录" in page.text

"""Guessable passwords are refused wherever a password is chosen (the office's password page, the
`doorstep users create` command), each with its reason in the user's language; a passphrase passes,
and the one-time passwords Doorstep makes pass too."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from flask_babel import force_locale

from service.cli import main as cli_main
from service.office import auth, passwords
from service.storage.db import db
from service.storage.models import AuditEvent, User

from .conftest import PASSWORD, TEST_FORMS, csrf_token

REFUSED = [
    ("1111111111", "repeat", "The password repeats the same characters", "重复"),
    ("1234567890", "common", "one of the most common passwords", "最常见"),
    ("abcdefghijk", "sequence", "a sequence or a keyboard row", "连续"),
    ("qwertyuiop", "common", "one of the most common passwords", "最常见"),
    ("password123", "common", "one of the most common passwords", "最常见"),
    ("MGR1-lantern-orchard", "username", "must not contain the username", "用户名"),
    ("short", "short", "Use at least 10 characters.", "10"),
]
GOOD = ["lantern-orchard-river-42", "东湖社区的清晨很安静啊", PASSWORD, "correct horse battery staple"]


@pytest.mark.parametrize("password, why, english, chinese", REFUSED)
def test_a_guessable_password_is_refused_with_its_reason(app, password, why, english, chinese):
    assert passwords.weakness(password, "mgr1") == why
    with app.app_context():
        with force_locale("en"):
            assert english in passwords.problem(password, "mgr1")
        with force_locale("zh"):
            assert chinese in passwords.problem(password, "mgr1")


@pytest.mark.parametrize("password", GOOD)
def test_a_passphrase_passes(password):
    assert passwords.weakness(password, "mgr1") is None


def test_one_time_passwords_pass_the_same_rules():
    assert all(passwords.weakness(auth.generate_password()) is None for _ in range(50))


@pytest.mark.parametrize("new, message", [
    ("1111111111", "The password repeats the same characters"),
    ("qwertyuiop", "one of the most common passwords"),
    ("mgr1-lantern-orchard", "The password must not contain the username."),
])
def test_the_password_page_refuses_a_guessable_one_and_keeps_the_old(office, new, message):
    client = office.client("mgr1")
    with db.connection_context():
        before = User.get(User.username == "mgr1").password_hash
    page = client.post("/admin/password", data={"current": PASSWORD, "new": new, "confirm": new,
                                                "csrf_token": csrf_token(client)})
    assert page.status_code == 400 and message in page.text
    with db.connection_context():
        assert User.get(User.username == "mgr1").password_hash == before
        assert not AuditEvent.select().where(AuditEvent.action == "password_changed").exists()


def test_the_password_page_says_why_in_chinese(office):
    client = office.client("mgr1")
    client.set_cookie("lang", "zh")
    page = client.post("/admin/password", data={"current": PASSWORD, "new": "1234567890",
                                                "confirm": "1234567890",
                                                "csrf_token": csrf_token(client)})
    assert page.status_code == 400 and "最常见" in page.text


@pytest.mark.parametrize("lang, password, message", [
    ("en", "password123", "one of the most common passwords"),
    ("zh", "1111111111", "重复"),
    ("en", "zhao-lantern-orchard", "must not contain the username"),
])
def test_the_command_refuses_a_guessable_password(app, tmp_path, fast_hashing, lang, password,
                                                  message):
    env = {"DATABASE_URL": app.config["DATABASE_URL"], "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance")}
    result = CliRunner().invoke(cli_main, ["users", "create", "--username", "zhao", "--role",
                                           "admin", "--password-stdin", "--lang", lang],
                                input=password + "\n", env=env, catch_exceptions=False)
    assert result.exit_code == 1 and message in result.output
    with db.connection_context():
        assert not User.select().where(User.username == "zhao").exists()

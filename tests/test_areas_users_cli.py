"""The operator's commands: `doorstep areas import`, `doorstep users create` and the first admin
that `doorstep init` makes. Each is run as a shell user would, against the test's database."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from service.cli import main as cli_main
from service.storage.db import db
from service.storage.models import Area, AuditEvent, User

from .conftest import TEST_FORMS, login

TREE = """code,name,parent_code
JD,幸福街道,
SQ1,东湖社区,JD
G1,东湖一网格,SQ1
SQ2,西山社区,JD
"""
NEW_PASSWORD = "my-own-password-1"


@pytest.fixture
def doorstep(app, tmp_path):
    """Run `doorstep ARGS` with the environment pointing at this test's database."""
    env = {"DATABASE_URL": app.config["DATABASE_URL"], "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "cli-test-secret", "INSTANCE_PATH": str(tmp_path / "instance")}

    def run(*args, input=None):
        return CliRunner().invoke(cli_main, list(args), input=input, env=env,
                                  catch_exceptions=False)
    return run


def csv_file(tmp_path, text, name="areas.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def tree() -> dict[str, tuple[str, str | None]]:
    """code -> (name, parent code), with every stored path checked against the parent links."""
    with db.connection_context():
        areas = {a.id: a for a in Area.select()}
        for a in areas.values():
            expected = (areas[a.parent_id].path if a.parent_id else "/") + f"{a.id}/"
            assert a.path == expected, f"{a.code} has path {a.path}, expected {expected}"
        return {a.code: (a.name, areas[a.parent_id].code if a.parent_id else None)
                for a in areas.values()}


# Areas

def test_importing_areas_builds_the_tree(doorstep, tmp_path):
    result = doorstep("areas", "import", csv_file(tmp_path, TREE))
    assert result.exit_code == 0, result.output
    assert "4 area(s) created, 0 updated" in result.output
    assert tree() == {"JD": ("幸福街道", None), "SQ1": ("东湖社区", "JD"),
                      "G1": ("东湖一网格", "SQ1"), "SQ2": ("西山社区", "JD")}
    with db.connection_context():
        [event] = AuditEvent.select().where(AuditEvent.action == "areas_imported")
        assert (event.username, event.ip) == ("cli", "cli")


def test_a_child_may_come_before_its_parent(doorstep, tmp_path):
    text = "code,name,parent_code\nG1,一网格,SQ1\nSQ1,东湖社区,JD\nJD,幸福街道,\n"
    assert doorstep("areas", "import", csv_file(tmp_path, text)).exit_code == 0
    assert tree() == {"G1": ("一网格", "SQ1"), "SQ1": ("东湖社区", "JD"), "JD": ("幸福街道", None)}


def test_reimporting_updates_names_and_parents_without_duplicates(doorstep, tmp_path):
    assert doorstep("areas", "import", csv_file(tmp_path, TREE)).exit_code == 0
    again = TREE.replace("东湖社区", "东湖新社区").replace("G1,东湖一网格,SQ1", "G1,东湖一网格,SQ2")
    result = doorstep("areas", "import", csv_file(tmp_path, again, "again.csv"))
    assert result.exit_code == 0, result.output
    assert "0 area(s) created, 4 updated" in result.output
    assert tree() == {"JD": ("幸福街道", None), "SQ1": ("东湖新社区", "JD"),
                      "G1": ("东湖一网格", "SQ2"), "SQ2": ("西山社区", "JD")}


def test_an_excel_csv_with_a_byte_order_mark_and_crlf_imports(doorstep, tmp_path):
    path = csv_file(tmp_path, "\ufeff" + TREE.replace("\n", "\r\n"))
    result = doorstep("areas", "import", path)
    assert result.exit_code == 0, result.output
    assert tree()["SQ1"] == ("东湖社区", "JD")


def test_a_csv_that_is_not_utf8_is_refused_with_a_hint(doorstep, tmp_path):
    result = doorstep("areas", "import", csv_file(tmp_path, TREE, encoding="gbk"))
    assert result.exit_code == 1
    assert "is not UTF-8 text (save it as CSV UTF-8)" in result.output
    assert tree() == {}


@pytest.mark.parametrize("text, problem", [
    ("code,name,parent_code\nJD,幸福街道,\nSQ1,,JD\nSQ2,西山社区,JD\n",
     "line 3: code and name are required"),
    ("code,name,parent_code\nJD,幸福街道,\nSQ1,东湖社区,NOWHERE\n",
     "line 3: parent_code 'NOWHERE' is not a known area"),
    ("code,name,parent_code\nA,甲,B\nB,乙,A\nC,丙,\n",
     "line 2: area 'A' is part of a parent cycle"),
    ("code,name,parent_code\nJD,幸福街道,\nJD,又一个,\n",
     "line 3: code 'JD' already appears on line 2"),
    ("code,name,parent_code\nJD,幸福街道,,extra\n",
     "line 2: expected 3 columns code,name,parent_code"),
    ("代码,名称,上级\nJD,幸福街道,\n", "line 1: the header must be code,name,parent_code"),
])
def test_a_bad_row_is_reported_by_line_and_nothing_of_the_file_is_applied(doorstep, tmp_path,
                                                                          text, problem):
    result = doorstep("areas", "import", csv_file(tmp_path, text))
    assert result.exit_code == 1
    assert problem in result.output
    assert "nothing was imported" in result.output
    assert tree() == {}


def test_a_bad_file_leaves_the_existing_tree_untouched(doorstep, tmp_path):
    assert doorstep("areas", "import", csv_file(tmp_path, TREE)).exit_code == 0
    # renames JD, and makes JD a child of its own grandchild: a cycle through stored areas
    bad = "code,name,parent_code\nJD,改名街道,G1\nNEW,新社区,JD\n"
    result = doorstep("areas", "import", csv_file(tmp_path, bad, "bad.csv"))
    assert result.exit_code == 1
    assert "line 2: area 'JD' is part of a parent cycle" in result.output
    assert tree() == {"JD": ("幸福街道", None), "SQ1": ("东湖社区", "JD"),
                      "G1": ("东湖一网格", "SQ1"), "SQ2": ("西山社区", "JD")}


# Users

@pytest.fixture
def areas_imported(doorstep, tmp_path):
    assert doorstep("areas", "import", csv_file(tmp_path, TREE)).exit_code == 0


def test_creating_a_user_with_a_password_from_stdin(app, doorstep, areas_imported):
    result = doorstep("users", "create", "--username", "wang", "--role", "manager",
                      "--area", "SQ1", "--name", "王主任", "--password-stdin",
                      input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "created manager 'wang' in SQ1" in result.output
    with db.connection_context():
        wang = User.get(User.username == "wang")
        assert (wang.role, wang.area.code, wang.display_name, wang.must_change_password) == (
            "manager", "SQ1", "王主任", False)
    # hashed with Argon2id at a real cost (OWASP: at least 19 MiB of memory)
    params = dict(p.split("=") for p in wang.password_hash.split("$")[3].split(","))
    assert wang.password_hash.startswith("$argon2id$")
    assert int(params["m"]) >= 19 * 1024 and NEW_PASSWORD not in wang.password_hash
    client = app.test_client()
    assert login(client, "wang", NEW_PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_creating_a_user_prompts_for_the_password_twice(doorstep, areas_imported, fast_hashing):
    result = doorstep("users", "create", "--username", "li", "--role", "surveyor",
                      "--area", "G1", input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    with db.connection_context():
        assert User.get(User.username == "li").area.code == "G1"


def test_an_admin_needs_no_area(doorstep, fast_hashing):
    result = doorstep("users", "create", "--username", "boss", "--role", "admin",
                      "--password-stdin", input=NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    with db.connection_context():
        assert User.get(User.username == "boss").area is None


@pytest.mark.parametrize("args, stdin, message", [
    (["--role", "mayor", "--area", "SQ1"], NEW_PASSWORD, "Invalid value for '--role'"),
    (["--role", "manager", "--area", "NOWHERE"], NEW_PASSWORD, "no area with code 'NOWHERE'"),
    (["--role", "surveyor"], NEW_PASSWORD, "a surveyor belongs to an area: give --area CODE"),
    (["--role", "surveyor", "--area", "SQ1"], "short", "at least 10 characters"),
    (["--role", "surveyor", "--area", "SQ1"], "", "at least 10 characters"),
])
def test_bad_input_exits_non_zero_with_a_clear_message(doorstep, areas_imported, fast_hashing,
                                                       args, stdin, message):
    result = doorstep("users", "create", "--username", "zhao", *args, "--password-stdin",
                      input=stdin)
    assert result.exit_code != 0
    assert message in result.output
    with db.connection_context():
        assert not User.select().where(User.username == "zhao").exists()


def test_a_taken_username_is_refused(doorstep, areas_imported, fast_hashing):
    create = ("users", "create", "--username", "zhao", "--role", "surveyor", "--area", "SQ1",
              "--password-stdin")
    assert doorstep(*create, input=NEW_PASSWORD).exit_code == 0
    result = doorstep(*create, input="another-password")
    assert result.exit_code == 1
    assert "user 'zhao' already exists" in result.output
    with db.connection_context():
        assert User.select().where(User.username == "zhao").count() == 1


# The first admin

def one_time_password(output: str) -> str:
    return re.search(r"one-time password: (\S+)", output).group(1)


def test_init_creates_a_first_admin_whose_password_must_be_changed(app, doorstep, fast_hashing):
    result = doorstep("init")
    assert result.exit_code == 0, result.output
    password = one_time_password(result.output)
    with db.connection_context():
        [admin] = User.select()
        assert (admin.username, admin.role, admin.must_change_password) == ("admin", "admin", True)

    client = app.test_client()
    assert login(client, "admin", password).status_code == 302
    assert client.get("/admin/").headers["Location"] == "/admin/password"
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/admin/password").text).group(1)
    page = client.post("/admin/password", data={"current": password, "new": NEW_PASSWORD,
                                                "confirm": NEW_PASSWORD, "csrf_token": token})
    assert page.status_code == 302
    assert client.get("/admin/").status_code == 200
    # the one-time password is spent
    assert login(app.test_client(), "admin", password).status_code == 401
    assert login(app.test_client(), "admin", NEW_PASSWORD).status_code == 302


def test_a_second_init_makes_no_second_admin(doorstep, fast_hashing):
    first = doorstep("init")
    second = doorstep("init")
    assert first.exit_code == second.exit_code == 0
    assert "one-time password" in first.output
    assert "one-time password" not in second.output
    with db.connection_context():
        assert [u.username for u in User.select()] == ["admin"]

"""Forms made by the office live in the database (issue 14): `doorstep forms import FILE.xlsx`
stores a workbook's form as a draft or its next version, `forms publish|close|reopen` change what
is served, and every running instance serves the change on its next request, without a restart.
Workbooks are written here with openpyxl (tests/test_xlsform.py's helpers)."""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import pytest

from service.storage.db import db
from service.storage.models import Area, AuditEvent, Form, FormVersion, Submission

from . import live
from .conftest import TEST_FORMS, make_app, use_database_of
from .test_xlsform import book, q

POLL = {"form_id": "poll", "form_title": "民意调查", "form_title_en": "Opinion poll",
        "version": "1"}


def poll(label="你满意吗", *extra, settings=None) -> bytes:
    """A small plain form: one required yes/no question (its Chinese label is `label`)."""
    return book([q("select_one yn", "happy", label, "Happy?", required="yes"), *extra],
                settings={**POLL, **(settings or {})})


@pytest.fixture
def app(tmp_path):
    """The app checks the forms' change mark on every request (production: at most once a second)."""
    return make_app(tmp_path, FORMS_CHECK_SECONDS=0)


@pytest.fixture
def doorstep(app, cli, tmp_path):
    """`doorstep …` on the app's database, as a second process would be (its own app and
    catalog); the workbook `data` is written to a file first when given."""
    env = {"DATABASE_URL": app.config["DATABASE_URL"], "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance")}

    def run(*args, data: bytes | None = None):
        if data is not None:
            path = tmp_path / f"w{len(list(tmp_path.glob('w*.xlsx')))}.xlsx"
            path.write_bytes(data)
            args = (*args, str(path))
        try:
            return cli(*args, env=env)
        finally:
            use_database_of(app)
    run.app = app
    return run


def rows():
    """Every row a forms command may write: equal before and after means nothing was stored."""
    with db.connection_context():
        return [list(m.select().order_by(m.id).tuples()) for m in (Form, FormVersion, AuditEvent)]


def versions(form_id="poll"):
    with db.connection_context():
        return [(v.version, v.published) for v in
                FormVersion.select().where(FormVersion.form_id == form_id).order_by(
                    FormVersion.version)]


def audit_actions():
    with db.connection_context():
        return [(e.action, e.username, json.loads(e.detail).get("version")) for e in
                AuditEvent.select().where(AuditEvent.action.startswith("form_"))
                .order_by(AuditEvent.id)]


def test_an_imported_form_is_a_draft_until_published_then_served_without_a_restart(
        client, doorstep):
    assert client.get("/f/poll").status_code == 404
    done = doorstep("forms", "import", data=poll())
    assert done.exit_code == 0, done.output
    assert "poll v1: stored a new form (form draft)" in done.output
    assert versions() == [(1, False)]
    assert client.get("/f/poll").status_code == 404          # a draft is stored, not served
    assert "poll" not in client.get("/").text
    done = doorstep("forms", "publish", "poll")
    assert done.exit_code == 0, done.output
    assert "poll v1: published (form published)" in done.output
    page = client.get("/f/poll")                              # the same running app
    assert page.status_code == 200 and "你满意吗" in page.text
    assert "/f/poll" in client.get("/").text
    assert audit_actions() == [("form_imported", "cli", 1), ("form_published", "cli", 1)]
    again = doorstep("forms", "publish", "poll")
    assert "already so" in again.output and len(audit_actions()) == 2


def test_a_changed_workbook_is_the_next_version_and_old_submissions_keep_theirs(
        client, visitor, doorstep, tmp_path):
    assert doorstep("forms", "import", "--publish", data=poll()).exit_code == 0
    assert visitor.submit("/f/poll", {"happy": "yes"}).status_code == 200
    same = doorstep("forms", "import", "--publish", data=poll())
    assert "poll v1: unchanged: nothing stored" in same.output
    assert versions() == [(1, True)]
    with db.connection_context():
        first = FormVersion.get(form_id="poll", version=1).digest
    done = doorstep("forms", "import", "--publish", data=poll(
        "您对社区满意吗", q("text", "why", "为什么", "Why")))
    assert done.exit_code == 0, done.output
    assert "poll v2: stored a new version (form published)" in done.output
    page = client.get("/f/poll")
    assert "您对社区满意吗" in page.text and 'name="why"' in page.text
    assert visitor.submit("/f/poll", {"happy": "no", "why": "太吵"}).status_code == 200
    with db.connection_context():
        assert FormVersion.get(form_id="poll", version=1).digest == first   # never changed
        assert sorted(s.form_version for s in Submission.select()) == [1, 2]
    out = tmp_path / "poll.csv"
    exported = doorstep("export", "poll", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    text = out.read_text(encoding="utf-8-sig")
    assert "2 response(s) written" in exported.output and "太吵" in text


def test_a_pending_draft_is_replaced_by_the_next_import_and_the_served_version_stays(
        client, doorstep):
    doorstep("forms", "import", "--publish", data=poll())
    doorstep("forms", "import", data=poll("第二版"))
    assert versions() == [(1, True), (2, False)]
    done = doorstep("forms", "import", data=poll("第三稿"))
    assert "poll v2: replaced the draft (form published)" in done.output
    assert versions() == [(1, True), (2, False)]
    assert "你满意吗" in client.get("/f/poll").text        # v1 is still what is served
    assert doorstep("forms", "publish", "poll").exit_code == 0
    assert "第三稿" in client.get("/f/poll").text
    assert doorstep("forms", "publish", "poll", "--version", "1").exit_code == 0
    assert "你满意吗" in client.get("/f/poll").text        # back to the first
    same = doorstep("forms", "import", "--publish", data=poll("第三稿"))
    assert "poll v2: published" in same.output and "第三稿" in client.get("/f/poll").text
    assert versions() == [(1, True), (2, True)]
    missing = doorstep("forms", "publish", "poll", "--version", "9")
    assert missing.exit_code == 1 and "没有第 9 版" in missing.output     # in Chinese by default
    missing = doorstep("forms", "publish", "poll", "--version", "9", "--lang", "en")
    assert "form 'poll' has no version 9" in missing.output


def test_the_workbook_of_a_served_form_imports_as_unchanged(doorstep):
    """The office's round trip: download a form as XLSForm, import it back untouched."""
    from service.formspec import load_file, xlsform_out
    data = xlsform_out.write(load_file(TEST_FORMS / "kitchen.yaml"))
    same = doorstep("forms", "import", "--publish", data=data)
    assert same.exit_code == 0, same.output
    assert "kitchen v1: unchanged: nothing stored (form published)" in same.output
    assert versions("kitchen") == [(1, True)]


def test_a_workbook_turning_a_ledger_form_plain_or_back_is_refused_and_stores_nothing(doorstep):
    before = rows()
    plain = doorstep("forms", "import", "--publish", "--lang", "en",
                     data=poll(settings={"form_id": "ledger"}))
    assert plain.exit_code == 1
    lines = [line for line in plain.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "ledger form" in lines[0] and "nothing was stored" in lines[0]
    assert rows() == before
    doorstep("forms", "import", "--publish", data=poll())
    before = rows()
    ledger = book([q("text", "address", "地址", "Address", required="yes")],
                  settings={**POLL, "ledger": "yes"})
    refused = doorstep("forms", "import", "--lang", "zh", data=ledger)
    assert refused.exit_code == 1 and "不能" in refused.output, refused.output
    assert rows() == before


def test_a_change_colliding_with_another_is_one_line_and_stores_nothing(doorstep, monkeypatch):
    from peewee import IntegrityError

    from service.formspec import publishing

    def collide(*_args, **_kw):
        raise IntegrityError("duplicate key value violates unique constraint")
    monkeypatch.setattr(publishing, "import_spec", collide)
    before = rows()
    done = doorstep("forms", "import", data=poll())
    assert done.exit_code == 1 and "at the same time" in done.output
    assert rows() == before


def test_a_bad_workbook_is_refused_line_by_line_and_stores_nothing(doorstep):
    before = rows()
    bad = doorstep("forms", "import", "--publish", data=book(
        [q("select_one yn", "happy", "满意", "Happy"), q("calculate", "x", calculation="1+1")],
        settings=POLL))
    assert bad.exit_code == 1
    assert "error: w0.xlsx: survey 第 3 行（type）" in bad.output
    assert "1 problem(s) in w0.xlsx" in bad.output
    assert rows() == before


def test_a_closed_form_says_so_in_the_visitors_language_and_its_data_stays_exportable(
        app, client, visitor, doorstep, tmp_path):
    doorstep("forms", "import", "--publish", data=poll())
    with db.connection_context():
        area = Area.create(code="JD", name="幸福街道")
        area.path = f"/{area.id}/"
        area.save()
    made = doorstep("links", "create", "poll", "--area", "JD")
    assert made.exit_code == 0, made.output
    link = "/s/" + made.output.strip().splitlines()[-1].rsplit("/s/", 1)[1]
    assert visitor.submit(link, {"happy": "yes"}).status_code == 200
    done = doorstep("forms", "close", "poll")
    assert "poll v1: closed (form closed)" in done.output
    for path in ("/f/poll", link):
        zh = client.get(path, headers={"Accept-Language": "zh-CN"})
        assert zh.status_code == 410 and "此表已关闭" in zh.text
        english = app.test_client()
        english.set_cookie("lang", "en")
        en = english.get(path)
        assert en.status_code == 410 and "This form is closed" in en.text
    posted = client.post("/f/poll", data={"happy": "no"})
    assert posted.status_code == 410
    queued = english.post("/f/poll", data={"happy": "no"}, headers={"X-Doorstep-Outbox": "1"})
    assert queued.status_code == 410 and "closed this form" in queued.json["message"]
    assert "form" in queued.json["errors"]        # the outbox keeps it as not accepted
    assert "/f/poll" not in client.get("/").text
    out = tmp_path / "poll.csv"
    exported = doorstep("export", "poll", "--out", str(out))
    assert exported.exit_code == 0 and "1 response(s) written" in exported.output
    reopened = doorstep("forms", "reopen", "poll")
    assert "poll v1: reopened (form published)" in reopened.output
    assert client.get("/f/poll").status_code == 200 and client.get(link).status_code == 200
    assert [a for a, _u, _v in audit_actions()] == [
        "form_imported", "form_closed", "form_reopened"]


def test_a_form_of_forms_dir_can_be_closed_and_gets_its_row_from_the_seed(client, doorstep):
    assert client.get("/f/kitchen").status_code == 200          # served from its file
    assert doorstep("forms", "close", "kitchen").exit_code == 0
    assert client.get("/f/kitchen").status_code == 410
    assert versions("kitchen") == [(1, True)]
    unknown = doorstep("forms", "close", "nothing", "--lang", "en")
    assert unknown.exit_code == 1 and "no form 'nothing'" in unknown.output


def test_the_office_still_reads_and_exports_a_closed_form(office, client, doorstep):
    assert doorstep("forms", "close", "kitchen").exit_code == 0
    assert client.get("/f/kitchen").status_code == 410
    admin = office.client("admin")
    assert "closed to the public" in admin.get("/admin/").text
    assert admin.get("/admin/forms/kitchen").status_code == 200
    assert admin.get("/admin/forms/kitchen/responses").status_code == 200
    assert admin.get(f"/admin/responses/{office.subs['sq1']}").status_code == 200
    with admin.get("/admin/forms/kitchen/export.xlsx") as export:     # (closes the file sent)
        assert export.status_code == 200 and export.data[:2] == b"PK"


def test_a_closed_ledger_forms_visit_pages_say_so(office, doorstep):
    surveyor = office.client("sv1")
    assert surveyor.get("/visit/new/ledger").status_code == 200
    assert "/visit/new/ledger" in surveyor.get("/visit").text
    assert doorstep("forms", "close", "ledger").exit_code == 0
    page = surveyor.get("/visit/new/ledger")
    assert page.status_code == 410 and "This form is closed" in page.text
    assert "/visit/new/ledger" not in surveyor.get("/visit").text
    assert doorstep("forms", "reopen", "ledger").exit_code == 0
    assert surveyor.get("/visit/new/ledger").status_code == 200


def test_a_process_asks_the_database_at_most_every_forms_check_seconds(tmp_path, doorstep,
                                                                      monkeypatch):
    slow = make_app(tmp_path / "slow", FORMS_CHECK_SECONDS=60,
                    DATABASE_URL=doorstep.app.config["DATABASE_URL"])
    client, catalog = slow.test_client(), slow.extensions["doorstep.catalog"]
    assert client.get("/f/poll").status_code == 404          # checked now: next in a minute
    assert doorstep("forms", "import", "--publish", data=poll()).exit_code == 0
    use_database_of(slow)
    assert client.get("/f/poll").status_code == 404          # not asked again yet
    catalog._checked -= 61                                    # a minute later
    assert client.get("/f/poll").status_code == 200


def test_init_seeds_every_form_of_forms_dir_and_keeps_an_office_version(client, doorstep):
    assert doorstep("init").exit_code == 0
    with db.connection_context():
        assert {(f.form_id, f.state, f.version) for f in Form.select()} == {
            (p.stem, "published", 1) for p in TEST_FORMS.glob("*.yaml")}
    assert doorstep("forms", "close", "survey").exit_code == 0
    again = doorstep("init")
    assert again.exit_code == 0, again.output
    assert client.get("/f/survey").status_code == 410             # init reopens nothing


# Two instances on one PostgreSQL database: gunicorn servers, each with its own catalog.

@pytest.mark.slow
@pytest.mark.postgres_only
def test_two_instances_serve_a_newly_published_form_on_their_next_request(app, doorstep,
                                                                          tmp_path):
    env = {**os.environ, "DATABASE_URL": app.config["DATABASE_URL"],
           "FORMS_DIR": str(TEST_FORMS), "SECRET_KEY": "two-instances"}

    def status(url):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    with live.served({**env, "INSTANCE_PATH": str(tmp_path / "a")}, tmp_path / "a.log",
                     "-w", "1") as one, \
            live.served({**env, "INSTANCE_PATH": str(tmp_path / "b")}, tmp_path / "b.log",
                        "-w", "1") as two:
        assert doorstep("forms", "import", data=poll()).exit_code == 0
        assert [status(f"{u}/f/poll") for u in (one, two)] == [404, 404]
        assert doorstep("forms", "publish", "poll").exit_code == 0
        time.sleep(1.2)          # each process checks the change mark at most once a second
        assert [status(f"{u}/f/poll") for u in (one, two)] == [200, 200]
        assert doorstep("forms", "close", "poll").exit_code == 0
        time.sleep(1.2)
        assert [status(f"{u}/f/poll") for u in (one, two)] == [410, 410]

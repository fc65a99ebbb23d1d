"""Forms made by the office, through /admin/forms (issue 14): a workbook uploaded becomes a draft,
previewed in words and as the phone shows it in both languages, then published (the public page
serves it at once), discarded, closed and reopened; a file that is not a form's workbook, or one
that would turn a ledger form plain, gets one clear message and stores nothing. Admins only, unless
MANAGERS_MAY_PUBLISH_FORMS lets managers too."""
from __future__ import annotations

import io
import json
import re

import pytest

from service.cli.forms import messages_in
from service.formspec import load_file, parse, summary
from service.storage.db import db
from service.storage.models import AuditEvent

from .conftest import TEST_FORMS, csrf_token, hidden, make_app
from .test_forms_db import POLL, poll, rows, versions
from .test_xlsform import FILES, book, q


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path, FORMS_CHECK_SECONDS=0)


def survey() -> bytes:
    """Two sections; a condition on a choice, an identifying and a sensitive question."""
    return book([
        q("begin group", "work", "工作", "Work"),
        q("select_one job", "job", "就业状况", "Employment", required="yes"),
        q("integer", "age", "年龄", "Age"),
        q("text", "why", "原因", "Why", relevant="${job} = 'out'"),
        q("text", "pension", "养老金", "Pension", relevant="${job} != 'out' and ${age} >= 60"),
        q("end group", None),
        q("begin group", "you", "您", "You"),
        q("phone", "mobile", "手机", "Mobile", pii="yes"),
        q("select_one yn", "ill", "是否患病", "Ill?", sensitive="yes"),
        q("end group", None),
    ], choices=[{"list_name": "job", "name": "in", "label::中文 (zh)": "在职",
                 "label::English (en)": "Employed"},
                {"list_name": "job", "name": "out", "label::中文 (zh)": "失业",
                 "label::English (en)": "Unemployed"},
                {"list_name": "yn", "name": "yes", "label::中文 (zh)": "是",
                 "label::English (en)": "Yes"},
                {"list_name": "yn", "name": "no", "label::中文 (zh)": "否",
                 "label::English (en)": "No"}],
        settings={**POLL, "sensitive_consent": "以下涉及健康", "sensitive_consent_en":
                  "Health questions follow", "sensitive_consent_label": "我同意",
                  "sensitive_consent_label_en": "I agree"})


def upload(client, data: bytes, name="poll.xlsx"):
    return client.post("/admin/forms", data={"csrf_token": csrf_token(client),
                                             "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def post(client, path):
    return client.post(path, data={"csrf_token": csrf_token(client)})


def events():
    with db.connection_context():
        return [(e.action, e.username, json.loads(e.detail).get("version")) for e in
                AuditEvent.select().where(AuditEvent.action.startswith("form_"))
                .order_by(AuditEvent.id)]


def test_an_upload_is_previewed_in_words_and_on_two_phones_then_published(office, client):
    admin = office.client("admin")
    assert admin.get("/admin/forms").status_code == 200
    done = upload(admin, survey())
    assert done.status_code == 302 and done.location.endswith("/admin/forms/poll/draft")
    assert versions() == [(1, False)] and client.get("/f/poll").status_code == 404
    page = admin.get("/admin/forms/poll/draft").text
    assert "Opinion poll" in page and "poll v1" in page
    assert "A plain form" in page and "asked only after their own consent" in page
    shown = dict(re.findall(r'data-q="(\w+)".*?class="shown">(.*?)</td>', page, re.S))
    assert shown["why"] == "shown when Employment is Unemployed"
    assert shown["pension"] == "shown when Employment is not Unemployed and Age ≥ 60"
    assert shown["job"] == "always"
    assert re.search(r'data-q="mobile".*?class="tag pii"', page, re.S)
    assert re.search(r'data-q="ill".*?class="tag sensitive"', page, re.S)
    assert not re.search(r'data-q="job"[^\n]*\n[^\n]*\n[^\n]*\n[^\n]*\n[^\n]*class="tag', page)
    frames = re.findall(r'<iframe src="([^"]+)"[^>]*data-lang="(\w+)" width="360"', page)
    assert [lang for _src, lang in frames] == ["zh", "en"]
    zh, en = (admin.get(src) for src, _lang in frames)
    assert zh.status_code == en.status_code == 200
    assert "就业状况" in zh.text and "失业" in zh.text and 'lang="zh-CN"' in zh.text
    assert "Employment" in en.text and "Unemployed" in en.text and '<html lang="en"' in en.text
    for frame in (zh, en):      # the public page's markup, that cannot be sent
        assert 'class="survey" method="get"' in frame.text
        assert re.search(r'<button type="submit" class="primary" disabled>', frame.text)
        assert "outbox.js" not in frame.text and "form.js" in frame.text
        assert 'class="langs"' not in frame.text     # one language per frame: no switch
    assert admin.post(frames[0][0]).status_code == 405
    assert admin.get("/admin/forms/poll/draft/phone/fr").status_code == 404
    # the office's language is not changed by the frames
    assert "Opinion poll" in admin.get("/admin/forms/poll/draft").text
    zh_office = admin.get("/admin/forms/poll/draft?lang=zh").text
    shown = dict(re.findall(r'data-q="(\w+)".*?class="shown">(.*?)</td>', zh_office, re.S))
    assert shown["why"] == "当就业状况为失业时显示"
    assert shown["pension"] == "当就业状况不为失业且年龄 ≥ 60时显示"
    assert "身份信息" in zh_office and "敏感" in zh_office and "手机上的样子" in zh_office
    assert "普通表单" in zh_office
    done = post(admin, "/admin/forms/poll/publish")
    assert done.status_code == 302
    page = client.get("/f/poll")
    assert page.status_code == 200 and "就业状况" in page.text
    assert versions() == [(1, True)]
    assert events() == [("form_imported", "admin", 1), ("form_published", "admin", 1)]
    assert admin.get("/admin/forms/poll/draft").status_code == 404       # no draft any more
    listing = admin.get("/admin/forms?lang=en").text
    assert re.search(r'data-form="poll" data-state="published"', listing)
    assert "published v1" in listing and "/admin/forms/poll/form.xlsx?version=1" in listing
    assert re.search(r'data-form="kitchen" data-state="published"', listing)   # the seeds too
    assert 'href="/admin/forms/kitchen"' in listing                          # its dashboard


def test_a_new_version_of_a_seed_form_is_a_draft_next_to_the_served_file(office, client):
    admin = office.client("admin")
    kitchen = book([q("text", "name", "姓名", "Name")], settings={
        "form_id": "kitchen", "form_title": "厨房", "form_title_en": "Kitchen", "version": "1"})
    assert upload(admin, kitchen).status_code == 302
    page = admin.get("/admin/forms/kitchen/draft").text
    assert "kitchen v2" in page and "Questions removed:" in page
    assert client.get("/f/kitchen").status_code == 200 and 'name="employed"' in \
        client.get("/f/kitchen").text                     # the file's version is still served
    post(admin, "/admin/forms/kitchen/publish")
    assert 'name="employed"' not in client.get("/f/kitchen").text


def test_a_new_version_shows_what_it_changes_and_the_served_one_stays_until_published(
        office, client):
    admin = office.client("admin")
    upload(admin, poll())
    post(admin, "/admin/forms/poll/publish")
    same = upload(admin, poll())
    assert same.status_code == 302 and same.location.endswith("/admin/forms")
    assert "nothing was stored" in admin.get("/admin/forms").text and versions() == [(1, True)]
    upload(admin, book([q("text", "why", "为什么", "Why")], settings=POLL))
    page = admin.get("/admin/forms/poll/draft").text
    assert re.search(r"Questions added: Why</p>", page)
    assert re.search(r"Questions removed: Happy\?</p>", page)
    assert "Version 1 is served now" in page
    assert "你满意吗" in client.get("/f/poll").text                      # v1 still served
    assert post(admin, "/admin/forms/poll/discard").status_code == 302
    assert versions() == [(1, True)] and "你满意吗" in client.get("/f/poll").text
    upload(admin, book([q("text", "why", "为什么", "Why")], settings=POLL))
    post(admin, "/admin/forms/poll/publish")
    assert "为什么" in client.get("/f/poll").text and versions() == [(1, True), (2, True)]
    assert [a for a, _u, _v in events()] == ["form_imported", "form_published", "form_imported",
                                             "form_draft_discarded", "form_imported",
                                             "form_published"]


def test_a_draft_of_a_new_form_discarded_leaves_nothing(office):
    admin = office.client("admin")
    before = rows()
    upload(admin, poll())
    post(admin, "/admin/forms/poll/discard")
    assert versions() == [] and 'data-form="poll"' not in admin.get("/admin/forms").text
    assert rows()[:2] == before[:2]


BAD = {**{case: (data, message) for case, (data, message) in FILES.items()
          if case not in ("too large",)},
       "a form with problems": (
           book([q("calculate", "c", calculation="1")], settings={**POLL, "version": "x"}),
           "settings row 2 (version): the version must be a whole number from 1")}


@pytest.mark.parametrize("case", list(BAD))
def test_a_file_that_is_not_a_forms_workbook_gets_its_problems_and_stores_nothing(office, case):
    admin = office.client("admin")
    before = rows()
    data, message = BAD[case]
    page = upload(admin, data)
    assert page.status_code == 400
    problems = re.search(r'id="upload-problems">(.*?)</div>', page.text, re.S)
    assert problems, page.text
    lines = re.findall(r'<li class="error">(.*?)</li>', problems.group(1))
    assert lines and lines[0].startswith(message[:30].replace("'", "&#39;")), lines
    assert rows() == before


def test_problems_are_said_in_chinese_to_a_chinese_office(office):
    admin = office.client("admin")
    admin.set_cookie("lang", "zh")
    page = upload(admin, b"id: t\n")
    assert page.status_code == 400
    assert "没有保存任何内容" in page.text and "这不是 Excel 工作簿（.xlsx）。" in page.text


def test_a_workbook_over_the_upload_limit_is_the_friendly_413(office):
    office.app.config["MAX_CONTENT_LENGTH"] = 64 * 1024    # kept in memory by the test client
    admin = office.client("admin")
    before = rows()
    page = upload(admin, poll() + bytes(64 * 1024))
    assert page.status_code == 413 and "too large" in page.text
    assert rows() == before


def test_a_workbook_turning_a_ledger_form_plain_is_refused_and_stores_nothing(office):
    admin = office.client("admin")
    before = rows()
    page = upload(admin, poll(settings={"form_id": "ledger"}))
    assert page.status_code == 400
    assert "is a ledger form" in page.text and "nothing was stored" in page.text
    assert rows() == before


def test_no_file_or_no_token_stores_nothing(office):
    admin = office.client("admin")
    before = rows()
    page = admin.post("/admin/forms", data={"csrf_token": csrf_token(admin)})
    assert page.status_code == 400 and "Choose a workbook to upload." in page.text
    assert admin.post("/admin/forms", data={"file": (io.BytesIO(poll()), "p.xlsx")},
                      content_type="multipart/form-data").status_code == 400
    assert rows() == before


def test_close_and_reopen(office, client):
    admin = office.client("admin")
    upload(admin, poll())
    assert post(admin, "/admin/forms/poll/close").status_code == 302
    assert "is a draft: publish it first" in admin.get("/admin/forms").text
    post(admin, "/admin/forms/poll/publish")
    assert post(admin, "/admin/forms/poll/close").status_code == 302
    assert client.get("/f/poll").status_code == 410
    assert 'data-form="poll" data-state="closed"' in admin.get("/admin/forms").text
    assert post(admin, "/admin/forms/poll/reopen").status_code == 302
    assert client.get("/f/poll").status_code == 200
    assert post(admin, "/admin/forms/kitchen/close").status_code == 302      # a seed form too
    assert client.get("/f/kitchen").status_code == 410
    assert post(admin, "/admin/forms/nope/close").status_code == 404
    assert admin.post("/admin/forms/poll/close").status_code == 400           # no token
    assert [a for a, _u, _v in events()] == [
        "form_imported", "form_published", "form_closed", "form_reopened", "form_closed"]


PAGES = ["/admin/forms", "/admin/forms/poll/draft", "/admin/forms/poll/draft/phone/zh"]
POSTS = ["/admin/forms", "/admin/forms/poll/publish", "/admin/forms/poll/discard",
         "/admin/forms/kitchen/close", "/admin/forms/kitchen/reopen"]


@pytest.mark.parametrize("who", ["sv1", "mgr1"])
def test_surveyors_and_managers_get_404(office, who):
    upload(office.client("admin"), poll())
    user = office.client(who)
    token = csrf_token(user)
    before = rows()
    for path in PAGES:
        assert user.get(path).status_code == 404, path
    for path in POSTS:
        assert user.post(path, data={"csrf_token": token}).status_code == 404, path
    assert "/admin/forms\"" not in user.get("/admin/").text
    assert rows() == before


def test_managers_may_publish_when_the_setting_says_so(office, client):
    office.app.config["MANAGERS_MAY_PUBLISH_FORMS"] = True
    manager = office.client("mgr1")
    assert 'href="/admin/forms"' in manager.get("/admin/").text
    assert upload(manager, poll()).status_code == 302
    assert post(manager, "/admin/forms/poll/publish").status_code == 302
    assert client.get("/f/poll").status_code == 200
    assert events() == [("form_imported", "mgr1", 1), ("form_published", "mgr1", 1)]
    assert office.client("sv1").get("/admin/forms").status_code == 404


def test_the_setting_is_read_from_the_environment(tmp_path, monkeypatch):
    from service import config
    monkeypatch.setenv("MANAGERS_MAY_PUBLISH_FORMS", "1")
    assert config.load(str(tmp_path), {"SECRET_KEY": "x"})["MANAGERS_MAY_PUBLISH_FORMS"] is True
    monkeypatch.delenv("MANAGERS_MAY_PUBLISH_FORMS")
    assert config.load(str(tmp_path), {"SECRET_KEY": "x"})["MANAGERS_MAY_PUBLISH_FORMS"] is False


def test_the_upload_page_carries_its_token_and_limit(office):
    page = office.client("admin").get("/admin/forms").text
    assert hidden(page, "csrf_token") and "at most 1024 KB" in page
    assert 'accept=".xlsx"' in page and 'type="file"' in page


def test_every_condition_is_said_in_words_in_both_languages():
    """summary.words, for each kind of `show_if`: what the preview's summary shows."""
    cond = load_file(TEST_FORMS / "conditions.yaml")
    kind = {"name": "tags", "type": "select_multiple", "label": {"zh": "标签", "en": "Tags"},
            "choices": [{"value": "a", "label": {"zh": "甲", "en": "A"}},
                        {"value": "b", "label": {"zh": "乙", "en": "B"}}]}
    more = parse({"id": "w", "version": 1, "title": {"zh": "词", "en": "Words"}, "sections": [
        {"title": {"zh": "一", "en": "One"}, "questions": [
            kind,
            {"name": "x", "type": "text", "label": "x", "show_if": {"question": "tags",
                                                                    "equals": "a"}},
            {"name": "y", "type": "text", "label": "y", "show_if": {"not": {
                "question": "tags", "in": ["a", "b"]}}},
            {"name": "z", "type": "text", "label": "z", "show_if": {"question": "x",
                                                                    "answered": False}}]}]},
        where="w")
    def said(lang):
        with messages_in(lang):
            return {q.name: summary.words(spec, q.show_if, lang) for spec in (cond, more)
                    for q in spec.all_questions() if q.show_if}
    en, zh = said("en"), said("zh")
    assert en["why"] == "Employed is No" and zh["why"] == "就业为否"
    assert en["since"] == "Why is answered" and zh["since"] == "已回答“原因”"
    assert en["pension"] == "Age > 59 and (Employed is No or Since when < 2000-01-01)"
    assert zh["pension"] == "年龄 > 59且(就业为否或自何时 < 2000-01-01)"
    assert en["x"] == "Tags includes A" and zh["x"] == "标签包含甲"
    assert en["y"] == "not (Tags includes one of A, B)" and zh["y"] == "并非（标签包含甲、乙之一）"
    assert en["z"] == "x is not answered" and zh["z"] == "未回答“x”"


def test_a_change_colliding_with_another_at_the_same_moment_says_so_and_stores_nothing(
        office, monkeypatch):
    from peewee import IntegrityError

    from service.formspec import publishing
    admin = office.client("admin")
    before = rows()

    def collide(catalog, spec, publish=False):
        raise IntegrityError("UNIQUE constraint failed: formversion.form_id, formversion.version")
    monkeypatch.setattr(publishing, "import_spec", collide)
    page = upload(admin, poll())
    assert page.status_code == 400
    assert "Another change to this form was being stored at the same time" in page.text
    assert rows() == before


def test_what_the_workbook_says_that_is_not_kept_is_said_once_after_the_upload(office):
    admin = office.client("admin")
    data = poll("你满意吗", q("phone", "tel", "电话", "Phone",
                              constraint="regex(., '^1[3-9][0-9]{9}$')", constraint_message="不对"))
    assert upload(admin, data).status_code == 302
    page = admin.get("/admin/forms/poll/draft").text
    assert re.search(r'class="flash" role="status">survey row 3 \(constraint_message\): Doorstep '
                     r"says its own message for this check; this one is not kept", page)


def test_a_new_ledger_form_is_previewed_and_published_like_any_other(office):
    admin = office.client("admin")
    ledger = book([q("text", "address", "地址", "Address", required="yes")],
                  settings={**POLL, "form_id": "street", "ledger": "yes"})
    assert upload(admin, ledger).status_code == 302
    assert "A household ledger form" in admin.get("/admin/forms/street/draft").text
    for lang in ("zh", "en"):
        frame = admin.get(f"/admin/forms/street/draft/phone/{lang}")
        assert frame.status_code == 200 and 'name="address"' in frame.text
    post(admin, "/admin/forms/street/publish")
    assert re.search(r'data-form="street" data-state="published"', admin.get("/admin/forms").text)
    assert office.client("sv1").get("/visit/new/street").status_code == 200

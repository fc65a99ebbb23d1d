"""Submitting: consent, idempotent retries, CSRF, the size cap, markup, and form versions.

Each test states what a household or surveyor would see and checks what the database then holds.
"""
from __future__ import annotations

import json
import shutil

from service.storage.db import db
from service.storage.models import Answer, FormVersion, Submission
from service.records.submissions import current_answers

from .conftest import TEST_FORMS, Visitor, hidden, make_app, receipt

FORM = "/f/kitchen?lang=en"
MINIMAL = {"consent": "y", "name": "张三", "employed": "yes", "members-0-mname": "李四"}


def nothing_stored():
    return Submission.select().count() == 0 and Answer.select().count() == 0


def consent_errors(page_html):
    section = page_html.split('class="consent', 1)[1].split("</section>", 1)[0]
    return [line for line in section.split("\n") if 'class="error"' in line]


# Consent

def test_without_consent_nothing_is_stored(visitor, database):
    answers = {k: v for k, v in MINIMAL.items() if k != "consent"}
    page = visitor.submit(FORM, answers)
    assert page.status_code == 400
    assert "Please read and agree before answering." in "".join(consent_errors(page.text))
    assert 'value="张三"' in page.text
    assert nothing_stored()


def test_consent_is_recorded(visitor, database):
    assert visitor.submit(FORM, MINIMAL).status_code == 200
    assert Submission.get().consent is True


def test_declining_sensitive_consent_drops_sensitive_answers_even_when_posted(visitor, database):
    page = visitor.submit(FORM, {**MINIMAL, "eth": "han"})
    assert page.status_code == 200
    stored = Submission.get()
    assert stored.sensitive_consent is False
    assert "eth" not in json.loads(stored.answers)
    assert Answer.select().where(Answer.question == "eth").count() == 0


def test_given_sensitive_consent_stores_sensitive_answers(visitor, database):
    page = visitor.submit(FORM, {**MINIMAL, "sensitive_consent": "y", "eth": "han"})
    assert page.status_code == 200
    stored = Submission.get()
    assert stored.sensitive_consent is True
    assert json.loads(stored.answers)["eth"] == "han"
    assert [r.value for r in Answer.select().where(Answer.question == "eth")] == ["han"]


def test_a_declined_sensitive_answer_is_not_validated_either(visitor, database):
    """An invalid answer to a sensitive question the household declined to answer is dropped,
    not refused: the submission is stored with its other answers and without it."""
    page = visitor.submit(FORM, {**MINIMAL, "eth": "not-a-choice"})
    assert page.status_code == 200
    stored = Submission.get()
    assert receipt(page.text) == stored.receipt
    assert stored.sensitive_consent is False
    assert json.loads(stored.answers) == {"name": "张三", "employed": "yes",
                                          "members": [{"mname": "李四"}]}
    assert sorted((a.question, a.item, a.value) for a in Answer.select()) == [
        ("employed", None, "yes"), ("mname", 0, "李四"), ("name", None, "张三")]


# Idempotency

def test_the_same_uuid_twice_stores_one_submission_with_one_receipt(client, database):
    visitor = Visitor(client)
    _page, token, uuid = visitor.open(FORM)
    data = {"csrf_token": token, "submission_uuid": uuid, **MINIMAL}
    first = client.post(FORM, data=data)
    second = client.post(FORM, data=data)
    assert first.status_code == second.status_code == 200
    assert receipt(first.text) == receipt(second.text) == Submission.get().receipt
    assert Submission.select().count() == 1
    assert Answer.select().count() == 3


def test_a_retry_with_other_or_invalid_answers_shows_the_first_receipt(visitor, database):
    first = visitor.submit(FORM, MINIMAL)
    uuid = Submission.get().uuid
    changed = visitor.submit(FORM, {**MINIMAL, "name": "王五"}, uuid=uuid)
    invalid = visitor.submit(FORM, {"n": "abc"}, uuid=uuid)
    assert changed.status_code == invalid.status_code == 200
    assert receipt(first.text) == receipt(changed.text) == receipt(invalid.text)
    assert Submission.select().count() == 1
    assert [r.value for r in Answer.select().where(Answer.question == "name")] == ["张三"]


def test_a_malformed_uuid_is_refused_and_a_fresh_one_is_offered(visitor, database):
    page = visitor.submit(FORM, MINIMAL, uuid="not-a-uuid")
    assert page.status_code == 400
    assert "Your answers are kept: please submit again." in page.text
    assert nothing_stored()
    fresh = hidden(page.text, "submission_uuid")
    assert fresh and fresh != "not-a-uuid"
    retry = visitor.client.post(FORM, data={
        **MINIMAL, "csrf_token": hidden(page.text, "csrf_token"), "submission_uuid": fresh})
    assert retry.status_code == 200 and receipt(retry.text)


def test_a_uuid_in_capitals_is_the_same_submission(visitor, database):
    """One submission has one spelling of its UUID, or the unique index could not catch a retry."""
    lower = "2f1d6c4e-8b4a-4c57-9e0b-2b1c3d4e5f60"
    first = visitor.submit(FORM, MINIMAL, uuid=lower.upper())
    again = visitor.submit(FORM, MINIMAL, uuid=lower)
    assert receipt(first.text) == receipt(again.text)
    assert [s.uuid for s in Submission.select()] == [lower]
    assert visitor.submit(FORM, MINIMAL, uuid="{%s}" % lower).status_code == 400


# CSRF

def test_a_post_without_a_csrf_token_is_refused_and_the_answers_are_kept(client, database):
    visitor = Visitor(client)
    _page, _token, uuid = visitor.open(FORM)
    page = client.post(FORM, data={**MINIMAL, "submission_uuid": uuid, "n": "7"})
    assert page.status_code == 400
    assert "This page had expired. Your answers are kept: please submit again." in page.text
    assert 'value="张三"' in page.text and 'value="李四"' in page.text and 'value="7"' in page.text
    assert nothing_stored()
    # the re-rendered page carries a good token and the same submission UUID: submitting works
    assert hidden(page.text, "submission_uuid") == uuid
    again = client.post(FORM, data={**MINIMAL, "submission_uuid": uuid, "n": "7",
                                     "csrf_token": hidden(page.text, "csrf_token")})
    assert again.status_code == 200 and receipt(again.text)
    assert Submission.get().uuid == uuid


def test_a_wrong_csrf_token_is_refused(visitor, database):
    page = visitor.submit(FORM, {**MINIMAL, "csrf_token": "forged"})
    assert page.status_code == 400
    assert "This page had expired." in page.text
    assert nothing_stored()


def test_a_token_from_another_session_is_refused(app, database):
    theirs, _uuid = Visitor(app.test_client()).open(FORM)[1:]
    mine = Visitor(app.test_client())
    page = mine.submit(FORM, {**MINIMAL, "csrf_token": theirs})
    assert page.status_code == 400
    assert nothing_stored()


def test_a_bad_token_does_not_reveal_a_stored_receipt(visitor, app, database):
    visitor.submit(FORM, MINIMAL)
    stored = Submission.get()
    stranger = app.test_client()
    page = stranger.post(FORM, data={**MINIMAL, "submission_uuid": stored.uuid})
    assert page.status_code == 400
    assert stored.receipt not in page.text


# Size cap

def test_an_oversize_post_gets_a_friendly_413(app, visitor, database):
    limit = app.config["MAX_CONTENT_LENGTH"]
    page = visitor.submit(FORM, {**MINIMAL, "story": "x" * limit})
    assert page.status_code == 413
    assert "What was sent is too large." in page.text
    assert '<html lang="en">' in page.text
    assert nothing_stored()


# Long answers

def test_a_long_chinese_answer_is_stored_whole(visitor, database):
    """2,000 characters (the default limit of a textarea) of varied Chinese are ~6 KB: more than a
    PostgreSQL index entry may hold, so long values stay out of the value index."""
    remark = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(2000))
    page = visitor.submit("/f/survey?lang=en", {"remark": remark})
    assert page.status_code == 200 and receipt(page.text)
    assert Answer.get(Answer.question == "remark").value == remark


# Markup

def test_markup_is_stored_as_text_and_shown_escaped(visitor, database):
    script = '<script>alert("x")</script>'
    sneaky = '"><img src=x onerror=alert(1)>'
    page = visitor.submit(FORM, {**MINIMAL, "name": script, "story": sneaky, "employed": ""})
    assert page.status_code == 400
    assert script not in page.text and sneaky not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text

    page = visitor.submit(FORM, {**MINIMAL, "name": script, "story": "<b>灯</b>"})
    assert page.status_code == 200
    assert [r.value for r in Answer.select().where(Answer.question.in_(["name", "story"]))
            .order_by(Answer.question)] == [script, "<b>灯</b>"]
    assert json.loads(Submission.get().answers)["name"] == script


# Versions

def test_a_submission_records_its_form_version_and_stays_readable_after_a_change(tmp_path):
    forms = tmp_path / "forms"
    forms.mkdir()
    shutil.copy(TEST_FORMS / "kitchen.yaml", forms / "kitchen.yaml")
    first = make_app(tmp_path, forms)
    assert Visitor(first.test_client()).submit(FORM, MINIMAL).status_code == 200

    text = (forms / "kitchen.yaml").read_text(encoding="utf-8")
    (forms / "kitchen.yaml").write_text(
        text.replace("version: 1", "version: 2").replace("en: Name}", "en: Full name}"),
        encoding="utf-8")
    second = make_app(tmp_path, forms)
    assert Visitor(second.test_client()).submit(FORM, MINIMAL).status_code == 200

    with second.app_context(), db.connection_context():
        assert [s.form_version for s in Submission.select().order_by(Submission.id)] == [1, 2]
        catalog = second.extensions["doorstep.catalog"]
        old, new = catalog.version("kitchen", 1), catalog.version("kitchen", 2)
        assert old.version == 1 and old.question("name").label.en == "Name"
        assert new.question("name").label.en == "Full name"
        oldest = Submission.get(Submission.form_version == 1)
        assert current_answers(old, oldest)["name"] == "张三"
        assert FormVersion.select().count() == 2


def test_init_refuses_a_changed_definition_that_kept_its_version(tmp_path, cli, database_url):
    forms = tmp_path / "forms"
    forms.mkdir()
    shutil.copy(TEST_FORMS / "kitchen.yaml", forms / "kitchen.yaml")
    env = {"DATABASE_URL": database_url, "FORMS_DIR": str(forms),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance")}
    assert cli("init", env=env).exit_code == 0
    assert cli("init", env=env).exit_code == 0   # unchanged: running it again is fine

    text = (forms / "kitchen.yaml").read_text(encoding="utf-8")
    (forms / "kitchen.yaml").write_text(text.replace("en: Name}", "en: Full name}"),
                                        encoding="utf-8")
    refused = cli("init", env=env)
    assert refused.exit_code == 1
    assert "form 'kitchen' version 1 was changed after it was published" in refused.output

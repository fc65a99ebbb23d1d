"""The three forms Doorstep ships are real forms for community offices: fully bilingual, privacy
flags where they belong, and a complete answer by a household is stored as the rows the office will
count. Sensitive answers are kept only with the household's separate consent."""
from __future__ import annotations

import json
import re

import pytest

from service.storage.db import db
from service.formspec import load_dir
from service.storage.models import Submission

from .conftest import DEMO_FORMS, Visitor, errors, receipt


@pytest.fixture
def resident(demo_app):
    return Visitor(demo_app.test_client())


@pytest.fixture
def stored(demo_app):
    """The one stored submission and its answer rows as {(question, item, value)}."""
    def read():
        with demo_app.app_context():
            db.connect(reuse_if_open=True)
            try:
                submission = Submission.get()
                rows = {(a.question, a.item, a.value) for a in submission.answer_rows}
                return submission, rows
            finally:
                db.close()
    return read


def texts(spec):
    """Every piece of text a resident can read in a form, with where it is."""
    yield "title", spec.title
    yield "description", spec.description
    for block in ("consent", "sensitive_consent"):
        consent = getattr(spec, block)
        if consent:
            yield f"{block} text", consent.text
            yield f"{block} label", consent.label
    for section in spec.sections:
        yield f"section {section.name}", section.title
    for q in spec.all_questions():
        yield q.name, q.label
        if q.hint:
            yield f"{q.name} hint", q.hint
        for c in q.choices:
            yield f"{q.name} choice {c.value}", c.label


def test_the_demo_forms_load_fully_bilingual():
    specs = load_dir(DEMO_FORMS)
    assert sorted(specs) == ["application", "household", "signup", "suggestion"]
    for spec in specs.values():
        for where, text in texts(spec):
            assert text.zh.strip() and text.en.strip(), f"{spec.id}: {where} needs zh and en"
            assert text.zh != text.en, f"{spec.id}: {where} has no English of its own"
        for q in spec.all_questions():
            for c in q.choices:
                assert re.fullmatch(r"[a-z0-9_]{1,20}", c.value), f"{spec.id}: {q.name} {c.value}"


def test_privacy_flags_sit_on_the_questions_that_need_them():
    """Masking and exports follow these flags, so losing one in an edit must fail a test."""
    specs = load_dir(DEMO_FORMS)
    household = specs["household"]
    assert {q.name for q in household.all_questions() if q.pii} == {
        "head_name", "head_phone", "head_id_number", "address", "member_name"}
    assert {q.name for q in household.all_questions() if q.sensitive} == {"ethnicity", "health"}
    assert household.consent and household.sensitive_consent
    for spec in specs.values():
        for q in spec.all_questions():
            if q.type in ("phone", "id_number"):
                assert q.pii, f"{spec.id}: {q.name} identifies a person"


@pytest.mark.parametrize("form_id, zh, en", [
    ("household", "家庭经济情况入户调查登记", "Household economic situation and support needs"),
    ("signup", "培训、招聘会和社区活动报名", "Sign up for training, job fairs and community events"),
    ("suggestion", "居民意见建议", "Residents&#39; suggestions"),
])
def test_each_demo_form_opens_in_chinese_and_english(resident, form_id, zh, en):
    page, _token, _uuid = resident.open(f"/f/{form_id}")
    assert zh in page.text
    page, _token, _uuid = resident.open(f"/f/{form_id}?lang=en")
    assert en in page.text


HOUSEHOLD = {
    "consent": "y",
    "visit_date": "2024-09-12",
    "head_name": "马建华", "head_phone": "139 1234 5678", "head_id_number": "640104197903151232",
    "address": "五凤街道民族路12号3栋2单元401", "housing": "rent", "housing_area": "56.5",
    # the head, unemployed, who would take training (a show_if branch inside the item)
    "members-0-member_name": "马建华", "members-0-relation": "self", "members-0-gender": "m",
    "members-0-age": "45", "members-0-work": "unemployed", "members-0-wants_training": "yes",
    # a daughter of 9: schooling instead of employment
    "members-1-member_name": "马小雨", "members-1-relation": "child", "members-1-gender": "f",
    "members-1-age": "9", "members-1-schooling": "primary",
    "income_band": "2k_4k", "income_sources": ["wages", "assistance"], "assistance": "dibao",
    "employment": "unemployed", "unemployed_months": "7", "unemployment_registered": "no",
    "training_wishes": ["ecommerce", "cooking"], "training_time": "weekday_evening",
    "support_wanted": ["job", "training", "education"], "job_wish": "仓库管理",
    "difficulties": "户主失业半年，孩子上学开支大。",
    "sensitive_consent": "y", "ethnicity": "hui", "health": ["chronic"],
}

HOUSEHOLD_ROWS = {
    ("visit_date", None, "2024-09-12"), ("head_name", None, "马建华"),
    ("head_phone", None, "13912345678"), ("head_id_number", None, "640104197903151232"),
    ("address", None, "五凤街道民族路12号3栋2单元401"), ("housing", None, "rent"),
    ("housing_area", None, "56.5"),
    ("member_name", 0, "马建华"), ("relation", 0, "self"), ("gender", 0, "m"), ("age", 0, "45"),
    ("work", 0, "unemployed"), ("wants_training", 0, "yes"),
    ("member_name", 1, "马小雨"), ("relation", 1, "child"), ("gender", 1, "f"), ("age", 1, "9"),
    ("schooling", 1, "primary"),
    ("income_band", None, "2k_4k"), ("income_sources", None, "wages"),
    ("income_sources", None, "assistance"), ("assistance", None, "dibao"),
    ("employment", None, "unemployed"), ("unemployed_months", None, "7"),
    ("unemployment_registered", None, "no"),
    ("training_wishes", None, "cooking"), ("training_wishes", None, "ecommerce"),
    ("training_time", None, "weekday_evening"),
    ("support_wanted", None, "job"), ("support_wanted", None, "training"),
    ("support_wanted", None, "education"), ("job_wish", None, "仓库管理"),
    ("difficulties", None, "户主失业半年，孩子上学开支大。"),
}
SENSITIVE_ROWS = {("ethnicity", None, "hui"), ("health", None, "chronic")}


def test_a_household_visit_is_stored_with_its_members_and_branches(resident, stored):
    page = resident.submit("/f/household", HOUSEHOLD)
    assert page.status_code == 200, errors(page.text)
    submission, rows = stored()
    assert submission.receipt == receipt(page.text)
    assert (submission.form_id, submission.form_version) == ("household", 4)
    assert submission.consent and submission.sensitive_consent
    assert rows == HOUSEHOLD_ROWS | SENSITIVE_ROWS
    # the household form keeps a ledger: the visit registered a household, whose code is shown
    household = submission.household
    assert household is not None and household.visits == 1 and household.code in page.text
    assert json.loads(household.current)["address"] == HOUSEHOLD["address"]


def test_without_sensitive_consent_nothing_sensitive_is_stored(resident, stored):
    answers = {k: v for k, v in HOUSEHOLD.items() if k != "sensitive_consent"}
    page = resident.submit("/f/household", answers)
    assert page.status_code == 200, errors(page.text)
    submission, rows = stored()
    assert not submission.sensitive_consent
    assert rows == HOUSEHOLD_ROWS
    assert not {"ethnicity", "health"} & set(json.loads(submission.answers))


def test_a_shown_follow_up_is_required_and_a_hidden_one_dropped(resident, stored):
    page = resident.submit("/f/household?lang=en", {**HOUSEHOLD, "unemployed_months": ""})
    assert page.status_code == 400
    box = re.search(r'data-q="unemployed_months".*?</div>', page.text, re.S).group(0)
    assert errors(box) == ["Please answer this question."]
    assert len(errors(page.text)) == 1

    employed = {**HOUSEHOLD, "employment": "employed"}   # the follow-ups are posted, but hidden
    page = resident.submit("/f/household", employed)
    assert page.status_code == 200, errors(page.text)
    _submission, rows = stored()
    assert ("employment", None, "employed") in rows
    assert not {q for q, _item, _value in rows} & {"unemployed_months", "unemployment_registered"}


def test_a_job_fair_sign_up_is_stored(resident, stored):
    page = resident.submit("/f/signup", {
        "consent": "y", "event": "job_fair", "desired_job": "收银员", "sessions": ["sat", "sun"],
        "name": "古丽娜", "phone": "13812345678", "age": "32",
        "needs_childcare": "yes", "children": "2", "notes": "需要无障碍通道",
    })
    assert page.status_code == 200, errors(page.text)
    submission, rows = stored()
    assert submission.receipt == receipt(page.text)
    assert rows == {
        ("event", None, "job_fair"), ("desired_job", None, "收银员"),
        ("sessions", None, "sat"), ("sessions", None, "sun"), ("name", None, "古丽娜"),
        ("phone", None, "13812345678"), ("age", None, "32"), ("needs_childcare", None, "yes"),
        ("children", None, "2"), ("notes", None, "需要无障碍通道"),
    }


def test_a_sign_up_needs_at_least_one_session(resident):
    page = resident.submit("/f/signup?lang=en", {
        "consent": "y", "event": "quiz", "name": "李明", "phone": "13812345678", "age": "15",
        "needs_childcare": "no"})
    assert page.status_code == 400
    box = re.search(r'data-q="sessions".*?</div>', page.text, re.S).group(0)
    assert errors(box) == ["Please answer this question."]
    assert len(errors(page.text)) == 1


def test_a_suggestion_wanting_a_reply_keeps_the_phone(resident, stored):
    page = resident.submit("/f/suggestion", {
        "topic": "traffic", "description": "3号楼东侧<b>电动车</b>乱停，堵住消防通道。",
        "location": "3号楼东侧", "anonymous": "no", "contact_name": "王阿姨",
        "wants_reply": "yes", "reply_phone": "+86 138-1234-5678",
    })
    assert page.status_code == 200, errors(page.text)
    _submission, rows = stored()
    assert rows == {
        ("topic", None, "traffic"), ("description", None, "3号楼东侧<b>电动车</b>乱停，堵住消防通道。"),
        ("location", None, "3号楼东侧"), ("anonymous", None, "no"),
        ("contact_name", None, "王阿姨"), ("wants_reply", None, "yes"),
        ("reply_phone", None, "13812345678"),
    }


def test_an_anonymous_suggestion_keeps_no_contact(resident, stored):
    """A hand-edited page or a stale browser may still post contact fields; they are dropped."""
    page = resident.submit("/f/suggestion", {
        "topic": "environment", "description": "垃圾分类点晚上无人清运。", "anonymous": "yes",
        "contact_name": "王阿姨", "wants_reply": "yes", "reply_phone": "13812345678",
    })
    assert page.status_code == 200, errors(page.text)
    _submission, rows = stored()
    assert rows == {("topic", None, "environment"),
                    ("description", None, "垃圾分类点晚上无人清运。"), ("anonymous", None, "yes")}

"""A question's own `constraint_message`: said instead of the built-in sentence when its bounds
check fails (range, length, count of choices, date and time bounds), in the page's language, by the
server and by the phone (static/checks.js) alike; never for `required` nor for a malformed answer.
Read from an XLSForm's `constraint_message::中文 (zh)` / `::English (en)` and written back."""
from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid

import pytest
import yaml

from service.cli.forms import messages_in
from service.formspec import FormError, parse, xlsform, xlsform_out
from service.formspec.model import Text

from .conftest import errors, make_app
from .test_offline import phone_says, send
from .test_xlsform import book, q

N_MSG = {"zh": "人数在1到20之间", "en": "Between 1 and 20 people"}
FORM = {
    "id": "msgs", "version": 1, "title": "提示",
    "sections": [{"questions": [
        {"name": "n", "type": "integer", "label": "人数", "min": 1, "max": 20, "required": True,
         "constraint_message": N_MSG},
        {"name": "d", "type": "decimal", "label": "收入", "min": 0,
         "constraint_message": {"zh": "收入不能为负", "en": "Income is never negative"}},
        {"name": "t", "type": "text", "label": "简称", "max_length": 4,
         "constraint_message": {"zh": "简称最多四个字", "en": "Four characters at most"}},
        {"name": "story", "type": "textarea", "label": "说明", "constraint_message": "写短一点"},
        {"name": "day", "type": "date", "label": "日期", "max": "today",
         "constraint_message": {"zh": "不能是将来的日期", "en": "Not a day in the future"}},
        {"name": "tm", "type": "time", "label": "时间", "min": "08:30", "max": "17:00",
         "constraint_message": {"zh": "工作时间内", "en": "Within office hours"}},
        {"name": "tags", "type": "select_multiple", "label": "标签", "max_selected": 2,
         "choices": [{"value": v, "label": v} for v in "abcd"],
         "constraint_message": {"zh": "最多选两个", "en": "Two at most"}},
        {"name": "few", "type": "integer", "label": "次数", "max": 5,
         "constraint_message": {"zh": "最多五次"}},
        {"name": "plain", "type": "integer", "label": "岁", "min": 0, "max": 120},
    ]}],
}
TOMORROW = (dt.date.today() + dt.timedelta(days=2)).isoformat()
# (question, values posted, the question's own message in zh and en, or None: the built-in one)
CASES = [
    ("n", ["0"], N_MSG), ("n", ["21"], N_MSG), ("n", ["5"], None), ("n", [], None),
    ("n", ["abc"], None), ("n", ["2.5"], None),
    ("d", ["-0.5"], {"zh": "收入不能为负", "en": "Income is never negative"}), ("d", ["x"], None),
    ("t", ["五个汉字呀"], {"zh": "简称最多四个字", "en": "Four characters at most"}),
    ("t", ["四个汉字"], None),
    ("story", ["字" * 2001], {"zh": "写短一点", "en": "写短一点"}),
    ("day", [TOMORROW], {"zh": "不能是将来的日期", "en": "Not a day in the future"}),
    # (a malformed date is left out: WTForms' own zh sentence differs from the phone's, as before)
    ("tm", ["08:00"], {"zh": "工作时间内", "en": "Within office hours"}),
    ("tm", ["17:01"], {"zh": "工作时间内", "en": "Within office hours"}), ("tm", ["25:00"], None),
    ("tags", ["a", "b", "c"], {"zh": "最多选两个", "en": "Two at most"}), ("tags", ["a"], None),
    ("few", ["6"], {"zh": "最多五次", "en": "最多五次"}),     # no English: the Chinese is said
    ("plain", ["121"], None),
]
BUILTIN = {"zh": {("n", "[]"): "请回答此题。"},
           "en": {("n", "[]"): "Please answer this question.",
                  ("n", '["abc"]'): "Enter a whole number, e.g. 3.",
                  ("tm", '["25:00"]'): "Enter a time as HH:MM, e.g. 09:30.",
                  ("plain", '["121"]'): "Enter a number from 0 to 120."}}


@pytest.fixture(scope="module")
def msgs_app(tmp_path_factory):
    forms = tmp_path_factory.mktemp("forms")
    (forms / "msgs.yaml").write_text(yaml.safe_dump(FORM, allow_unicode=True), encoding="utf-8")
    return make_app(tmp_path_factory.mktemp("db"), forms)


def page_rules(client, lang: str):
    """Each question's data-rules and the phone's sentences, from the page in `lang`."""
    page = client.get(f"/f/msgs?lang={lang}").text
    rules = {name: (json.loads(html.unescape(r)), "data-required" in attrs)
             for name, attrs, r in re.findall(r'data-q="(\w+)"([^>]*?)data-rules="([^"]*)"', page)}
    strings = json.loads(re.search(
        r'<script type="application/json" id="doorstep-strings">(.*?)</script>', page, re.S)
        .group(1))
    return rules, strings


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_server_and_the_phone_say_the_questions_own_message(msgs_app, lang):
    client = msgs_app.test_client()
    rules, strings = page_rules(client, lang)
    assert rules["n"][0]["msg"] == N_MSG[lang] and "msg" not in rules["plain"][0]
    now = msgs_app.extensions["doorstep.today"]().isoformat()
    server, phone_cases = [], []
    for name, values, _own in CASES:
        answers = {name: values} if name == "n" else {"n": "3", name: values}
        reply = send(client, answers, str(uuid.uuid4()), path=f"/f/msgs?lang={lang}")
        said = reply.get_json().get("errors", {}) if reply.status_code == 400 else {}
        server.append((said.get(name) or [None])[0])
        rule, required = rules[name]
        phone_cases.append({"rules": rule, "values": values, "required": required, "now": now})
    phone = phone_says(phone_cases, strings)
    labels = [f"{name}={values}" for name, values, _own in CASES]
    assert list(zip(labels, phone)) == list(zip(labels, server))
    for (name, values, own), said in zip(CASES, server):
        if own is not None:
            assert said == own[lang], (name, values)
        elif (name, json.dumps(values)) in BUILTIN[lang]:
            assert said == BUILTIN[lang][name, json.dumps(values)], (name, values)
        assert said not in [c[2][lang] for c in CASES if c[2]] or own is not None, (name, values)
    assert server[CASES.index(("n", ["5"], None))] is None


@pytest.mark.parametrize("question, problem", [
    ({"type": "phone"}, "question 'x': unknown key 'constraint_message'"),
    ({"type": "rating"}, "question 'x': unknown key 'constraint_message'"),
    ({"type": "select_one", "choices": [{"value": "a", "label": "甲"}]},
     "question 'x': unknown key 'constraint_message'"),
    ({"type": "integer"}, "question 'x': constraint_message explains a bound: declare min or max"),
    ({"type": "date"}, "question 'x': constraint_message explains a bound: declare min or max"),
    ({"type": "select_multiple", "choices": [{"value": "a", "label": "甲"}]},
     "question 'x': constraint_message explains a bound: declare min_selected or max_selected"),
    ({"type": "integer", "max": 3, "constraint_message": {"en": "Too many"}},
     "question 'x' constraint_message needs Chinese text (zh)"),
    ({"type": "integer", "max": 3, "constraint_message": ["太多"]},
     "question 'x' constraint_message must be text or a mapping of zh/en text"),
    ({"type": "integer", "max": 3, "constraint_message": ""},
     "question 'x' constraint_message is missing"),
])
def test_the_loader_refuses_a_constraint_message_that_could_never_be_said(question, problem):
    data = {"id": "f", "version": 1, "title": "表", "sections": [{"questions": [
        {"name": "x", "label": "问", "constraint_message": "不对", **question}]}]}
    with pytest.raises(FormError) as caught:
        parse(data, where="f.yaml")
    assert caught.value.problems == [f"f.yaml: {problem}"]


def test_a_text_question_needs_no_declared_length():
    """Every text has a length limit (200 unless declared): its message has a bound to explain."""
    data = {"id": "f", "version": 1, "title": "表", "sections": [{"questions": [
        {"name": "x", "type": "text", "label": "问", "constraint_message": "太长"}]}]}
    assert parse(data).question("x").constraint_message == Text("太长", "太长")


WORKBOOK = [
    q("integer", "n", "人数", "People", constraint=". >= 1 and . <= 20",
      **{"constraint_message::中文 (zh)": N_MSG["zh"],
         "constraint_message::English (en)": N_MSG["en"]}),
    q("select_multiple yn", "both", "两个", "Both", constraint="count-selected(.) <= 1",
      constraint_message="只能选一个"),
]


def test_a_workbooks_constraint_message_is_kept_and_shown_by_the_page(tmp_path):
    with messages_in("en"):
        spec, notes = xlsform.load(book(WORKBOOK))
    assert notes == []
    assert spec.question("n").constraint_message == Text(**N_MSG)
    assert spec.source["sections"][0]["questions"][1]["constraint_message"] == "只能选一个"
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "t.yaml").write_text(yaml.safe_dump(spec.source, allow_unicode=True), encoding="utf-8")
    client = make_app(tmp_path, forms).test_client()
    for lang in ("zh", "en"):
        page = client.get(f"/f/t?lang={lang}").text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]*)"', page).group(1)
        posted = client.post(f"/f/t?lang={lang}", data={
            "csrf_token": token, "submission_uuid": str(uuid.uuid4()), "n": "21",
            "both": ["yes", "no"]})
        assert posted.status_code == 400
        assert errors(posted.text) == [N_MSG[lang], "只能选一个"]
        assert f'&#34;msg&#34;:&#34;{N_MSG[lang]}&#34;' in page


def test_a_round_trip_through_a_workbook_keeps_the_message():
    spec = parse(FORM, where="msgs")
    data = xlsform_out.write(spec)
    with messages_in("en"):
        back, notes = xlsform.load(data)
    assert back == spec and notes == []
    assert back.question("few").constraint_message == Text("最多五次")
    assert back.question("story").constraint_message == Text("写短一点", "写短一点")

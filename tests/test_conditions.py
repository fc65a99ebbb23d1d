"""`show_if` on both sides: one table of cases run through the server's evaluator and, in node,
through the browser's (static/form.js), so the page shows exactly the questions the server accepts.
Then what the loader refuses, and the server's half of the promise: a hidden question is not
required and its value is dropped.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import re
import subprocess

import pytest

from service.formspec import FormError, parse
from service.formspec.conditions import evaluate
from service.storage.models import Answer, Submission

from .ci import node
from .conftest import ROOT, Visitor, make_app
from .test_question_types import errors_by_question

SOURCES = [
    {"name": "employed", "type": "select_one", "label": "就业",
     "choices": [{"value": "yes", "label": "是"}, {"value": "no", "label": "否"}]},
    {"name": "age", "type": "integer", "label": "年龄"},
    {"name": "income", "type": "decimal", "label": "收入"},
    {"name": "tags", "type": "select_multiple", "label": "标签",
     "choices": [{"value": v, "label": v} for v in "abc"]},
    {"name": "born", "type": "date", "label": "生日"},
    {"name": "town", "type": "text", "label": "街道"},
]

NO = {"question": "employed", "equals": "no"}
OLD = {"question": "age", "gt": 59}
ADULT = {"question": "age", "gte": 18}
SMALL = {"question": "age", "lte": 5}

# (show_if as written in a form, the answers as the page holds them, shown?)
# Unanswered questions are simply absent; a select_multiple with nothing ticked is [].
CASES = [
    (NO, {"employed": "no"}, True),
    (NO, {"employed": "yes"}, False),
    (NO, {}, False),
    ({"question": "employed", "not_equals": "no"}, {"employed": "yes"}, True),
    ({"question": "employed", "not_equals": "no"}, {"employed": "no"}, False),
    ({"question": "employed", "not_equals": "no"}, {}, True),
    ({"question": "employed", "in": ["yes", "no"]}, {"employed": "no"}, True),
    ({"question": "employed", "in": ["yes"]}, {"employed": "no"}, False),
    ({"question": "employed", "in": ["yes", "no"]}, {}, False),
    # numbers compare as numbers, not as text ("10" < "9" as text)
    ({"question": "age", "gt": 9}, {"age": "10"}, True),
    ({"question": "age", "gt": 9}, {"age": "9"}, False),
    ({"question": "age", "lt": 18}, {"age": "0"}, True),
    ({"question": "age", "lt": 18}, {"age": "18"}, False),
    ({"question": "age", "lt": 18}, {}, False),
    ({"question": "age", "gt": -1}, {}, False),
    ({"question": "age", "equals": 3}, {"age": "3"}, True),
    ({"question": "age", "in": [1, 2]}, {"age": "2"}, True),
    ({"question": "age", "in": [1, 2]}, {"age": "12"}, False),
    ({"question": "income", "gt": 2.5}, {"income": "2.50"}, False),
    ({"question": "income", "gt": 2.5}, {"income": "2.51"}, True),
    ({"question": "income", "equals": 3}, {"income": "3.0"}, True),
    ({"question": "income", "lt": 1000}, {"income": "999.99"}, True),
    # dates compare as dates
    ({"question": "born", "lt": "2000-01-01"}, {"born": "1999-12-31"}, True),
    ({"question": "born", "gt": "2000-01-01"}, {"born": "2000-01-01"}, False),
    ({"question": "born", "gt": dt.date(2000, 1, 1)}, {"born": "2010-05-01"}, True),
    ({"question": "born", "equals": "2000-01-01"}, {"born": "2000-01-01"}, True),
    ({"question": "born", "lt": "2000-01-01"}, {}, False),
    # select_multiple: equals / in hold when any ticked value matches
    ({"question": "tags", "equals": "c"}, {"tags": ["a", "c"]}, True),
    ({"question": "tags", "equals": "b"}, {"tags": ["a", "c"]}, False),
    ({"question": "tags", "in": ["b", "c"]}, {"tags": ["c"]}, True),
    ({"question": "tags", "not_equals": "a"}, {"tags": ["a", "b"]}, False),
    ({"question": "tags", "not_equals": "a"}, {"tags": ["b"]}, True),
    ({"question": "tags", "not_equals": "a"}, {"tags": []}, True),
    ({"question": "tags", "equals": "a"}, {"tags": []}, False),
    ({"question": "tags", "answered": True}, {"tags": []}, False),
    ({"question": "tags", "answered": True}, {"tags": ["b"]}, True),
    # answered
    ({"question": "town", "answered": True}, {"town": "东城"}, True),
    ({"question": "town", "answered": True}, {}, False),
    ({"question": "town", "answered": False}, {}, True),
    ({"question": "town", "answered": False}, {"town": "东城"}, False),
    ({"question": "age", "answered": True}, {"age": "0"}, True),
    ({"question": "town", "equals": "东城"}, {"town": "东城"}, True),
    ({"question": "town", "equals": "东城"}, {"town": "西城"}, False),
    # all / any, nested
    ({"all": [NO, OLD]}, {"employed": "no", "age": "60"}, True),
    ({"all": [NO, OLD]}, {"employed": "no", "age": "59"}, False),
    ({"all": [NO, OLD]}, {"employed": "no"}, False),
    ({"any": [NO, OLD]}, {"employed": "yes", "age": "60"}, True),
    ({"any": [NO, OLD]}, {"employed": "yes", "age": "6"}, False),
    ({"any": [NO, OLD]}, {}, False),
    ({"any": [{"question": "employed", "not_equals": "yes"}, OLD]}, {}, True),
    ({"all": [{"question": "town", "answered": True},
              {"any": [{"question": "tags", "equals": "a"},
                       {"question": "born", "lt": "2000-01-01"}]}]},
     {"town": "东城", "born": "1990-01-01"}, True),
    ({"all": [{"question": "town", "answered": True},
              {"any": [{"question": "tags", "equals": "a"},
                       {"question": "born", "lt": "2000-01-01"}]}]},
     {"town": "东城", "tags": ["b"]}, False),
    # gte / lte: gt / lt that also hold on the boundary; numbers as numbers, unanswered is false
    (ADULT, {"age": "18"}, True),
    (ADULT, {"age": "17"}, False),
    (ADULT, {"age": "40"}, True),
    (ADULT, {}, False),
    ({"question": "age", "gte": 9}, {"age": "10"}, True),
    ({"question": "age", "gte": 0}, {"age": "0"}, True),
    ({"question": "age", "gte": 0}, {}, False),
    (SMALL, {"age": "5"}, True),
    (SMALL, {"age": "6"}, False),
    (SMALL, {"age": "0"}, True),
    (SMALL, {}, False),
    ({"question": "age", "lte": 9}, {"age": "10"}, False),
    ({"question": "income", "gte": 2.5}, {"income": "2.50"}, True),
    ({"question": "income", "gte": 2.5}, {"income": "2.49"}, False),
    ({"question": "income", "lte": 2.5}, {"income": "2.5"}, True),
    ({"question": "income", "lte": 2.5}, {"income": "2.51"}, False),
    ({"question": "income", "lte": 1000}, {}, False),
    # ... and on dates, with the date itself on the boundary
    ({"question": "born", "gte": "2000-01-01"}, {"born": "2000-01-01"}, True),
    ({"question": "born", "gte": "2000-01-01"}, {"born": "1999-12-31"}, False),
    ({"question": "born", "gte": "2000-01-01"}, {"born": "2010-05-01"}, True),
    ({"question": "born", "gte": "2000-01-01"}, {}, False),
    ({"question": "born", "lte": dt.date(2000, 1, 1)}, {"born": "2000-01-01"}, True),
    ({"question": "born", "lte": dt.date(2000, 1, 1)}, {"born": "2000-01-02"}, False),
    ({"question": "born", "lte": "2000-01-01"}, {}, False),
    # a date written without dashes is kept as YYYY-MM-DD, which orders like the answers
    ({"question": "born", "gte": "20000101"}, {"born": "2000-01-01"}, True),
    ({"question": "born", "gt": "20000101"}, {"born": "2000-06-01"}, True),
    # not: the opposite of any condition, so true on an unanswered question where the inner is false
    ({"not": NO}, {"employed": "no"}, False),
    ({"not": NO}, {"employed": "yes"}, True),
    ({"not": NO}, {}, True),
    ({"not": OLD}, {"age": "60"}, False),
    ({"not": OLD}, {"age": "59"}, True),
    ({"not": OLD}, {}, True),
    ({"not": ADULT}, {"age": "18"}, False),
    ({"not": ADULT}, {"age": "17"}, True),
    ({"not": {"question": "born", "lte": "2000-01-01"}}, {"born": "2000-01-01"}, False),
    ({"not": {"question": "born", "lte": "2000-01-01"}}, {}, True),
    ({"not": {"question": "town", "answered": True}}, {}, True),
    ({"not": {"question": "town", "answered": True}}, {"town": "东城"}, False),
    ({"not": {"question": "employed", "not_equals": "no"}}, {}, False),
    ({"not": {"question": "tags", "equals": "a"}}, {"tags": ["a", "b"]}, False),
    ({"not": {"question": "tags", "equals": "a"}}, {"tags": []}, True),
    ({"not": {"question": "tags", "in": ["b", "c"]}}, {"tags": ["a"]}, True),
    # not around all / any, and all / any around not, nested
    ({"not": {"all": [NO, OLD]}}, {"employed": "no", "age": "60"}, False),
    ({"not": {"all": [NO, OLD]}}, {"employed": "no", "age": "59"}, True),
    ({"not": {"all": [NO, OLD]}}, {}, True),
    ({"not": {"any": [NO, OLD]}}, {}, True),
    ({"not": {"any": [NO, OLD]}}, {"employed": "yes", "age": "60"}, False),
    ({"not": {"any": [NO, OLD]}}, {"employed": "yes", "age": "59"}, True),
    ({"all": [{"not": NO}, ADULT]}, {"employed": "yes", "age": "18"}, True),
    ({"all": [{"not": NO}, ADULT]}, {"age": "18"}, True),
    ({"all": [{"not": NO}, ADULT]}, {"employed": "no", "age": "18"}, False),
    ({"all": [{"not": NO}, ADULT]}, {"employed": "yes"}, False),
    ({"any": [{"not": {"question": "town", "answered": True}}, SMALL]}, {"town": "东城"}, False),
    ({"any": [{"not": {"question": "town", "answered": True}}, SMALL]},
     {"town": "东城", "age": "5"}, True),
    ({"not": {"not": SMALL}}, {"age": "5"}, True),
    ({"not": {"not": SMALL}}, {}, False),
    ({"not": {"all": [ADULT, {"not": {"any": [NO, {"question": "born", "gte": "2000-01-01"}]}}]}},
     {"employed": "yes", "age": "30", "born": "1995-03-01"}, False),
    ({"not": {"all": [ADULT, {"not": {"any": [NO, {"question": "born", "gte": "2000-01-01"}]}}]}},
     {"employed": "yes", "age": "30", "born": "2000-01-01"}, True),
]

TABLE = parse({
    "id": "table", "version": 1, "title": "条件",
    "sections": [{"questions": SOURCES + [
        {"name": f"case{i}", "type": "text", "label": "?", "show_if": cond}
        for i, (cond, _values, _expected) in enumerate(CASES)]}],
})


def server_view(answers: dict) -> dict:
    """The answers as the server holds them after cleaning: integers are ints, the rest text."""
    return {name: int(v) if TABLE.question(name).type == "integer" else v
            for name, v in answers.items()}


def evaluated_by_the_phone(cases: list[dict]) -> list:
    """Cases ({cond: a condition as the page gets it, values: answers by name}) evaluated by
    static/form.js in node, in one process: true or false each."""
    script = ("const {evaluate} = require(process.argv[1]);"
              "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(cases.map(c => evaluate(c.cond, "
              "n => (n in c.values ? c.values[n] : null)))));")
    done = subprocess.run([node(), "-e", script, str(ROOT / "static" / "form.js")],
                          input=json.dumps(cases), capture_output=True, text=True, timeout=30,
                          check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def browser_results():
    """Every case evaluated by static/form.js in node, in one process."""
    return evaluated_by_the_phone([
        {"cond": TABLE.question(f"case{i}").show_if.as_json(), "values": values}
        for i, (_cond, values, _expected) in enumerate(CASES)])


@pytest.mark.parametrize("i", range(len(CASES)),
                         ids=[f"{json.dumps(c, default=str, ensure_ascii=False)} {v}"
                              for c, v, _e in CASES])
def test_server_and_browser_agree_on_every_condition(i, browser_results):
    _cond, values, expected = CASES[i]
    condition = TABLE.question(f"case{i}").show_if
    answers = server_view(values)
    assert evaluate(condition, answers.get) is expected, "server"
    assert browser_results[i] is expected, "browser"


# What the loader refuses: one precise line for each mistake.
NOT_A_LIST = ("show_if 'not' takes one condition, not a list of {}: negate several with "
              "not: {{any: [...]}} (none holds) or not: {{all: [...]}}")
NOT_EMPTY = "show_if 'not' needs one condition, such as not: {question: employed, equals: 'no'}"
REFUSED = [
    ({"not": [NO, OLD]}, NOT_A_LIST.format(2)),
    ({"not": [NO]}, NOT_A_LIST.format(1)),
    ({"all": [ADULT, {"not": [SMALL, OLD]}]}, NOT_A_LIST.format(2)),
    ({"not": None}, NOT_EMPTY),
    ({"not": []}, NOT_EMPTY),
    ({"not": "employed"}, NOT_EMPTY),
    ({"not": {}}, "show_if needs a 'question' to look at"),
    ({"not": NO, "any": [OLD]}, "show_if 'any' must stand alone in its mapping"),
    ({"not": NO, "question": "age"}, "show_if 'not' must stand alone in its mapping"),
    ({"not": {"question": "nobody", "equals": "x"}},
     "show_if names question 'nobody', which does not exist or comes later"),
    ({"not": {"question": "town", "gte": 3}},
     "show_if gte only works on number and date questions, not on 'town'"),
    ({"question": "tags", "lte": 2},
     "show_if lte only works on number and date questions, not on 'tags'"),
    ({"question": "employed", "gte": "yes"},
     "show_if gte only works on number and date questions, not on 'employed'"),
    ({"question": "age", "gte": "18"}, "show_if gte on 'age' needs a number"),
    ({"question": "age", "lte": True}, "show_if lte on 'age' needs a number"),
    ({"question": "born", "lte": "last year"}, "show_if lte on 'born' needs a date YYYY-MM-DD"),
    ({"question": "age", "gt": 1, "gte": 1},
     "show_if needs exactly one of equals, not_equals, in, gt, lt, gte, lte, answered"),
]


@pytest.mark.parametrize("show_if, problem", REFUSED,
                         ids=[json.dumps(c, ensure_ascii=False) for c, _p in REFUSED])
def test_the_loader_refuses_a_malformed_condition_with_one_precise_line(show_if, problem):
    with pytest.raises(FormError) as refused:
        parse({"id": "bad", "version": 1, "title": "条件", "sections": [{"questions": SOURCES + [
            {"name": "why", "type": "text", "label": "?", "show_if": show_if}]}]})
    assert refused.value.problems == [f"<form>: question 'why': {problem}"]


def test_the_page_hands_the_browser_the_same_conditions(app, client):
    spec = app.extensions["doorstep.catalog"].get("conditions")
    page = client.get("/f/conditions").text
    found = re.findall(r'data-q="(\w+)"[^>]*?data-show-if="([^"]*)"', page)
    assert {name for name, _ in found} == {"why", "since", "pension", "school", "kjob"}
    for name, attr in found:
        assert json.loads(html.unescape(attr)) == spec.question(name).show_if.as_json()


# The server side, through tests/forms/conditions.yaml.
FORM = "/f/conditions?lang=en"
RETIRED = {"employed": "no", "why": "退休", "since": "2020-01-01"}


def stored_questions():
    return {(r.question, r.item) for r in Answer.select()}


def submit(visitor, **answers):
    return visitor.submit(FORM, answers)


def test_a_hidden_required_question_is_not_required(visitor, database):
    page = submit(visitor, employed="yes")
    assert page.status_code == 200
    assert stored_questions() == {("employed", None)}


def test_the_value_of_a_hidden_question_is_dropped_even_when_posted(visitor, database):
    page = submit(visitor, employed="yes", why="posted anyway", since="1990-01-01", age="70",
                  pension="yes")
    assert page.status_code == 200
    assert stored_questions() == {("employed", None), ("age", None)}
    document = json.loads(Submission.get().answers)
    assert document == {"employed": "yes", "age": 70}


def test_a_question_depending_on_a_hidden_question_is_hidden_too(visitor, database):
    """`since` shows when `why` is answered; `why` is posted but hidden, so `since` is hidden."""
    page = submit(visitor, employed="yes", why="posted anyway")
    assert page.status_code == 200
    assert stored_questions() == {("employed", None)}


@pytest.mark.parametrize("answers, missing", [
    ({"employed": "no"}, "why"),
    ({"employed": "no", "why": "退休"}, "since"),
    ({**RETIRED, "age": "60"}, "pension"),
    ({"employed": "yes", "age": "60", "kids-0-kage": "10"}, "kids-0-school"),
    ({**RETIRED, "kids-0-kage": "30"}, "kids-0-kjob"),
])
def test_a_shown_required_question_is_required(visitor, database, answers, missing):
    page = submit(visitor, **answers)
    assert page.status_code == 400
    assert errors_by_question(page.text) == {missing: ["Please answer this question."]}
    assert Submission.select().count() == 0


def test_conditions_combine_with_all_and_any(visitor, database):
    assert submit(visitor, **RETIRED, age="59").status_code == 200
    assert submit(visitor, **RETIRED, age="60", pension="no").status_code == 200
    assert [r.value for r in Answer.select().where(Answer.question == "pension")] == ["no"]


def test_each_repeat_item_looks_at_its_own_siblings(visitor, database):
    page = submit(visitor, employed="yes", **{
        "kids-0-kage": "10", "kids-0-school": "实验小学",
        "kids-1-kage": "30", "kids-1-school": "posted anyway"})
    assert page.status_code == 200
    school = Answer.select().where(Answer.question == "school")
    assert [(r.item, r.value) for r in school] == [(0, "实验小学")]


def test_a_repeat_item_looks_at_top_level_questions(visitor, database):
    page = submit(visitor, employed="yes", **{"kids-0-kage": "30", "kids-0-kjob": "posted anyway"})
    assert page.status_code == 200
    assert stored_questions() == {("employed", None), ("kage", 0)}

    page = submit(visitor, **RETIRED, **{"kids-0-kage": "30", "kids-0-kjob": "司机"})
    assert page.status_code == 200
    assert [(r.item, r.value) for r in Answer.select().where(Answer.question == "kjob")] == [
        (0, "司机")]


NEGATED = """\
id: negated
version: 1
title: {zh: 否定, en: Negated}
sections:
  - title: {zh: 一, en: One}
    questions:
      - {name: employed, type: select_one, label: {zh: 就业, en: Employed}, required: true, choices: [{value: "yes", label: {zh: 是, en: "Yes"}}, {value: "no", label: {zh: 否, en: "No"}}]}
      - {name: age, type: integer, label: {zh: 年龄, en: Age}}
      - {name: why, type: text, label: {zh: 原因, en: Why}, required: true, show_if: {not: {question: employed, equals: "yes"}}}
      - {name: pension, type: text, label: {zh: 养老金, en: Pension}, required: true, show_if: {all: [{question: age, gte: 60}, {not: {question: why, answered: true}}]}}
"""


def test_not_and_gte_hide_and_drop_answers_like_every_condition(tmp_path):
    """`why` is hidden by a `not`: posted anyway, it is dropped, and it counts as unanswered for
    `pension`, whose `gte` holds on its boundary; so `pension` is shown and required."""
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "negated.yaml").write_text(NEGATED, encoding="utf-8")
    app = make_app(tmp_path, forms)
    spec = app.extensions["doorstep.catalog"].get("negated")
    visitor = Visitor(app.test_client())
    page = visitor.client.get("/f/negated").text
    found = dict(re.findall(r'data-q="(\w+)"[^>]*?data-show-if="([^"]*)"', page))
    assert {name: json.loads(html.unescape(attr)) for name, attr in found.items()} == {
        name: spec.question(name).show_if.as_json() for name in ("why", "pension")}

    answers = {"employed": "yes", "age": "60", "why": "posted anyway"}
    refused = visitor.submit("/f/negated?lang=en", answers)
    assert refused.status_code == 400
    assert errors_by_question(refused.text) == {"pension": ["Please answer this question."]}

    assert visitor.submit("/f/negated?lang=en", {**answers, "pension": "有"}).status_code == 200
    with app.app_context():
        assert json.loads(Submission.get().answers) == {"employed": "yes", "age": 60,
                                                        "pension": "有"}
        assert {r.question for r in Answer.select()} == {"employed", "age", "pension"}

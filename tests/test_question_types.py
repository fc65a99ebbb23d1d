"""Every question type, answered well and badly, through the real form page
(tests/forms/kitchen.yaml).

A valid answer is stored in its clean form as `Answer` rows; an invalid one answers 400 with the
error next to its own question, and nothing at all is stored.
"""
from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest

from service.storage.models import Answer, Submission

from .conftest import receipt

FORM = "/f/kitchen?lang=en"   # English messages: the source strings, independent of the catalogue
MINIMAL = {"consent": "y", "name": "张三", "employed": "yes", "members-0-mname": "李四"}
BAD_BIRTH_DATE = "The date of birth in this ID number is not a real date."


class _ErrorsByQuestion(HTMLParser):
    """Maps each question on a page to the errors shown inside its own wrapper.

    A question is keyed by its wire name (`members-1-age`); a repeat group (whose errors are about
    the number of items) and a note (which has no input) by their question name.
    """

    def __init__(self):
        super().__init__()
        self.stack: list[dict] = []    # open <div>s; question wrappers carry data-q
        self.found: dict[str, list[str]] = {}
        self.in_error = False

    def _innermost(self):
        return next((d for d in reversed(self.stack) if d["q"]), None)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div":
            self.stack.append({"q": a.get("data-q"), "repeat": "data-repeat" in a,
                               "name": None, "errors": []})
        elif tag in ("input", "textarea", "select") and self._innermost():
            box = self._innermost()
            box["name"] = box["name"] or a.get("name")
        elif tag == "p" and "error" in (a.get("class") or "").split():
            self.in_error = True

    def handle_data(self, data):
        if self.in_error and self._innermost() and data.strip():
            self._innermost()["errors"].append(data.strip())

    def handle_endtag(self, tag):
        if tag == "p":
            self.in_error = False
        elif tag == "div" and self.stack:
            box = self.stack.pop()
            if box["q"]:
                key = box["q"] if box["repeat"] or not box["name"] else box["name"]
                self.found.setdefault(key, []).extend(box["errors"])


def errors_by_question(html: str) -> dict[str, list[str]]:
    parser = _ErrorsByQuestion()
    parser.feed(html)
    return {k: v for k, v in parser.found.items() if v}


def submit(visitor, **answers):
    return visitor.submit(FORM, {**MINIMAL, **answers})


def rows(question):
    """The stored (item, value, number) rows of one question, in order."""
    return [(r.item, r.value, r.number) for r in
            Answer.select().where(Answer.question == question).order_by(Answer.item, Answer.id)]


def nothing_stored():
    return Submission.select().count() == 0 and Answer.select().count() == 0


def today(app):
    return app.extensions["doorstep.today"]()


@pytest.mark.parametrize("answers, question, stored", [
    ({"name": "  王小明  "}, "name", [(None, "王小明", None)]),
    ({"story": "楼道灯坏了\r\n两周了"}, "story", [(None, "楼道灯坏了\r\n两周了", None)]),
    ({"n": " 7 "}, "n", [(None, "7", 7.0)]),
    ({"n": "20"}, "n", [(None, "20", 20.0)]),
    ({"income": "2500.50"}, "income", [(None, "2500.50", 2500.5)]),
    ({"income": "0"}, "income", [(None, "0", 0.0)]),
    ({"employed": "no", "why": "退休"}, "employed", [(None, "no", None)]),
    ({"tags": ["c", "a"]}, "tags", [(None, "a", None), (None, "c", None)]),
    ({"needs": ["z", "x", "y"]}, "needs",
     [(None, "x", None), (None, "y", None), (None, "z", None)]),
    ({"moved": "2000-01-01"}, "moved", [(None, "2000-01-01", None)]),
    ({"d": "2020-02-29"}, "d", [(None, "2020-02-29", None)]),
    ({"phone": "+86 138-1234-5678"}, "phone", [(None, "13812345678", None)]),
    ({"phone": "0086 13912345678"}, "phone", [(None, "13912345678", None)]),
    ({"idn": "11010519491231002X"}, "idn", [(None, "11010519491231002X", None)]),
    ({"idn": "11010519491231002x"}, "idn", [(None, "11010519491231002X", None)]),
    ({"members-0-age": "12", "members-0-school": "实验小学"}, "school", [(0, "实验小学", None)]),
])
def test_a_valid_answer_is_stored_in_its_clean_form(visitor, database, answers, question, stored):
    page = submit(visitor, **answers)
    assert page.status_code == 200, errors_by_question(page.text)
    assert receipt(page.text)
    assert rows(question) == stored


def test_an_unanswered_optional_question_stores_no_row(visitor, database):
    page = submit(visitor, n="", income="", tags=[], d="")
    assert page.status_code == 200
    stored = {r.question for r in Answer.select()}
    assert stored == {"name", "employed", "mname"}


def test_date_bounded_by_today_accepts_today(app, visitor, database):
    assert submit(visitor, d=today(app).isoformat()).status_code == 200
    assert rows("d") == [(None, today(app).isoformat(), None)]


@pytest.mark.parametrize("answers, where, message", [
    ({"name": ""}, "name", "Please answer this question."),
    ({"name": "   "}, "name", "Please answer this question."),
    ({"name": "长" * 201}, "name", "Keep this under 200 characters."),
    ({"story": "x" * 21}, "story", "Keep this under 20 characters."),
    ({"n": "abc"}, "n", "Enter a whole number, e.g. 3."),
    ({"n": "1_000"}, "n", "Enter a whole number, e.g. 3."),
    ({"n": "3.5"}, "n", "Enter a whole number, e.g. 3."),
    ({"n": "1e3"}, "n", "Enter a whole number, e.g. 3."),
    ({"n": "9" * 20}, "n", "Enter a whole number, e.g. 3."),
    ({"n": "0"}, "n", "Enter a number from 1 to 20."),
    ({"n": "21"}, "n", "Enter a number from 1 to 20."),
    ({"income": "NaN"}, "income", "Enter a number, e.g. 2.5."),
    ({"income": "inf"}, "income", "Enter a number, e.g. 2.5."),
    ({"income": "-Infinity"}, "income", "Enter a number, e.g. 2.5."),
    ({"income": "lots"}, "income", "Enter a number, e.g. 2.5."),
    ({"income": "-0.01"}, "income", "Enter a number from 0 to 9999.5."),
    ({"income": "9999.51"}, "income", "Enter a number from 0 to 9999.5."),
    ({"employed": ""}, "employed", "Please answer this question."),
    ({"employed": "maybe"}, "employed", "Choose from the options shown."),
    ({"tags": ["a", "z"]}, "tags", "Choose from the options shown."),
    ({"tags": ["a", "b", "c"]}, "tags", "Choose at most 2."),
    ({"needs": ["x"]}, "needs", "Choose at least 2."),
    ({"d": "01/02/2020"}, "d", "Not a valid date value."),
    ({"d": "2021-02-29"}, "d", "Not a valid date value."),
    ({"moved": "1999-12-31"}, "moved", "Enter a date on or after 2000-01-01."),
    ({"phone": "12345"}, "phone", "Enter an 11-digit mainland mobile number, e.g. 13812345678."),
    ({"phone": "23812345678"}, "phone",
     "Enter an 11-digit mainland mobile number, e.g. 13812345678."),
    ({"phone": "138123456789"}, "phone",
     "Enter an 11-digit mainland mobile number, e.g. 13812345678."),
    ({"idn": "110105194912310021"}, "idn",
     "This ID number's check digit is wrong; please check it again."),
    ({"idn": "11010519490230002X"}, "idn", BAD_BIRTH_DATE),
    ({"idn": "11010529991231002X"}, "idn", BAD_BIRTH_DATE),   # born in the future
    ({"idn": "11010519491231002"}, "idn",
     "An ID number has 18 characters: 17 digits, then a digit or X."),
    ({"idn": "11010519491231002X1"}, "idn",
     "An ID number has 18 characters: 17 digits, then a digit or X."),
    ({"idn": "1101051949123100XX"}, "idn",
     "An ID number has 18 characters: 17 digits, then a digit or X."),
    ({"members-0-mname": ""}, "members-0-mname", "Please answer this question."),
    ({"members-0-age": "121"}, "members-0-age", "Enter a number from 0 to 120."),
])
def test_an_invalid_answer_is_shown_next_to_its_question_and_nothing_is_stored(
        visitor, database, answers, where, message):
    page = submit(visitor, **answers)
    assert page.status_code == 400
    assert errors_by_question(page.text) == {where: [message]}
    assert nothing_stored()


def test_a_date_after_today_is_refused_when_max_is_today(app, visitor, database):
    tomorrow = today(app) + dt.timedelta(days=1)
    page = submit(visitor, d=tomorrow.isoformat())
    assert page.status_code == 400
    assert errors_by_question(page.text) == {
        "d": [f"Enter a date on or before {today(app).isoformat()}."]}
    assert nothing_stored()


def test_every_error_is_shown_at_once_and_the_answers_are_kept(visitor, database):
    page = submit(visitor, n="abc", phone="12345", **{"members-0-age": "200"})
    assert page.status_code == 400
    assert set(errors_by_question(page.text)) == {"n", "phone", "members-0-age"}
    assert 'value="abc"' in page.text and 'value="12345"' in page.text
    assert 'value="张三"' in page.text and 'value="李四"' in page.text
    assert nothing_stored()


def test_a_note_stores_nothing_even_when_something_is_posted_under_its_name(visitor, database):
    page = submit(visitor, intro="injected")
    assert page.status_code == 200
    assert rows("intro") == []
    assert "intro" not in Submission.get().answers


def test_repeat_items_are_stored_with_their_index(visitor, database):
    page = submit(visitor, **{"members-1-mname": "王五", "members-1-age": "8",
                              "members-1-school": "二小", "members-0-age": "40"})
    assert page.status_code == 200
    assert rows("mname") == [(0, "李四", None), (1, "王五", None)]
    assert rows("age") == [(0, "40", 40.0), (1, "8", 8.0)]
    assert rows("school") == [(1, "二小", None)]


def test_gaps_in_repeat_indexes_close_up_in_order(visitor, database):
    """A page where items were added and removed posts e.g. members-0 and members-5."""
    page = submit(visitor, **{"members-5-mname": "王五"})
    assert page.status_code == 200
    assert rows("mname") == [(0, "李四", None), (1, "王五", None)]


def test_an_error_in_a_later_item_keeps_its_answers(visitor, database):
    """WTForms renumbers the items 0..n-1 on re-render; the item's answers must move with it."""
    page = submit(visitor, **{"members-5-mname": "", "members-5-age": "30"})
    assert page.status_code == 400
    assert errors_by_question(page.text) == {"members-1-mname": ["Please answer this question."]}
    assert re.search(r'name="members-1-age"[^>]*value="30"', page.text)
    assert 'value="李四"' in page.text
    assert nothing_stored()


def test_a_repeat_needs_its_minimum_number_of_items(visitor, database):
    page = visitor.submit(FORM, {"consent": "y", "name": "张三", "employed": "yes"})
    assert page.status_code == 400
    assert errors_by_question(page.text) == {"members": ["Add at least 1."]}
    assert nothing_stored()


def test_a_repeat_takes_at_most_its_maximum_number_of_items(visitor, database):
    kids = {f"kids-{i}-kage": "30" for i in range(3)}
    page = visitor.submit("/f/conditions?lang=en", {"employed": "yes", **kids})
    assert page.status_code == 400
    assert errors_by_question(page.text) == {"kids": ["Add at most 2."]}
    assert nothing_stored()

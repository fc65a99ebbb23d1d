"""The dashboard's figures over the JSON API: for every filter the page offers, each number the
page shows is the API's (one function computes both); a token sees its role's areas only, and
what lies outside them is a 404 problem, as on the page.

The data set is tests/test_dashboard.py's: six valid households of the survey form, one void and
one duplicate, in the office fixture's areas, at known moments.
"""
from __future__ import annotations

import re

import pytest

from service.records import submissions
from service.reports import aggregate
from service.storage.db import TimeLimitExceeded

from .conftest import use_database_of
from .api_support import is_problem
from .test_api_responses import Api
from .test_dashboard import load_survey
from .test_households_office import book, three  # noqa: F401 (fixtures)

FIGURES = "/api/v1/forms/survey/figures"


@pytest.fixture(scope="module")
def survey_once(office_once):
    use_database_of(office_once.app)
    with pytest.MonkeyPatch.context() as patch:
        office = load_survey(office_once, lambda moment: patch.setattr(
            submissions, "utcnow", lambda: moment))
    return office, Api(office.app)


@pytest.fixture
def survey(survey_once):
    use_database_of(survey_once[0].app)
    return survey_once


def page_numbers(html: str) -> list[str]:
    """Every figure in the page's tables, top to bottom."""
    return re.findall(r'<td class="num">([^<]*)</td>', html)


def api_numbers(board: dict) -> list[str]:
    """The same figures from the API's answer, in the page's order (templates/admin/dashboard.html:
    areas, days, channels, surveyors, then each question's table)."""
    out = [n["count"] for part in ("by_area", "by_day", "by_channel", "by_surveyor")
           for n in board[part]]
    for q in board["questions"]:
        out += _question_numbers(q)
    return [str(n) for n in out]


def _question_numbers(q: dict) -> list:
    if q["children"] is not None:       # a repeat group
        return [s["count"] for s in q["sizes"]] + [n for c in q["children"]
                                                   for n in _question_numbers(c)]
    if q["kind"] == "choices":
        none = round(100.0 * q["no_answer"] / q["base"], 1) if q["base"] else 0.0
        return [x for c in q["choices"] for x in (c["count"], c["percent"])] + \
            [q["no_answer"], none]
    return [n["count"] for part in ("histogram", "months", "hours") for n in q.get(part) or []]


@pytest.mark.parametrize("username, role, args", [
    ("admin", "admin", {}),
    ("admin", "admin", {"area": "SQ1"}),
    ("admin", "admin", {"since": "2026-03", "until": "2026-03"}),
    ("admin", "admin", {"since": "2026-03-02", "until": "2026-03-03"}),    # raw: cuts a month
    ("admin", "admin", {"channel": "web"}),
    ("admin", "admin", {"surveyor": "sv1"}),
    ("admin", "admin", {"q": "housing", "v": "own"}),
    ("admin", "admin", {"version": "1", "area": "JD"}),
    ("mgr1", "manager", {}),
    ("mgr1", "manager", {"area": "G1", "channel": "self"}),
])
def test_the_api_gives_the_numbers_the_page_shows(survey, username, role, args):
    office, api = survey
    page = office.client(username).get("/admin/forms/survey", query_string=args)
    assert page.status_code == 200
    board = api.ok(role, FIGURES, **args)
    assert f'<p class="big"><strong>{board["total"]}</strong>' in page.text
    assert page_numbers(page.text) == api_numbers(board)
    assert board["raw"] == ("These filters are finer than the monthly totals" in page.text)
    size = next(q for q in board["questions"] if q["name"] == "size")
    if size.get("numbers"):
        assert f'<dd>{size["numbers"]["mean"]:.2f}</dd>' in page.text


def test_the_figures_count_valid_responses_by_their_codes(survey):
    _office, api = survey
    board = api.ok("admin", FIGURES)
    assert board["total"] == 6 and board["view"] == "visits" and board["filters"] == {}
    housing = next(q for q in board["questions"] if q["name"] == "housing")
    assert {c["value"]: c["count"] for c in housing["choices"]} == \
        {"own": 2, "rent": 2, "other": 1}
    assert {c["channel"]: c["count"] for c in board["by_channel"]} == \
        {"web": 3, "surveyor": 2, "self": 1}
    assert {s["surveyor"]: s["count"] for s in board["by_surveyor"]} == \
        {"sv1": 2, "sv2": 1, None: 3}
    remark = next(q for q in board["questions"] if q["name"] == "remark")
    assert sorted(remark["latest"]) == ["孩子上学难", "需要帮助"]
    name = next(q for q in board["questions"] if q["name"] == "name")
    assert all("*" in text for text in name["latest"])        # pii: masked, as on the page


@pytest.mark.parametrize("role, args", [
    ("manager", {"area": "SQ2"}),          # another community
    ("manager", {"surveyor": "sv2"}),      # a surveyor of another community
    ("surveyor", {}),                      # no figures for a surveyor, as on the pages
])
def test_what_lies_outside_the_tokens_scope_is_not_found(survey, role, args):
    _office, api = survey
    assert is_problem(api.get(role, FIGURES, **args), 404)


def test_an_unknown_form_no_token_and_a_bad_filter_are_problems(survey):
    _office, api = survey
    assert is_problem(api.get("admin", "/api/v1/forms/nope/figures"), 404)
    assert is_problem(api.get(None, FIGURES), 401)
    assert is_problem(api.get("admin", FIGURES, since="March"), 422)
    assert is_problem(api.get("admin", FIGURES, view="everything"), 422)


def test_a_manager_sees_only_their_areas_figures(survey):
    _office, api = survey
    board = api.ok("manager", FIGURES)
    assert board["total"] == 3
    assert {a["area"]: a["count"] for a in board["by_area"]} == {"G1": 1, "SQ1": 2}


def test_figures_too_slow_to_count_are_a_problem_saying_to_narrow_them(survey, monkeypatch):
    _office, api = survey

    def too_slow(*_args):
        raise TimeLimitExceeded()
    monkeypatch.setattr(aggregate, "build", too_slow)
    reply = api.get("admin", FIGURES, q="housing", v="own")
    assert is_problem(reply, 422) and reply.json["type"].endswith("figures-too-slow")


def test_a_ledger_forms_households_view_gives_the_pages_numbers(book, three):
    api = Api(book.app)
    for username, role in (("admin", "admin"), ("mgr1", "manager")):
        page = book.client(username).get("/admin/forms/ledger?view=households")
        board = api.ok(role, "/api/v1/forms/ledger/figures", view="households")
        assert board["view"] == "households" and board["by_day"] == []
        assert board["total"] == (3 if role == "admin" else 2)
        assert page_numbers(page.text) == api_numbers(board)

"""Whatever a link or a post holds, an office page answers with a page, never a server error: odd
days (year 1 or 9999, a bare number, a month 13), unknown values, large numbers; control
characters (PostgreSQL cannot even store a NUL) and numbers past the databases' integers are
refused with a 400 that says why, in the user's language, before any query meets them; an ID
number (18 digits) is still a number one may look for."""
from __future__ import annotations

import pytest

NAMES = ("since", "until", "area", "q", "v", "surveyor", "version", "page", "before", "status",
         "channel", "question", "value", "form", "state", "assignee", "kind", "year", "view",
         "after", "due", "overdue")
ODD_BUT_READABLE = [
    {"since": "0001-01-01", "until": "9999-12-31", "year": "9999", "page": "-1", "version": "x"},
    {"since": "2026-13-45", "until": "2026-02", "year": "0", "before": "0", "after": "zz"},
    {"since": "99999-01-01", "until": "0", "area": "JD", "q": "\t\n", "v": " ",
     "page": "9" * 18, "version": "9" * 18, "year": "-5", "before": "1" * 18},
    {name: "未知的值" for name in NAMES},
]


def _office_pages(app) -> list[str]:
    """Every office GET route that needs no id, a form's with the kitchen form."""
    pages = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin") and "GET" in rule.methods \
                and not set(rule.arguments) - {"form_id"}:
            pages.append(rule.rule.replace("<form_id>", "kitchen"))
    return sorted(pages)


@pytest.mark.parametrize("odd", ODD_BUT_READABLE)
def test_no_office_page_fails_on_an_odd_query(office, odd):
    admin = office.client("admin")
    pages = _office_pages(office.app)
    assert len(pages) > 20
    failed = {page: answer.status_code for page in pages
              if (answer := admin.get(page, query_string=odd)).status_code >= 500}
    assert failed == {}


@pytest.mark.parametrize("unreadable", ["a\x00b", "\x1b[31m", "\x7f", "\x08", "9" * 19,
                                        "-" + "1" * 40])
def test_control_characters_and_endless_numbers_are_refused_with_a_reason(office, unreadable):
    admin = office.client("admin")
    for page in _office_pages(office.app):
        answer = admin.get(page, query_string={"area": unreadable})
        assert answer.status_code == 400, page
        assert "无法读取" in answer.text or "cannot be read" in answer.text
    posted = office.client("admin").post("/admin/login", data={"username": unreadable})
    assert posted.status_code == 400

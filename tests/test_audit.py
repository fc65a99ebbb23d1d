"""The audit log: every sign-in, reveal, correction, status and account change is written with who,
when, from where and what, and an admin can browse and filter it at /admin/audit."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from service.storage.db import db
from service.storage.models import AuditEvent, User

from .conftest import csrf_token, login


def rows(page) -> list[tuple[str, str, str, str, str]]:
    """(when, who, from where, action, target) of each event on an audit page, newest first."""
    assert page.status_code == 200, page.text
    return re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>"
                      r"<td>([^<]*)</td>", page.text)


@pytest.fixture
def busy_office(office):
    """A morning at the office: sign-ins (one mistyped), a reveal, a correction, a void and a new
    account, from two addresses."""
    login(office.client(REMOTE_ADDR="10.1.1.9"), "mgr1", "mistyped-password")
    manager = office.client("mgr1", REMOTE_ADDR="10.1.1.9")
    token = csrf_token(manager)
    sub = office.subs["sq1"]
    manager.post(f"/admin/responses/{sub}", data={"csrf_token": token})
    manager.post(f"/admin/responses/{sub}/correct/n",
                 data={"value": "4", "reason": "miscounted", "csrf_token": token})
    manager.post(f"/admin/responses/{sub}/status/void",
                 data={"reason": "a training entry", "csrf_token": token})
    admin = office.client("admin", REMOTE_ADDR="10.1.1.1")
    admin.post("/admin/users/new", data={"username": "sv2", "role": "surveyor", "area": "SQ2",
                                         "csrf_token": csrf_token(admin)})
    return admin


def test_the_log_shows_who_did_what_from_where(office, busy_office):
    events = rows(busy_office.get("/admin/audit"))
    with db.connection_context():
        new_user = User.get(User.username == "sv2").id
    sub = f"submission:{office.subs['sq1']}"
    assert [e[1:] for e in events] == [
        ("admin", "10.1.1.1", "user_created", f"user:{new_user}"),
        ("admin", "10.1.1.1", "login", f"user:{office.users['admin']}"),
        ("mgr1", "10.1.1.9", "status", sub),
        ("mgr1", "10.1.1.9", "correction", sub),
        ("mgr1", "10.1.1.9", "reveal", sub),
        ("mgr1", "10.1.1.9", "login", f"user:{office.users['mgr1']}"),
        ("mgr1", "10.1.1.9", "login_failed", f"user:{office.users['mgr1']}"),
    ]
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d")
    assert all(when.startswith(today) for when, *_ in events)   # shown in Beijing time
    assert "a training entry" in busy_office.get("/admin/audit").text   # the what, in detail


@pytest.mark.parametrize("query, expected", [
    ("action=login", {("mgr1", "login"), ("admin", "login")}),
    ("action=login_failed", {("mgr1", "login_failed")}),
    ("action=reveal", {("mgr1", "reveal")}),
    ("user=admin", {("admin", "login"), ("admin", "user_created")}),
    ("user=mgr1&action=correction", {("mgr1", "correction")}),
    ("user=nobody", set()),
])
def test_the_log_filters_by_action_and_user(busy_office, query, expected):
    page = busy_office.get(f"/admin/audit?{query}")
    assert {(who, action) for _when, who, _ip, action, _target in rows(page)} == expected
    assert f"{len(expected)} events" in page.text


def test_the_log_filters_by_day_in_the_offices_time_zone(office, busy_office):
    """An event at 23:30 Beijing time on 1 March is on 1 March, though it is 15:30 UTC."""
    with db.connection_context():
        AuditEvent.update(at=dt.datetime(2025, 3, 1, 15, 30)).where(
            AuditEvent.action == "reveal").execute()
    page = busy_office.get("/admin/audit?since=2025-03-01&until=2025-03-01")
    assert [(when, action) for when, _who, _ip, action, _target in rows(page)] == [
        ("2025-03-01 23:30", "reveal")]
    assert "reveal" not in {r[3] for r in rows(busy_office.get("/admin/audit?until=2025-02-28"))}


def test_the_action_filter_offers_the_actions_logged(busy_office):
    page = busy_office.get("/admin/audit").text
    offered = re.findall(r'<option value="([a-z_]+)"', page)
    assert offered == sorted(["correction", "login", "login_failed", "reveal", "status",
                              "user_created"])


def test_only_admins_read_the_log(office):
    for username in ("mgr1", "mgr2", "sv1"):
        page = office.client(username).get("/admin/audit")
        assert page.status_code == 404
        assert 'href="/admin/audit"' not in office.client(username).get("/admin/").text
    assert office.client("admin").get("/admin/audit").status_code == 200


def test_paging_keeps_the_filters_and_moves_one_page_at_a_time(office, busy_office, monkeypatch):
    """Page links carry the filters and replace the page number (a repeated `page=` would pin
    every later page to the second)."""
    from service.admin import audit_log
    monkeypatch.setattr(audit_log, "PAGE_SIZE", 2)
    page = busy_office.get("/admin/audit?user=mgr1")          # 5 events of mgr1: 3 pages
    for expected in (2, 3):
        following = re.search(r'<a href="([^"]+)">→</a>', page.text).group(1).replace("&amp;", "&")
        assert f"page={expected}" in following and "user=mgr1" in following
        assert following.count("page=") == 1
        page = busy_office.get(following)
        assert f"<span>{expected} / 3</span>" in page.text
        assert {who for _when, who, *_ in rows(page)} == {"mgr1"}
    assert "→</a>" not in page.text

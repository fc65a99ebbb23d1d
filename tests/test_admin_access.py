"""Who may open what on /admin: every route walked by every role, and CSRF on every post.

The office fixture has JD (街道) > SQ1 > G1 and JD > SQ2, an admin, mgr1 (manager of SQ1), mgr2
(manager of SQ2) and sv1 (surveyor in SQ1). Another area's object is 404 whatever URL is typed, so
its existence is not revealed; a refused request changes no row at all.
"""
from __future__ import annotations

import datetime as dt
import re

import pytest

from service.storage.db import db
from service.storage.models import AuditEvent, Correction, Submission, utcnow

from .conftest import PASSWORD, csrf_token, hidden

ROLES = ("admin", "mgr1", "mgr2", "sv1")

# path                                                admin mgr1 mgr2  sv1
GETS = [
    ("/admin/",                                         200, 200, 200, 200),
    ("/admin/password",                                 200, 200, 200, 200),
    ("/admin/users",                                    200, 200, 200, 404),
    ("/admin/users/new",                                200, 200, 200, 404),
    ("/admin/areas",                                    200, 200, 200, 404),
    ("/admin/areas/JD",                                 200, 404, 404, 404),
    ("/admin/areas/SQ1",                                200, 200, 404, 404),
    ("/admin/areas/G1",                                 200, 200, 404, 404),
    ("/admin/areas/SQ2",                                200, 404, 200, 404),
    ("/admin/areas/NOWHERE",                            404, 404, 404, 404),
    ("/admin/audit",                                    200, 404, 404, 404),
    ("/admin/audit?action=login&user=mgr1",             200, 404, 404, 404),
    ("/admin/forms/kitchen/responses",                  200, 200, 200, 200),
    ("/admin/forms/kitchen/responses?area=JD",          200, 404, 404, 404),
    ("/admin/forms/kitchen/responses?area=SQ1",         200, 200, 404, 200),
    ("/admin/forms/kitchen/responses?area=SQ2",         200, 404, 200, 404),
    ("/admin/forms/kitchen/responses?area=NOWHERE",     404, 404, 404, 404),
    ("/admin/forms/nope/responses",                     404, 404, 404, 404),
    ("/admin/forms",                                    200, 404, 404, 404),
    ("/admin/forms/kitchen/draft",                      404, 404, 404, 404),
    ("/admin/responses/{sq1}",                          200, 200, 404, 200),
    ("/admin/responses/{g1}",                           200, 200, 404, 404),
    ("/admin/responses/{sq2}",                          200, 404, 200, 404),
    ("/admin/responses/{none}",                         200, 404, 404, 404),
    ("/admin/responses/999999",                         404, 404, 404, 404),
    ("/admin/responses/{sq1}/correct/n",                200, 200, 404, 200),
    ("/admin/responses/{sq1}/correct/age?item=1",       200, 200, 404, 200),
    ("/admin/responses/{sq1}/correct/age?item=7",       404, 404, 404, 404),
    ("/admin/responses/{sq1}/correct/nope",             404, 404, 404, 404),
    ("/admin/responses/{sq2}/correct/n",                200, 404, 200, 404),
    ("/admin/responses/{g1}/correct/n",                 200, 200, 404, 404),
]

A_NEW_PASSWORD = "another-password-42"
# path, form data, expected status for admin, mgr1, mgr2, sv1, audit action when allowed
POSTS = [
    ("/admin/responses/{sq1}", {},                                    (200, 200, 404, 404),
     "reveal"),
    ("/admin/responses/{sq2}", {},                                    (200, 404, 200, 404),
     "reveal"),
    ("/admin/responses/{sq1}/correct/n", {"value": "4", "reason": "typo"},
     (302, 302, 404, 302), "correction"),
    ("/admin/responses/{g1}/correct/age?item=0", {"value": "31", "reason": "typo"},
     (302, 302, 404, 404), "correction"),
    ("/admin/responses/{sq2}/correct/n", {"value": "4", "reason": "typo"},
     (302, 404, 302, 404), "correction"),
    ("/admin/responses/{sq1}/status/void", {"reason": "test entry"},  (302, 302, 404, 404),
     "status"),
    ("/admin/responses/{sq2}/status/duplicate", {"reason": "twice"},  (302, 404, 302, 404),
     "status"),
    ("/admin/responses/{none}/status/void", {"reason": "test entry"}, (302, 404, 404, 404),
     "status"),
    ("/admin/users/{sv1}/disable", {},                                (302, 302, 404, 404),
     "user_disabled"),
    ("/admin/users/{sv1}/reset", {},                                  (200, 200, 404, 404),
     "user_password_reset"),
    ("/admin/users/{mgr2}/reset", {},                                 (200, 404, 404, 404),
     "user_password_reset"),
    ("/admin/users/{admin}/disable", {},                              (302, 404, 404, 404),
     None),   # an admin cannot disable their own account: refused with a message
    ("/admin/users/new", {"username": "new-{role}", "role": "surveyor", "area": "SQ1"},
     (200, 200, 400, 404), "user_created"),
    ("/admin/users/new", {"username": "boss-{role}", "role": "admin", "area": ""},
     (200, 400, 400, 404), "user_created"),
    ("/admin/areas", {"code": "G-{role}", "name": "新网格", "parent": "SQ1"},
     (302, 302, 400, 404), "area_created"),
    ("/admin/areas", {"code": "JD-{role}", "name": "新街道", "parent": ""},
     (302, 400, 400, 404), "area_created"),
    ("/admin/areas/SQ1", {"name": "东湖新社区"},                      (302, 302, 404, 404),
     "area_renamed"),
    ("/admin/forms/kitchen/close", {},                                (302, 404, 404, 404),
     "form_closed"),
    ("/admin/areas/SQ2", {"name": "西山新社区"},                      (302, 404, 302, 404),
     "area_renamed"),
    ("/admin/password", {"current": PASSWORD, "new": A_NEW_PASSWORD, "confirm": A_NEW_PASSWORD},
     (302, 302, 302, 302), "password_changed"),
    ("/admin/logout", {},                                             (302, 302, 302, 302),
     "logout"),
]


def url(office, template):
    return template.format(**office.subs, **office.users)


def actions():
    with db.connection_context():
        return [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]


@pytest.fixture
def clients(office):
    return {role: office.client(role) for role in ROLES}


@pytest.mark.parametrize("role", ROLES + ("anonymous",))
def test_each_role_gets_each_page_or_a_404(office, role):
    """The whole GET table for one role; every mismatch is listed at once."""
    client = office.client(None if role == "anonymous" else role)
    column = ROLES.index(role) + 1 if role != "anonymous" else None
    wrong = []
    for row in GETS:
        path = url(office, row[0])
        page = client.get(path)
        if column is None:   # anonymous: every office page asks to sign in first
            got = (page.status_code, page.headers.get("Location", "").split("?")[0])
            expected = (302, "/admin/login")
        else:
            got, expected = page.status_code, row[column]
        if got != expected:
            wrong.append(f"GET {row[0]}: {got}, expected {expected}")
    assert wrong == []


@pytest.mark.parametrize("row", POSTS, ids=[f"{p[0]} {sorted(p[1])}" for p in POSTS])
def test_each_role_posts_to_each_action_or_gets_a_404(office, clients, row):
    """Refused posts (and anonymous ones) first, each checked to change nothing; then the
    allowed ones, each leaving its audit event."""
    path, data, expected, action = row
    anonymous = office.client()
    clients["anonymous"] = anonymous
    tokens = {role: csrf_token(c) for role, c in clients.items() if role != "anonymous"}
    tokens["anonymous"] = hidden(anonymous.get("/admin/login").text, "csrf_token")
    outcome = dict(zip(ROLES, expected), anonymous=302)
    order = sorted(outcome, key=lambda role: (outcome[role] < 400 and role != "anonymous"))
    done = False
    for role in order:
        before, events = office.snapshot(), len(actions())
        form = {k: v.format(role=role) for k, v in data.items()}
        page = clients[role].post(url(office, path), data={**form, "csrf_token": tokens[role]})
        assert page.status_code == outcome[role], f"{role} POST {path}: {page.text[-400:]}"
        if role == "anonymous":
            assert page.headers["Location"].startswith("/admin/login")
        if role == "anonymous" or outcome[role] >= 400 or action is None:
            assert office.snapshot() == before, f"{role} POST {path} changed something"
        elif action == "status" and done:
            pass   # the first allowed role already changed it: marking it again is a no-op
        else:
            assert action in actions()[events:], f"{role} POST {path}: no audit event"
            done = True


def test_no_office_route_is_open_without_signing_in(app, office):
    """Every /admin rule, those added later included, sends an anonymous visitor to sign in."""
    anonymous = office.client()
    urls = app.url_map.bind("localhost")
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin/") or rule.endpoint == "admin.login":
            continue
        path = urls.build(rule.endpoint, {name: 1 for name in rule.arguments})
        for method in rule.methods & {"GET", "POST"}:
            token = hidden(anonymous.get("/admin/login").text, "csrf_token")   # logout clears it
            page = anonymous.open(path, method=method, data={"csrf_token": token})
            assert page.status_code == 302, f"{method} {path}"
            assert page.headers["Location"].startswith("/admin/login"), f"{method} {path}"
            checked += 1
    assert checked >= len(GETS) // 2


def test_every_admin_post_without_a_csrf_token_is_refused_and_changes_nothing(office, clients):
    admin = clients["admin"]
    foreign = csrf_token(clients["mgr1"])   # a valid token of another session
    before = office.snapshot()
    for path, data, _expected, _action in POSTS:
        form = {k: v.format(role="admin") for k, v in data.items()}
        for token in ({}, {"csrf_token": "forged"}, {"csrf_token": foreign}):
            page = admin.post(url(office, path), data={**form, **token})
            assert page.status_code in (400, 302), f"POST {path} {token}"
            if page.status_code == 302:
                assert "/admin/login" not in page.headers["Location"]
            assert office.snapshot() == before, f"POST {path} without a valid token changed rows"
    assert admin.get("/admin/").status_code == 200   # still signed in: logout was refused


def test_a_login_without_a_csrf_token_is_refused(office):
    client = office.client()
    page = client.post("/admin/login", data={"username": "admin", "password": PASSWORD})
    assert page.status_code == 400
    assert client.get("/admin/").status_code == 302


# A surveyor sees only their own submissions of the last SURVEYOR_DAYS days

def listed(page) -> list[str]:
    """The receipts a response list shows, top to bottom."""
    return re.findall(r'<a href="/admin/responses/\d+">([0-9A-Z]{4}-[0-9A-Z]{4})</a>', page.text)


def test_a_surveyor_sees_only_their_own_recent_submissions(app, office):
    office.store("sq1_self", channel="self", area="SQ1")             # same area, not theirs
    office.store("old", channel="surveyor", area="SQ1", surveyor="sv1")
    days = app.config["SURVEYOR_DAYS"]
    with app.app_context(), db.connection_context():
        Submission.update(received_at=utcnow() - dt.timedelta(days=days, minutes=1)).where(
            Submission.id == office.subs["old"]).execute()
    surveyor, manager = office.client("sv1"), office.client("mgr1")

    assert listed(surveyor.get("/admin/forms/kitchen/responses")) == [office.receipts["sq1"]]
    assert set(listed(manager.get("/admin/forms/kitchen/responses"))) == {
        office.receipts[k] for k in ("sq1", "g1", "sq1_self", "old")}
    for key in ("old", "sq1_self", "g1"):
        assert surveyor.get(f"/admin/responses/{office.subs[key]}").status_code == 404
        assert surveyor.get(f"/admin/responses/{office.subs[key]}/correct/n").status_code == 404
    assert surveyor.get(f"/admin/responses/{office.subs['sq1']}").status_code == 200


def test_a_surveyor_can_correct_their_own_recent_submission(app, office):
    surveyor = office.client("sv1")
    path = f"/admin/responses/{office.subs['sq1']}/correct/n"
    page = surveyor.post(path, data={"value": "5", "reason": "miscounted at the door",
                                     "csrf_token": csrf_token(surveyor)})
    assert page.status_code == 302
    with app.app_context(), db.connection_context():
        correction = Correction.get()
        assert (correction.user.username, correction.new_value) == ("sv1", "5")


def test_a_manager_cannot_reach_another_areas_user_even_by_guessing_ids(app, office, clients):
    """mgr1 manages the surveyors of SQ1 and below, nobody else: not mgr2, not the admin."""
    manager = clients["mgr1"]
    token = csrf_token(manager)
    for username in ("mgr2", "admin", "mgr1"):
        for action in ("disable", "reset", "enable"):
            page = manager.post(f"/admin/users/{office.users[username]}/{action}",
                                data={"csrf_token": token})
            assert page.status_code == 404, (username, action)
    listing = manager.get("/admin/users").text
    assert "sv1" in listing and "mgr2" not in listing and ">admin<" not in listing

"""Follow-ups in the office (/admin/follow-ups), on the demo forms: a suggestion opens one with its
submission, due in working days; the queue of one's areas with its filters and CSV; every change
by every role (a foreign area's or a surveyor's attempt is a 404 and changes nothing); each change
in the follow-up's history and the audit log; the home page's counts; the response page's panel;
the working calendar; and the `follow_up` key checked at load.

Areas JD > SQ1 > G1 and JD > SQ2; admin (everywhere), mgr1 (SQ1), mgr2 (SQ2), sv1 (surveyor, SQ1).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from service.formspec import FormError, parse
from service.office import clock
from service.storage.db import db
from service.storage.models import AuditEvent, FollowUp, FollowUpNote, Holiday

from .conftest import DEMO_FORMS, PASSWORD, Office, csrf_token, make_app

SUGGESTION = {"topic": "environment", "description": "3号楼楼道灯坏了", "anonymous": "no",
              "contact_name": "王芳", "wants_reply": "yes", "reply_phone": "13812345678"}
SIGNUP = {"event": "quiz", "sessions": ["sat", "sun"], "name": "张三", "phone": "13912345678",
          "age": 30, "needs_childcare": "no"}
APPLICATION = {"unit_type": "community", "unit_name": "东湖社区", "people": 3000,
               "minority_people": 120, "activities": ["policy", "month"],
               "achievements": "开展民族团结进步宣传月活动", "contact_name": "李四",
               "contact_phone": "13900001111"}
ROLES = ("admin", "mgr1", "mgr2", "sv1")


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path, DEMO_FORMS)


@pytest.fixture
def clock_at(monkeypatch):
    """`clock_at(moment)`: the next submissions are received at `moment` (naive UTC)."""
    from service.records import submissions
    return lambda moment: monkeypatch.setattr(submissions, "utcnow", lambda: moment)


@pytest.fixture
def town(app, fast_hashing):
    """The office fixture's areas and accounts on the demo forms; a suggestion in SQ1, G1, SQ2
    and one with no area."""
    from service.office import areas, auth
    from service.storage.models import User
    made = Office(app)
    with app.app_context(), db.atomic():
        jd = areas.create("JD", "幸福街道")
        sq1 = areas.create("SQ1", "东湖社区", jd)
        made.areas = {"JD": jd.id, "SQ1": sq1.id, "G1": areas.create("G1", "东湖一网格", sq1).id,
                      "SQ2": areas.create("SQ2", "西山社区", jd).id}
        password_hash = auth.hash_password(PASSWORD)
        for username, role, area in (("admin", "admin", None), ("mgr1", "manager", "SQ1"),
                                     ("mgr2", "manager", "SQ2"), ("sv1", "surveyor", "SQ1")):
            made.users[username] = User.create(username=username, role=role, password_hash=
                                               password_hash, area=made.areas.get(area)).id
        for key, area in (("sq1", "SQ1"), ("g1", "G1"), ("sq2", "SQ2"), ("none", None)):
            made.store(key, "suggestion", SUGGESTION, area=area)
    return made


def follow_up_of(town, key) -> FollowUp:
    with db.connection_context():
        return FollowUp.get(FollowUp.submission == town.subs[key])


def post(client, follow_up_id, action, **data):
    return client.post(f"/admin/follow-ups/{follow_up_id}/{action}",
                       data={"csrf_token": csrf_token(client), **data})


def total(page) -> int:
    return int(re.search(r'data-total="(\d+)"', page.text).group(1))


# --- opening --------------------------------------------------------------------------------

def test_a_suggestion_opens_its_follow_up_due_in_fifteen_working_days(town, clock_at):
    clock_at(dt.datetime(2026, 9, 29, 2, 0))         # Tuesday 29 September, 10:00 in Beijing
    with town.app.app_context(), db.connection_context():
        from service.records import working_days
        working_days.replace(working_days.parse("2026-10-01\n2026-10-02\n2026-10-05\n"
                                                "2026-10-06\n2026-10-07\n2026-10-08\n"
                                                "2026-10-10,调休,work\n"))
    submission = town.store("late", "suggestion", SUGGESTION, area="SQ1")
    with db.connection_context():
        f = FollowUp.get(FollowUp.submission == submission.id)
        assert (f.kind, f.state, f.form_id, f.area_id) == ("follow_up", "new", "suggestion",
                                                          town.areas["SQ1"])
        # 30 Sep, then 9, 10 (worked), 12–16, 19–23, 26–27 October
        assert f.due_on == dt.date(2026, 10, 27)
        assert FollowUpNote.select().count() == 0       # opening writes one row, no history
        assert FollowUp.select().count() == 5           # the fixture's four and this one


def test_a_form_without_follow_up_opens_none(town):
    town.store("visit", "household", {"address": "东湖路1号"}, area="SQ1")
    with db.connection_context():
        assert FollowUp.select().count() == 4
        assert not FollowUp.select().where(FollowUp.submission == town.subs["visit"]).exists()


# --- the queue ------------------------------------------------------------------------------

@pytest.mark.parametrize("username, seen", [
    ("admin", {"sq1", "g1", "sq2", "none"}), ("mgr1", {"sq1", "g1"}), ("mgr2", {"sq2"})])
def test_the_queue_holds_the_follow_ups_of_ones_areas(town, username, seen):
    client = town.client(username)
    page = client.get("/admin/follow-ups")
    assert page.status_code == 200
    shown = {int(i) for i in re.findall(r'data-follow-up="(\d+)"', page.text)}
    assert shown == {follow_up_of(town, key).id for key in seen}
    for key in {"sq1", "g1", "sq2", "none"} - seen:
        assert client.get(f"/admin/follow-ups/{follow_up_of(town, key).id}").status_code == 404


def test_a_surveyor_has_no_queue(town):
    client = town.client("sv1")
    assert client.get("/admin/follow-ups").status_code == 404
    assert client.get(f"/admin/follow-ups/{follow_up_of(town, 'sq1').id}").status_code == 404
    assert client.get("/admin/follow-ups.csv").status_code == 404


def test_the_queues_filters(town):
    client = town.client("admin")
    f = follow_up_of(town, "sq1")
    assert post(client, f.id, "assign", assignee="mgr1").status_code == 302
    with db.connection_context():
        FollowUp.update(due_on=dt.date(2020, 1, 1)).where(
            FollowUp.id == follow_up_of(town, "g1").id).execute()
    assert total(client.get("/admin/follow-ups")) == 4
    assert total(client.get("/admin/follow-ups?form=suggestion")) == 4
    assert total(client.get("/admin/follow-ups?form=signup")) == 0
    assert total(client.get("/admin/follow-ups?state=assigned")) == 1
    assert total(client.get("/admin/follow-ups?state=new")) == 3
    assert total(client.get("/admin/follow-ups?assignee=mgr1")) == 1
    assert total(client.get("/admin/follow-ups?assignee=-")) == 3
    assert total(client.get("/admin/follow-ups?overdue=1")) == 1
    assert total(client.get("/admin/follow-ups?kind=follow_up")) == 4
    assert total(client.get("/admin/follow-ups?kind=deletion")) == 0
    assert total(client.get("/admin/follow-ups?area=SQ1")) == 2          # SQ1 and G1 below it
    assert client.get("/admin/follow-ups?state=nonsense").status_code == 200
    assert town.client("mgr1").get("/admin/follow-ups?area=SQ2").status_code == 404


def test_the_queue_downloads_as_csv_for_excel_and_is_audited(town):
    client = town.client("mgr1")
    download = client.get("/admin/follow-ups.csv?state=new")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    body = download.data
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Number", "Receipt", "Form", "Kind", "State"]
    assert sorted(r[1] for r in rows[1:]) == sorted([town.receipts["sq1"], town.receipts["g1"]])
    assert {r[2] for r in rows[1:]} == {"Residents' suggestions"}
    assert {(r[3], r[4], r[5]) for r in rows[1:]} == {("Follow-up", "New", "SQ1"),
                                                      ("Follow-up", "New", "G1")}
    with db.connection_context():
        event = AuditEvent.get(AuditEvent.action == "follow_ups_export")
        assert event.username == "mgr1" and '"state": "new"' in event.detail


# --- every change by every role -------------------------------------------------------------

CHANGES = [("assign", {"assignee": "mgr1"}, "assigned"), ("start", {}, "in_progress"),
           ("note", {"text": "已电话联系物业"}, "new"), ("reply", {"text": "灯已修好"}, "answered"),
           ("close", {"text": ""}, "closed")]


@pytest.mark.parametrize("action, data, state", CHANGES)
@pytest.mark.parametrize("username", ROLES)
def test_every_change_by_every_role(town, username, action, data, state):
    """On SQ1's follow-up: the admin and SQ1's manager change it (history, audit); SQ2's manager
    (foreign area) and the surveyor get a 404 and nothing changes."""
    f = follow_up_of(town, "sq1")
    client = town.client(username)
    before = town.snapshot()
    page = post(client, f.id, action, **data)
    if username in ("mgr2", "sv1"):
        assert page.status_code == 404
        assert town.snapshot() == before
        with db.connection_context():
            assert FollowUpNote.select().count() == 0
        return
    assert page.status_code == 302
    with db.connection_context():
        now = FollowUp.get_by_id(f.id)
        assert now.state == state
        note = FollowUpNote.get(FollowUpNote.follow_up == f.id)
        assert note.user_id == town.users[username]
        event = AuditEvent.get(AuditEvent.target == f"follow_up:{f.id}")
        assert event.username == username and event.action.startswith("follow_up_")
        if action == "reply":
            assert now.reply == "灯已修好" and now.replied_at is not None
        if action == "close":
            assert now.closed_at is not None
        if action in ("assign", "start"):
            assert now.assignee_id == town.users["mgr1" if action == "assign" else username]


def test_a_closed_follow_up_takes_no_more_changes_but_notes(town):
    client = town.client("mgr1")
    f = follow_up_of(town, "sq1")
    assert post(client, f.id, "close").status_code == 302
    for action, data in (("reply", {"text": "x"}), ("start", {}), ("assign", {"assignee": ""})):
        page = post(client, f.id, action, **data)
        assert page.status_code == 302
        assert "closed" in client.get(page.location).text
    assert post(client, f.id, "note", text="事后补记").status_code == 302
    with db.connection_context():
        assert [n.action for n in FollowUpNote.select().order_by(FollowUpNote.id)] == [
            "closed", "note"]


def test_bad_input_is_said_and_changes_nothing(town):
    client = town.client("mgr1")
    f = follow_up_of(town, "sq1")
    before = town.snapshot()
    for action, data in (("reply", {"text": "  "}), ("note", {"text": ""}),
                         ("assign", {"assignee": "mgr2"}),        # not of this area
                         ("assign", {"assignee": "nobody"}),
                         ("reply", {"text": "长" * 2001}), ("decide", {"choice": "confirmed"}),
                         ("step", {"choice": "reviewed", "text": "x"}),
                         ("deletion", {"choice": "approve"})):
        page = post(client, f.id, action, **data)
        assert page.status_code == 302, (action, page.status_code)
    assert town.snapshot() == before
    with db.connection_context():
        assert FollowUp.get_by_id(f.id).state == "new" and FollowUpNote.select().count() == 0
    assert post(client, f.id, "explode").status_code == 404
    # without its CSRF token a post is refused (the app's CSRF protection)
    assert client.post(f"/admin/follow-ups/{f.id}/note", data={"text": "no token"}).status_code \
        == 400
    with db.connection_context():
        assert FollowUpNote.select().count() == 0


def test_the_follow_up_page_shows_its_history_and_the_response_page_its_panel(town):
    client = town.client("mgr1")
    f = follow_up_of(town, "sq1")
    post(client, f.id, "assign", assignee="mgr1")
    post(client, f.id, "reply", text="灯已修好，感谢反映")
    page = client.get(f"/admin/follow-ups/{f.id}")
    assert page.status_code == 200
    assert re.findall(r'data-action="(\w+)"', page.text) == ["assigned", "reply"]
    assert "灯已修好，感谢反映" in page.text
    response = client.get(f"/admin/responses/{town.subs['sq1']}")
    panel = response.text[response.text.index('id="follow-ups"'):]
    assert f'data-follow-up="{f.id}"' in panel and 'data-state="answered"' in panel
    assert "灯已修好，感谢反映" in panel and "Assigned: mgr1" in panel


def test_the_home_page_counts_overdue_and_due_this_week(town):
    today = clock.Clock("Asia/Shanghai").today()
    sunday = today + dt.timedelta(days=6 - today.weekday())
    with db.connection_context():
        for key, due in (("sq1", dt.date(2020, 1, 1)), ("g1", sunday),
                         ("sq2", dt.date(2020, 1, 1)), ("none", sunday + dt.timedelta(days=1))):
            FollowUp.update(due_on=due).where(FollowUp.id == follow_up_of(town, key).id).execute()
    for username, overdue, week in (("admin", 2, 1), ("mgr1", 1, 1), ("mgr2", 1, 0)):
        page = town.client(username).get("/admin/")
        assert f'data-overdue="{overdue}"' in page.text, username
        assert f'data-due-this-week="{week}"' in page.text, username
        queue = town.client(username)
        assert total(queue.get("/admin/follow-ups?overdue=1")) == overdue
        assert total(queue.get("/admin/follow-ups?due=week")) == week
    assert 'id="follow-up-counts"' not in town.client("sv1").get("/admin/").text


# --- the working calendar ------------------------------------------------------------------

def test_the_admin_keeps_the_calendar_current(town):
    client = town.client("admin")
    assert client.get("/admin/follow-ups/holidays").status_code == 200
    page = client.post("/admin/follow-ups/holidays", data={
        "csrf_token": csrf_token(client), "days": "2026-10-01,国庆节\n2026-10-10,调休,work\n"})
    assert page.status_code == 302
    with db.connection_context():
        assert [(h.day, h.working) for h in Holiday.select().order_by(Holiday.day)] == [
            (dt.date(2026, 10, 1), False), (dt.date(2026, 10, 10), True)]
        event = AuditEvent.get(AuditEvent.action == "holidays_changed")
        assert '"days_off": 1' in event.detail and '"days_worked": 1' in event.detail
    assert "2026-10-10,调休,work" in client.get("/admin/follow-ups/holidays").text
    refused = client.post("/admin/follow-ups/holidays", data={
        "csrf_token": csrf_token(client), "days": "2026-10-01\n2026-02-30,x\n"})
    assert refused.status_code == 400 and "Line 2: not a date" in refused.text
    with db.connection_context():
        assert Holiday.select().count() == 2


@pytest.mark.parametrize("username", ["mgr1", "sv1"])
def test_only_admins_keep_the_calendar(town, username):
    client = town.client(username)
    assert client.get("/admin/follow-ups/holidays").status_code == 404
    assert client.post("/admin/follow-ups/holidays", data={
        "csrf_token": csrf_token(client), "days": "2026-10-01\n"}).status_code == 404


# --- the form key ----------------------------------------------------------------------------

def definition(follow_up) -> dict:
    return {"id": "f", "version": 1, "title": "t", "follow_up": follow_up, "sections": [
        {"questions": [{"name": "when", "type": "select_one", "label": "l",
                        "choices": [{"value": "a", "label": "A"}]},
                       {"name": "who", "type": "text", "label": "l"}]}]}


@pytest.mark.parametrize("follow_up, problem", [
    ("yes", "f: follow_up: must be a mapping, e.g. {due_working_days: 15}"),
    ({"due_working_days": 0}, "f: follow_up: due_working_days must be a whole number from 1"),
    ({"due_working_days": 400}, "f: follow_up: due_working_days must be at most 250"),
    ({"due": 3}, "f: follow_up: unknown key 'due'"),
    ({"sign_up": {"session_question": "who"}},
     "f: follow_up sign_up session_question: 'who' must be a top-level question answered by "
     "choices (select_one or select_multiple)"),
    ({"sign_up": {"session_question": "nope"}},
     "f: follow_up sign_up session_question: 'nope' is not a question of this form"),
    ({"steps": [{"name": "in", "label": "x"}]},
     "f: follow_up steps: must be a list of at least two steps: where an application starts, "
     "and where its review ends"),
    ({"steps": [{"name": "in", "label": "x"}, {"name": "ok", "label": "y", "role": "boss",
                                                "final": True}]},
     "f: follow_up steps 'ok': role must be one of admin, manager, surveyor (who may take this "
     "step)"),
    ({"steps": [{"name": "in", "label": "x"}, {"name": "ok", "label": "y", "role": "admin"}]},
     "f: follow_up steps: at least one step must be final (where a review ends)"),
    ({"steps": [{"name": "in", "label": "x"}, {"name": "ok", "label": "y", "role": "admin",
                                                "final": True, "after": ["later"]}]},
     "f: follow_up steps 'ok': after must list steps named before this one"),
])
def test_a_bad_follow_up_is_refused_precisely(follow_up, problem):
    with pytest.raises(FormError) as refused:
        parse(definition(follow_up), where="f")
    assert problem in refused.value.problems


def test_a_follow_up_is_read_into_the_form():
    spec = parse(definition({"due_working_days": 2, "sign_up": {"session_question": "when"}}))
    assert spec.follow_up.kind == "sign_up" and spec.follow_up.due_working_days == 2
    assert spec.follow_up.sign_up.session_question == "when"
    assert parse(definition({})).follow_up.due_working_days == 15

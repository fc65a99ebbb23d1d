"""Sign-ups confirmed with a session and their rosters; applications reviewed step by step by the
right role only, and the year's list by step; residents' requests through the API /my uses
(open_request, of_submission): a withdrawal takes effect at once, a deletion approved erases the
answers. On the demo forms signup and application; the town of tests/test_follow_ups.py."""
from __future__ import annotations

import csv
import io
import re

import pytest

from service.records import follow_ups
from service.storage.db import db
from service.storage.models import AuditEvent, FollowUp, FollowUpNote, Submission

from .conftest import ROOT, csrf_token
from .test_follow_ups import APPLICATION, SIGNUP, app, clock_at, post, town  # noqa: F401


def opened(town, key) -> FollowUp:
    with db.connection_context():
        return FollowUp.get((FollowUp.submission == town.subs[key]) &
                            FollowUp.kind.in_(["sign_up", "application"]))


@pytest.fixture
def signups(town):
    """Three sign-ups in SQ1 (quiz ×2, job fair) and one in SQ2."""
    town.store("zhang", "signup", SIGNUP, area="SQ1")
    town.store("li", "signup", dict(SIGNUP, name="李娜", phone="13700001111"), area="G1")
    town.store("wang", "signup", dict(SIGNUP, event="job_fair", name="王强"), area="SQ1")
    town.store("far", "signup", dict(SIGNUP, name="赵六"), area="SQ2")
    return town


def roster_of(page) -> dict:
    """{(event, session): [receipts]} as the roster page lists them."""
    found = {}
    for event, session, body in re.findall(
            r'data-session="(\w*)" data-event="(\w*)">(.*?)</section>', page.text, re.S):
        found[(session, event)] = re.findall(r'data-receipt="([^"]+)"', body)
    return found


# --- sign-ups -------------------------------------------------------------------------------

def test_a_sign_up_is_confirmed_with_a_session_and_lands_on_its_roster(signups):
    town = signups
    client = town.client("mgr1")
    for key, session in (("zhang", "sat"), ("li", "sat"), ("wang", "wd_am")):
        assert post(client, opened(town, key).id, "decide", choice="confirmed",
                    session=session).status_code == 302
    assert post(client, opened(town, "li").id, "decide", choice="declined").status_code == 302
    with db.connection_context():
        zhang = FollowUp.get_by_id(opened(town, "zhang").id)
        assert (zhang.decision, zhang.session, zhang.state) == ("confirmed", "sat", "closed")
        assert FollowUp.get_by_id(opened(town, "li").id).decision == "declined"
        assert AuditEvent.select().where(AuditEvent.action == "follow_up_confirmed").count() == 3
    page = client.get("/admin/follow-ups/rosters?form=signup")
    assert page.status_code == 200
    assert roster_of(page) == {("quiz", "sat"): [town.receipts["zhang"]],
                               ("job_fair", "wd_am"): [town.receipts["wang"]]}
    # masked until revealed: the name's first character, the phone's ends
    assert "张*" in page.text and "139****5678" in page.text and "13912345678" not in page.text
    assert "@page{size:A4" in (ROOT / "static" / "admin.css").read_text()   # A4, like the others


def test_revealing_a_roster_is_for_those_who_may_and_is_logged(signups):
    town = signups
    client = town.client("mgr1")
    post(client, opened(town, "zhang").id, "decide", choice="confirmed", session="sun")
    shown = client.post("/admin/follow-ups/rosters", data={"csrf_token": csrf_token(client)})
    assert shown.status_code == 200
    assert "张三" in shown.text and "13912345678" in shown.text
    with db.connection_context():
        event = AuditEvent.get(AuditEvent.action == "roster_reveal")
        assert event.username == "mgr1" and '"people": 1' in event.detail
    # SQ2's manager sees SQ2's roster only: nobody is confirmed there
    assert roster_of(town.client("mgr2").get("/admin/follow-ups/rosters")) == {}
    assert town.client("sv1").get("/admin/follow-ups/rosters").status_code == 404


@pytest.mark.parametrize("data", [{"choice": "confirmed"},                     # no session
                                  {"choice": "confirmed", "session": "midnight"},
                                  {"choice": "maybe", "session": "sat"}])
def test_a_wrong_decision_changes_nothing(signups, data):
    town = signups
    client = town.client("mgr1")
    f = opened(town, "zhang")
    before = town.snapshot()
    assert post(client, f.id, "decide", **data).status_code == 302
    assert town.snapshot() == before
    with db.connection_context():
        assert FollowUp.get_by_id(f.id).decision is None
        assert FollowUpNote.select().count() == 0


@pytest.mark.parametrize("username, status", [("admin", 302), ("mgr1", 302), ("mgr2", 404),
                                              ("sv1", 404)])
def test_who_confirms_a_sign_up(signups, username, status):
    f = opened(signups, "zhang")
    assert post(signups.client(username), f.id, "decide", choice="confirmed",
                session="sat").status_code == status
    with db.connection_context():
        assert FollowUp.get_by_id(f.id).decision == ("confirmed" if status == 302 else None)


def test_a_withdrawal_takes_effect_at_once_and_leaves_the_roster(signups):
    town = signups
    client = town.client("mgr1")
    post(client, opened(town, "zhang").id, "decide", choice="confirmed", session="sat")
    with town.app.app_context(), db.connection_context():
        submission = Submission.get_by_id(town.subs["zhang"])
        request = follow_ups.open_request(submission, "withdrawal", "临时有事，不能参加")
        assert (request.kind, request.state, request.request_text) == (
            "withdrawal", "new", "临时有事，不能参加")
        sign_up = FollowUp.get_by_id(opened(town, "zhang").id)
        assert (sign_up.decision, sign_up.state) == ("withdrawn", "closed")
        assert [f.kind for f in follow_ups.of_submission(submission)] == ["withdrawal", "sign_up"]
        with pytest.raises(ValueError):             # once only
            follow_ups.open_request(submission, "withdrawal", "")
    assert roster_of(client.get("/admin/follow-ups/rosters")) == {}
    # the office cannot confirm it again; the request is in its queue
    post(client, sign_up.id, "decide", choice="confirmed", session="sun")
    with db.connection_context():
        assert FollowUp.get_by_id(sign_up.id).decision == "withdrawn"
    assert re.search(rf'data-follow-up="{request.id}"',
                     client.get("/admin/follow-ups?kind=withdrawal").text)


# --- residents' requests --------------------------------------------------------------------

def test_a_residents_request_is_due_in_fifteen_working_days(signups):
    town = signups
    with town.app.app_context(), db.connection_context():
        from service.office import clock
        from service.records import working_days
        submission = Submission.get_by_id(town.subs["zhang"])
        first = follow_ups.open_request(submission, "correction", "电话号码写错了，应为13912340000")
        second = follow_ups.open_request(submission, "deletion", "请删除我的信息")
        assert first.due_on == working_days.due(clock.today(), 15)
        assert [f.id for f in follow_ups.of_submission(submission)][:2] == [second.id, first.id]
        for kind, text in (("complaint", "x"), ("correction", " "), ("deletion", "长" * 2001)):
            with pytest.raises(ValueError):
                follow_ups.open_request(submission, kind, text)
        suggestion = Submission.get_by_id(town.subs["sq1"])
        with pytest.raises(ValueError):                     # not a sign-up
            follow_ups.open_request(suggestion, "withdrawal", "")
        assert FollowUpNote.get(FollowUpNote.follow_up == first.id).action == "requested"


def test_a_deletion_refused_needs_the_reason_the_resident_reads(signups):
    town = signups
    with town.app.app_context(), db.connection_context():
        request = follow_ups.open_request(Submission.get_by_id(town.subs["zhang"]), "deletion",
                                          "请删除")
    client = town.client("mgr1")
    page = client.get(f"/admin/follow-ups/{request.id}")
    assert page.status_code == 200 and "请删除" in page.text
    with db.connection_context():               # the household's own words: the view is logged
        assert AuditEvent.get(AuditEvent.action == "follow_up_view").username == "mgr1"
    post(client, request.id, "deletion", choice="refuse", text="")
    with db.connection_context():
        assert FollowUp.get_by_id(request.id).state == "new"
    post(client, request.id, "deletion", choice="refuse", text="培训补贴申领期间需保留，结束后删除")
    with db.connection_context():
        refused = FollowUp.get_by_id(request.id)
        assert (refused.outcome, refused.state) == ("refused", "closed")
        assert refused.reply == "培训补贴申领期间需保留，结束后删除"
        assert Submission.get_by_id(town.subs["zhang"]).erased_at is None


def test_a_deletion_approved_erases_the_answers(signups):
    town = signups
    with town.app.app_context(), db.connection_context():
        request = follow_ups.open_request(Submission.get_by_id(town.subs["zhang"]), "deletion",
                                          "请删除")
    assert post(town.client("mgr2"), request.id, "deletion", choice="approve").status_code == 404
    assert post(town.client("mgr1"), request.id, "deletion", choice="approve").status_code == 302
    with db.connection_context():
        done = FollowUp.get_by_id(request.id)
        assert (done.outcome, done.state) == ("approved", "closed")
        erased = Submission.get_by_id(town.subs["zhang"])
        assert erased.erased_at is not None and "张三" not in (erased.answers or "")
        # what the household wrote in its requests goes with the answers; the requests stay
        assert FollowUp.get_by_id(request.id).request_text == ""
        assert FollowUpNote.select().where(FollowUpNote.text.contains("请删除")).count() == 0
        assert AuditEvent.get(AuditEvent.action == "follow_up_approved").username == "mgr1"


# --- applications ---------------------------------------------------------------------------

@pytest.fixture
def applications(town):
    town.store("east", "application", APPLICATION, area="SQ1")
    town.store("west", "application", dict(APPLICATION, unit_name="西山社区"), area="SQ2")
    return town


def step(client, f, name, text="材料齐全，同意"):
    return post(client, f.id, "step", choice=name, text=text)


def test_an_application_is_reviewed_step_by_step_by_the_right_role(applications):
    town = applications
    f = opened(town, "east")
    assert f.step == "submitted" and f.kind == "application"
    mgr1, admin = town.client("mgr1"), town.client("admin")
    mgr2, sv1 = town.client("mgr2"), town.client("sv1")
    before = town.snapshot()
    for client, name in ((mgr1, "recommended"), (mgr1, "accepted"),   # the admin's steps
                         (admin, "accepted"),                            # not from submitted
                         (mgr1, "nowhere")):
        assert step(client, f, name).status_code == 302
    assert step(mgr1, f, "reviewed", text=" ").status_code == 302      # the note is required
    assert step(mgr2, f, "reviewed").status_code == 404                # a foreign area
    assert step(sv1, f, "reviewed").status_code == 404
    assert town.snapshot() == before
    with db.connection_context():
        assert FollowUp.get_by_id(f.id).step == "submitted"
    assert step(mgr1, f, "reviewed", "社区初审通过").status_code == 302
    assert step(admin, f, "recommended", "街道推荐上报").status_code == 302
    assert step(admin, f, "accepted", "考核验收通过，授牌").status_code == 302
    with town.app.app_context(), db.connection_context():
        done = FollowUp.get_by_id(f.id)
        assert (done.step, done.state) == ("accepted", "closed") and done.closed_at
        assert follow_ups.step_label(done).zh == "考核验收通过"     # what the applicant reads
        notes = [(n.user.username, n.old, n.new, n.text) for n in FollowUpNote.select()
                 .where(FollowUpNote.follow_up == f.id).order_by(FollowUpNote.id)]
        assert notes == [("mgr1", "submitted", "reviewed", "社区初审通过"),
                         ("admin", "reviewed", "recommended", "街道推荐上报"),
                         ("admin", "recommended", "accepted", "考核验收通过，授牌")]
        assert AuditEvent.select().where(AuditEvent.action == "follow_up_step").count() == 3


def test_the_page_offers_the_steps_ones_role_may_take(applications):
    f = opened(applications, "east")
    page = applications.client("mgr1").get(f"/admin/follow-ups/{f.id}")
    assert re.findall(r'name="choice" value="(\w+)">', page.text) == ["reviewed", "declined"]
    page = applications.client("admin").get(f"/admin/follow-ups/{f.id}")
    assert re.findall(r'name="choice" value="(\w+)">', page.text) == ["reviewed", "declined"]


def test_the_years_applications_by_step_print_and_download(applications):
    town = applications
    admin = town.client("admin")
    step(town.client("mgr1"), opened(town, "east"), "reviewed", "社区初审通过")
    page = admin.get("/admin/follow-ups/applications?form=application")
    assert page.status_code == 200
    counts = dict(re.findall(r'data-step="(\w+)" data-count="(\d+)"', page.text))
    assert counts == {"submitted": "1", "reviewed": "1", "recommended": "0", "accepted": "0",
                      "not_accepted": "0", "declined": "0"}
    assert "东湖社区" in page.text and "社区初审通过" in page.text
    queue = admin.get("/admin/follow-ups?kind=application").text
    assert "Application · Reviewed" in queue and "Application · Submitted" in queue
    assert "13900001111" not in page.text and "李四" not in page.text     # no identifiers
    assert 'data-count="0"' in admin.get("/admin/follow-ups/applications?year=2001").text
    mgr2 = town.client("mgr2").get("/admin/follow-ups/applications")
    assert dict(re.findall(r'data-step="(\w+)" data-count="(\d+)"', mgr2.text))["reviewed"] == "0"
    download = admin.get("/admin/follow-ups/applications.csv?form=application")
    assert download.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert rows[0] == ["Review step", "Receipt", "Kind of applicant", "Name of the applicant",
                       "People in the unit (community or village)", "Submitted",
                       "Reviewer's note", "Reviewed"]
    assert [(r[0], r[1], r[3], r[6]) for r in rows[1:]] == [
        ("Submitted", town.receipts["west"], "西山社区", ""),
        ("Reviewed", town.receipts["east"], "东湖社区", "社区初审通过")]
    with db.connection_context():
        assert AuditEvent.get(AuditEvent.action == "applications_export").username == "admin"
    assert town.client("sv1").get("/admin/follow-ups/applications").status_code == 404
    assert admin.get("/admin/follow-ups/applications?form=signup").status_code == 404


# --- through the public form ----------------------------------------------------------------

def test_the_public_forms_open_their_follow_ups(visitor, database):
    """A sign-up and an application posted as a phone posts them: each opens its follow-up in
    the submission's transaction, the sign-up due in 2 working days, the application at its
    first step."""
    from service.office import clock
    from service.records import working_days
    from .conftest import receipt
    signup = {"consent": "y", "event": "train_domestic", "sessions": ["wd_am", "sat"],
              "name": "张三", "phone": "13912345678", "age": "30", "needs_childcare": "no"}
    page = visitor.submit("/f/signup", signup)
    assert page.status_code == 200 and receipt(page.text)
    application = {"consent": "y", "unit_type": "village", "unit_name": "团结村", "people": "800",
                   "minority_people": "300", "activities": ["festivals"],
                   "achievements": "每年组织古尔邦节、春节联谊活动", "contact_name": "马强",
                   "contact_phone": "13800001111"}
    page = visitor.submit("/f/application", application)
    assert page.status_code == 200 and receipt(page.text)
    with visitor.client.application.app_context():
        today = clock.today()
        made = {f.kind: f for f in FollowUp.select()}
        assert made["sign_up"].due_on == working_days.due(today, 2)
        assert (made["application"].step, made["application"].state) == ("submitted", "new")
        assert made["application"].due_on == working_days.due(today, 20)
        assert made["application"].submission.receipt == receipt(page.text)

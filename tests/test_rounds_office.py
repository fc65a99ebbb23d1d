"""Survey rounds in the office (/admin/rounds): the list, a new round, the coverage page with its
drill-down, assigning households, closing, and the not-yet list, on tests/forms/ledger.yaml.

The office fixture has JD > SQ1 > G1 and JD > SQ2, an admin, mgr1 (manager of SQ1), mgr2 (of SQ2)
and sv1 (surveyor in SQ1). A round is its area's: a round of another area is a 404 whatever URL is
typed; of a round over an area above one's own (the street's), a community's office sees and
assigns its part only, and cannot close it. Figures are read back from the pages (data-
attributes) and compared with a recount of the members from their visits, or with the kept counts
of the part (Figures.area_total); a refused post changes no row.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest

from service.admin import rounds as rounds_view, rounds_actions
from service.reports import round_coverage
from service.office import clock, policy
from service.records import ledger, rounds, submissions
from service.reports.coverage import Figures
from service.storage.db import db, write_transaction
from service.storage.models import (
    Area, AuditEvent, RoundCount, RoundHousehold, Submission, SurveyRound, User,
)

from .conftest import csrf_token
from .test_households_office import FIRST, book  # noqa: F401  (book: a fixture)

FIGURES = ("target", "done", "attempted", "not-yet", "flagged", "left")


def long_ago(*households):
    """Their visits were before any round's dates: they are not yet done."""
    with db.connection_context(), write_transaction():
        Submission.update(received_at=dt.datetime(2020, 1, 1)).where(
            Submission.household.in_([h.id for h in households])).execute()


def outcome(app, h, what, surveyor=None):
    with app.app_context(), db.connection_context():
        moment = submissions.utcnow()
        with write_transaction():
            ledger.record_outcome(h.id, str(uuid.uuid4()), what, received_at=moment,
                                  day=clock.current().day_of(moment), surveyor_id=surveyor)


@pytest.fixture
def town(book):
    """Five households: in SQ1 one done today by sv1; in G1 one not yet and one attempted twice
    (flagged); in SQ2 one not yet and one done today."""
    h = {"done": book.visit(FIRST, "SQ1", surveyor="sv1"),
         "g1": book.visit(dict(FIRST, address="东湖路 8号", head_id=None), "G1"),
         "tried": book.visit(dict(FIRST, address="东湖路 2号", head_id=None), "G1"),
         "sq2": book.visit(dict(FIRST, address="西山路 1号", head_id=None), "SQ2"),
         "sq2done": book.visit(dict(FIRST, address="西山路 2号", head_id=None), "SQ2")}
    long_ago(h["g1"], h["tried"], h["sq2"])
    book.h = h
    return book


def make_round(office, username, area, name=None, days=(-1, 30)):
    """A round made through the office's form; its id."""
    client = office.client(username)
    today = clock.Clock("Asia/Shanghai").today()
    page = client.post("/admin/rounds/new", data={
        "csrf_token": csrf_token(client), "name": name or f"{area} 第一轮", "form_id": "ledger",
        "area": area, "starts_on": (today + dt.timedelta(days=days[0])).isoformat(),
        "ends_on": (today + dt.timedelta(days=days[1])).isoformat()})
    assert page.status_code == 302, page.text
    return int(re.search(r"/admin/rounds/(\d+)$", page.location).group(1))


@pytest.fixture
def three(town):
    """A round of each: JD (by the admin), SQ1 (by mgr1), SQ2 (by mgr2)."""
    town.rounds = {"JD": make_round(town, "admin", "JD"), "SQ1": make_round(town, "mgr1", "SQ1"),
                   "SQ2": make_round(town, "mgr2", "SQ2")}
    outcome(town.app, town.h["tried"], "not_home")
    outcome(town.app, town.h["tried"], "refused")
    return town


def figures_of(round_id) -> Figures:
    with db.connection_context():
        return Figures.of(SurveyRound.get_by_id(round_id))


def row_figures(html: str, attribute: str) -> dict[str, dict]:
    """{attribute value: {figure: n}} of every element carrying `attribute` and the figures."""
    found = {}
    for m in re.finditer(rf'<[^>]* {attribute}="([^"]*)"([^>]*)>', html):
        values = dict(re.findall(r'data-([a-z-]+)="(-?\d+)"', m.group(2)))
        found[m.group(1)] = {k: int(v) for k, v in values.items()}
    return found


def tally(t) -> dict:
    return {"target": t.target, "done": t.done, "attempted": t.attempted, "not-yet": t.not_yet,
            "flagged": t.flagged, "left": t.left}


def totals_on(page) -> dict:
    m = re.search(r'id="totals"([^>]*)>', page.text)
    return {k: int(v) for k, v in re.findall(r'data-([a-z-]+)="(\d+)"', m.group(1))}


def recount(round_id) -> dict:
    """The round's figures from its members' visits and outcomes, not from any kept count."""
    with db.connection_context():
        r = SurveyRound.get_by_id(round_id)
        states = [rounds.standing(r, m.household_id) for m in
                  RoundHousehold.select().where(RoundHousehold.round == r.id)]
    count = {s: sum(x.state == s for x in states) for s in rounds.STATES}
    return {"target": count["done"] + count["attempted"] + count["not_yet"],
            "done": count["done"], "attempted": count["attempted"], "not-yet": count["not_yet"],
            "flagged": sum(x.state == "attempted" and x.attempts >= rounds.FLAG_ATTEMPTS
                           for x in states), "left": count["left"]}


def audits(action):
    with db.connection_context():
        return [json.loads(e.detail) for e in
                AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id)]


def members() -> list[tuple]:
    """Every member row: equal results mean no assignment or standing changed."""
    with db.connection_context():
        return list(RoundHousehold.select().order_by(RoundHousehold.id).tuples())


def stored():
    with db.connection_context():
        return [list(model.select().order_by(model.id).tuples()) for model in (
            SurveyRound, RoundHousehold, RoundCount)]


# path                                           admin mgr1 mgr2 sv1
PAGES = [
    ("/admin/rounds",                              200, 200, 200, 404),
    ("/admin/rounds/new",                          200, 200, 200, 404),
    ("/admin/rounds/{JD}",                         200, 200, 200, 404),   # their parts
    ("/admin/rounds/{SQ1}",                        200, 200, 404, 404),
    ("/admin/rounds/{SQ2}",                        200, 404, 200, 404),
    ("/admin/rounds/{JD}?area=SQ1",                200, 200, 404, 404),
    ("/admin/rounds/{JD}?area=G1",                 200, 200, 404, 404),
    ("/admin/rounds/{JD}?area=SQ2",                200, 404, 200, 404),
    ("/admin/rounds/{JD}?area=JD",                 200, 404, 404, 404),   # above their part
    ("/admin/rounds/{SQ1}?area=G1",                200, 200, 404, 404),
    ("/admin/rounds/{SQ1}?area=SQ2",               404, 404, 404, 404),   # not of this round
    ("/admin/rounds/{SQ1}?area=NOWHERE",           404, 404, 404, 404),
    ("/admin/rounds/999999",                       404, 404, 404, 404),
    ("/admin/rounds/{SQ1}/not-yet",                200, 200, 404, 404),
    ("/admin/rounds/{SQ1}/not-yet?area=G1",        200, 200, 404, 404),
    ("/admin/rounds/{SQ1}/not-yet?area=SQ2",       404, 404, 404, 404),
    ("/admin/rounds/{SQ1}/not-yet?surveyor=sv1",   404, 404, 404, 404),   # nobody assigned
    ("/admin/rounds/{SQ2}/not-yet",                200, 404, 200, 404),
    ("/admin/rounds/{JD}/not-yet",                 200, 200, 200, 404),
    ("/admin/rounds/{JD}/not-yet?area=G1",         200, 200, 404, 404),
    ("/admin/rounds/{JD}/not-yet?area=SQ2",        200, 404, 200, 404),
    ("/admin/rounds/{JD}/not-yet?area=JD",         200, 404, 404, 404),
]


def test_the_pages_for_every_role(three):
    for name, column in (("admin", 1), ("mgr1", 2), ("mgr2", 3), ("sv1", 4)):
        client = three.client(name)
        got = [(path, client.get(path.format(**three.rounds)).status_code)
               for path, *_ in PAGES]
        assert got == [(row[0], row[column]) for row in PAGES], name
        assert ('href="/admin/rounds"' in client.get("/admin/").text) == (name != "sv1")
        # and every post about a round out of reach is a 404 too, changing nothing
        before = stored()
        own = {"admin": set(three.rounds), "mgr1": {"SQ1"}, "mgr2": {"SQ2"}, "sv1": set()}[name]
        covering = {"JD"} if name.startswith("mgr") else set()  # their part's posts: see below
        for area, r in three.rounds.items():
            if area in own:
                continue
            for action in ("close",) if area in covering else ("assign", "assign-list", "close"):
                assert client.post(f"/admin/rounds/{r}/{action}", data={
                    "csrf_token": csrf_token(client), "area": "G1", "surveyor": "none",
                    "codes": three.h["g1"].code}).status_code == 404, (name, r, action)
        assert stored() == before
    # the rule behind it: a round is in scope when its area is, and viewed (its part) when its
    # area lies above one's own; only in scope may it be managed (closed). A surveyor views none.
    with db.connection_context():
        for name, own, covering in (("admin", {"JD", "SQ1", "SQ2"}, set()),
                                    ("mgr1", {"SQ1"}, {"JD"}), ("mgr2", {"SQ2"}, {"JD"}),
                                    ("sv1", set(), {"JD"})):
            user = User.get(User.username == name)
            viewed = own | covering if name != "sv1" else set()
            assert {area for area, r in three.rounds.items()
                    if policy.can(user, "rounds.view", SurveyRound[r])} == viewed, name
            assert {area for area, r in three.rounds.items()
                    if policy.can(user, "rounds.manage", SurveyRound[r])} == own, name
            assert {area for area, r in three.rounds.items()
                    if policy.covers(user, SurveyRound[r])} == covering, name
            assert {r.area.code for r in policy.rounds_for(user)} == viewed, name
            assert policy.can(user, "rounds.manage") == (name != "sv1")
    # each manager lists the rounds of their own areas and the street's, newest first
    listed = {name: re.findall(r'<tr data-round="(\d+)"', three.client(name).get(
        "/admin/rounds").text) for name in ("admin", "mgr1", "mgr2")}
    assert listed["mgr1"] == [str(three.rounds["SQ1"]), str(three.rounds["JD"])]
    assert listed["mgr2"] == [str(three.rounds["SQ2"]), str(three.rounds["JD"])]
    assert sorted(listed["admin"]) == sorted(str(i) for i in three.rounds.values())


def test_a_new_round_refuses_bad_input_in_chinese_and_stores_nothing(town):
    client = town.client("mgr1")
    client.set_cookie("lang", "zh")
    good = {"name": "2026年春季走访", "form_id": "ledger", "area": "SQ1",
            "starts_on": "2026-03-01", "ends_on": "2026-03-31"}
    cases = [
        ({"name": "   "}, 400, "请填写轮次名称。"),
        ({"starts_on": "2026-02-30"}, 400, "不是有效的日期值。"),
        ({"ends_on": "31/03/2026"}, 400, "不是有效的日期值。"),
        ({"ends_on": ""}, 400, "请填写结束日期。"),
        ({"ends_on": "2026-02-28"}, 400, "结束日期早于开始日期。"),
        ({"ends_on": "9999-12-31"}, 400, "请选择 2000 年至 2099 年之间的日期。"),
        ({"form_id": "kitchen"}, 400, "请选择台帐表单。"),          # a form, not a ledger
        ({"form_id": "nope"}, 400, "请选择台帐表单。"),
        ({"area": ""}, 400, "请选择区域。"),
        ({"area": "NOWHERE"}, 404, "页面不存在"),
        ({"area": "SQ2"}, 404, "页面不存在"),                       # another manager's area
        ({"area": "JD"}, 404, "页面不存在"),                        # above one's own
    ]
    before = stored()
    for change, status, message in cases:
        page = client.post("/admin/rounds/new", data={
            **good, **change, "csrf_token": csrf_token(client)})
        assert (page.status_code, message in page.text) == (status, True), (change, page.text)
        if status == 400:         # shown next to its field, the rest of the input kept
            assert re.search(rf'class="error" role="alert">{re.escape(message)}<', page.text)
            assert "name" in change or 'value="2026年春季走访"' in page.text
    assert client.post("/admin/rounds/new", data=good).status_code == 400   # no CSRF token
    assert stored() == before and audits("round_create") == []
    # the form offers only ledger forms and the manager's own areas
    page = client.get("/admin/rounds/new")
    assert re.findall(r'<option[^>]*value="([^"]+)"', page.text) == ["ledger", "SQ1", "G1"]
    page = client.post("/admin/rounds/new", data={**good, "csrf_token": csrf_token(client)})
    assert page.status_code == 302
    with db.connection_context():
        r = SurveyRound.get(SurveyRound.name == "2026年春季走访")
        assert (r.area.code, r.form_id, str(r.starts_on), str(r.ends_on), r.created_by.username) \
            == ("SQ1", "ledger", "2026-03-01", "2026-03-31", "mgr1")
        assert {m.household_id for m in r.households} == {
            town.h[k].id for k in ("done", "g1", "tried")}
    assert page.location.endswith(f"/admin/rounds/{r.id}")
    assert audits("round_create") == [{"round": r.id, "name": "2026年春季走访", "form": "ledger",
                                       "area": "SQ1", "starts_on": "2026-03-01",
                                       "ends_on": "2026-03-31"}]


def test_the_coverage_page_shows_the_figures_a_recount_gives(three):
    r = three.rounds["JD"]
    outcome(three.app, three.h["sq2"], "vacant")
    page = three.client("admin").get(f"/admin/rounds/{r}")
    expected = recount(r)
    assert totals_on(page) == expected == tally(figures_of(r).totals())
    assert expected == {"target": 5, "done": 2, "attempted": 2, "not-yet": 1, "flagged": 1,
                        "left": 0}
    parts = row_figures(page.text, "data-area")
    assert parts["SQ1"] == {"target": 3, "done": 1, "attempted": 1, "not-yet": 1, "flagged": 1,
                            "left": 0}
    assert parts["SQ2"] == {"target": 2, "done": 1, "attempted": 1, "not-yet": 0, "flagged": 0,
                            "left": 0}
    assert "40.0%" in page.text and '<rect width="40.0"' in page.text
    # per day: two done today; per surveyor: sv1 did one, nobody is assigned yet
    today = clock.Clock("Asia/Shanghai").today().isoformat()
    assert re.findall(r'data-day="([^"]+)" data-done="(\d+)" data-running="(\d+)"',
                      page.text) == [(today, "2", "2")]
    people = row_figures(page.text, "data-surveyor")
    assert people[""]["target"] == 5 and people["sv1"] == {
        "target": 0, "done": 0, "attempted": 0, "not-yet": 0, "flagged": 0, "left": 0, "did": 1}
    outcomes = dict(re.findall(r'data-outcome="([a-z_]+)" data-n="(\d+)"', page.text))
    assert outcomes == {"form": "2", "refused": "1", "vacant": "1"}
    assert "Visited with the form" in page.text and "Refused" in page.text
    # and the rounds list agrees
    listed = row_figures(three.client("admin").get("/admin/rounds").text, "data-round")
    assert listed[str(r)] == {"target": 5, "done": 2}


def test_the_drill_down_goes_street_community_grid(three, monkeypatch):
    client = three.client("admin")
    r = three.rounds["JD"]
    page = client.get(f"/admin/rounds/{r}")
    assert re.findall(r'class="drill" href="([^"]+)"', page.text) == [
        f"/admin/rounds/{r}?area=SQ1"]               # SQ2 has no area below it
    page = client.get(f"/admin/rounds/{r}?area=SQ1")
    parts = row_figures(page.text, "data-area")
    assert set(parts) == {"G1", "SQ1"}          # the grid, and SQ1's own household
    assert parts["G1"]["target"] == 2 and parts["SQ1"]["target"] == 1
    assert row_figures(page.text, "data-area-total")["SQ1"]["target"] == 3
    assert re.findall(r'class="drill" href="([^"]+)"', page.text) == []    # G1 is a grid
    assert f'href="/admin/rounds/{r}">幸福街道</a>' in page.text or \
        f'href="/admin/rounds/{r}">' in page.text                           # the way back up
    page = client.get(f"/admin/rounds/{r}?area=G1")
    assert row_figures(page.text, "data-area")["G1"] == {
        "target": 2, "done": 0, "attempted": 1, "not-yet": 1, "flagged": 1, "left": 0}
    assert 'id="level" data-area="G1"' in page.text
    # a district's thousands of surveyors: the most behind are listed, and the select gives way
    monkeypatch.setattr(round_coverage, "SURVEYOR_ROWS", 1)
    monkeypatch.setattr(rounds_actions, "MAX_CHOICES", 0)
    page = client.get(f"/admin/rounds/{r}")
    assert list(row_figures(page.text, "data-surveyor")) == [""]     # not assigned: 4 left
    assert 'id="unlisted"' in page.text and "1 more surveyors" in page.text
    assert 'id="too-many"' in page.text and 'id="assign-area"' not in page.text
    page = client.get(f"/admin/rounds/{r}?area=SQ2")               # sv1 works in SQ1
    assert row_figures(page.text, "data-surveyor") == {} and 'id="unlisted"' not in page.text


def test_assigning_by_area_and_by_list(three):
    r = three.rounds["SQ1"]
    client = three.client("mgr1")
    sv1 = three.users["sv1"]

    def assigned():
        with db.connection_context():
            return {m.household_id: m.assigned_to_id for m in
                    RoundHousehold.select().where(RoundHousehold.round == r)}

    def post(action, **data):
        return client.post(f"/admin/rounds/{r}/{action}", data={
            "csrf_token": csrf_token(client), **data}, follow_redirects=True)
    page = client.get(f"/admin/rounds/{r}")
    assert f'<option value="{sv1}">' in page.text and 'value="none"' in page.text
    page = post("assign", area="G1", surveyor=str(sv1))
    assert "Households assigned to sv1: 2." in page.text
    assert assigned() == {three.h["done"].id: None, three.h["g1"].id: sv1,
                          three.h["tried"].id: sv1}
    people = row_figures(page.text, "data-surveyor")
    assert people["sv1"]["target"] == 2 and people[""]["target"] == 1
    assert audits("round_assign") == [{"round": r, "count": 2, "surveyor": "sv1", "area": "G1"}]
    # a list: codes as typed (lower case, no dash, commas and spaces); unknown ones change nothing
    before = members()
    for codes, message in ((f"{three.h['done'].code}, ZZZZ-ZZZZ", "ZZZZ-ZZZZ"),
                           (f"{three.h['done'].code} {three.h['sq2'].code}",  # not this round's
                            three.h["sq2"].code),
                           ("", "Paste one or more household codes.")):
        page = post("assign-list", codes=codes, surveyor=str(sv1))
        assert message in page.text
        assert codes == "" or "Nothing was changed." in page.text
    for surveyor in ("", "12345", str(three.users["mgr1"]), "x"):   # nobody, a manager, nonsense
        page = post("assign", area="SQ1", surveyor=surveyor)
        assert "Choose an active surveyor from the list." in page.text
    page = post("assign", area="SQ2", surveyor=str(sv1))        # not an area of this round
    assert "Choose an area of this round." in page.text
    assert client.post(f"/admin/rounds/{r}/assign", data={"area": "SQ1", "surveyor": "none"}
                       ).status_code == 400                      # no CSRF token
    assert members() == before
    code = three.h["done"].code
    page = post("assign-list", codes=f"{code.lower().replace('-', '')}\n", surveyor=str(sv1))
    assert "Households assigned to sv1: 1." in page.text
    assert set(assigned().values()) == {sv1}
    page = post("assign", area="SQ1", surveyor="none")
    assert "Households no longer assigned: 3." in page.text
    assert set(assigned().values()) == {None}
    # the admin's JD round: sv1 (of SQ1) cannot take SQ2's households
    admin = three.client("admin")
    before = members()
    page = admin.post(f"/admin/rounds/{three.rounds['JD']}/assign", data={
        "csrf_token": csrf_token(admin), "area": "JD", "surveyor": str(sv1)},
        follow_redirects=True)
    assert "The surveyor cannot visit all of these households" in page.text
    assert members() == before
    with db.connection_context():
        assert [(RoundCount.select().where(RoundCount.round == i).count() > 0)
                for i in three.rounds.values()] == [True, True, True]


def part_of(round_id, code) -> dict:
    """The kept counts of one area of a round and below (Figures.area_total)."""
    figures = figures_of(round_id)
    return tally(figures.area_total(next(a for a in figures.areas.values() if a.code == code)))


def test_a_community_office_runs_its_part_of_the_streets_round(three):
    """The street's round (JD, made by the admin) as SQ1's office (mgr1) and SQ2's (mgr2) see
    and work it: their part only, from the list to the not-yet list; assigning within it; never
    closing it."""
    r, h, sv1 = three.rounds["JD"], three.h, three.users["sv1"]
    mgr1, mgr2 = three.client("mgr1"), three.client("mgr2")
    sq1 = part_of(r, "SQ1")
    assert sq1 == {"target": 3, "done": 1, "attempted": 1, "not-yet": 1, "flagged": 1, "left": 0}
    listed = mgr1.get("/admin/rounds").text
    assert row_figures(listed, "data-round")[str(r)] == {"target": 3, "done": 1}
    assert f'data-round="{r}" data-status="open" data-target="3" data-done="1" ' \
           f'data-part="SQ1"' in listed
    page = mgr1.get(f"/admin/rounds/{r}")
    assert 'id="level" data-area="SQ1"' in page.text and 'id="part"' in page.text
    assert totals_on(page) == sq1 == row_figures(page.text, "data-area-total")["SQ1"]
    assert set(row_figures(page.text, "data-area")) == {"G1", "SQ1"}
    assert list(row_figures(page.text, "data-surveyor")) == ["sv1"]   # not the whole round's
    assert 'id="by-day"' not in page.text and 'id="outcomes"' not in page.text   # round-wide
    assert 'id="assign-area"' in page.text and 'id="close"' not in page.text
    for text in ("西山社区", "西山路", h["sq2"].code, h["sq2done"].code):
        assert text not in page.text, text
    page = mgr1.get(f"/admin/rounds/{r}?area=G1")
    assert f'<a href="/admin/rounds/{r}">东湖社区</a> › <span id="level" data-area="G1">' \
        in page.text                                            # the way up stops at their area
    admin = three.client("admin").get(f"/admin/rounds/{r}").text     # the street's: the whole
    assert 'id="by-day"' in admin and 'id="part"' not in admin and 'id="close"' in admin
    # the not-yet lists: their areas' households, their surveyors
    with db.connection_context():
        sv2 = User.create(username="sv2", role="surveyor", area=three.areas["SQ2"],
                          password_hash="x")
        with write_transaction():
            rounds.assign(SurveyRound.get_by_id(r), sv2, area=Area.get(Area.code == "SQ2"))
    page = mgr1.get(f"/admin/rounds/{r}/not-yet")
    assert re.findall(r'<tr data-code="([^"]+)"', page.text) == [h["tried"].code, h["g1"].code]
    assert 'data-total="2"' in page.text and "西山" not in page.text
    assert mgr1.get(f"/admin/rounds/{r}/not-yet?surveyor=sv2").status_code == 404
    page = mgr2.get(f"/admin/rounds/{r}/not-yet?surveyor=sv2")
    assert re.findall(r'<tr data-code="([^"]+)"', page.text) == [h["sq2"].code]
    # assigning: within their part, to their surveyors; anything else changes nothing
    def post(action, **data):
        return mgr1.post(f"/admin/rounds/{r}/{action}", data={
            "csrf_token": csrf_token(mgr1), **data}, follow_redirects=True)
    before = members()
    for action, data, message in (
            ("assign", {"area": "SQ2"}, "Choose an area of this round."),
            ("assign", {"area": "JD"}, "Choose an area of this round."),
            ("assign-list", {"codes": h["sq2"].code}, "Not households of this round in your areas"),
            ("assign-list", {"codes": f"{h['g1'].code} {h['sq2done'].code}"},
             h["sq2done"].code),
            ("assign", {"area": "G1", "surveyor": str(sv2.id)},
             "Choose an active surveyor from the list.")):
        page = post(action, **{"surveyor": str(sv1), **data})
        assert page.status_code == 200 and message in page.text, (action, data)
    assert post("assign", area="SQ2", surveyor="none").status_code == 200
    assert members() == before
    rows = stored()
    assert mgr1.post(f"/admin/rounds/{r}/close", data={
        "csrf_token": csrf_token(mgr1)}).status_code == 404
    assert stored() == rows and audits("round_close") == []
    page = post("assign", area="G1", surveyor=str(sv1))
    assert "Households assigned to sv1: 2." in page.text
    page = post("assign-list", codes=h["done"].code, surveyor=str(sv1))
    assert "Households assigned to sv1: 1." in page.text
    with db.connection_context():
        assert {m.household_id: m.assigned_to_id for m in RoundHousehold.select().where(
            RoundHousehold.round == r)} == {h["done"].id: sv1, h["g1"].id: sv1,
                                            h["tried"].id: sv1, h["sq2"].id: sv2.id,
                                            h["sq2done"].id: sv2.id}
    assert row_figures(page.text, "data-surveyor")["sv1"]["target"] == 3
    assert audits("round_assign")[-2:] == [
        {"round": r, "count": 2, "surveyor": "sv1", "area": "G1"},
        {"round": r, "count": 1, "surveyor": "sv1", "codes": 1}]
    # SQ2's office sees SQ2's part
    page = mgr2.get(f"/admin/rounds/{r}")
    assert totals_on(page) == part_of(r, "SQ2") and 'id="level" data-area="SQ2"' in page.text
    assert list(row_figures(page.text, "data-surveyor")) == ["sv2"]
    assert row_figures(mgr2.get("/admin/rounds").text, "data-round")[str(r)] == {
        "target": 2, "done": 1}
    for text in ("东湖", h["g1"].code, h["tried"].code, h["done"].code):
        assert text not in page.text, text
    # once the street closes it: its part as it was kept, and nothing more to assign
    admin = three.client("admin")
    admin.post(f"/admin/rounds/{r}/close", data={"csrf_token": csrf_token(admin)})
    outcome(three.app, h["g1"], "no_change")
    page = mgr1.get(f"/admin/rounds/{r}")
    assert totals_on(page) == part_of(r, "SQ1") == sq1 and 'id="assign"' not in page.text
    assert row_figures(mgr1.get("/admin/rounds").text, "data-round")[str(r)] == {
        "target": 3, "done": 1}
    before = members()
    assert "This round is closed" in post("assign", area="G1", surveyor="none").text
    assert members() == before


def test_closing_freezes_the_figures(three):
    r = three.rounds["SQ1"]
    client = three.client("mgr1")
    before = client.get(f"/admin/rounds/{r}")
    figures = totals_on(before)
    assert figures["not-yet"] == 1 and 'id="close-round"' in before.text
    assert client.post(f"/admin/rounds/{r}/close").status_code == 400    # no CSRF token
    page = client.post(f"/admin/rounds/{r}/close", data={"csrf_token": csrf_token(client)},
                       follow_redirects=True)
    assert "The round is closed" in page.text and 'id="closed"' in page.text
    assert 'id="close-round"' not in page.text and 'id="assign"' not in page.text
    assert totals_on(page) == figures
    assert audits("round_close") == [{"round": r, "name": "SQ1 第一轮", "figures": {
        "target": 3, "done": 1, "attempted": 1, "not_yet": 1, "flagged": 1, "left": 0,
        "percent": 33.3}}]
    # later work does not move a closed round's report, while an open one follows it
    outcome(three.app, three.h["g1"], "no_change")
    outcome(three.app, three.h["tried"], "no_change")
    three.visit(dict(FIRST, address="东湖路 99号", head_id=None), "G1")     # a new household
    after = client.get(f"/admin/rounds/{r}")
    assert totals_on(after) == figures
    assert row_figures(after.text, "data-area") == row_figures(before.text, "data-area")
    assert row_figures(client.get("/admin/rounds").text, "data-round")[str(r)] == {
        "target": 3, "done": 1}
    listed = re.findall(r'<tr data-round="(\d+)" data-status="(\w+)"',
                        three.client("admin").get("/admin/rounds").text)
    assert [status for _r, status in listed] == ["open", "open", "closed"]   # open ones first
    assert listed[-1][0] == str(r)
    assert totals_on(three.client("admin").get(f"/admin/rounds/{three.rounds['JD']}")) == {
        "target": 6, "done": 5, "attempted": 0, "not-yet": 1, "flagged": 0, "left": 0}
    # a second close and any assignment are refused, changing nothing
    before_rows = stored()
    page = client.post(f"/admin/rounds/{r}/close", data={"csrf_token": csrf_token(client)},
                       follow_redirects=True)
    assert "This round is already closed." in page.text
    page = client.post(f"/admin/rounds/{r}/assign", data={
        "csrf_token": csrf_token(client), "area": "G1", "surveyor": str(three.users["sv1"])},
        follow_redirects=True)
    assert "This round is closed" in page.text
    assert stored() == before_rows and len(audits("round_close")) == 1


def test_the_not_yet_list_masks_addresses_until_an_audited_reveal(three, monkeypatch):
    r = three.rounds["JD"]
    client = three.client("admin")
    page = client.get(f"/admin/rounds/{r}/not-yet")
    listed = re.findall(r'<tr data-code="([^"]+)" data-attempts="(\d+)"( data-flagged="1")?',
                        page.text)
    # by area (G1, then SQ2), then address
    assert listed == [(three.h["tried"].code, "2", ' data-flagged="1"'),
                      (three.h["g1"].code, "0", ""), (three.h["sq2"].code, "0", "")]
    assert 'data-total="3"' in page.text and "Refused" in page.text
    assert "东湖路 8号" not in page.text and "东湖****" in page.text   # masked like the ledger
    assert audits("round_not_yet_print") == []
    assert client.post(f"/admin/rounds/{r}/not-yet").status_code == 400     # no CSRF token
    page = client.post(f"/admin/rounds/{r}/not-yet?area=G1",
                       data={"csrf_token": csrf_token(client)})
    assert page.status_code == 200 and "东湖路 8号" in page.text and "东湖路 2号" in page.text
    assert "西山路" not in page.text
    assert audits("round_not_yet_print") == [{"round": r, "area": "G1", "surveyor": None,
                                              "count": 2, "after": None}]
    # by surveyor, once assigned
    with db.connection_context(), write_transaction():
        rounds.assign(SurveyRound.get_by_id(r), User.get_by_id(three.users["sv1"]),
                      area=Area.get(Area.code == "G1"))
    page = client.get(f"/admin/rounds/{r}/not-yet?surveyor=sv1")
    assert re.findall(r'<tr data-code="([^"]+)"', page.text) == [
        three.h["tried"].code, three.h["g1"].code]
    # more than a page: keyset pages, with a note, and every household once
    monkeypatch.setattr(rounds_view, "LIST_SIZE", 2)
    seen, url = [], f"/admin/rounds/{r}/not-yet"
    while url:
        page = client.get(url)
        assert 'id="partial"' in page.text
        seen += re.findall(r'<tr data-code="([^"]+)"', page.text)
        m = re.search(r'<a rel="next" href="([^"]+)"', page.text)
        url = m.group(1).replace("&amp;", "&") if m else None
    assert seen == [c for c, *_ in listed]


def test_chinese_by_default(three):
    client = three.client("admin")
    client.delete_cookie("lang")
    page = client.get(f"/admin/rounds/{three.rounds['JD']}")
    assert '<html lang="zh-CN">' in page.text
    for words in ("调查轮次", "按区域", "按调查员", "按日", "走访结果", "目标户数", "已完成",
                  "走访未果", "未走访", "结束本轮"):
        assert words in page.text, words
    assert "Coverage" not in page.text and "Survey rounds" not in page.text
    report = f"/admin/rounds/{three.rounds['JD']}/report"
    assert f'id="report-link" href="{report}">信息报告<' in page.text
    assert client.get(report).status_code == 200
    page = client.get(f"/admin/rounds/{three.rounds['JD']}/not-yet")
    assert "尚未完成" in page.text and "拒绝登记" in page.text
    mgr1 = three.client("mgr1")                             # the street's round: SQ1's part
    mgr1.delete_cookie("lang")
    assert "本轮覆盖幸福街道全域，您只能查看和分配其中东湖社区的部分。" in mgr1.get(
        f"/admin/rounds/{three.rounds['JD']}").text
    assert "东湖社区 <span class=\"small\">(本辖区部分)</span>" in mgr1.get("/admin/rounds").text

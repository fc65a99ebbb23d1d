"""The current survey round on the phone (service/collect/visit.py, issue #13): /visit shows the
round's progress for the surveyor's own households and lists those still to visit first, and
/visit/offline.json carries the same for the list drawn without signal (static/visits.js).

On tests/forms/ledger.yaml with the office fixture (JD > SQ1 > G1, JD > SQ2; sv1 a surveyor in
SQ1). The figures are checked against a count of RoundHousehold rows, never against the counts
they are read from.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from service.office import clock
from service.records import ledger, rounds
from service.storage.db import db, write_transaction
from service.storage.models import Area, Household, RoundHousehold, Submission, User

from .conftest import PASSWORD
from .test_visits import read, stored

LONG_AGO = dt.datetime(2020, 1, 1, 2, 0)
FIGURES = ("done", "attempted", "flagged", "not_yet")


def home(app, office, area, address, *, last_visit=LONG_AGO) -> Household:
    """A household of `area` whose one visit was long before any round (None: never visited,
    as an imported one)."""
    made = stored(app, office.areas[area], {"address": address, "head_name": "张三", "size": 2})

    def backdate():
        Submission.update(received_at=LONG_AGO).where(
            Submission.household == made.id).execute()
        Household.update(last_visit_at=last_visit).where(Household.id == made.id).execute()
        return Household.get_by_id(made.id)
    return read(app, backdate)


def new_round(app, area, days=(-1, 30), name="2026年第一轮"):
    """A round over `area` from `days[0]` to `days[1]` days from the office's today."""
    def create():
        today = clock.today()
        spec = app.extensions["doorstep.catalog"].get("ledger")
        with write_transaction():
            return rounds.create(name, spec, Area.get(Area.code == area),
                                 today + dt.timedelta(days=days[0]),
                                 today + dt.timedelta(days=days[1]))
    with app.test_request_context():
        return read(app, create)


def outcome(app, h, what, at=None):
    """An outcome of a visit to `h` (not at home ...), received `at` (now by default)."""
    def record():
        moment = at or dt.datetime.utcnow().replace(microsecond=0)
        with write_transaction():
            ledger.record_outcome(h.id, str(uuid.uuid4()), what, received_at=moment,
                                  day=clock.current().day_of(moment))
    with app.test_request_context():
        read(app, record)


def assign(app, r, username, households):
    def run():
        with write_transaction():
            rounds.assign(r, User.get(User.username == username),
                          household_ids=[h.id for h in households])
    with app.test_request_context():
        read(app, run)


def surveyor(app, office, username, area):
    from service.office import auth
    with app.app_context(), db.connection_context():
        office.users[username] = User.create(
            username=username, role="surveyor", area=office.areas[area],
            password_hash=auth.hash_password(PASSWORD)).id
    return office.client(username)


def codes(html) -> list[str]:
    return re.findall(r'data-code="([^"]+)"', html)


def shown_figures(html) -> dict | None:
    """The progress block's figures as the page shows them ({} without any), or None without a
    block."""
    block = re.search(r'<section class="card round-progress".*?</section>', html, re.S)
    if block is None:
        return None
    found = {k: int(v) for k, v in re.findall(r'data-figure="(\w+)" data-n="(\d+)"',
                                              block.group(0))}
    target = re.search(r'data-target="(\d+)"', block.group(0))
    return {"target": int(target.group(1)), **found} if target else found


def counted(app, r, where) -> dict:
    """The figures as a count of the round's RoundHousehold rows selected by `where`."""
    def count():
        rows = list(RoundHousehold.select().where((RoundHousehold.round == r.id) & where))
        return {"target": sum(m.state != "left" for m in rows),
                "done": sum(m.state == "done" for m in rows),
                "attempted": sum(m.state == "attempted" for m in rows),
                "flagged": sum(m.state == "attempted" and m.attempts >= rounds.FLAG_ATTEMPTS
                               for m in rows),
                "not_yet": sum(m.state == "not_yet" for m in rows)}
    return read(app, count)


def in_area(app, code):
    ids = read(app, lambda: [a.id for a in Area.select().where(
        Area.path.startswith(Area.get(Area.code == code).path))])
    return RoundHousehold.area.in_(ids)


def without_token(html) -> str:
    """The page without its CSRF token (signed with the time: it changes from page to page)."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


@pytest.fixture
def sv1(office):
    return office.client("sv1")


def test_the_progress_counts_the_surveyors_households_as_the_round_holds_them(app, office, sv1):
    homes = [home(app, office, area, f"东湖路 {n}号") for n, area in
             enumerate(["SQ1", "SQ1", "G1", "G1", "SQ1", "SQ1"], 1)]
    home(app, office, "SQ2", "西山路 1号")                 # in the round, not sv1's area
    r = new_round(app, "JD")
    outcome(app, homes[0], "not_home")
    outcome(app, homes[0], "refused")                     # 2 failed attempts: flagged
    outcome(app, homes[1], "vacant")
    outcome(app, homes[2], "no_change")                   # done
    read(app, lambda: ledger.set_status(Household.get_by_id(homes[5].id), "closed"))   # left

    # nobody assigned: the households of the surveyor's area
    page = sv1.get("/visit").text
    mine = counted(app, r, in_area(app, "SQ1"))
    assert mine == {"target": 5, "done": 1, "attempted": 2, "flagged": 1, "not_yet": 2}
    assert shown_figures(page) == mine
    assert 'data-assigned="no"' in page and "2026年第一轮" in page
    assert "Done 1 of 5 (20%)" in page
    assert sv1.get("/visit/offline.json").json["round"] == {
        "id": r.id, "name": "2026年第一轮", "starts_on": str(r.starts_on),
        "ends_on": str(r.ends_on), "started": True, "assigned": False, **mine, "percent": 20}

    # some assigned to sv1: those only
    assign(app, r, "sv1", homes[:3])
    page = sv1.get("/visit").text
    yours = counted(app, r, RoundHousehold.assigned_to == office.users["sv1"])
    assert yours == {"target": 3, "done": 1, "attempted": 2, "flagged": 1, "not_yet": 0}
    assert shown_figures(page) == yours and 'data-assigned="yes"' in page
    assert sv1.get("/visit/offline.json").json["round"]["done"] == 1

    # a colleague of the same area with none assigned while others are: nothing of the round's
    colleague = surveyor(app, office, "sv3", "SQ1")
    page = colleague.get("/visit").text
    assert shown_figures(page) == {} and 'class="round-none"' in page
    assert "No household of this round is assigned to you." in page
    assert 'class="card household to-visit' not in page
    assert set(codes(page)) == {h.code for h in homes}     # the list itself: as before

    # in Chinese, the page's default
    sv1.set_cookie("lang", "zh")
    assert "已完成 1 / 3 户（33%）" in sv1.get("/visit").text


def test_the_households_still_to_visit_come_first_on_the_page_and_in_what_the_phone_keeps(
        app, office, sv1, monkeypatch):
    from service.collect import visit
    now = dt.datetime.utcnow().replace(microsecond=0)
    never = home(app, office, "SQ1", "东湖路 1号", last_visit=None)          # not yet
    old = home(app, office, "G1", "东湖路 2号")                              # not yet
    tried = home(app, office, "SQ1", "东湖路 3号")                           # attempted
    done = home(app, office, "SQ1", "东湖路 4号")                            # done
    closed = home(app, office, "SQ1", "东湖路 5号", last_visit=None)         # left
    r = new_round(app, "SQ1")
    outcome(app, done, "no_change", at=now - dt.timedelta(hours=2))
    outcome(app, tried, "not_home", at=now - dt.timedelta(hours=1))
    read(app, lambda: ledger.set_status(Household.get_by_id(closed.id), "closed"))
    states = read(app, lambda: {m.household_id: m.state for m in RoundHousehold.select().where(
        RoundHousehold.round == r.id)})
    assert [states[h.id] for h in (never, old, tried, done, closed)] == [
        "not_yet", "not_yet", "attempted", "done", "left"]

    expected = [h.code for h in (never, old, tried, closed, done)]
    # the list as it was (never visited, then the longest unvisited) would differ
    assert [h.code for h in (never, closed, old, done, tried)] != expected
    page = sv1.get("/visit").text
    assert codes(page) == expected
    assert re.findall(r'class="card household to-visit"[^>]*data-code="([^"]+)"', page) == \
        expected[:3]
    assert re.findall(r'class="round-state">([^<]+)<', page) == [
        "Not yet visited in this round", "Not yet visited in this round",
        "Tried 1 times, not yet done"]
    for size in (1, 2, 3):                    # paged by keyset, across the two parts
        monkeypatch.setattr(visit, "PAGE_SIZE", size)
        seen, path = [], "/visit"
        while path:
            got = sv1.get(path).text
            seen += codes(got)
            more = re.search(r'rel="next" href="([^"]+)"', got)
            path = more.group(1).replace("&amp;", "&") if more else None
        assert seen == expected, size
    monkeypatch.setattr(visit, "PAGE_SIZE", 30)
    assert codes(sv1.get("/visit?q=东湖路").text) == expected      # a search keeps the order

    kept = sv1.get("/visit/offline.json").json
    assert [h["code"] for h in kept["households"]] == expected[:3] + [done.code]   # active only
    assert [h["round"] for h in kept["households"]] == [
        {"state": "not_yet", "attempts": 0, "flagged": False},
        {"state": "not_yet", "attempts": 0, "flagged": False},
        {"state": "attempted", "attempts": 1, "flagged": False},
        {"state": "done", "attempts": 0, "flagged": False}]
    assert kept["round"]["not_yet"] == 2 and kept["round"]["target"] == 4


def test_a_surveyor_of_another_area_sees_no_foreign_households_or_rounds(app, office, sv1):
    ours = [home(app, office, "SQ1", f"东湖路 {n}号") for n in (1, 2)]
    theirs = home(app, office, "SQ2", "西山路 1号")
    sv2 = surveyor(app, office, "sv2", "SQ2")
    new_round(app, "SQ1", name="东湖轮")
    for page in (sv2.get("/visit").text, sv2.get("/visit/offline.json").text):
        assert "东湖轮" not in page and "round-progress" not in page
        assert not any(h.code in page for h in ours)
    assert sv2.get("/visit/offline.json").json["round"] is None
    assert codes(sv2.get("/visit").text) == [theirs.code]

    r = new_round(app, "JD", name="街道轮")              # over both: each sees their own part
    page = sv2.get("/visit").text
    assert "街道轮" in page and "东湖轮" not in page
    assert shown_figures(page) == counted(app, r, in_area(app, "SQ2")) == {
        "target": 1, "done": 0, "attempted": 0, "flagged": 0, "not_yet": 1}
    assert codes(page) == [theirs.code]
    kept = sv2.get("/visit/offline.json").json
    assert [h["code"] for h in kept["households"]] == [theirs.code]
    assert kept["round"]["target"] == 1
    # sv1 sees the newest round over their area, its SQ1 part
    assert shown_figures(sv1.get("/visit").text)["target"] == 2


def test_without_a_current_round_the_list_is_as_before(app, office, sv1):
    h = home(app, office, "SQ1", "东湖路 1号")
    before = without_token(sv1.get("/visit").text)
    kept = sv1.get("/visit/offline.json").json
    assert "round-progress" not in before and kept["round"] is None
    assert kept["households"][0]["round"] is None and codes(before) == [h.code]
    assert "to-visit" not in before and "data-round-state" not in before

    ended = new_round(app, "SQ1", days=(-30, -1), name="上一轮")      # ended, still open
    closed = new_round(app, "SQ1", name="已结束的轮")

    def close():
        with write_transaction():
            rounds.close(closed, None, "{}")
    read(app, close)
    assert without_token(sv1.get("/visit").text) == before
    assert sv1.get("/visit/offline.json").json == kept
    assert read(app, lambda: type(ended).get_by_id(ended.id).status) == "open"

    # one to come: shown with its dates, not started yet
    new_round(app, "SQ1", days=(3, 30), name="下一轮")
    page = sv1.get("/visit").text
    assert "下一轮" in page and '<span class="not-started">not started yet</span>' in page
    assert sv1.get("/visit/offline.json").json["round"]["started"] is False
    # ... until one runs today: that one is current
    new_round(app, "SQ1", days=(0, 10), name="本周轮")
    page = sv1.get("/visit").text
    assert "本周轮" in page and "下一轮" not in page and 'class="not-started"' not in page


def test_the_round_costs_the_list_a_few_queries_however_many_households(app, office, sv1):
    """Cheap queries: the same number of statements for 3 households as for 30."""
    from peewee import Database
    statements = []
    original = Database.execute_sql

    def counting(self, sql, params=None, *args, **kwargs):
        statements.append(sql)
        return original(self, sql, params, *args, **kwargs)

    def queries(path):
        statements.clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Database, "execute_sql", counting)
            assert sv1.get(path).status_code == 200
        return len(statements)

    for n in range(3):
        home(app, office, "SQ1", f"东湖路 {n}号")
    new_round(app, "SQ1")
    few = queries("/visit")
    assert few > 5       # (counted: the session, the round, the list)
    for n in range(3, 30):
        home(app, office, "G1", f"东湖路 {n}号")
    assert queries("/visit") == few

"""Survey rounds (rounds.py, reports/coverage.py): the target, where each household stands, and the
counts behind the coverage page, on tests/forms/ledger.yaml with the office fixture (JD > SQ1 > G1,
JD > SQ2; sv1 is a surveyor in SQ1).

The rule everything rests on: after any mix of visits, outcomes, voided visits, corrections,
merges, status changes and reassignments, each member's stored standing equals a recount from its
visits, and the kept counts equal a count of the members; a closed round's figures never move.
"""
from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest

from service.office import clock
from service.office.areas import create as create_area
from service.records import ledger, rounds, submissions
from service.reports.coverage import Figures
from service.storage.db import db, write_transaction
from service.storage.models import (
    Area, Household, RoundHousehold, Submission, SurveyRound, User,
)

from .test_households_office import FIRST, book  # noqa: F401  (book: a fixture)


@pytest.fixture
def ctx(book):
    """The book fixture inside one app context and connection, with the ledger form's spec."""
    with book.app.test_request_context():
        db.connect(reuse_if_open=True)     # (book.visit opens and closes its own as well)
        book.spec = book.app.extensions["doorstep.catalog"].get("ledger")
        yield book
        if not db.is_closed():
            db.close()


def new_round(ctx, area="JD", days=(-1, 30), **kw) -> SurveyRound:
    today = clock.today()
    with write_transaction():
        return rounds.create(kw.pop("name", "2026年第一轮"), ctx.spec,
                             Area.get(Area.code == area), today + dt.timedelta(days=days[0]),
                             today + dt.timedelta(days=days[1]), **kw)


def outcome(h, what, surveyor=None):
    moment = submissions.utcnow()
    with write_transaction():
        return ledger.record_outcome(h.id, str(uuid.uuid4()), what, received_at=moment,
                                     day=clock.current().day_of(moment), surveyor_id=surveyor)


def check_against_a_recount(r) -> None:
    """Every member stands as its visits say, and the kept counts are a count of the members."""
    members = list(RoundHousehold.select().where(RoundHousehold.round == r.id).dicts())
    for m in members:
        assert {f: m[f] for f in rounds.FIELDS} == rounds.standing(r, m["household"]).__dict__, m
    assert rounds.kept_counts(r) == rounds.expected_counts(r)
    kept = rounds.kept_counts(r)
    rounds.recount(r)                   # the counts made in SQL say the same
    assert rounds.kept_counts(r) == kept


def test_the_target_is_the_active_households_of_the_areas_and_new_ones_join(ctx):
    inside = ctx.visit(FIRST, "SQ1")
    below = ctx.visit(dict(FIRST, address="东湖路 8号", head_id=None), "G1")
    other = ctx.visit(dict(FIRST, address="西山路 1号", head_id=None), "SQ2")
    gone = ctx.visit(dict(FIRST, address="东湖路 9号", head_id=None), "G1")
    with write_transaction():
        ledger.set_status(Household.get_by_id(gone.id), "closed")
    r = new_round(ctx, "SQ1")
    members = {m.household_id: m for m in RoundHousehold.select().where(
        RoundHousehold.round == r.id)}
    assert set(members) == {inside.id, below.id}          # not SQ2's, not the closed one
    # both were visited today, within the round's dates: already done
    assert {m.state for m in members.values()} == {"done"}
    late = ctx.visit(dict(FIRST, address="东湖路 10号", head_id=None), "G1")
    joined = RoundHousehold.get(RoundHousehold.household == late.id)
    assert (joined.round_id, joined.joined, joined.state) == (r.id, "registered", "done")
    assert RoundHousehold.get_or_none(RoundHousehold.household == other.id) is None
    assert Figures.of(r).totals().as_dict() == {
        "target": 3, "done": 3, "attempted": 0, "not_yet": 0, "flagged": 0, "left": 0,
        "percent": 100.0}
    check_against_a_recount(r)


def test_outcomes_attempts_flags_and_done(ctx):
    h = ctx.visit(FIRST, "SQ1")
    r = new_round(ctx, "SQ1", days=(1, 30))      # starts tomorrow: today's visit is before it
    assert RoundHousehold.get(RoundHousehold.household == h.id).state == "not_yet"
    r2 = new_round(ctx, "SQ1", days=(-5, 30), name="第二轮")
    for what in ("not_home", "refused"):
        outcome(h, what)
    m = RoundHousehold.get((RoundHousehold.household == h.id) & (RoundHousehold.round == r2.id))
    assert (m.state, m.attempts, m.last_outcome) == ("done", 0, None)   # the visit came first
    g = ctx.visit(dict(FIRST, address="东湖路 8号", head_id=None), "G1")
    with write_transaction():      # registered before the round's dates: make it not visited
        Submission.update(received_at=dt.datetime(2020, 1, 1)).where(
            Submission.household == g.id).execute()
    r3 = new_round(ctx, "SQ1", days=(-5, 30), name="第三轮")
    outcome(g, "not_home")
    outcome(g, "vacant")
    m = RoundHousehold.get((RoundHousehold.household == g.id) & (RoundHousehold.round == r3.id))
    assert (m.state, m.attempts, m.last_outcome) == ("attempted", 2, "vacant")
    figures = Figures.of(r3)
    assert figures.totals().flagged == 1 and figures.outcomes()["vacant"] == 1
    outcome(g, "no_change", surveyor=ctx.users["sv1"])
    m = RoundHousehold.get_by_id(m.id)
    assert (m.state, m.done_kind, m.done_by_id, m.attempts) == (
        "done", "no_change", ctx.users["sv1"], 2)
    assert Figures.of(r3).totals().flagged == 0
    for each in (r, r2, r3):
        check_against_a_recount(SurveyRound.get_by_id(each.id))


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_coverage_equals_a_recount_after_random_work(ctx, seed):
    rng = random.Random(seed)
    with write_transaction():
        sq1 = Area.get(Area.code == "SQ1")
        g2 = create_area("G2", "东湖二网格", sq1)
        sv2 = User.create(username="sv2", role="surveyor", area=g2, password_hash="x")
    areas = ["SQ1", "G1", "G2", "SQ2"]
    homes = [ctx.visit(dict(FIRST, address=f"路 {i}号", head_id=None, size=i % 9 + 1),
                       rng.choice(areas)) for i in range(12)]
    with write_transaction():       # half of them registered long ago: not yet visited
        Submission.update(received_at=dt.datetime(2020, 1, 1)).where(
            Submission.household.in_([h.id for h in homes[::2]])).execute()
    r = new_round(ctx, "JD")
    small = new_round(ctx, "SQ1", name="社区轮")
    admin = User.get(User.username == "admin")
    for step in range(60):
        live = [h for h in Household.select().where(Household.status == "active")]
        h = rng.choice(live)
        action = rng.random()
        if action < 0.25:
            ctx.visit(dict(FIRST, address=h.address, head_id=None, size=rng.randint(1, 9)),
                      code=h.code, base=h.version)
        elif action < 0.5:
            outcome(h, rng.choice(("not_home", "refused", "vacant", "no_change", "not_home")))
        elif action < 0.6:
            visit = Submission.select().where(Submission.household == h.id).order_by(
                fn_random()).first()
            if visit is not None:
                submissions.set_status(visit, rng.choice(("void", "valid", "duplicate")),
                                       "测试", admin)
        elif action < 0.7:
            with write_transaction():
                ledger.correct(h, "size", rng.randint(1, 9), admin)
        elif action < 0.78:
            others = [o for o in live if o.id != h.id and o.area_id == h.area_id]
            if others:
                with write_transaction():
                    ledger.merge(h, rng.choice(others), admin)
        elif action < 0.84:
            with write_transaction():
                ledger.set_status(h, rng.choice(("closed", "active", "moved_out")))
        elif action < 0.92:
            area = Area.get(Area.code == rng.choice(["G1", "G2"]))
            who = User.get(User.username == ("sv1" if area.code == "G1" else "sv2"))
            with write_transaction():
                rounds.assign(r, who, area=area)
        else:
            ctx.visit(dict(FIRST, address=f"新 {step}号", head_id=None), rng.choice(areas))
    for each in (r, small):
        each = SurveyRound.get_by_id(each.id)
        check_against_a_recount(each)
        members = RoundHousehold.select().where(RoundHousehold.round == each.id)
        totals = Figures.of(each).totals()
        assert totals.target == sum(m.state != "left" for m in members)
        assert totals.done == sum(m.state == "done" for m in members)
        # by area, the parts add up to the whole
        parts = Figures.of(each).by_area()
        assert sum(t.target for _a, t in parts) == totals.target
        assigned = {m.assigned_to_id for m in members if m.assigned_to_id}
        assert {u for u, _name, t, _did in Figures.of(each).by_surveyor()
                if u and (t.target or t.left)} == assigned
    assert sv2.id in assigned or not RoundHousehold.select().where(
        RoundHousehold.area == g2.id).exists()


def fn_random():
    from peewee import fn
    return fn.RANDOM()


def test_a_closed_round_keeps_its_figures(ctx):
    h = ctx.visit(FIRST, "SQ1")
    g = ctx.visit(dict(FIRST, address="东湖路 8号", head_id=None), "G1")
    with write_transaction():
        Submission.update(received_at=dt.datetime(2020, 1, 1)).where(
            Submission.household == g.id).execute()
    r = new_round(ctx, "SQ1")
    before = Figures.of(r)
    with write_transaction():
        rounds.close(r, None, before.frozen())
    frozen = Figures.of(SurveyRound.get_by_id(r.id))
    assert frozen.totals().as_dict() == before.totals().as_dict()
    assert (frozen.totals().done, frozen.totals().not_yet) == (1, 1)
    outcome(g, "no_change")                                  # after closing: does not count
    visit = Submission.get(Submission.household == h.id)
    submissions.set_status(visit, "void", "错", User.get(User.username == "admin"))
    with write_transaction():
        Area.update(name="改名社区").where(Area.code == "SQ1").execute()
    again = Figures.of(SurveyRound.get_by_id(r.id))
    assert again.totals().as_dict() == before.totals().as_dict()
    assert again.root().name == "东湖社区"
    assert [m.state for m in RoundHousehold.select().where(RoundHousehold.round == r.id)
            .order_by(RoundHousehold.household)] == ["done", "not_yet"]
    with pytest.raises(rounds.RoundError):
        rounds.assign(SurveyRound.get_by_id(r.id), None, area=Area.get(Area.code == "G1"))


def test_assignments_stay_within_what_a_surveyor_may_visit(ctx):
    h = ctx.visit(FIRST, "SQ1")
    other = ctx.visit(dict(FIRST, address="西山路 1号", head_id=None), "SQ2")
    r = new_round(ctx, "JD")
    sv1 = User.get(User.username == "sv1")
    with pytest.raises(rounds.RoundError, match="scope"):
        rounds.assign(r, sv1, household_ids=[h.id, other.id])
    with pytest.raises(rounds.RoundError, match="surveyor"):
        rounds.assign(r, User.get(User.username == "mgr1"), household_ids=[h.id])
    assert rounds.assign(r, sv1, household_ids=[h.id]) == 1
    assert RoundHousehold.get(RoundHousehold.household == h.id).assigned_to_id == sv1.id
    assert rounds.assign(r, None, area=Area.get(Area.code == "JD")) == 2
    check_against_a_recount(r)

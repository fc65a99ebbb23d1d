"""The ledger and survey rounds over the JSON API, on tests/forms/ledger.yaml: the households a
token's role and area see (the office ledger's scope and filters, keyset pages), one household's
current answers and history with identifiers masked until an audited reveal, rounds and their
coverage as the coverage page counts them; out of scope is a 404 problem, as on the pages."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from service.records import ledger
from service.storage.db import db
from service.storage.models import AuditEvent, Household, User

from .api_support import is_problem
from .test_api_responses import Api
from .test_households_office import FIRST, book, three  # noqa: F401 (fixtures)
from .test_rounds_office import (  # noqa: F401 (town: a fixture)
    figures_of, make_round, outcome, row_figures, totals_on, town,
)

LIST = "/api/v1/forms/ledger/households"


@pytest.fixture
def api(book):
    return Api(book.app)


def reveals() -> list[tuple[str, str, dict]]:
    with db.connection_context():
        return [(e.username, e.target, json.loads(e.detail)) for e in AuditEvent.select().where(
            AuditEvent.action == "reveal").order_by(AuditEvent.id)]


def listed(api, role, **query) -> list[str]:
    return [h["code"] for h in api.ok(role, LIST, **query)["households"]]


# Who sees which households

@pytest.mark.parametrize("role, own, foreign", [
    ("admin", ["sq1", "g1", "sq2"], []),
    ("manager", ["sq1", "g1"], ["sq2"]),
])
def test_an_office_token_sees_its_areas_households(api, three, role, own, foreign):
    assert listed(api, role) == [three[k] for k in own]          # in registration order
    for key in own:
        got = api.ok(role, f"/api/v1/households/{three[key]}")
        assert got["code"] == three[key] and got["pii_revealed"] is False
        assert api.ok(role, f"/api/v1/households/{three[key]}/history")["code"] == three[key]
    for key in foreign:
        for path in (f"/api/v1/households/{three[key]}", f"/api/v1/households/{three[key]}/history"):
            assert is_problem(api.get(role, path), 404)


def test_a_surveyor_token_has_no_ledger_and_unknown_things_are_not_found(api, three):
    for path in (LIST, f"/api/v1/households/{three['sq1']}",
                 f"/api/v1/households/{three['sq1']}/history"):
        assert is_problem(api.get("surveyor", path), 404)
    assert is_problem(api.get("manager", LIST, area="SQ2"), 404)
    assert is_problem(api.get("admin", "/api/v1/forms/kitchen/households"), 404)   # not a ledger
    assert is_problem(api.get("admin", "/api/v1/households/ZZZZ-ZZZZ"), 404)
    assert is_problem(api.get("admin", "/api/v1/households/not-a-code"), 404)
    assert is_problem(api.get(None, LIST), 401)


# The list's filters and pages

def test_the_list_filters_as_the_office_ledger_does(book, api, three):
    book.visit(dict(FIRST, address="西山路 9号", head_id=None, needs=["training"]), "SQ2")
    assert listed(api, "admin", area="SQ1") == [three["sq1"], three["g1"]]
    assert len(listed(api, "admin", question="needs", value="job")) == 3
    assert len(listed(api, "admin", question="needs", value="培训")) == 1     # a choice's label
    assert listed(api, "admin", status="closed") == []
    assert listed(api, "admin", before="2000-01-01") == []
    assert listed(api, "admin", duplicates=1) == []
    refused = api.get("admin", LIST, question="head_name", value="张三")     # an identifier
    assert is_problem(refused, 422) and "question" in refused.json["errors"]


def test_pages_walk_every_household_once_while_more_register(book, api):
    for i in range(9):
        book.visit(dict(FIRST, address=f"幸福路 {i}号", head_id=None), "SQ1")
    seen, cursor, pages = [], None, 0
    while True:
        page = api.ok("admin", LIST, limit=4, **({"next": cursor} if cursor else {}))
        seen += [h["code"] for h in page["households"]]
        pages += 1
        if pages == 1:
            book.visit(dict(FIRST, address="新来的 1号", head_id=None), "SQ2")
        cursor = page["next"]
        if cursor is None:
            break
    with db.connection_context():
        every = [c for (c,) in Household.select(Household.code).order_by(Household.id).tuples()]
    assert seen == every and len(every) == 10 and pages == 3


# Identifiers: masked, revealed on request, each reveal audited with the token's name

def test_the_address_and_identifying_answers_are_masked(api, three):
    row = api.ok("manager", LIST)["households"][0]
    assert row["address"] != FIRST["address"] and "*" in row["address"]
    one = api.ok("manager", f"/api/v1/households/{three['sq1']}")
    assert one["answers"]["head_name"] == "张*" and one["answers"]["size"] == 3
    assert "*" in one["answers"]["head_id"] and one["answers"]["needs"] == ["job"]
    history = api.ok("manager", f"/api/v1/households/{three['sq1']}/history")
    shown = {c["question"]: c["new"] for c in history["changes"]}
    assert shown["head_name"] == "张*" and shown["size"] == 3
    assert reveals() == []


def test_pii_1_reveals_and_each_reveal_is_audited(api, three):
    code = three["sq1"]
    page = api.ok("manager", LIST, pii=1)
    assert page["pii_revealed"] and page["households"][0]["address"] == FIRST["address"]
    one = api.ok("manager", f"/api/v1/households/{code}", pii=1)
    assert one["answers"]["head_name"] == "张三" and one["answers"]["head_id"] == FIRST["head_id"]
    history = api.ok("manager", f"/api/v1/households/{code}/history", pii=1)
    assert {c["question"]: c["new"] for c in history["changes"]}["head_name"] == "张三"
    events = reveals()
    assert [e[0] for e in events] == ["token:manager-system"] * 3
    assert events[0][1] == "form:ledger" and events[0][2]["households"] == [code, three["g1"]]
    assert events[1][2]["household"] == code and events[2][2]["history"] is True


def test_a_reveal_out_of_scope_or_by_a_role_without_it_is_refused(api, three):
    assert is_problem(api.get("manager", f"/api/v1/households/{three['sq2']}", pii=1), 404)
    assert reveals() == []


# One household: merges, history and visits

def test_a_merged_code_gives_the_household_it_went_into(book, api, three):
    with book.app.app_context(), db.connection_context():
        kept = Household.get(Household.code == three["sq1"])
        gone = Household.get(Household.code == three["g1"])
        with db.atomic():
            ledger.merge(gone, kept, User.get(User.username == "admin"))
    got = api.ok("admin", f"/api/v1/households/{three['g1']}")
    assert got["code"] == three["sq1"]
    listed_merged = api.ok("admin", LIST, status="merged")["households"]
    assert [(h["code"], h["merged_into"]) for h in listed_merged] == [(three["g1"], three["sq1"])]
    history = api.ok("admin", f"/api/v1/households/{three['sq1']}/history")
    assert len(history["visits"]) == 2      # its own visit and the merged household's


def test_the_history_lists_each_change_with_its_visit(book, api, three):
    code = three["sq1"]
    first = api.ok("admin", f"/api/v1/households/{code}")
    book.visit(dict(FIRST, size=4), code=code, base=first["version"], surveyor="sv1")
    history = api.ok("admin", f"/api/v1/households/{code}/history")
    sizes = [(c["old"], c["new"], c["source"]) for c in history["changes"]
             if c["question"] == "size"]
    assert sizes == [(None, 3, "visit"), (3, 4, "visit")]
    latest = history["visits"][0]
    assert latest["surveyor"] == "sv1" and latest["receipt"] and latest["outcome"] is None
    assert {c["receipt"] for c in history["changes"]} == {v["receipt"] for v in history["visits"]}
    now = api.ok("admin", f"/api/v1/households/{code}")
    assert now["version"] == first["version"] + 1 and now["answers"]["size"] == 4
    assert dt.datetime.fromisoformat(now["last_visit_at"].replace("Z", "+00:00"))


# Survey rounds and their coverage

@pytest.fixture
def rounds_of(town):
    """test_rounds_office's town with a round of JD (by the admin) and of SQ1 and SQ2 (by their
    managers), and one household of G1 attempted twice (flagged)."""
    town.rounds = {area: make_round(town, user, area) for user, area in
                   (("admin", "JD"), ("mgr1", "SQ1"), ("mgr2", "SQ2"))}
    outcome(town.app, town.h["tried"], "not_home")
    outcome(town.app, town.h["tried"], "refused")
    return town, Api(town.app)


def counts(t) -> dict:
    return {"target": t.target, "done": t.done, "attempted": t.attempted, "not_yet": t.not_yet,
            "flagged": t.flagged, "left": t.left, "percent": round(t.percent, 1)}


def test_each_token_lists_the_rounds_it_may_view_with_its_parts_totals(rounds_of):
    town, api = rounds_of
    rounds = {r["id"]: r for r in api.ok("admin", "/api/v1/rounds")["rounds"]}
    assert set(rounds) == set(town.rounds.values())
    for area, r in town.rounds.items():
        assert rounds[r]["area"] == area and rounds[r]["part"] is None
        assert rounds[r]["totals"] == counts(figures_of(r).totals())
    mine = {r["id"]: r for r in api.ok("manager", "/api/v1/rounds")["rounds"]}
    assert set(mine) == {town.rounds["JD"], town.rounds["SQ1"]}      # not SQ2's
    street = figures_of(town.rounds["JD"])
    assert mine[town.rounds["JD"]]["part"] == "SQ1"
    assert mine[town.rounds["JD"]]["totals"] == counts(
        street.area_total(next(a for a in street.areas.values() if a.code == "SQ1")))
    assert api.ok("admin", "/api/v1/rounds", form="kitchen")["rounds"] == []
    assert is_problem(api.get("surveyor", "/api/v1/rounds"), 404)


@pytest.mark.parametrize("username, role, key, area", [
    ("admin", "admin", "JD", None),
    ("admin", "admin", "JD", "SQ1"),
    ("mgr1", "manager", "JD", None),         # the street's round: the community's part
    ("mgr1", "manager", "SQ1", "G1"),
])
def test_coverage_is_what_the_coverage_page_counts(rounds_of, username, role, key, area):
    town, api = rounds_of
    r = town.rounds[key]
    query = {"area": area} if area else {}
    page = town.client(username).get(f"/admin/rounds/{r}", query_string=query)
    got = api.ok(role, f"/api/v1/rounds/{r}/coverage", **query)
    shown = {k.replace("-", "_"): v for k, v in totals_on(page).items()}
    assert {k: got["totals"][k] for k in shown} == shown
    parts = {code: n for code, n in row_figures(page.text, "data-area").items() if n}
    assert {p["area"] or got["level"]: {k.replace("_", "-"): v for k, v in p["counts"].items()
                                        if k != "percent"} for p in got["parts"]} == parts
    assert got["level"] == (area or got["top"])
    whole = role == "admin" or key == "SQ1"
    assert (got["days"] is not None) == whole and (got["outcomes"] is not None) == whole
    assert got["top"] == ("SQ1" if not whole else key)


def test_coverage_out_of_the_tokens_share_is_not_found(rounds_of):
    town, api = rounds_of
    assert is_problem(api.get("manager", f"/api/v1/rounds/{town.rounds['SQ2']}/coverage"), 404)
    assert is_problem(api.get("manager", f"/api/v1/rounds/{town.rounds['JD']}/coverage",
                              area="SQ2"), 404)           # sideways of the community's part
    assert is_problem(api.get("manager", f"/api/v1/rounds/{town.rounds['JD']}/coverage",
                              area="JD"), 404)            # above it
    assert is_problem(api.get("surveyor", f"/api/v1/rounds/{town.rounds['SQ1']}/coverage"), 404)
    assert is_problem(api.get("admin", "/api/v1/rounds/99999/coverage"), 404)


def test_coverage_counts_surveyors_and_outcomes(rounds_of):
    town, api = rounds_of
    got = api.ok("admin", f"/api/v1/rounds/{town.rounds['JD']}/coverage")
    people = {p["surveyor"]: p for p in got["surveyors"]}
    assert people["sv1"]["did"] == 1 and people[None]["assigned"]["target"] == 5
    assert got["outcomes"] == {"form": 2, "refused": 1}
    assert got["totals"]["flagged"] == 1 and got["days"][-1]["so_far"] == 2

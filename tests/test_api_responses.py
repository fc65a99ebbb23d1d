"""Responses over the JSON API: what each token sees (the pages' scope), the office list's filters,
keyset pages that walk every response once while others arrive, masked identifiers and their
audited reveal, and answers equal to the stored current answers for every question type."""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest
import yaml

from service.records import answers as stored
from service.records.submissions import correct
from service.storage.db import db
from service.storage.models import AuditEvent, Submission, User

from .api_support import bearer, is_problem, make_token
from .conftest import KITCHEN_ANSWERS, Visitor, make_app
from .test_every_type import ANSWERED, RNG_SEED, definition

LIST = "/api/v1/forms/kitchen/responses"
HEAD = {"head_name": "张三", "head_phone": "13812345678", "head_id": "11010119800103002X",
        "address": "幸福小区3栋2单元501", "size": 3}
MASKED = {"head_name": "张*", "head_phone": "138****5678", "head_id": "1101**********002X",
          "address": "幸福小****", "size": 3}


class Api:
    """Each role's token (admin: everywhere; manager and surveyor: SQ1) and a client sending it."""

    def __init__(self, app):
        self.app, self.client = app, app.test_client()
        self.secrets = {role: make_token(app, f"{role}-system", role, area) for role, area in
                        (("admin", None), ("manager", "SQ1"), ("surveyor", "SQ1"))}

    def get(self, role: str | None, path: str, **query):
        headers = {"Authorization": f"Bearer {self.secrets[role]}"} if role else {}  # zh
        return self.client.get(path, query_string=query, headers=headers)

    def ok(self, role: str, path: str, **query) -> dict:
        reply = self.get(role, path, **query)
        assert reply.status_code == 200, reply.text
        return reply.json

    def receipts(self, role: str, path: str = LIST, **query) -> set[str]:
        return {r["receipt"] for r in self.ok(role, path, **query)["responses"]}


@pytest.fixture
def api(office):
    return Api(office.app)


def reveals() -> list[AuditEvent]:
    with db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.action == "reveal")
                    .order_by(AuditEvent.id))


# Who sees what: the pages' scope, out of scope a 404

@pytest.mark.parametrize("role, seen", [
    ("admin", {"sq1", "g1", "sq2", "none"}),
    ("manager", {"sq1", "g1"}),          # SQ1 and the grid below it
    ("surveyor", set()),                 # a token is no surveyor's account: no own responses
])
def test_each_token_lists_the_responses_its_role_and_area_see(office, api, role, seen):
    assert api.receipts(role) == {office.receipts[k] for k in seen}


@pytest.mark.parametrize("role, own, foreign", [
    ("admin", ["sq1", "g1", "sq2", "none"], []),
    ("manager", ["sq1", "g1"], ["sq2", "none"]),
    ("surveyor", [], ["sq1", "g1", "sq2", "none"]),
])
def test_one_response_by_receipt_or_id_and_a_foreign_one_is_not_found(office, api, role, own,
                                                                      foreign):
    for key in own:
        receipt = office.receipts[key]
        by_receipt = api.ok(role, f"/api/v1/responses/{receipt.lower().replace('-', '')}")
        assert by_receipt["receipt"] == receipt and by_receipt["pii_revealed"] is False
        assert api.ok(role, f"/api/v1/responses/{office.subs[key]}") == by_receipt
    for key in foreign:
        assert is_problem(api.get(role, f"/api/v1/responses/{office.receipts[key]}"), 404)
        assert is_problem(api.get(role, f"/api/v1/responses/{office.subs[key]}"), 404)


def test_a_foreign_area_filter_an_unknown_form_and_no_token_are_problems(api):
    assert is_problem(api.get("manager", LIST, area="SQ2"), 404)
    assert is_problem(api.get("admin", "/api/v1/forms/nope/responses"), 404)
    assert is_problem(api.get("admin", "/api/v1/responses/ZZZZ-ZZZZ"), 404)
    assert is_problem(api.get(None, LIST), 401)
    assert is_problem(api.get("admin", LIST, limit=1001), 422)
    assert is_problem(api.get("admin", LIST, channel="fax"), 422)


def test_a_response_carries_its_record_and_current_answers(office, api):
    got = api.ok("admin", f"/api/v1/responses/{office.receipts['sq1']}")
    with office.app.app_context():
        s = Submission.get_by_id(office.subs["sq1"])
    assert got["id"] == s.id and got["form_id"] == "kitchen" and got["form_version"] == 1
    assert got["channel"] == "surveyor" and got["status"] == "valid"
    assert got["area"] == "SQ1" and got["surveyor"] == "sv1" and got["household"] is None
    assert got["received_at"] == s.received_at.isoformat() + "Z" and got["day"] == s.day
    assert got["answers"] == {**KITCHEN_ANSWERS, "name": "张*"}


# Filters: the office list's

@pytest.mark.parametrize("query, expected", [
    ({"area": "SQ1"}, {"sq1", "g1"}),
    ({"area": "G1"}, {"g1"}),
    ({"channel": "self"}, {"g1"}),
    ({"surveyor": "sv1"}, {"sq1"}),
    ({"status": "void"}, set()),
    ({"version": 1}, {"sq1", "g1", "sq2", "none"}),
    ({"version": 2}, set()),
])
def test_the_list_filters_as_the_office_list_does(office, api, query, expected):
    assert api.receipts("admin", **query) == {office.receipts[k] for k in expected}


def test_days_are_the_offices_calendar_days(office, api):
    # 2026-03-01 23:30 in Beijing is 15:30 UTC: the office's 1 March, not the 2nd
    with db.connection_context():
        Submission.update(received_at=dt.datetime(2026, 3, 1, 15, 30)).where(
            Submission.id == office.subs["g1"]).execute()
    assert api.receipts("admin", since="2026-03-01", until="2026-03-01") == {office.receipts["g1"]}
    assert api.receipts("admin", since="2026-03-02", until="2026-03-05") == set()


# Keyset pages

def test_pages_walk_every_response_once_while_more_arrive(office, api):
    with office.app.app_context(), db.atomic():
        for i in range(20):
            office.store(f"early{i}", area="SQ1")
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 7, **({"next": cursor} if cursor else {})}
        page = api.ok("admin", LIST, **query)
        seen += [r["id"] for r in page["responses"]]
        pages += 1
        if pages <= 2:          # responses arriving while a system reads the list
            office.store(f"late{pages}", area="SQ2")
        cursor = page["next"]
        if cursor is None:
            break
    with office.app.app_context():
        every = [i for (i,) in Submission.select(Submission.id).order_by(Submission.id).tuples()]
    assert seen == every and len(every) == 26      # ascending, each once, the late ones too
    assert pages == 4


def test_a_cursor_not_made_here_is_refused(api):
    for cursor in ("garbage", "azE6LTE", "eDE6MTI"):     # not base64 of ours; k1:-1; x1:12
        reply = api.get("admin", LIST, next=cursor)
        assert is_problem(reply, 422) and "next" in reply.json["errors"]


# Identifiers: masked, revealed on request where the role may, and each reveal audited

@pytest.fixture
def registered(office):
    office.store("head", "registry", HEAD, channel="surveyor", area="SQ1", surveyor="sv1")
    return office.subs["head"]


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_identifiers_are_masked_unless_asked_for(api, registered, role):
    listed = api.ok(role, "/api/v1/forms/registry/responses")
    assert [r["answers"] for r in listed["responses"]] == [MASKED]
    assert api.ok(role, f"/api/v1/responses/{registered}")["answers"] == MASKED
    assert reveals() == []


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_pii_1_reveals_and_the_reveal_is_audited_with_the_tokens_name(office, api, registered,
                                                                      role):
    listed = api.ok(role, "/api/v1/forms/registry/responses", pii=1)
    assert listed["pii_revealed"] is True and [r["answers"] for r in listed["responses"]] == [HEAD]
    one = api.ok(role, f"/api/v1/responses/{registered}", pii=1)
    assert one["answers"] == HEAD and one["pii_revealed"] is True
    page_event, one_event = reveals()
    assert page_event.username == one_event.username == f"token:{role}-system"
    assert page_event.user_id is None and page_event.target == "form:registry"
    assert json.loads(page_event.detail)["submissions"] == [registered]
    assert one_event.target == f"submission:{registered}"
    assert json.loads(one_event.detail)["receipt"] == office.receipts["head"]


def test_a_surveyor_token_may_not_reveal(api, registered):
    assert is_problem(api.get("surveyor", f"/api/v1/responses/{registered}", pii=1), 404)
    refused = api.get("surveyor", "/api/v1/forms/registry/responses", pii=1)
    assert is_problem(refused, 403) and refused.json["detail"].startswith("此令牌无权")  # zh first
    english = api.client.get("/api/v1/forms/registry/responses?pii=1",
                             headers=bearer(api.secrets["surveyor"], "en"))
    assert english.json["detail"].startswith("This token may not reveal")
    assert reveals() == []


def test_a_manager_may_not_reveal_what_lies_outside_their_area(office, api):
    office.store("far", "registry", HEAD, area="SQ2")
    assert is_problem(api.get("manager", f"/api/v1/responses/{office.subs['far']}", pii=1), 404)
    assert api.ok("manager", "/api/v1/forms/registry/responses", pii=1)["responses"] == []
    assert reveals() == []      # nothing returned, nothing to audit


# The answers are the current ones, however they are read

def test_a_corrected_response_shows_its_corrected_answers(office, api):
    with office.app.app_context():
        spec = office.app.extensions["doorstep.catalog"].get("kitchen")
        s = Submission.get_by_id(office.subs["g1"])
        admin = User.get(User.username == "admin")
        correct(spec, s, spec.question("employed"), None, "no", "asked again", admin)  # hides why
        correct(spec, s, spec.question("age"), 1, 15, "misheard", admin)
        now = stored.current_answers(spec, s)
    listed = {r["id"]: r["answers"] for r in api.ok("admin", LIST, pii=1)["responses"]}
    assert listed[office.subs["g1"]] == now and now["employed"] == "no"
    assert now["members"][1]["age"] == 15
    assert listed[office.subs["sq2"]] == KITCHEN_ANSWERS


@pytest.fixture
def every_type(tmp_path, fast_hashing, request):
    """An app with one form per answering type (one required question `a`), an admin token."""
    forms = tmp_path / "forms"
    forms.mkdir()
    for kind in ANSWERED:
        (forms / f"{kind}.yaml").write_text(yaml.safe_dump(definition(kind), allow_unicode=True),
                                            encoding="utf-8")
    app = make_app(tmp_path / "db", forms)
    return app, make_token(app, "every", "admin")


def test_every_types_answer_reads_as_its_stored_current_answer(every_type):
    app, secret = every_type
    visitor = Visitor(app.test_client())
    catalog = app.extensions["doorstep.catalog"]
    today = app.extensions["doorstep.today"]()
    for spec in catalog:
        entry, q = spec.question("a").qtype, spec.question("a")
        posted = entry.posted(entry.sample(q, random.Random(RNG_SEED), today))
        reply = visitor.submit(f"/f/{spec.id}", {"a": posted})
        assert reply.status_code == 200, reply.text
        got = app.test_client().get(f"/api/v1/forms/{spec.id}/responses?pii=1",
                                    headers=bearer(secret)).json
        with app.app_context():
            sub = Submission.get(Submission.form_id == spec.id)
            assert [r["answers"] for r in got["responses"]] == \
                [stored.current_answers(spec, sub)], spec.id



@pytest.mark.parametrize("path, query", [
    (LIST, {"surveyor": "a\x00b"}),                       # PostgreSQL refuses NUL in a query
    (LIST, {"area": "\x00"}),
    (LIST, {"since": "0001-01-01"}),                      # its start in UTC is before year 1
    (LIST, {"until": "9999-12-31"}),                      # the day after it does not exist
    (LIST, {"until": "0"}),                               # not 1 January 1970
    ("/api/v1/forms/kitchen/figures", {"until": "9999-12"}),
    ("/api/v1/forms/kitchen/figures", {"surveyor": "\x00"}),
    ("/api/v1/forms/ledger/households", {"before": "0001-01-01"}),
    ("/api/v1/forms/ledger/households", {"question": "size", "value": "3\x00"}),
    ("/api/v1/rounds", {"form": "\x00"}),
    ("/api/v1/rounds/0/coverage", {"area": "\x00"}),
])
def test_odd_input_is_a_problem_never_a_server_error(api, path, query):
    reply = api.get("admin", path, **query)
    assert reply.status_code == 422 and reply.mimetype == "application/problem+json", reply.text

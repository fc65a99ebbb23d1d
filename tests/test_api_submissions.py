"""Submitting over the API: the public form's validation, rules, idempotency and receipts, fed
JSON. 201 with the receipt; the same UUID again → 200 and the same receipt (also when posts of it
race on several gunicorn workers); invalid → 422 with errors keyed by question, the very messages
the public form gives, in the language asked; ledger visits checked as the visit pages check them
(a foreign household is a 404)."""
from __future__ import annotations

import json
import os
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError
from uuid import uuid4

import pytest

from service.storage.db import db
from service.storage.models import Answer, AuditEvent, Household, Submission, Tally

from . import live
from .api_support import TOKENS, bearer, is_problem, make_token, tokens_for
from .conftest import TEST_FORMS, database_url_for

KITCHEN = "/api/v1/forms/kitchen/submissions"
LEDGER = "/api/v1/forms/ledger/submissions"
ANSWERS = {"name": "张三", "employed": "yes", "n": 3, "tags": ["a", "b"],
           "members": [{"mname": "李四", "age": 30}, {"mname": "王五", "age": 8}]}


@pytest.fixture
def tokens(app, office):
    return tokens_for(app)


def sent(answers=None, **more) -> dict:
    return {"submission_uuid": str(uuid4()), "consent": True,
            "answers": ANSWERS if answers is None else answers, **more}


def rows(app, model, *where):
    with app.app_context(), db.connection_context():
        query = model.select()
        return list(query.where(*where) if where else query)


@pytest.mark.parametrize("name", TOKENS)
def test_every_token_submits_and_gets_a_receipt(app, client, office, tokens, name):
    body = sent(**{"sensitive_consent": True}, answers={**ANSWERS, "eth": "han",
                                                       "why": "hidden by show_if"})
    made = client.post(KITCHEN, json=body, headers=tokens[name])
    assert made.status_code == 201, made.text
    receipt = made.json
    assert receipt["submission_uuid"] == body["submission_uuid"]
    assert (receipt["form_id"], receipt["form_version"], receipt["household"]) == \
        ("kitchen", 1, None)
    [stored] = rows(app, Submission, Submission.uuid == body["submission_uuid"])
    assert stored.receipt == receipt["receipt"]
    assert (stored.channel, stored.surveyor_id, stored.sensitive_consent) == ("api", None, True)
    role, area = TOKENS[name]
    assert stored.area_id == office.areas.get(area)
    kept = json.loads(stored.answers)
    assert kept["eth"] == "han" and "why" not in kept         # show_if decides, as on the page
    assert {(a.question, a.value) for a in rows(app, Answer, Answer.submission == stored.id)
            if a.question == "tags"} == {("tags", "a"), ("tags", "b")}
    assert rows(app, Tally, Tally.channel == "api", Tally.question == "")
    [event] = rows(app, AuditEvent, AuditEvent.action == "api_submitted")
    assert (event.username, event.target) == (f"token:{name}", receipt["receipt"])


def test_the_same_uuid_again_is_the_same_receipt(app, client, tokens):
    body = sent()
    first = client.post(KITCHEN, json=body, headers=tokens["sv-sq1"])
    again = client.post(KITCHEN, json={**body, "answers": {"name": "someone else"}},
                        headers=tokens["mgr-sq2"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert len(rows(app, Submission, Submission.uuid == body["submission_uuid"])) == 1
    other_form = client.post("/api/v1/forms/survey/submissions", json=body,
                             headers=tokens["admin"])
    is_problem(other_form, 409)


def test_a_sensitive_answer_without_its_consent_is_not_stored(app, client, tokens):
    body = sent(answers={**ANSWERS, "eth": "han"})
    assert client.post(KITCHEN, json=body, headers=tokens["admin"]).status_code == 201
    [stored] = rows(app, Submission, Submission.uuid == body["submission_uuid"])
    assert "eth" not in json.loads(stored.answers)


BAD = {"employed": "no", "n": 30, "members": [{"mname": "", "age": 300}], "d": "2099-01-01",
       "tags": ["a", "b", "c"], "phone": "123"}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_invalid_answers_get_the_public_forms_messages_keyed_by_question(
        app, client, visitor, tokens, lang):
    body = sent(BAD, consent=False)
    api = is_problem(client.post(KITCHEN, json=body, headers={**tokens["admin"],
                                                             "Accept-Language": lang}), 422)
    wire = {**BAD, "members-0-mname": "", "members-0-age": "300"}
    del wire["members"]
    page = visitor.submit("/f/kitchen", wire, headers={"X-Doorstep-Outbox": "1",
                                                      "Accept-Language": lang})
    assert page.status_code == 400
    assert api["errors"] == page.json["errors"]
    assert set(api["errors"]) == {"consent", "name", "why", "n", "members-0-mname",
                                  "members-0-age", "d", "tags", "phone"}
    assert api["errors"]["name"] == (["请回答此题。"] if lang == "zh"
                                     else ["Please answer this question."])
    assert not rows(app, Submission, Submission.uuid == body["submission_uuid"])


def test_answers_no_post_could_carry_are_refused_by_name(app, client, tokens):
    problem = is_problem(client.post(KITCHEN, json=sent({
        **ANSWERS, "bogus": 1, "intro": "a note", "name": ["x", "y"], "tags": [["a"]],
        "members": [{"mname": "甲", "shoe": 42}], "mname": "top-level child"}),
        headers=tokens["admin"]), 422)
    assert set(problem["errors"]) == {"bogus", "intro", "name", "tags", "members-0-shoe",
                                      "mname"}
    shape = is_problem(client.post(KITCHEN, json=sent({**ANSWERS, "members": "two"}),
                                   headers=tokens["admin"]), 422)
    assert set(shape["errors"]) == {"members"}


@pytest.mark.parametrize("body", [{}, {"submission_uuid": "not-a-uuid", "answers": {}},
                                  {"submission_uuid": str(uuid4()), "answers": []},
                                  {"submission_uuid": str(uuid4()), "answers": {"n": {"a": 1}}}])
def test_a_body_off_the_schema_is_a_422_problem(client, tokens, body):
    problem = is_problem(client.post(KITCHEN, json=body, headers=tokens["admin"]), 422)
    assert problem["errors"]


def test_closed_and_unknown_forms(app, client, tokens):
    from service.formspec import publishing
    catalog = app.extensions["doorstep.catalog"]
    with app.app_context(), db.connection_context():
        publishing.set_closed(catalog, "kitchen", True)
        catalog.refresh(force=True)
    is_problem(client.post(KITCHEN, json=sent(), headers=tokens["admin"]), 410)
    is_problem(client.post("/api/v1/forms/nothing/submissions", json=sent(),
                           headers=tokens["admin"]), 404)


# A ledger form: a first visit registers a household in the token's area; a revisit names it.

def register(client, headers, address="东湖路1号") -> dict:
    made = client.post(LEDGER, json=sent({"address": address, "size": 3}), headers=headers)
    assert made.status_code == 201, made.text
    return made.json


def test_a_first_visit_registers_a_household_in_the_tokens_area(app, client, office, tokens):
    receipt = register(client, tokens["mgr-sq1"])
    assert receipt["registered"] is True
    [household] = rows(app, Household, Household.code == receipt["household"])
    assert household.area_id == office.areas["SQ1"]


@pytest.mark.parametrize("name, allowed", [("sv-sq1", True), ("mgr-sq1", True), ("admin", True),
                                           ("sv-sq2", False), ("mgr-sq2", False)])
def test_a_revisit_within_the_tokens_areas_only(app, client, tokens, name, allowed):
    code = register(client, tokens["mgr-sq1"])["household"]
    body = sent({"address": "东湖路1号", "size": 4}, household=code, base_version=1)
    answer = client.post(LEDGER, json=body, headers=tokens[name])
    if allowed:
        assert answer.status_code == 201 and answer.json["household"] == code
        assert answer.json["registered"] is False
        [household] = rows(app, Household, Household.code == code)
        assert json.loads(household.current)["size"] == 4
    else:
        is_problem(answer, 404)
        assert not rows(app, Submission, Submission.uuid == body["submission_uuid"])


def test_a_visit_the_visit_pages_would_refuse(app, client, tokens):
    code = register(client, tokens["admin"])["household"]
    for wrong, field in (({"household": "nonsense", "base_version": 1}, "household"),
                         ({"household": code}, "base_version"),
                         ({"household": code, "base_version": 9}, "base_version")):
        problem = is_problem(client.post(LEDGER, json=sent({"address": "x"}, **wrong),
                                         headers=tokens["admin"]), 422)
        assert set(problem["errors"]) == {field}
    with app.app_context(), db.connection_context():
        Household.update(status="moved_out").where(Household.code == code).execute()
    is_problem(client.post(LEDGER, json=sent({"address": "x"}, household=code, base_version=1),
                           headers=tokens["admin"]), 409)
    plain = is_problem(client.post(KITCHEN, json=sent(household=code, base_version=1),
                                   headers=tokens["admin"]), 422)
    assert set(plain["errors"]) == {"household"}


@pytest.mark.slow
def test_concurrent_posts_of_one_uuid_store_one_row_with_one_receipt(tmp_path):
    """Eight posts of one submission at once, over three gunicorn workers: one row, one
    receipt for all, one 201."""
    database_url = database_url_for(tmp_path)
    # `doorstep init`, the workers and the test's app share one set of keys (make_app's folder)
    env = {**os.environ, "DATABASE_URL": database_url, "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
           "KEYS_DIR": str(tmp_path / "instance")}
    live.doorstep_init(env)
    from .conftest import make_app, use_database_of
    app = make_app(tmp_path, DATABASE_URL=database_url)
    secret = make_token(app, "racer", "admin")
    body = json.dumps(sent()).encode()
    barrier = threading.Barrier(8, timeout=60)

    def post(base):
        barrier.wait()
        request = urllib.request.Request(base + KITCHEN, body, method="POST", headers={
            **bearer(secret), "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.loads(answer.read())["receipt"]
        except HTTPError as error:
            return error.code, error.read().decode()

    with live.served(env, tmp_path / "gunicorn.log", "-w", "3") as base:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _i: post(base), range(8)))
    assert sorted(status for status, _r in answers) == [200] * 7 + [201], answers
    assert len({receipt for _s, receipt in answers}) == 1
    use_database_of(app)
    uuid = json.loads(body)["submission_uuid"]
    assert [s.receipt for s in rows(app, Submission, Submission.uuid == uuid)] == \
        [answers[0][1]]
    assert len(rows(app, AuditEvent, AuditEvent.action == "api_submitted")) == 1

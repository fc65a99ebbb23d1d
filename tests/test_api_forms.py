"""Forms over the API: every token lists and reads the open forms (forms belong to no area, as on
the public side); closed ones only for tokens that read figures; a form's definition is its
published JSON with its versions, an older one with ?version=N; drafts never show."""
from __future__ import annotations

import copy

import pytest

from service import formspec
from service.formspec import publishing
from service.storage.db import db

from .api_support import TOKENS, is_problem, tokens_for


@pytest.fixture
def tokens(app, office):
    return tokens_for(app)


def catalog(app):
    return app.extensions["doorstep.catalog"]


def second_version(app, publish=True):
    """kitchen v2 (its title changed), published or left a draft."""
    with app.app_context(), db.connection_context():
        source = copy.deepcopy(catalog(app).get("kitchen").source)
        source["version"], source["title"] = 2, {"zh": "测试二", "en": "Test two"}
        publishing.import_spec(catalog(app), formspec.parse(source, where="test"),
                               publish=publish)
        catalog(app).refresh(force=True)      # as every instance does within a second


def close(app, form_id):
    with app.app_context(), db.connection_context():
        publishing.set_closed(catalog(app), form_id, True)
        catalog(app).refresh(force=True)


@pytest.mark.parametrize("name", TOKENS)
def test_every_token_lists_the_open_forms(client, tokens, name):
    listed = client.get("/api/v1/forms", headers=tokens[name])
    assert listed.status_code == 200
    forms = {f["id"]: f for f in listed.json["forms"]}
    assert set(forms) == {"conditions", "kitchen", "ledger", "registry", "survey"}
    assert forms["kitchen"] == {
        "id": "kitchen", "title": {"zh": "测试", "en": "Test"}, "version": 1, "versions": [1],
        "state": "published", "ledger": False, "consent": True, "sensitive_consent": True}
    assert forms["ledger"]["ledger"] is True


@pytest.mark.parametrize("name, sees", [("admin", True), ("mgr-sq1", True),
                                        ("sv-sq1", False)])
def test_a_closed_form_is_shown_to_those_who_read_its_figures(app, client, tokens, name, sees):
    close(app, "kitchen")
    forms = {f["id"]: f["state"] for f in
             client.get("/api/v1/forms", headers=tokens[name]).json["forms"]}
    assert forms.get("kitchen") == ("closed" if sees else None)
    one = client.get("/api/v1/forms/kitchen", headers=tokens[name])
    if sees:
        assert one.status_code == 200 and one.json["state"] == "closed"
    else:
        is_problem(one, 404)


@pytest.mark.parametrize("name", TOKENS)
def test_a_definition_with_its_versions(app, client, tokens, name):
    second_version(app)
    served = client.get("/api/v1/forms/kitchen", headers=tokens[name]).json
    assert (served["version"], served["versions"], served["definition_version"]) == (2, [1, 2], 2)
    assert served["definition"]["title"] == {"zh": "测试二", "en": "Test two"}
    names = [q["name"] for s in served["definition"]["sections"] for q in s["questions"]]
    assert names[:3] == ["name", "employed", "why"]
    older = client.get("/api/v1/forms/kitchen?version=1", headers=tokens[name]).json
    assert older["definition_version"] == 1 and older["definition"]["title"]["en"] == "Test"
    assert older["version"] == 2                           # the one served stays 2


def test_a_draft_never_shows(app, client, tokens):
    second_version(app, publish=False)
    served = client.get("/api/v1/forms/kitchen", headers=tokens["admin"]).json
    assert (served["version"], served["versions"]) == (1, [1])
    is_problem(client.get("/api/v1/forms/kitchen?version=2", headers=tokens["admin"]), 404)


@pytest.mark.parametrize("path, status", [
    ("/api/v1/forms/nothing", 404), ("/api/v1/forms/kitchen?version=7", 404),
    ("/api/v1/forms/kitchen?version=0", 422), ("/api/v1/forms/kitchen?version=x", 422)])
def test_what_is_not_there_is_a_problem(client, tokens, path, status):
    problem = is_problem(client.get(path, headers=tokens["sv-sq1"]), status)
    if status == 422:
        assert set(problem["errors"]) == {"version"}

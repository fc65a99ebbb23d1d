"""Visits on the phone (service/collect/visit.py, issue #12): a surveyor registers a household
through the ledger form, revisits it from a page prefilled with its current answers, records a
visit outcome with one tap, and a door-plate code leads a surveyor to the visit page and anyone
else to the household's self-report form. Bad input never stores anything and never 500s.
"""
from __future__ import annotations

import json
import re
import uuid

import pytest

from service.records import ledger, submissions
from service.records.submissions import Attribution, Visit
from service.storage.db import db
from service.storage.models import Household, Submission, VisitOutcome

from .conftest import PASSWORD, errors, hidden, login, make_app, receipt

FIRST = {"visit_date": "2026-03-01", "address": "幸福路 3号楼 2单元 101", "head_name": "张三",
         "head_id": "11010519491231002X", "size": "3", "needs": ["job"], "income": "2000",
         "health": "良好", "sensitive_consent": "y"}
OUTBOX = {"X-Doorstep-Outbox": "1"}


def read(app, query):
    with app.app_context(), db.connection_context():
        return query()


def counts(app) -> tuple[int, int]:
    return read(app, lambda: (Submission.select().count(), VisitOutcome.select().count()))


def household(app, code) -> Household:
    return read(app, lambda: Household.get(Household.code == code))


def current(app, code) -> dict:
    return json.loads(household(app, code).current)


def stored(app, area, answers=None, **visit) -> Household:
    """A household registered in `area` the way the ledger stores any visit."""
    def store():
        spec = app.extensions["doorstep.catalog"].get("ledger")
        app.extensions["doorstep.catalog"].ensure_published(spec)
        answers_ = answers or {"address": "西山路 8号", "head_name": "李四", "size": 2}
        submission, _ = submissions.store(spec, str(uuid.uuid4()), answers_,
                                          attribution=Attribution(area_id=area),
                                          visit=Visit(**visit))
        return Household.get_by_id(submission.household_id)
    return read(app, store)


def open_page(client, path):
    page = client.get(path)
    assert page.status_code == 200, page.text
    return page.text


def post_page(client, path, answers, html=None, headers=None):
    """Post the form of `path` as its page would: its token, UUID and hidden ledger fields."""
    html = html or open_page(client, path)
    data = {"csrf_token": hidden(html, "csrf_token"),
            "submission_uuid": hidden(html, "submission_uuid")}
    for name in ("household", "base_version"):
        if hidden(html, name) is not None:
            data[name] = hidden(html, name)
    data.update(answers)
    return client.post(path, data=data, headers=headers)


def value_of(html, name) -> str | None:
    m = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html)
    return m.group(1) if m else None


@pytest.fixture
def sv1(office):
    return office.client("sv1")


@pytest.fixture
def registered(app, sv1):
    """A household registered through the page by sv1; its code."""
    answer = post_page(sv1, "/visit/new/ledger", FIRST)
    assert answer.status_code == 200, answer.text
    return re.search(r'id="household">([^<]+)<', answer.text).group(1).strip()


def test_a_surveyor_registers_a_household_through_the_page_and_is_shown_its_code(
        app, office, sv1, registered):
    kept = household(app, registered)
    assert (kept.area_id, kept.version, kept.visits) == (office.areas["SQ1"], 1, 1)
    first = read(app, lambda: Submission.get(Submission.household == kept.id))
    assert (first.channel, first.area_id, first.surveyor_id, first.base_version) == \
        ("surveyor", office.areas["SQ1"], office.users["sv1"], None)
    assert current(app, registered)["health"] == "良好"
    # the receipt stays, and the outbox learns the code too
    again = post_page(sv1, "/visit/new/ledger", dict(FIRST, address="幸福路 5号"))
    assert receipt(again.text) and re.search(r'id="household">', again.text)
    html = open_page(sv1, "/visit/new/ledger")
    reply = sv1.post("/visit/new/ledger", headers=OUTBOX, data=dict(
        FIRST, address="幸福路 7号", csrf_token=hidden(html, "csrf_token"),
        submission_uuid=hidden(html, "submission_uuid")))
    assert reply.status_code == 200 and re.fullmatch(r"\w{4}-\w{4}", reply.json["household"])


def test_the_visit_page_is_prefilled_but_not_with_fresh_or_sensitive_answers(app, sv1,
                                                                             registered):
    html = open_page(sv1, f"/visit/{registered}")
    assert value_of(html, "address") == FIRST["address"]
    assert value_of(html, "head_name") == "张三" and value_of(html, "size") == "3"
    assert re.search(r'name="needs" value="job" checked', html)
    assert value_of(html, "visit_date") == ""               # prefill: false: asked afresh
    assert "良好" not in html                                # sensitive: never on the page
    assert re.search(r'<textarea[^>]*name="health"[^>]*></textarea>', html)
    assert hidden(html, "household") == registered and hidden(html, "base_version") == "1"
    assert html.count('name="outcome"') == 5


def test_a_revisit_posted_from_the_page_updates_the_household(app, office, sv1, registered):
    html = open_page(sv1, f"/visit/{registered}")
    answers = {"visit_date": "2026-06-01", "address": FIRST["address"], "head_name": "张三",
               "head_id": FIRST["head_id"], "size": "4", "needs": ["job", "training"],
               "income": "2000"}
    answer = post_page(sv1, f"/visit/{registered}", answers, html=html)
    assert answer.status_code == 200 and receipt(answer.text)
    assert 'id="household"' not in answer.text                # a revisit registers nothing
    kept = household(app, registered)
    assert (kept.version, kept.visits) == (2, 2)
    now = current(app, registered)
    assert now["size"] == 4 and now["needs"] == ["job", "training"]
    assert now["health"] == "良好"                            # no consent: left alone
    visit = read(app, lambda: Submission.select().where(Submission.household == kept.id)
                 .order_by(Submission.id.desc()).first())
    assert (visit.base_version, visit.channel, visit.area_id, visit.surveyor_id) == \
        (1, "surveyor", office.areas["SQ1"], office.users["sv1"])


@pytest.mark.parametrize("field, value", [
    ("base_version", "x"), ("base_version", "-1"), ("base_version", "1.5"),
    ("base_version", "３"), ("base_version", ""), ("base_version", "99"),
    ("household", "nonsense"), ("household", "O0I1-O0I1"),
])
def test_a_malformed_household_or_version_is_400_with_the_answers_kept(app, sv1, registered,
                                                                        field, value):
    before = counts(app)
    html = open_page(sv1, "/f/ledger")
    data = {"csrf_token": hidden(html, "csrf_token"),
            "submission_uuid": hidden(html, "submission_uuid"),
            "household": registered, "base_version": "1", **FIRST, field: value}
    answer = sv1.post("/f/ledger", data=data)
    assert answer.status_code == 400
    assert value_of(answer.text, "address") == FIRST["address"]       # the answers are kept
    assert re.search(r'id="visit-refused">[^<]*(household|version|record)', answer.text)
    reply = sv1.post("/f/ledger", data=data, headers=OUTBOX)
    assert reply.status_code == 400 and reply.json["message"] and reply.json["errors"]
    assert counts(app) == before and household(app, registered).version == 1


def test_an_unknown_or_foreign_household_is_404_and_stores_nothing(app, office, sv1,
                                                                   registered):
    foreign = stored(app, office.areas["SQ2"])
    before = counts(app)
    for code in ("ABCD-EFGH", foreign.code):
        html = open_page(sv1, "/f/ledger")
        data = {"csrf_token": hidden(html, "csrf_token"),
                "submission_uuid": hidden(html, "submission_uuid"),
                "household": code, "base_version": "1", **FIRST}
        assert sv1.post("/f/ledger", data=data).status_code == 404
        reply = sv1.post("/f/ledger", data=data, headers=OUTBOX)
        assert reply.status_code == 404 and reply.json["message"]
        assert sv1.get(f"/visit/{code}").status_code == 404
    # nobody signed in cannot revisit by code through the open form either
    anonymous = office.client()
    html = open_page(anonymous, "/f/ledger")
    assert anonymous.post("/f/ledger", data={
        "csrf_token": hidden(html, "csrf_token"), "household": registered,
        "submission_uuid": hidden(html, "submission_uuid"), "base_version": "1",
        **FIRST}).status_code == 404
    assert counts(app) == before


@pytest.mark.parametrize("status", ["moved_out", "closed"])
def test_a_closed_household_refuses_the_visit_clearly(app, sv1, registered, status):
    html = open_page(sv1, f"/visit/{registered}")
    found = household(app, registered)
    read(app, lambda: ledger.set_status(found, status))
    before = counts(app)
    answer = post_page(sv1, f"/visit/{registered}", {"address": "幸福路 9号"}, html=html)
    assert answer.status_code == 409 and 'id="visit-refused"' in answer.text
    assert value_of(answer.text, "address") == "幸福路 9号"
    reply = sv1.post(f"/visit/{registered}", headers=OUTBOX, data={
        "csrf_token": hidden(html, "csrf_token"), "submission_uuid": str(uuid.uuid4()),
        "household": registered, "base_version": "1", "address": "幸福路 9号"})
    assert reply.status_code == 409 and "moved out" in reply.json["message"]
    assert reply.json["errors"]["household"]
    assert counts(app) == before
    page = sv1.get(f"/visit/{registered}")
    assert page.status_code == 200 and 'data-notice="closed"' in page.text
    assert 'name="outcome"' not in page.text


def outcome_form(html, name):
    block = re.search(rf'<form[^>]*action="([^"]+)">((?:(?!</form>).)*value="{name}"'
                      r'(?:(?!</form>).)*)</form>', html, re.S)
    return block.group(1), {"csrf_token": hidden(block.group(2), "csrf_token"),
                            "outcome": name,
                            "submission_uuid": hidden(block.group(2), "submission_uuid")}


def test_an_outcome_is_stored_once_per_uuid(app, office, sv1, registered):
    html = open_page(sv1, f"/visit/{registered}")
    action, data = outcome_form(html, "not_home")
    assert action == f"/visit/{registered}/outcome"
    first = sv1.post(action, data=data)
    assert first.status_code == 200 and 'id="recorded"' in first.text
    again = sv1.post(action, data=data, headers=OUTBOX)
    assert again.status_code == 200
    assert again.json == {"receipt": registered, "household": registered,
                          "outcome": "not_home", "submission_uuid": data["submission_uuid"]}
    stored_ = read(app, lambda: list(VisitOutcome.select()))
    assert len(stored_) == 1 and (stored_[0].channel, stored_[0].surveyor_id) == \
        ("surveyor", office.users["sv1"])
    assert household(app, registered).visits == 2
    # a bad outcome, a bad UUID or a missing token: refused, nothing stored
    for bad in ({"outcome": "gone"}, {"submission_uuid": "1234"}, {"csrf_token": ""}):
        reply = sv1.post(action, data={**data, "submission_uuid": str(uuid.uuid4()), **bad},
                         headers=OUTBOX)
        assert reply.status_code == 400 and reply.json["errors"]
    assert counts(app)[1] == 1
    # moved out: the household moves, and then refuses visits and outcomes
    _action, moved = outcome_form(html, "moved_out")
    assert sv1.post(action, data=moved, headers=OUTBOX).status_code == 200
    assert household(app, registered).status == "moved_out"
    _action, refused = outcome_form(html, "refused")
    reply = sv1.post(action, data=refused, headers=OUTBOX)
    assert reply.status_code == 409 and reply.json["message"]
    assert sv1.post(action, data=moved, headers=OUTBOX).status_code == 200   # a replay: fine
    assert counts(app)[1] == 2


def test_the_door_plate_leads_a_surveyor_to_the_visit_page_and_others_to_a_self_report(
        app, office, sv1, registered):
    token = household(app, registered).door_token
    to = sv1.get(f"/d/{token}")
    assert to.status_code == 302 and to.headers["Location"].endswith(f"/visit/{registered}")
    anonymous = office.client()
    html = open_page(anonymous, f"/d/{token}")
    assert "幸福路" not in html and "张三" not in html and hidden(html, "household") is None
    answer = post_page(anonymous, f"/d/{token}", {"address": FIRST["address"], "size": "5",
                                                 "sensitive_consent": "y",
                                                 "health": "需要照顾",
                                                 "household": "ABCD-EFGH"}, html=html)
    assert answer.status_code == 200 and receipt(answer.text)
    now = current(app, registered)
    assert now["size"] == 5 and now["health"] == "需要照顾"
    assert now["head_name"] == "张三" and now["needs"] == ["job"]   # only what it answered
    report = read(app, lambda: Submission.select().order_by(Submission.id.desc()).first())
    assert (report.channel, report.area_id, report.surveyor_id, report.household_id) == \
        ("self", office.areas["SQ1"], None, household(app, registered).id)
    assert anonymous.get("/d/not-a-token").status_code == 404


def test_a_surveyor_of_another_area_gets_404_and_the_door_plate_self_report(app, office,
                                                                           sv1):
    foreign = stored(app, office.areas["SQ2"])
    assert sv1.get(f"/visit/{foreign.code}").status_code == 404
    html = open_page(sv1, f"/d/{foreign.door_token}")
    assert 'class="survey"' in html and "西山路" not in html
    assert sv1.post(f"/visit/{foreign.code}/outcome", data={}).status_code == 404


def test_the_list_shows_the_surveyors_households_not_yet_visited_first(app, office, sv1,
                                                                       monkeypatch):
    from service.collect import visit
    visited = [stored(app, office.areas["SQ1"], {"address": f"东湖路 {n}号"}) for n in (1, 2)]
    grid = stored(app, office.areas["G1"], {"address": "东湖路 3号"})
    foreign = stored(app, office.areas["SQ2"], {"address": "东湖路 4号"})
    imported = read(app, lambda: Household.create(
        code="2345-6789", form_id="ledger", area=office.areas["SQ1"], door_token="t" * 16,
        address="东湖路 5号", address_key=ledger.address_key("东湖路 5号")))
    monkeypatch.setattr(visit, "PAGE_SIZE", 2)
    seen, path = [], "/visit"
    while path:
        page = sv1.get(path)
        assert page.status_code == 200
        seen += re.findall(r'data-code="([^"]+)"', page.text)
        more = re.search(r'rel="next" href="([^"]+)"', page.text)
        path = more.group(1).replace("&amp;", "&") if more else None
    assert seen == [imported.code] + [h.code for h in visited] + [grid.code]
    assert foreign.code not in seen
    found = sv1.get("/visit?q=东湖路2号").text
    assert re.findall(r'data-code="([^"]+)"', found) == [visited[1].code]
    by_code = sv1.get(f"/visit?q={grid.code.lower().replace('-', '')}").text
    assert re.findall(r'data-code="([^"]+)"', by_code) == [grid.code]
    assert "not yet visited" in sv1.get("/visit").text
    assert 'href="/visit/new/ledger"' in sv1.get("/visit").text
    login_first = office.client().get("/visit")
    assert login_first.status_code == 302 and "/admin/login?next=/visit" in \
        login_first.headers["Location"]


def test_a_merged_household_leads_to_the_one_it_went_into(app, office, sv1, registered):
    duplicate = stored(app, office.areas["SQ1"], dict(
        {k: v for k, v in FIRST.items() if k != "sensitive_consent"}, size=3, income=2000))
    kept = household(app, registered)
    read(app, lambda: ledger.merge(duplicate, kept, None))
    to = sv1.get(f"/visit/{duplicate.code}")
    assert to.status_code == 302 and to.headers["Location"].endswith(f"/visit/{registered}")


CONDITIONAL = """
id: doors
version: 1
ledger: true
title: {zh: 台帐, en: Ledger}
sections:
  - title: {zh: 一, en: One}
    questions:
      - {name: address, type: text, label: {zh: 住址, en: Address}, required: true}
      - {name: employed, type: select_one, label: {zh: 就业, en: Employed}, prefill: false,
         choices: [{value: "yes", label: {zh: 是, en: "Yes"}}, {value: "no", label: {zh: 否, en: "No"}}]}
      - {name: why, type: text, label: {zh: 原因, en: Why}, show_if: {question: employed, equals: "no"}}
"""


def test_a_prefilled_answer_the_form_now_hides_is_neither_shown_nor_stored(tmp_path,
                                                                           fast_hashing):
    from service.office import areas, auth
    from service.storage.models import User
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "doors.yaml").write_text(CONDITIONAL, encoding="utf-8")
    app = make_app(tmp_path, forms)
    with app.app_context(), db.atomic():
        area = areas.create("SQ1", "东湖社区")
        User.create(username="sv1", role="surveyor", area=area,
                    password_hash=auth.hash_password(PASSWORD))
    client = app.test_client()
    client.set_cookie("lang", "en")
    assert login(client, "sv1").status_code == 302
    first = post_page(client, "/visit/new/doors", {"address": "东湖路 1号", "employed": "no",
                                                    "why": "病假"})
    code = re.search(r'id="household">([^<]+)<', first.text).group(1).strip()
    html = open_page(client, f"/visit/{code}")
    assert value_of(html, "address") == "东湖路 1号"
    assert "病假" not in html and value_of(html, "why") == ""   # `employed` is asked afresh
    answer = post_page(client, f"/visit/{code}", {"address": "东湖路 1号", "employed": "yes",
                                                  "why": "still here"}, html=html)
    assert answer.status_code == 200, errors(answer.text)
    last = read(app, lambda: Submission.select().order_by(Submission.id.desc()).first())
    assert "why" not in json.loads(last.answers)


# Kept on the phone for revisits without signal (/visit/offline.json, static/visits.js)

def test_the_phone_keeps_the_active_households_of_the_surveyors_own_area(app, office, sv1,
                                                                          registered):
    stored(app, office.areas["G1"], {"address": "东湖路 1号", "head_name": "赵六", "size": 1})
    stored(app, office.areas["SQ2"])                                 # another community
    gone = stored(app, office.areas["SQ1"], {"address": "东湖路 2号", "head_name": "钱七",
                                             "size": 4})
    read(app, lambda: Household.update(status="moved_out").where(Household.id == gone.id)
         .execute())
    reply = sv1.get("/visit/offline.json")
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
    data = reply.json
    assert data["user"] == office.users["sv1"] and data["more"] is False
    by_code = {h["code"]: h for h in data["households"]}
    assert len(by_code) == 2 and registered in by_code and gone.code not in by_code
    kept = by_code[registered]
    assert (kept["form"], kept["address"], kept["status"], kept["version"]) == \
        ("ledger", FIRST["address"], "active", 1)
    assert kept["last_visit"]
    # the answers a visit page would be prefilled with: not the fresh or sensitive ones
    assert kept["answers"]["head_name"] == "张三" and kept["answers"]["size"] == 3
    assert "visit_date" not in kept["answers"] and "health" not in kept["answers"]


def test_only_a_signed_in_surveyor_gets_the_households_for_the_phone(office, registered):
    anonymous = office.client()
    assert anonymous.get("/visit/offline.json").status_code in (302, 303)
    other = office.client("mgr2").get("/visit/offline.json")     # manager of another area
    assert other.status_code == 200 and registered not in other.text


def scripts(html):
    """The static scripts a page loads, in order."""
    return re.findall(r'<script src="/static/([\w.]+)\?v=\w+"', html)


def test_the_pages_that_keep_and_forget_the_phones_households_load_their_script(sv1, office,
                                                                                registered):
    """static/visits.js: the list keeps the households (reading the outbox, static/outbox.js, for
    the visits waiting on the phone), the sign-in page forgets them (neither is a form page: no
    static/offline.js), a household's visit page queues its outcome taps on top of the form
    page's scripts; a form page that is no household's loads no visits.js."""
    listing = open_page(sv1, "/visit")
    assert 'id="visit-list"' in listing and scripts(listing) == ["outbox.js", "visits.js"]
    login = open_page(office.client(), "/admin/login")
    assert re.search(r'<script src="/static/visits.js\?v=\w+" data-signed-out', login)
    assert scripts(login) == ["visits.js"]
    visit_page = open_page(sv1, f"/visit/{registered}")
    assert 'id="outcomes"' in visit_page
    assert scripts(visit_page) == ["checks.js", "outbox.js", "form.js", "offline.js", "visits.js"]
    assert scripts(open_page(sv1, "/visit/new/ledger")) == [
        "checks.js", "outbox.js", "form.js", "offline.js"]
    worker = sv1.get("/sw.js").text    # each of them kept for use without signal, this version
    for html in (listing, login, visit_page):
        for src in re.findall(r'<script src="([^"]+)"', html):
            assert f'"{src}"' in worker, src

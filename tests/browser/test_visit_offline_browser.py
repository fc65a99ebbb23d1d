"""Revisits without signal (README, "Offline phones"): a surveyor opens the visit list with signal,
the server is really stopped, the phone opens a household's page from what it kept, and the visit
(or an outcome tap: not at home ...) waits in the outbox until the server is back, stored once
however often it is sent; two surveyors revisiting the same household offline make one conflict the
office resolves; signing out leaves nothing of the households on the phone.
"""
from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from playwright.sync_api import expect

from .. import live
from ..live import ROOT
from .conftest import RestartableServer, server_keys

pytestmark = pytest.mark.browser

PASSWORD = "browser-offline-visit-2025"


@pytest.fixture
def server(tmp_path):
    """The test ledger form, area SQ with two surveyors (li, wang), an admin, and two households."""
    import os
    forms = tmp_path / "forms"
    forms.mkdir()
    shutil.copy(ROOT / "tests" / "forms" / "ledger.yaml", forms / "ledger.yaml")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'doorstep.db'}",
           "FORMS_DIR": str(forms), "SECRET_KEY": "offline-visit-secret",
           "INSTANCE_PATH": str(tmp_path / "instance")}
    made = RestartableServer(tmp_path, env, live.free_port())
    made.doorstep("init")
    (tmp_path / "areas.csv").write_text("code,name,parent_code\nSQ,东湖社区,\n", encoding="utf-8")
    made.doorstep("areas", "import", str(tmp_path / "areas.csv"))
    for name, role in (("li", "surveyor"), ("wang", "surveyor"), ("boss", "admin")):
        extra = ["--area", "SQ"] if role == "surveyor" else []
        made.doorstep("users", "create", "--username", name, "--role", role, *extra,
                      "--password-stdin", stdin=PASSWORD)
    (tmp_path / "ledger.csv").write_text(
        "area_code,address,head_name,size\nSQ,东湖路 1号,张三,3\nSQ,东湖路 2号,李四,2\n",
        encoding="utf-8")
    made.doorstep("households", "import", str(tmp_path / "ledger.csv"), "--form", "ledger")
    made.start()
    try:
        yield made
    finally:
        made.stop()


def query(server, sql, *args):
    con = sqlite3.connect(server.database)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def household(server, address):
    """A household's code, version and current answers by its address (sealed at rest: opened
    with the server's keys)."""
    with server_keys(server.database) as opened:
        [(code, version, current)] = [
            (code, version, opened(current)) for code, version, current, sealed
            in query(server, "SELECT code, version, current, address FROM household")
            if opened(sealed) == address]
    return code, version, json.loads(current)


def phone(browser):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    context.set_default_timeout(15_000)
    return context


def sign_in(page, url, username, then="/visit"):
    page.goto(url + then)
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click("form.card button.primary")
    expect(page).to_have_url(url + then)


def kept_on_the_phone(page, url, username):
    """Signed in on the visit list, which keeps the area's households on the phone."""
    sign_in(page, url, username)
    page.wait_for_selector("#visit-list[data-offline-ready='2']", state="attached",
                           timeout=30_000)


def revisit_offline(page, url, code, size):
    """Without signal: the list from the phone, the household's page from the phone, a changed
    answer, queued."""
    page.goto(url + "/visit")
    expect(page.locator("#visit-list")).to_have_attribute("data-offline-shown", "2")
    page.click(f'a.household[data-code="{code}"]')
    expect(page.locator("#household-code")).to_have_text(code)
    expect(page.locator('input[name="head_name"]')).not_to_have_value("")
    page.fill('input[name="size"]', str(size))
    page.click("form.survey button[type=submit]")
    expect(page.locator("#outbox li[data-status=waiting]")).to_have_count(1)


def sent(page):
    """The outbox sends on its timer; "send now" (if it is still waiting) saves the wait."""
    send = page.locator("#outbox .send")
    if send.is_visible():
        try:
            send.click(timeout=2_000)
        except Exception:   # noqa: BLE001 - sent meanwhile: the button hid itself
            pass
    expect(page.locator("#receipt")).to_be_visible(timeout=60_000)


def test_a_revisit_without_signal_is_sent_when_the_server_is_back(browser, server):
    code, version, _ = household(server, "东湖路 1号")
    context = phone(browser)
    try:
        page = context.new_page()
        kept_on_the_phone(page, server.url, "li")
        server.stop()                          # nothing answers on that port now
        revisit_offline(page, server.url, code, 5)
        server.start()
        sent(page)
        _, now, current = household(server, "东湖路 1号")
        assert (now, current["size"], current["head_name"]) == (version + 1, 5, "张三")
        base = query(server, "SELECT base_version FROM submission WHERE household_id = "
                     "(SELECT id FROM household WHERE code = ?)", code)
        assert base == [(version,)]
    finally:
        context.close()


def visit_state(server, code):
    """The household's visits, last visit, version and status (what ledger.record_outcome keeps)."""
    return query(server, "SELECT id, visits, last_visit_at, version, status FROM household "
                 "WHERE code = ?", code)[0]


def outcomes_of(server, household_id):
    return query(server, "SELECT uuid, outcome, received_at, channel, surveyor_id, area_id "
                 "FROM visit_outcome WHERE household_id = ?", household_id)


def test_an_outcome_tapped_without_signal_is_stored_once_when_the_server_is_back(browser, server):
    code, _, answers = household(server, "东湖路 1号")
    hid, visits, last, version, status = visit_state(server, code)
    li = query(server, 'SELECT id, area_id FROM "user" WHERE username = ?', "li")[0]
    context = phone(browser)
    try:
        page = context.new_page()
        kept_on_the_phone(page, server.url, "li")
        server.stop()                          # nothing answers on that port now
        page.goto(server.url + "/visit")
        expect(page.locator("#visit-list")).to_have_attribute("data-offline-shown", "2")
        page.click(f'a.household[data-code="{code}"]')
        expect(page.locator("#household-code")).to_have_text(code)
        rendered = page.locator('#outcomes input[name="submission_uuid"]').first.input_value()
        page.click('#outcomes button[data-outcome="not_home"]')
        expect(page.locator("#outcomes")).to_be_hidden()
        expect(page.locator("#done")).to_have_attribute("data-status", "waiting")
        expect(page.locator("#outbox li[data-status=waiting]")).to_have_count(1)
        queued = page.evaluate("DoorstepOutbox.all()")
        assert len(queued) == 1
        entry = queued[0]
        assert entry["action"] == f"/visit/{code}/outcome"
        assert entry["body"] == f"outcome=not_home&submission_uuid={entry['uuid']}"
        assert entry["uuid"] != rendered        # made at the tap: the page may be opened again
        assert outcomes_of(server, hid) == []

        server.start()
        sent(page)
        expect(page.locator("#receipt")).to_have_text(code)    # an outcome's receipt: the code
        rows = outcomes_of(server, hid)
        assert len(rows) == 1
        uuid, outcome, received_at, channel, surveyor, area = rows[0]
        assert (uuid, outcome, channel, surveyor, area) == \
            (entry["uuid"], "not_home", "surveyor", li[0], li[1])
        # a visit that filled in no form: counted, the last visit, no new version, still visited
        after = visit_state(server, code)
        assert after == (hid, visits + 1, received_at, version, status) and status == "active"
        assert last is None or last < received_at
        assert household(server, "东湖路 1号")[2] == answers

        # the same entry sent again (its reply lost, the outbox tries once more): stored once
        again = page.evaluate("""async (entry) => {
            const outbox = window.DoorstepOutbox;
            await outbox.put(Object.assign({}, entry, {status: 'waiting', due: Date.now()}));
            return outbox.send(await outbox.get(entry.uuid));
        }""", entry)
        assert (again["status"], again["receipt"]) == ("sent", code)
        assert outcomes_of(server, hid) == rows
        assert visit_state(server, code) == after

        page.click("#done .next-one")          # a revisit: back to the households
        expect(page).to_have_url(server.url + "/visit")
    finally:
        context.close()


def test_two_surveyors_offline_on_one_household_make_one_conflict_the_office_resolves(
        browser, server):
    code, version, _ = household(server, "东湖路 2号")
    li, wang = phone(browser), phone(browser)
    try:
        pages = [li.new_page(), wang.new_page()]
        kept_on_the_phone(pages[0], server.url, "li")
        kept_on_the_phone(pages[1], server.url, "wang")
        server.stop()
        revisit_offline(pages[0], server.url, code, 4)
        revisit_offline(pages[1], server.url, code, 6)
        server.start()
        sent(pages[0])
        sent(pages[1])
        conflicts = query(server, "SELECT id, question, kept_value, visit_value FROM "
                          "household_conflict WHERE resolved_at IS NULL")
        assert len(conflicts) == 1 and conflicts[0][1] == "size"
        with server_keys(server.database) as opened:       # conflicts are sealed at rest
            kept, chosen = (json.loads(opened(v)) for v in conflicts[0][2:4])
        assert {kept, chosen} == {4, 6}

        office = browser.new_context()
        try:
            desk = office.new_page()
            sign_in(desk, server.url, "boss", then=f"/admin/households/{code}")
            form = desk.locator('#conflicts form[data-conflict="size"]')
            form.locator('input[name="choice"][value="visit"]').check()
            form.locator("button[type=submit]").click()
            expect(desk.locator("#conflicts")).to_have_count(0)
        finally:
            office.close()
        assert query(server, "SELECT COUNT(*) FROM household_conflict "
                     "WHERE resolved_at IS NULL") == [(0,)]
        assert household(server, "东湖路 2号")[2]["size"] == chosen
    finally:
        li.close()
        wang.close()


def test_signing_out_leaves_nothing_of_the_households_on_the_phone(browser, server):
    context = phone(browser)
    try:
        page = context.new_page()
        kept_on_the_phone(page, server.url, "li")
        assert page.evaluate("caches.has('doorstep-visits')")
        page.click("#sign-out button")
        expect(page).to_have_url(server.url + "/admin/login")
        page.wait_for_selector("html[data-visits-forgotten]", state="attached")
        assert not page.evaluate("caches.has('doorstep-visits')")
        server.stop()
        page.goto(server.url + "/visit")       # no signal: nothing kept to show
        expect(page.locator("a.household")).to_have_count(0)
        server.start()
    finally:
        context.close()

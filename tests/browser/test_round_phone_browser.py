"""The current round on a surveyor's phone without signal (README, "Offline phones"; issue #13): the
visit list kept on the phone with signal shows, with the server really stopped, the same progress
and the round's households still to visit first; a visit and an outcome made without signal mark
their households as sent when there is signal, and once the server is back the list sends them and
the round's figures on the server move.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from .conftest import server_keys

from .test_visit_offline_browser import (  # noqa: F401  (server: a fixture)
    phone, query, server, sign_in,
)

pytestmark = pytest.mark.browser

ROUND = "东湖社区2026年第一轮"
ADDRESSES = [f"东湖路 {n}号" for n in range(1, 6)]


@pytest.fixture
def round_server(server, tmp_path):
    """test_visit_offline_browser's server (area SQ, surveyor li, 东湖路 1号 and 2号) with three
    more households and a round over SQ running today."""
    rows = "".join(f"SQ,{a},王{n},{n}\n" for n, a in enumerate(ADDRESSES[2:], 3))
    (tmp_path / "more.csv").write_text("area_code,address,head_name,size\n" + rows,
                                       encoding="utf-8")
    server.doorstep("households", "import", str(tmp_path / "more.csv"), "--form", "ledger")
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()      # the office's day
    server.doorstep("rounds", "create", "--form", "ledger", "--area", "SQ", "--name", ROUND,
                    "--start", str(today - dt.timedelta(days=2)),
                    "--end", str(today + dt.timedelta(days=30)))
    return server


def code_of(server, address):
    """A household's code by its address (sealed at rest: opened with the server's keys)."""
    with server_keys(server.home / "doorstep.db") as opened:
        [code] = [code for code, sealed in query(server, "SELECT code, address FROM household")
                  if opened(sealed) == address]
    return code


def standing(server, code):
    """(state, attempts) of the household in the round, as the server keeps it."""
    return query(server, "SELECT m.state, m.attempts FROM round_household m JOIN household h "
                 "ON h.id = m.household_id WHERE h.code = ?", code)[0]


def told(page, url, code, outcome):
    """An outcome sent with signal, as the phone's outbox sends one."""
    token = page.request.get(url + "/outbox/token").json()["csrf_token"]
    reply = page.request.post(url + f"/visit/{code}/outcome", headers={"X-Doorstep-Outbox": "1"},
                              form={"outcome": outcome, "submission_uuid": str(uuid.uuid4()),
                                    "csrf_token": token})
    assert reply.ok, reply.text()


def figures(page) -> dict:
    """The progress block's figures as the phone shows them."""
    return page.evaluate("""() => {
        const box = document.getElementById('round-progress');
        const got = {target: Number(box.querySelector('[data-target]').dataset.target)};
        box.querySelectorAll('[data-figure]').forEach(e => {
            got[e.dataset.figure] = Number(e.dataset.n); });
        return got;
    }""")


def listed(page) -> list[str]:
    return page.eval_on_selector_all("#visit-list a.household",
                                     "cards => cards.map(a => a.dataset.code)")


def card(page, code):
    return page.locator(f'#visit-list a.household[data-code="{code}"]')


def test_the_rounds_not_yet_list_without_signal_and_its_figures_once_sent(browser,
                                                                          round_server):
    server = round_server
    h = [code_of(server, a) for a in ADDRESSES]
    context = phone(browser)
    try:
        page = context.new_page()
        sign_in(page, server.url, "li")
        told(page, server.url, h[4], "no_change")          # done
        told(page, server.url, h[3], "not_home")           # attempted twice: flagged
        told(page, server.url, h[3], "refused")
        page.goto(server.url + "/visit")                    # kept on the phone as it stands now
        page.wait_for_selector("#visit-list[data-offline-ready='5']", state="attached",
                               timeout=30_000)
        expect(page.locator("#round-progress h2")).to_have_text(ROUND)
        before = {"target": 5, "done": 1, "attempted": 1, "flagged": 1, "not_yet": 3}
        assert figures(page) == before
        # still to visit first (the one tried twice among them), then the one done; without the
        # round the list would put the done one before the one tried last
        assert listed(page) == h
        with_signal = page.locator("#round-progress").inner_text()

        server.stop()                                       # nothing answers on that port now
        page.goto(server.url + "/visit")
        expect(page.locator("#visit-list")).to_have_attribute("data-offline-shown", "5")
        assert listed(page) == h and figures(page) == before
        assert page.locator("#round-progress").inner_text() == with_signal
        expect(page.locator("#round-progress .round-done")).to_have_text("已完成 1 / 5 户（20%）")
        expect(card(page, h[0]).locator(".round-state")).to_have_text("本轮未走访")
        expect(card(page, h[3]).locator(".round-state")).to_have_text("已上门 2 次，未完成 · 需关注")
        expect(card(page, h[3])).to_have_class("card household to-visit flagged")
        expect(card(page, h[4]).locator(".round-state")).to_have_count(0)

        # without signal: not at home at the first, a revisit with the form at the second
        card(page, h[0]).click()
        expect(page.locator("#household-code")).to_have_text(h[0])
        page.click('#outcomes button[data-outcome="not_home"]')
        expect(page.locator("#outbox li[data-status=waiting]")).to_have_count(1)
        page.click("#visit-head a")                         # back to the households
        card(page, h[1]).click()
        expect(page.locator("#household-code")).to_have_text(h[1])
        expect(page.locator('input[name="head_name"]')).to_have_value("李四")
        page.fill('input[name="size"]', "4")
        page.click("form.survey button[type=submit]")
        expect(page.locator("#outbox li[data-status=waiting]")).to_have_count(2)
        page.goto(server.url + "/visit")
        expect(page.locator("#visit-list")).to_have_attribute("data-offline-shown", "5")
        for code in h[:2]:
            expect(card(page, code)).to_have_attribute("data-queued", "waiting")
            expect(card(page, code).locator(".queued")).to_have_text("已走访：有信号时自动发送")
            expect(card(page, code).locator(".round-state")).to_be_hidden()
        expect(card(page, h[2])).not_to_have_attribute("data-queued", "waiting")
        expect(page.locator("#visit-waiting")).to_have_text("本机有 2 条走访记录等待信号发送。")
        assert figures(page) == before                       # the server's, as kept
        assert standing(server, h[0]) == ("not_yet", 0)

        page.goto("about:blank")      # no page of ours left to send on its timer meanwhile
        server.start()
        page.goto(server.url + "/visit")                    # signal: the list sends what waited
        for code in h[:2]:
            expect(card(page, code)).to_have_attribute("data-queued", "sent", timeout=60_000)
            expect(card(page, code).locator(".queued")).to_have_text("已走访：已发送")
        expect(page.locator("#visit-waiting")).to_be_hidden()
        assert standing(server, h[0]) == ("attempted", 1)
        assert standing(server, h[1]) == ("done", 0)
        current = query(server, "SELECT current FROM household WHERE code = ?", h[1])[0][0]
        with server_keys(server.home / "doorstep.db") as opened:
            assert json.loads(opened(current))["size"] == 4

        page.reload()
        expect(page.locator("#round-progress .round-done")).to_have_text("已完成 2 / 5 户（40%）")
        assert figures(page) == {"target": 5, "done": 2, "attempted": 2, "flagged": 1,
                                 "not_yet": 1}
        # still to visit: never visited, then tried longest ago; then the done ones
        assert listed(page) == [h[2], h[3], h[0], h[4], h[1]]
        expect(card(page, h[0]).locator(".round-state")).to_have_text("已上门 1 次，未完成")
        expect(card(page, h[0])).not_to_have_attribute("data-queued", "sent")
    finally:
        context.close()


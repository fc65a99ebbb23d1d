"""A surveyor's phone without signal, in Debian's Chromium at 360x740 against real gunicorn.

Most tests share the session's server and look only at their own submissions; two stop a server of
their own (`restartable_server`), because the phone must also meet a server that is really gone:
Playwright's `set_offline` does not cover a service worker's own requests (microsoft/playwright#2311),
so emulated offline alone could pass while a real phone fails.
What counts is what the server stored at the end, not what the page said.
"""
from __future__ import annotations

import os
import re
import secrets
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from .conftest import (
    CHROMIUM, CHROMIUM_ARGS, ROOT, RestartableServer, csp_violations, server_keys,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RECEIPT = re.compile(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}")


# --- the server's side: links, and what it stored ---

@pytest.fixture
def server(live_server):
    """The session's server, with the `doorstep` command pointed at its database."""
    home = live_server.database.parent
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{live_server.database}",
           "FORMS_DIR": str(ROOT / "forms"), "INSTANCE_PATH": str(home / "instance"),
           "PUBLIC_BASE_URL": live_server.url}
    return RestartableServer(home, env, int(urlsplit(live_server.url).port))   # never restarted


def make_link(server, form_id: str) -> tuple[str, str, str]:
    """A surveyor's QR link to `form_id`, as the office makes it: (url, area code, surveyor)."""
    area, surveyor = f"JD{secrets.token_hex(3)}", f"xiaowang{secrets.token_hex(3)}"
    areas = server.home / f"{area}.csv"
    areas.write_text(f"code,name,parent_code\n{area},幸福街道,\n", encoding="utf-8")
    server.doorstep("areas", "import", str(areas))
    server.doorstep("users", "create", "--username", surveyor, "--role", "surveyor",
                    "--area", area, "--password-stdin", stdin="door-to-door-2025\n")
    url = server.doorstep("links", "create", form_id, "--area", area,
                          "--surveyor", surveyor).strip().splitlines()[-1]
    assert url.startswith(server.url + "/s/"), url
    return url, area, surveyor


def submissions(server) -> list[dict]:
    """Every submission the server stored: attribution by name, answers as (question, item, value)."""
    with closing(sqlite3.connect(server.database)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("""
            SELECT s.id, s.uuid, s.receipt, s.form_id, s.channel, a.code AS area,
                   u.username AS surveyor, l.token AS link
            FROM submission s LEFT JOIN area a ON a.id = s.area_id
            LEFT JOIN user u ON u.id = s.surveyor_id LEFT JOIN link l ON l.id = s.link_id
            ORDER BY s.id""").fetchall()
        answers = db.execute("SELECT submission_id, question, item, value FROM answer").fetchall()
    out = []
    with server_keys(server.database) as opened:      # identifiers are sealed at rest
        answers = [(sid, q, item, opened(value)) for sid, q, item, value in answers]
    for row in rows:
        found = {(q, item, value) for sid, q, item, value in answers if sid == row["id"]}
        out.append({**dict(row), "answers": found})
    return out


# --- the phone's side ---

def choose(page, name, value):
    page.check(f'input[name="{name}"][value="{value}"]')


def fits_the_screen(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width}px wide"


def offline_ready(page):
    """The page says it is kept on the phone (the service worker holds it and its assets)."""
    page.wait_for_selector("html[data-offline-ready]", state="attached", timeout=20_000)
    expect(page.locator("#offline-note")).to_have_text("本表已保存在本机，没有信号也能打开。")


def next_section(page, now, of=6):
    page.click("button.next")
    expect(page.locator(".progress .step")).to_have_text(f"{now + 1} / {of}")


def fill_household(page, head, child_age):
    """A household of two: the head, out of work (the show_if branch of training), and a child."""
    page.check('input[name="consent"]')
    page.fill('input[name="visit_date"]', "2025-06-01")
    next_section(page, 1)
    page.fill('input[name="head_name"]', head)
    page.fill('input[name="head_phone"]', "138 1234 5678")
    page.fill('input[name="address"]', "幸福小区3栋2单元501")
    choose(page, "housing", "rent")
    next_section(page, 2)
    page.fill('input[name="members-0-member_name"]', head)
    choose(page, "members-0-relation", "self")
    choose(page, "members-0-gender", "m")
    page.fill('input[name="members-0-age"]', "45")
    training = page.locator('.item[data-index="0"] [data-q="wants_training"]')
    expect(training).to_be_hidden()
    choose(page, "members-0-work", "unemployed")
    expect(training).to_be_visible()
    choose(page, "members-0-wants_training", "yes")
    page.click('[data-q="members"] button.add')
    page.fill('input[name="members-1-member_name"]', head + "的孩子")
    choose(page, "members-1-relation", "child")
    choose(page, "members-1-gender", "f")
    page.fill('input[name="members-1-age"]', str(child_age))
    choose(page, "members-1-schooling", "primary")
    next_section(page, 3)
    choose(page, "income_band", "lt2k")
    choose(page, "assistance", "none")
    choose(page, "employment", "unemployed")
    page.fill('input[name="unemployed_months"]', "8")
    next_section(page, 4)
    next_section(page, 5)
    fits_the_screen(page)


def fill_suggestion(page, text="楼道灯坏了"):
    choose(page, "topic", "safety")
    page.fill('textarea[name="description"]', text)
    page.click("button.next")
    choose(page, "anonymous", "yes")


def submit(page):
    page.click('button[type="submit"]')
    expect(page.locator("#done")).to_be_visible()


def waiting(page, n):
    expect(page.locator("#outbox .count")).to_have_text(f"{n} 份等待发送。")


# --- the tests ---

def test_two_households_filled_without_signal_arrive_once_each_with_their_link(phone, server):
    link, area, surveyor = make_link(server, "household")
    token = urlsplit(link).path.rsplit("/", 1)[1]

    def stored_through_link():
        return [s for s in submissions(server) if s["link"] == token]

    context = phone.context
    refused = csp_violations(context)      # the strict policy holds and breaks nothing
    offsite = []
    context.on("request", lambda r: urlsplit(r.url).hostname == "127.0.0.1"
               or offsite.append(r.url))
    phone.goto(link)
    offline_ready(phone)

    context.set_offline(True)
    phone.reload()
    expect(phone.locator("form.survey")).to_be_visible()
    fill_household(phone, "王建国", 9)
    submit(phone)
    expect(phone.locator("#done .status")).to_contain_text("已保存在本机")
    waiting(phone, 1)
    fits_the_screen(phone)

    phone.click("#done .next-one")        # the next household, at once
    expect(phone.locator('input[name="head_name"]')).to_have_value("")
    expect(phone.locator('[data-q="members"] .items > .item')).to_have_count(1)
    fill_household(phone, "李秀英", 6)
    submit(phone)
    waiting(phone, 2)

    phone.close()                          # the surveyor puts the phone away
    again = context.new_page()
    again.goto(link)                       # still no signal
    waiting(again, 2)
    assert stored_through_link() == []

    context.set_offline(False)
    sent = again.locator('#outbox li[data-status="sent"] .code')
    expect(sent).to_have_count(2, timeout=20_000)
    expect(again.locator("#outbox .count")).to_have_text("已全部发送。")
    receipts = sorted(sent.all_inner_texts())
    assert all(RECEIPT.fullmatch(r) for r in receipts)
    fits_the_screen(again)

    stored = stored_through_link()
    assert sorted(s["receipt"] for s in stored) == receipts
    for s in stored:
        assert (s["form_id"], s["channel"], s["area"], s["surveyor"]) == \
            ("household", "surveyor", area, surveyor)
        assert {("employment", None, "unemployed"), ("wants_training", 0, "yes"),
                ("head_phone", None, "13812345678"), ("schooling", 1, "primary")} <= s["answers"]
        assert not any(q == "work" and item == 1 for q, item, _ in s["answers"])
    heads = {value for s in stored for q, _, value in s["answers"] if q == "head_name"}
    assert heads == {"王建国", "李秀英"}
    assert offsite == [], "the phone reached beyond the server"
    assert refused == [], "the page did something its Content-Security-Policy forbids"


def test_with_the_server_really_gone_the_page_opens_from_the_phone_and_sends_when_it_is_back(
        phone, restartable_server):
    server = restartable_server
    refused = csp_violations(phone.context)
    phone.goto(server.url + "/f/suggestion")
    offline_ready(phone)

    server.stop()
    phone.reload()                          # nothing answers on that port now
    expect(phone.locator("form.survey h1")).to_have_text("居民意见建议")
    fill_suggestion(phone)
    submit(phone)
    entry = phone.locator("#outbox li[data-status=waiting] .state")
    expect(entry).to_contain_text("暂时无法连接")   # tried, failed, will try again

    server.start()                          # same port, same database: the signal is back
    expect(phone.locator("#receipt")).to_have_text(RECEIPT, timeout=60_000)
    stored = submissions(server)
    assert [s["receipt"] for s in stored] == [phone.locator("#receipt").inner_text()]
    assert ("description", None, "楼道灯坏了") in stored[0]["answers"]
    assert refused == []


def test_a_draft_survives_a_reload_and_a_submitted_one_is_gone(phone, server):
    phone.goto(server.url + "/f/household")
    phone.check('input[name="consent"]')
    phone.fill('input[name="visit_date"]', "2025-06-02")
    next_section(phone, 1)
    phone.fill('input[name="head_name"]', "赵敏")
    phone.fill('input[name="head_phone"]', "13912345678")
    phone.fill('input[name="address"]', "和平里5号")
    choose(phone, "housing", "own")
    next_section(phone, 2)
    phone.fill('input[name="members-0-member_name"]', "赵敏")
    for _ in range(2):
        phone.click('[data-q="members"] button.add')
    phone.fill('input[name="members-2-member_name"]', "赵小军")
    phone.locator('.item[data-index="1"] button.remove').click()   # added one too many
    before = phone.input_value('input[name="submission_uuid"]')

    phone.reload()
    offer = phone.locator("#draft-offer")
    expect(offer).to_be_visible()
    offer.locator('[data-act="continue"]').click()
    expect(offer).to_be_hidden()
    expect(phone.locator(".progress .step")).to_have_text("3 / 6")
    expect(phone.locator('input[name="members-0-member_name"]')).to_have_value("赵敏")
    expect(phone.locator('input[name="members-2-member_name"]')).to_have_value("赵小军")
    expect(phone.locator('[data-q="members"] .items > .item')).to_have_count(2)
    expect(phone.locator('input[name="head_name"]')).to_have_value("赵敏")
    expect(phone.locator('input[name="consent"]')).to_be_checked()
    assert phone.input_value('input[name="submission_uuid"]') == before

    # finish it: the draft is done with once the outbox holds the submission
    for n, (name, value) in enumerate([("relation", "self"), ("gender", "f")]):
        choose(phone, f"members-0-{name}", value)
        choose(phone, f"members-2-{name}", value)
    phone.fill('input[name="members-0-age"]', "40")
    phone.fill('input[name="members-2-age"]', "12")
    choose(phone, "members-2-schooling", "junior")
    choose(phone, "members-0-work", "employed")
    next_section(phone, 3)
    choose(phone, "income_band", "2k_4k")
    choose(phone, "assistance", "none")
    choose(phone, "employment", "employed")
    next_section(phone, 4)
    next_section(phone, 5)
    submit(phone)
    expect(phone.locator("#receipt")).to_have_text(RECEIPT)
    phone.reload()
    expect(phone.locator("form.survey")).to_be_visible()
    expect(phone.locator("#draft-offer")).to_be_hidden()
    [stored] = [s for s in submissions(server) if s["uuid"] == before]
    assert {("member_name", 0, "赵敏"), ("member_name", 1, "赵小军")} <= stored["answers"]


def test_the_phone_refuses_what_the_server_would_refuse_before_queueing(phone, server):
    phone.goto(server.url + "/f/household?lang=en")
    phone.click("button.next")
    expect(phone.locator(".consent .error")).to_have_text(
        "Please read and agree before answering.")
    phone.check('input[name="consent"]')
    phone.fill('input[name="visit_date"]', "2019-12-31")
    phone.click("button.next")
    expect(phone.locator('[data-q="visit_date"] .error')).to_have_text(
        "Enter a date on or after 2020-01-01.")
    phone.fill('input[name="visit_date"]', "2025-06-01")
    next_section(phone, 1)
    phone.fill('input[name="head_phone"]', "1234")
    phone.fill('input[name="head_id_number"]', "110105194912310021")
    phone.click("button.next")
    errors = phone.locator(".section:not([hidden]) .has-error .error")
    expect(errors).to_have_text([
        "Please answer this question.",
        "Enter an 11-digit mainland mobile number, e.g. 13812345678.",
        "This ID number's check digit is wrong; please check it again.",
        "Please answer this question.", "Please answer this question."])
    expect(phone.locator("#outbox")).to_be_hidden()   # nothing was queued


def test_a_submission_the_server_refuses_stays_in_the_outbox_with_its_reason(
        phone, restartable_server, tmp_path):
    """The office retires version 1 of the form while the phone is out of signal: version 2 asks
    a new required question, so the queued answers are refused, kept, shown, and can be fixed."""
    server = restartable_server
    forms = tmp_path / "forms"
    forms.mkdir()
    text = (Path(server.env["FORMS_DIR"]) / "suggestion.yaml").read_text(encoding="utf-8")
    (forms / "suggestion.yaml").write_text(text, encoding="utf-8")
    server.stop()
    server.start(FORMS_DIR=str(forms))
    phone.goto(server.url + "/f/suggestion")
    offline_ready(phone)

    server.stop()
    phone.reload()
    fill_suggestion(phone, "小区门口积水")
    submit(phone)
    version = int(re.search(r"^version: (\d+)$", text, re.M).group(1))
    v2 = text.replace(f"version: {version}", f"version: {version + 1}", 1).replace(
        "      - name: location\n",
        "      - name: building\n        type: text\n        label: {zh: 楼栋号, en: Building}\n"
        "        required: true\n      - name: location\n", 1)
    assert v2 != text
    (forms / "suggestion.yaml").write_text(v2, encoding="utf-8")
    server.doorstep("init")     # the office publishes version 2 (forms live in the database)
    server.start()

    refused = phone.locator('#outbox li[data-status="rejected"]')
    expect(refused).to_have_count(1, timeout=60_000)
    expect(refused.locator(".state")).to_contain_text("楼栋号: 请回答此题。")
    expect(phone.locator("#done .status .error")).to_contain_text("未被接受")
    assert submissions(server) == []

    phone.reload()                            # never dropped
    expect(refused).to_have_count(1)
    refused.locator("button", has_text="修改答案").click()
    box = phone.locator('[data-q="building"]')
    expect(box.locator(".error")).to_have_text("请回答此题。")
    expect(phone.locator('textarea[name="description"]')).to_have_value("小区门口积水")
    phone.fill('input[name="building"]', "3栋")
    phone.click("button.next")
    submit(phone)
    expect(phone.locator("#receipt")).to_have_text(RECEIPT, timeout=20_000)
    expect(phone.locator('#outbox li[data-status="rejected"]')).to_have_count(0)
    [stored] = submissions(server)
    assert ("building", None, "3栋") in stored["answers"]


def test_one_queued_submission_sent_five_times_at_once_is_stored_once(phone, server):
    phone.goto(server.url + "/f/suggestion")
    fill_suggestion(phone, "重复发送")
    queued = phone.input_value('input[name="submission_uuid"]')
    receipts = phone.evaluate("""() => {
        const page = Doorstep.page, form = page.form;
        return DoorstepOutbox.add({uuid: page.uuid, action: location.pathname,
                                   token: form.dataset.token, title: form.dataset.title,
                                   body: page.encode(page.pairs())})
          .then(entry => Promise.all([1, 2, 3, 4, 5].map(() => DoorstepOutbox.send(entry))))
          .then(sent => sent.map(e => e.receipt));
    }""")
    assert len(receipts) == 5 and len(set(receipts)) == 1 and RECEIPT.fullmatch(receipts[0])
    stored = [s for s in submissions(server) if s["uuid"] == queued]
    assert [s["receipt"] for s in stored] == receipts[:1]


def test_on_a_plain_http_address_the_outbox_still_works(browser, server):
    """A street office serving http://<its LAN address>: not a secure context, so no service
    worker and no crypto.randomUUID; drafts, the outbox and its UUIDs must work regardless."""
    port = urlsplit(server.url).port
    lan = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS + ["--host-resolver-rules=MAP doorstep.lan 127.0.0.1"])
    try:
        context = lan.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
        page = context.new_page()
        page.goto(f"http://doorstep.lan:{port}/f/suggestion")
        assert page.evaluate("isSecureContext") is False
        assert page.evaluate("'serviceWorker' in navigator") is False
        expect(page.locator("#offline-note")).to_contain_text("HTTPS")

        context.set_offline(True)
        fill_suggestion(page, "路灯不亮")
        submit(page)
        waiting(page, 1)
        queued = page.evaluate("DoorstepOutbox.all().then(l => l[0].uuid)")
        assert uuid.UUID(queued).version == 4

        context.set_offline(False)
        expect(page.locator("#receipt")).to_have_text(RECEIPT, timeout=20_000)
        [stored] = [s for s in submissions(server) if s["uuid"] == queued]
        assert stored["receipt"] == page.locator("#receipt").inner_text()
    finally:
        lan.close()

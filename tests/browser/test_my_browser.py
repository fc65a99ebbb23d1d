"""/my on a phone, end to end: Chromium at 360 px against gunicorn. A household that signed up
opens its submission with its receipt code typed as people type it (lower case, a space for the
dash) and the last four digits of its phone number, reads its answers, and asks for a correction,
which the office then has as a follow-up with a due date.
"""
from __future__ import annotations

import re
import sqlite3
from http.cookiejar import CookieJar
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, build_opener

import pytest
from playwright.sync_api import expect

from ..conftest import hidden, receipt
from .conftest import server_keys

pytestmark = pytest.mark.browser

SIGN_UP = {"consent": "y", "event": "train_ecommerce", "sessions": ["sat", "sun"],
           "name": "马晓燕", "phone": "13998765432", "age": "34", "needs_childcare": "no"}


def signed_up(url: str) -> str:
    """A sign-up posted as the form page would post it; its receipt code."""
    browser = build_opener(HTTPCookieProcessor(CookieJar()))
    with browser.open(url + "/f/signup") as r:
        page = r.read().decode()
    data = {"csrf_token": hidden(page, "csrf_token"),
            "submission_uuid": hidden(page, "submission_uuid"), **SIGN_UP}
    with browser.open(url + "/f/signup", urlencode(data, doseq=True).encode()) as r:
        code = receipt(r.read().decode())
    assert code
    return code


def fits_the_screen(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"/my is {width}px wide on a 360px phone"


def test_a_household_opens_its_sign_up_on_a_phone_and_asks_for_a_correction(phone, live_server):
    code = signed_up(live_server.url)
    phone.goto(live_server.url + "/")
    phone.get_by_role("link", name="查看我的提交").click()
    expect(phone.locator("h1")).to_have_text("查看我的提交")
    fits_the_screen(phone)
    phone.fill("#receipt", code.lower().replace("-", " "))
    phone.fill("#digits", "5432")
    phone.click("#open")
    expect(phone.locator("#receipt")).to_have_text(code)
    for shown in ("马晓燕", "13998765432", "电商直播培训（免费）", "星期六、星期日"):
        expect(phone.locator("main")).to_contain_text(shown)
    fits_the_screen(phone)

    phone.fill("#text", "年龄填错了，应为43岁")
    phone.click("#ask-correction")
    expect(phone.locator("#flash")).to_contain_text("您的申请已交给工作人员")
    request = phone.locator('.follow-up[data-kind="correction"]')
    expect(request).to_contain_text("已收到，等待处理")
    expect(request).to_contain_text("年龄填错了，应为43岁")
    fits_the_screen(phone)

    with sqlite3.connect(live_server.database) as db:
        rows = db.execute(
            "SELECT f.kind, f.state, f.request_text, f.due_on, f.opened_at FROM follow_up f "
            "JOIN submission s ON s.id = f.submission_id WHERE s.receipt = ? "
            "AND f.kind = 'correction'", (code,)).fetchall()
        details = db.execute("SELECT detail FROM audit_event WHERE action = 'my_viewed'"
                             ).fetchall()
    with server_keys(live_server.database) as opened:     # sealed at rest
        rows = [(kind, state, opened(text), due_on, at) for kind, state, text, due_on, at in rows]
        viewed = sum(code in opened(detail) for (detail,) in details)
    [(kind, state, text, due_on, opened_at)] = rows
    assert (kind, state, text) == ("correction", "new", "年龄填错了，应为43岁")
    assert due_on > opened_at[:10]
    assert viewed >= 2

    phone.click("#sign-out")
    expect(phone.locator("#receipt")).to_have_value("")
    phone.goto(live_server.url + "/my/answers")
    expect(phone.locator("h1")).to_have_text("查看我的提交")     # back to the sign-in


def test_an_anonymous_suggestion_sent_by_the_outbox_opens_with_its_check_code(phone, live_server):
    """No phone number given: the outbox's panel shows a check code beside the receipt, and the
    two open the suggestion, with its follow-up (every suggestion is dealt with in 15 days)."""
    phone.goto(live_server.url + "/f/suggestion")
    phone.check('input[name="topic"][value="safety"]')
    phone.fill('textarea[name="description"]', "三号楼楼道灯坏了")
    phone.click("button.next")
    phone.check('input[name="anonymous"][value="yes"]')
    phone.click('button[type="submit"]')
    expect(phone.locator("#done #check")).to_have_text(re.compile(r"^\d{4}$"))
    code = phone.locator("#done #receipt").inner_text()
    check = phone.locator("#done #check").inner_text()
    fits_the_screen(phone)

    phone.goto(live_server.url + "/my?lang=zh")
    phone.fill("#receipt", code)
    phone.fill("#digits", check)
    phone.click("#open")
    expect(phone.locator("main")).to_contain_text("三号楼楼道灯坏了")
    expect(phone.locator('.follow-up[data-kind="follow_up"]')).to_contain_text("已收到，等待处理")
    fits_the_screen(phone)

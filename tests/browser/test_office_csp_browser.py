"""The office's pages under the strict Content-Security-Policy, in Chromium against gunicorn: their
scripts (static/admin.js) run and nothing is refused — a confirmed post asks first and a dismissed
one posts nothing, the dashboard's answer filter sends its two parameters, the print button and a
draft's phone previews (frames of the office's own origin) work."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from .conftest import csp_violations
from .test_admin_browser import PASSWORD, doorstep

pytestmark = pytest.mark.browser


@pytest.fixture
def admin_page(browser, live_server):
    doorstep(live_server, "users", "create", "--username", "csp-admin", "--role", "admin",
             "--password-stdin", stdin=PASSWORD)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    refused = csp_violations(context)
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login")
    page.fill('input[name="username"]', "csp-admin")
    page.fill('input[name="password"]', PASSWORD)
    page.click("form.card button.primary")
    expect(page).to_have_url(f"{live_server.url}/admin/")
    yield page, refused
    context.close()


def test_the_office_scripts_run_under_the_policy(admin_page, live_server):
    page, refused = admin_page
    page.goto(f"{live_server.url}/admin/forms")
    close = page.locator("button.close").first
    asked = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()
    page.once("dialog", dismiss)
    closes = page.locator("button.close").count()
    close.click()
    expect(page).to_have_url(f"{live_server.url}/admin/forms")
    assert asked and "停止" in asked[0]                    # admin.js asked first ...
    expect(page.locator("button.close")).to_have_count(closes)   # ... and nothing was posted

    page.goto(f"{live_server.url}/admin/forms/household")
    option = page.locator("#qv option").nth(1)
    wanted = option.get_attribute("value")
    page.select_option("#qv", wanted)
    page.click("form.filters button.primary")
    page.wait_for_url("**q=*")
    query = parse_qs(urlsplit(page.url).query)
    assert f"{query['q'][0]}={query['v'][0]}" == wanted and "qv" not in query

    # a printed sheet: its inline style allowed by its nonce, its print button by admin.js
    csv = live_server.database.parent / "areas-csp.csv"
    csv.write_text("code,name,parent_code\nCSP-1,东湖社区,\n", encoding="utf-8")
    doorstep(live_server, "areas", "import", str(csv))
    page.add_init_script("window.print = function () {"
                         " document.documentElement.setAttribute('data-printed', 'yes'); };")
    page.goto(f"{live_server.url}/admin/links/sheet?form=suggestion&area=CSP-1&kind=cards")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(138, 147, 155)"           # the sheet's own style applies
    page.click("button[data-print]")
    expect(page.locator("html")).to_have_attribute("data-printed", "yes")
    assert refused == [], refused

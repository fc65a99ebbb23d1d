"""A form made by the office, end to end in Debian's Chromium against real gunicorn: an admin
uploads a workbook on /admin/forms, sees the draft on two 360 px phones and in words, publishes
it; then a phone opens the new form with signal, loses the server, fills it in, and its answer
waits in the outbox until the server is back, like the seed forms (test_offline_browser.py)."""
from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from ..test_forms_db import poll
from .test_offline_browser import RECEIPT, offline_ready, submissions

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "door-to-door-2025"


def served(url: str, seconds: float = 10) -> None:
    """Wait until every worker serves `url`: each notices a publication within
    FORMS_CHECK_SECONDS (1 s), the one that published it at once."""
    deadline = time.monotonic() + seconds
    hits = 0
    while hits < 6:         # gunicorn's two workers take turns: a few answers in a row
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                hits = hits + 1 if response.status == 200 else 0
        except urllib.error.HTTPError:
            hits = 0
        assert time.monotonic() < deadline, f"{url} was not served within {seconds}s"
        time.sleep(0.1)


def test_an_uploaded_form_is_previewed_published_and_works_offline_on_a_phone(
        browser, phone, restartable_server, tmp_path):
    server = restartable_server
    server.doorstep("users", "create", "--username", "boss", "--role", "admin",
                    "--password-stdin", stdin=PASSWORD + "\n")
    office = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    office.set_default_timeout(15_000)
    page = office.new_page()
    page.on("dialog", lambda dialog: dialog.accept())     # the confirm() of publish
    page.goto(server.url + "/admin/login?lang=en")
    page.fill('input[name="username"]', "boss")
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.click('nav.office a[href="/admin/forms"]')

    workbook = tmp_path / "poll.xlsx"
    workbook.write_bytes(poll("社区环境满意吗"))
    page.set_input_files('#upload input[type="file"]', str(workbook))
    page.click('#upload button[type="submit"]')
    expect(page).to_have_url(server.url + "/admin/forms/poll/draft")
    expect(page.locator('tr[data-q="happy"] .shown')).to_have_text("always")

    for lang, title, label in (("zh", "民意调查", "社区环境满意吗"),
                               ("en", "Opinion poll", "Happy?")):
        frame = page.frame_locator(f'iframe[data-lang="{lang}"]')
        expect(frame.locator("form.survey h1")).to_have_text(title)
        expect(frame.locator('[data-q="happy"]')).to_contain_text(label)
        expect(frame.locator('button[type="submit"]')).to_be_disabled()
    widths = page.evaluate("""[...document.querySelectorAll('iframe')].map(
        f => f.contentDocument.documentElement.clientWidth)""")
    assert widths == [360, 360]

    page.click("#publish")
    expect(page.locator(".flash")).to_contain_text("Version 1 is published")
    expect(page.locator('tr[data-form="poll"] .state')).to_contain_text("published v1")
    office.close()
    served(server.url + "/f/poll")

    phone.goto(server.url + "/f/poll")
    expect(phone.locator("form.survey h1")).to_have_text("民意调查")
    offline_ready(phone)

    server.stop()
    phone.reload()                          # nothing answers on that port now
    expect(phone.locator("form.survey h1")).to_have_text("民意调查")
    phone.check('input[name="happy"][value="yes"]')
    phone.click('button[type="submit"]')
    expect(phone.locator("#done")).to_be_visible()
    entry = phone.locator("#outbox li[data-status=waiting] .state")
    expect(entry).to_contain_text("暂时无法连接")   # tried, failed, will try again
    assert submissions(server) == []

    server.start()                          # same port, same database: the signal is back
    expect(phone.locator("#receipt")).to_have_text(RECEIPT, timeout=60_000)
    stored = submissions(server)
    assert [(s["form_id"], s["receipt"]) for s in stored] == [
        ("poll", phone.locator("#receipt").inner_text())]
    assert ("happy", None, "yes") in stored[0]["answers"]

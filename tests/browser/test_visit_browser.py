"""A surveyor's revisit on a phone (360x740, Chinese), against gunicorn: sign in, find the
household in the visit list, open its page prefilled with the current answers, change one and
submit; the household is then one version further with the new answer.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess

import pytest
from playwright.sync_api import expect

from .. import live
from ..live import BIN, ROOT
from .conftest import server_keys

pytestmark = pytest.mark.browser

PASSWORD = "browser-visit-2025"


@pytest.fixture(scope="module")
def ledger_server(tmp_path_factory):
    """gunicorn serving the test ledger form, with an area and a surveyor in it."""
    home = tmp_path_factory.mktemp("visits")
    forms = home / "forms"
    forms.mkdir()
    shutil.copy(ROOT / "tests" / "forms" / "ledger.yaml", forms / "ledger.yaml")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{home / 'doorstep.db'}",
           "FORMS_DIR": str(forms), "SECRET_KEY": "browser-test-secret",
           "INSTANCE_PATH": str(home / "instance")}
    live.doorstep_init(env)

    def doorstep(*args, stdin=None):
        done = subprocess.run([str(BIN / "doorstep"), *args], cwd=ROOT, env=env, input=stdin,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    (home / "areas.csv").write_text("code,name,parent_code\nSQ,东湖社区,\n", encoding="utf-8")
    doorstep("areas", "import", str(home / "areas.csv"))
    doorstep("users", "create", "--username", "li", "--role", "surveyor", "--area", "SQ",
             "--password-stdin", stdin=PASSWORD)
    with live.served(env, home / "gunicorn.log", "-w", "2") as url:
        yield url, home / "doorstep.db"


def test_a_surveyor_revisits_a_household_on_a_phone(browser, ledger_server):
    url, database = ledger_server
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(f"{url}/visit")                       # signing in first, then back here
        page.fill('input[name="username"]', "li")
        page.fill('input[name="password"]', PASSWORD)
        page.click("form.card button.primary")
        expect(page).to_have_url(f"{url}/visit")
        page.click('a[href="/visit/new/ledger"]')
        page.fill('input[name="address"]', "东湖路 8号")
        page.fill('input[name="head_name"]', "王五")
        page.fill('input[name="size"]', "2")
        page.click("form.survey button[type=submit]")
        # the outbox sends it and shows the receipt and the new household's code, to write on
        # the door; the list finds the household by its address too
        expect(page.locator("#receipt")).to_be_visible()
        registered = page.locator("#household").inner_text()
        page.goto(f"{url}/visit?q=东湖路8号")
        link = page.locator("a.household")
        expect(link).to_have_count(1)
        code = link.get_attribute("data-code")
        assert registered == code
        link.click()
        expect(page.locator("#household-code")).to_have_text(code)
        expect(page.locator('input[name="head_name"]')).to_have_value("王五")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the visit page is {width}px wide"
        page.fill('input[name="size"]', "3")
        page.click("form.survey button[type=submit]")
        expect(page.locator("#receipt")).to_be_visible()
        expect(page.locator("#household")).to_have_count(0)      # a revisit registers nothing
        con = sqlite3.connect(database)
        try:
            for _ in range(50):
                version, current = con.execute(
                    "SELECT version, current FROM household WHERE code = ?", (code,)).fetchone()
                if version == 2:
                    break
                page.wait_for_timeout(200)
        finally:
            con.close()
        with server_keys(database) as opened:
            assert version == 2 and json.loads(opened(current))["size"] == 3
    finally:
        context.close()

"""The office in a real browser: a community manager signs in, filters the responses, reveals a
masked ID number and corrects an answer with a reason; an admin then finds all of it in the audit
log. Once on a phone (360x740) and once on a desktop, against gunicorn, in Chinese.
"""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import uuid

import pytest
from playwright.sync_api import expect

from .conftest import BIN, ROOT

pytestmark = pytest.mark.browser

PASSWORD = "browser-office-2025"
ID_NUMBER = "11010119800103002X"
HOUSEHOLD = {"visit_date": "2025-06-01", "head_name": "王建国", "head_phone": "13812345678",
             "head_id_number": ID_NUMBER, "address": "幸福小区3栋2单元501", "housing": "rent",
             "housing_area": "68.5", "members": [{"member_name": "王建国", "relation": "self"}]}
SCREENS = {"phone": {"viewport": {"width": 360, "height": 740}, "is_mobile": True,
                     "has_touch": True},
           "desktop": {"viewport": {"width": 1280, "height": 800}}}


def doorstep(live_server, *args, stdin=None):
    """The operator's CLI against the live server's database."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{live_server.database}",
           "FORMS_DIR": str(ROOT / "forms"), "SECRET_KEY": "browser-test-secret",
           "INSTANCE_PATH": str(live_server.database.parent / "instance")}
    done = subprocess.run([str(BIN / "doorstep"), *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def store_household(live_server, area_code) -> str:
    """A household registered in `area_code` (as a QR link of that area would record it)."""
    from service import create_app
    from service.storage.db import db
    from service.storage.models import Area
    from service.records.submissions import Attribution, store
    app = create_app({"DATABASE_URL": f"sqlite:///{live_server.database}",
                      "KEYS_DIR": str(live_server.keys), "TESTING": True,
                      "FORMS_DIR": str(ROOT / "forms"), "SECRET_KEY": "browser-test-secret"})
    with app.app_context(), db.connection_context():
        spec = app.extensions["doorstep.catalog"].get("household")
        area = Area.get(Area.code == area_code)
        submission, _ = store(spec, str(uuid.uuid4()), HOUSEHOLD, consent=True,
                              attribution=Attribution(channel="self", area_id=area.id))
    return submission.receipt


@pytest.fixture
def office(live_server, request):
    """A street office with two communities, their manager, an admin, and a household in each of
    the manager's areas; names carry the screen so both runs share the one server."""
    tag = request.node.callspec.id
    csv = live_server.database.parent / f"areas-{tag}.csv"
    csv.write_text(f"code,name,parent_code\nJD-{tag},幸福街道,\nSQ-{tag},东湖社区,JD-{tag}\n"
                   f"G-{tag},东湖一网格,SQ-{tag}\n", encoding="utf-8")
    doorstep(live_server, "areas", "import", str(csv))
    doorstep(live_server, "users", "create", "--username", f"zhang-{tag}", "--role", "manager",
             "--area", f"SQ-{tag}", "--password-stdin", stdin=PASSWORD)
    doorstep(live_server, "users", "create", "--username", f"admin-{tag}", "--role", "admin",
             "--password-stdin", stdin=PASSWORD)
    return {"tag": tag, "manager": f"zhang-{tag}", "admin": f"admin-{tag}",
            "in_community": store_household(live_server, f"SQ-{tag}"),
            "in_grid": store_household(live_server, f"G-{tag}")}


@pytest.fixture(params=list(SCREENS))
def screen(browser, request):
    context = browser.new_context(locale="zh-CN", **SCREENS[request.param])
    context.set_default_timeout(10_000)
    yield context
    context.close()


def shot(page, office, name):
    """Keep a picture of each page when SCREENSHOT_DIR is set (to look at the layout by eye)."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=os.path.join(folder, f"admin-{office['tag']}-{name}.png"),
                        full_page=True)


def fits(page):
    """Nothing but the tables' own scroll boxes is wider than the screen."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


def sign_in(page, url, username):
    page.goto(f"{url}/admin/login")
    expect(page.locator("h1")).to_have_text("工作人员登录")   # Chinese by default
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click("form.card button.primary")
    expect(page).to_have_url(f"{url}/admin/")


def test_a_manager_filters_reveals_and_corrects_and_the_admin_sees_it_all(screen, office,
                                                                           live_server):
    url = live_server.url
    page = screen.new_page()
    sign_in(page, url, office["manager"])
    shot(page, office, "home")

    # the list: both households, masked, then filtered down to the grid
    page.goto(f"{url}/admin/forms/household/responses")
    rows = page.locator("table.responses tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("table.responses")).to_contain_text("1101**********002X")
    expect(page.locator("table.responses")).not_to_contain_text(ID_NUMBER)
    page.select_option('select[name="area"]', f"G-{office['tag']}")
    page.click(".filters button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/responses\?area=G-{office['tag']}&"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(office["in_grid"])
    fits(page)
    shot(page, office, "responses")

    # the response: the ID number is masked until revealed
    page.click(f"text={office['in_grid']}")
    id_number = page.locator('dd[data-q="head_id_number"]')
    expect(id_number).to_contain_text("1101**********002X")
    fits(page)
    page.click("#reveal")
    expect(id_number).to_contain_text(ID_NUMBER)
    fits(page)
    shot(page, office, "revealed")

    # a correction, with its reason
    page.click('dd[data-q="housing_area"] a.fix')
    page.fill('input[name="value"]', "72")
    page.fill('textarea[name="reason"]', "面积量错了，户主出示了房产证")
    fits(page)
    shot(page, office, "correct")
    page.click("form.card button.primary")
    expect(page.locator('dd[data-q="housing_area"]')).to_contain_text("72")
    expect(page.locator("body")).to_contain_text("面积量错了，户主出示了房产证")
    fits(page)
    with sqlite3.connect(live_server.database) as db:
        assert db.execute(
            "SELECT a.value FROM answer a JOIN submission s ON s.id = a.submission_id "
            "WHERE s.receipt = ? AND a.question = 'housing_area'", (office["in_grid"],)
        ).fetchall() == [("72",)]

    # the admin finds the sign-in, the filter's reveal and the correction in the audit log
    screen.clear_cookies()   # the manager's browser, now the admin's
    admin = screen.new_page()
    sign_in(admin, url, office["admin"])
    admin.goto(f"{url}/admin/audit")
    admin.fill('input[name="user"]', office["manager"])
    admin.click(".filters button[type=submit]")
    events = admin.locator("table.audit tbody tr")
    expect(events).to_have_count(3)
    actions = [row.locator("td").nth(3).inner_text() for row in events.all()]
    assert actions == ["correction", "reveal", "login"]
    expect(events.nth(0)).to_contain_text("面积量错了")
    fits(admin)
    shot(admin, office, "audit")

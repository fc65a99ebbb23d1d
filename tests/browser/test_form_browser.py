"""A household registration filled on a phone, end to end: Chromium at 360px against gunicorn.

This is the path a community worker takes at a door: consent, one section at a time, a branch that
opens only after the answer that triggers it, a second household member added on the spot, submit,
and a receipt code. The answers must then be rows in the database, not just a thank-you page.
"""
from __future__ import annotations

import os
import re
import sqlite3
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from .conftest import server_keys

pytestmark = pytest.mark.browser

SECTIONS = 6   # forms/household.yaml: visit, head, members, economy, needs, sensitive


def choose(page, name, value):
    page.check(f'input[name="{name}"][value="{value}"]')


def fits_the_screen(page):
    """Nothing is wider than the phone: a household never has to scroll sideways."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width}px wide at step {step_of(page)}"


def step_of(page):
    return page.locator(".progress .step").inner_text()


def screenshot(page, name):
    """Keep a picture of each step when SCREENSHOT_DIR is set (to look at the layout by eye)."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def next_section(page, now):
    fits_the_screen(page)
    screenshot(page, f"form-360-{now}")
    page.click("button.next")
    # Next only moves on when the section's required answers are in
    expect(page.locator(".progress .step")).to_have_text(f"{now + 1} / {SECTIONS}")


def stored_answers(database, receipt):
    with sqlite3.connect(database) as db:
        submission = db.execute(
            "SELECT id, form_id, consent, sensitive_consent FROM submission WHERE receipt = ?",
            (receipt,)).fetchone()
        assert submission is not None, f"no submission with receipt {receipt}"
        rows = db.execute("SELECT question, item, value FROM answer WHERE submission_id = ?",
                          (submission[0],)).fetchall()
    with server_keys(database) as opened:     # identifiers are sealed at rest
        return submission[1:], {(question, item, opened(value)) for question, item, value in rows}


def test_a_household_registers_on_a_phone_and_every_answer_is_stored(phone, live_server):
    offsite = []
    phone.on("request", lambda r: urlsplit(r.url).hostname == "127.0.0.1"
             or offsite.append(r.url))
    phone.goto(f"{live_server.url}/f/household")
    expect(phone.locator("button.next")).to_have_text("下一步")   # a zh-CN phone gets Chinese

    # 1 the visit: consent first
    phone.check('input[name="consent"]')
    phone.fill('input[name="visit_date"]', "2025-06-01")
    next_section(phone, 1)

    # 2 the head of household
    phone.fill('input[name="head_name"]', "王建国")
    phone.fill('input[name="head_phone"]', "13812345678")
    phone.fill('input[name="address"]', "幸福小区3栋2单元501")
    choose(phone, "housing", "rent")
    next_section(phone, 2)

    # 3 members: the head, then a child added with the Add button
    phone.fill('input[name="members-0-member_name"]', "王建国")
    choose(phone, "members-0-relation", "self")
    choose(phone, "members-0-gender", "m")
    phone.fill('input[name="members-0-age"]', "45")
    first = phone.locator('.item[data-index="0"]')
    expect(first.locator('[data-q="wants_training"]')).to_be_hidden()
    choose(phone, "members-0-work", "unemployed")
    expect(first.locator('[data-q="wants_training"]')).to_be_visible()
    choose(phone, "members-0-wants_training", "yes")

    phone.click('[data-q="members"] button.add')
    expect(phone.locator('[data-q="members"] .items > .item')).to_have_count(2)
    phone.fill('input[name="members-1-member_name"]', "王小雨")
    choose(phone, "members-1-relation", "child")
    choose(phone, "members-1-gender", "f")
    phone.fill('input[name="members-1-age"]', "9")
    second = phone.locator('.item[data-index="1"]')
    expect(second.locator('[data-q="schooling"]')).to_be_visible()
    expect(second.locator('[data-q="work"]')).to_be_hidden()
    choose(phone, "members-1-schooling", "primary")
    next_section(phone, 3)

    # 4 income and employment: "unemployed" opens the follow-up questions
    choose(phone, "income_band", "lt2k")
    choose(phone, "assistance", "none")
    months = phone.locator('[data-q="unemployed_months"]')
    expect(months).to_be_hidden()
    choose(phone, "employment", "unemployed")
    expect(months).to_be_visible()
    phone.fill('input[name="unemployed_months"]', "8")
    next_section(phone, 4)

    # 5 needs
    phone.check('input[name="support_wanted"][value="job"]')
    phone.fill('input[name="job_wish"]', "仓库管理")
    next_section(phone, 5)

    # 6 the sensitive questions stay closed without their own consent
    expect(phone.locator('[data-q="ethnicity"]')).to_be_hidden()
    fits_the_screen(phone)
    screenshot(phone, "form-360-6")
    phone.click('button[type="submit"]')

    receipt = phone.locator("#receipt").inner_text().strip()
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", receipt), receipt
    fits_the_screen(phone)
    screenshot(phone, "thanks-360")
    assert offsite == [], "the page reached beyond the server"

    (form_id, consent, sensitive_consent), rows = stored_answers(live_server.database, receipt)
    assert (form_id, consent, sensitive_consent) == ("household", 1, 0)
    assert {("head_name", None, "王建国"), ("employment", None, "unemployed"),
            ("unemployed_months", None, "8"), ("job_wish", None, "仓库管理"),
            ("member_name", 0, "王建国"), ("age", 0, "45"), ("work", 0, "unemployed"),
            ("wants_training", 0, "yes"),
            ("member_name", 1, "王小雨"), ("age", 1, "9"), ("schooling", 1, "primary")} <= rows
    # hidden questions leave nothing behind: no job for the child, no ethnicity without consent
    assert not {(q, item) for q, item, _ in rows} & {("work", 1), ("schooling", 0),
                                                      ("ethnicity", None)}

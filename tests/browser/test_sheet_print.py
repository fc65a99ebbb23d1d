"""The office prints a sheet of 30 surveyor cards from Chromium; every code on paper must work.

A manager signs in, opens the cards sheet and prints it to PDF (page.pdf: Chromium's own print
path, so its print CSS and page breaks are what is tested). Each page is rendered by pdfium and read
by zxing-cpp; the 30 codes must be 30 distinct links, each opening its form on the live server.
"""
from __future__ import annotations

import secrets
import urllib.request

import pytest

from service.office import areas, auth
from service import create_app, links
from service.storage.db import db
from service.storage.models import User

from ..conftest import code_width_mm, decode_pdf
from .conftest import ROOT

pytestmark = pytest.mark.browser

PASSWORD = "print-shop-2025"


@pytest.fixture
def thirty_links(live_server):
    """An area with three surveyors and 10 cards each, and its manager, in the live database."""
    suffix = secrets.token_hex(3)
    app = create_app({"DATABASE_URL": f"sqlite:///{live_server.database}",
                      "KEYS_DIR": str(live_server.keys), "SECRET_KEY": "x",
                      "FORMS_DIR": str(ROOT / "forms")})
    with app.app_context(), db.atomic():
        area = areas.create(f"PRINT-{suffix}", "打印社区")
        manager = User.create(username=f"mgr-{suffix}", role="manager", area=area,
                              password_hash=auth.hash_password(PASSWORD))
        made = []
        for name in ("张三", "李四", "王五"):
            surveyor = User.create(username=f"sv-{name}-{suffix}", display_name=name,
                                   role="surveyor", area=area, password_hash="x")
            made += [links.create("household", area, surveyor) for _ in range(10)]
    return area.code, manager.username, {link.token for link in made}


def test_a_printed_sheet_of_30_cards_has_30_working_codes(live_server, browser, thirty_links):
    area, manager, tokens = thirty_links
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login")
    page.fill('input[name="username"]', manager)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/links/sheet?form=household&area={area}&kind=cards")
    assert page.locator("svg.qr").count() == 30
    pdf = page.pdf(format="A4", prefer_css_page_size=True, print_background=True)
    context.close()

    pages = decode_pdf(pdf)
    assert [len(codes) for codes in pages] == [12, 12, 6]      # whole cards, none cut
    urls = [code.text for codes in pages for code in codes]
    assert len(set(urls)) == 30
    assert {url.rsplit("/s/", 1)[1] for url in urls} == tokens
    assert all(url.startswith(f"{live_server.url}/s/") for url in urls)
    assert min(code_width_mm(code) for codes in pages for code in codes) >= 25
    for url in urls:
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            assert 'data-form="household"' in response.read().decode()

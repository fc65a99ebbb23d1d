"""The API's docs page is Swagger UI served from the box itself, under the same strict
Content-Security-Policy for scripts as every page (its icons are `data:` images and it sets styles
inline: allowed on that page only)."""
from __future__ import annotations

import urllib.request

import pytest

from tests.browser.conftest import csp_violations

pytestmark = pytest.mark.browser


def test_the_docs_page_draws_every_operation_with_nothing_refused(live_server, browser):
    context = browser.new_context(locale="en")
    refused = csp_violations(context)
    page = context.new_page()
    fetched = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/submissions" in p for p in paths) and any("/responses" in p for p in paths)
    assert refused == []
    assert all(url.startswith((live_server.url, "data:")) for url in fetched), fetched
    context.close()


def test_only_the_docs_page_relaxes_images_and_styles(live_server):
    with urllib.request.urlopen(f"{live_server.url}/api/v1/docs") as answer:
        docs = answer.headers["Content-Security-Policy"]
    with urllib.request.urlopen(f"{live_server.url}/") as answer:
        home = answer.headers["Content-Security-Policy"]
    assert "img-src 'self' data:" in docs and "script-src 'self';" in docs
    assert "style-src 'self' 'unsafe-inline'" in docs
    assert "data:" not in home and "unsafe-inline" not in home

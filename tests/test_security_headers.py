"""Every response carries the browser-side protections (security_headers.py): a strict
Content-Security-Policy with no inline script or style, no framing by other sites, nosniff,
same-origin referrers, no-store on the office's pages and on anything showing personal data, and
HSTS only over HTTPS (as the proxy says, with PROXY_HOPS)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import ROOT, make_app

TEMPLATES = Path(ROOT) / "templates"
STRICT = ("default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
          "base-uri 'none'", "frame-ancestors 'none'")


def directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def assert_protected(response):
    policy = response.headers["Content-Security-Policy"]
    for directive in STRICT:
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize("path", ["/", "/f/kitchen", "/sw.js", "/healthz", "/nowhere",
                                  "/admin/login", "/static/style.css"])
def test_every_response_carries_the_protections(client, path):
    with client.get(path) as response:
        assert_protected(response)


def test_public_form_pages_stay_cacheable_and_office_pages_are_never_stored(office):
    public = office.client().get("/f/kitchen")
    assert public.headers.get("Cache-Control") != "no-store"
    admin = office.client("admin")
    for path in ("/admin/", "/admin/users", "/admin/forms/kitchen/responses",
                 f"/admin/responses/{office.subs['sq1']}", "/admin/login", "/admin/nowhere"):
        page = admin.get(path)
        assert page.status_code in (200, 404), path
        assert page.headers["Cache-Control"] == "no-store", path
        assert_protected(page)


def test_a_post_echoing_answers_is_never_stored(client):
    page = client.post("/f/kitchen", data={"name": "张三"})     # no token: refused, answers shown
    assert page.status_code == 400 and page.headers["Cache-Control"] == "no-store"
    assert_protected(page)


def test_hsts_only_over_https_as_the_proxy_says(tmp_path):
    app = make_app(tmp_path, PROXY_HOPS=1)
    client = app.test_client()
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "1.2.3.4"})
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" in client.get("/", base_url="https://localhost").headers


def test_only_a_drafts_phone_preview_is_framed_and_only_by_the_office(office):
    from .test_forms_office import survey, upload
    admin = office.client("admin")
    assert upload(admin, survey()).status_code == 302
    draft = admin.get("/admin/forms/poll/draft")
    assert directives(draft)["frame-ancestors"] == "'none'"
    frame = admin.get("/admin/forms/poll/draft/phone/zh")
    assert frame.status_code == 200
    assert directives(frame)["frame-ancestors"] == "'self'"
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert frame.headers["Cache-Control"] == "no-store"


def test_a_printed_sheet_allows_its_own_inline_style_by_nonce_only(office):
    page = office.client("admin").get("/admin/links/sheet?form=kitchen&area=SQ1&kind=cards")
    assert page.status_code == 200
    nonce = re.search(r'<style nonce="([^"]+)">', page.text).group(1)
    assert directives(page)["style-src"] == f"'self' 'nonce-{nonce}'"
    again = office.client("admin").get("/admin/links/sheet?form=kitchen&area=SQ1&kind=cards")
    assert nonce not in again.text     # a new nonce each time


def test_no_template_has_inline_script_handlers_or_styles():
    """What the policy forbids, nowhere in the pages: inline scripts (JSON data blocks are not
    run), on…= handlers, style= attributes, <style> blocks (but the printed sheet's, by nonce)."""
    found = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text):
            found.append((path.name, m.group(0)))
        found += [(path.name, m.group(0)) for m in re.finditer(r"\son[a-z]+\s*=", text)]
        found += [(path.name, m.group(0)) for m in re.finditer(r"\sstyle\s*=", text)]
        found += [(path.name, m.group(0)) for m in re.finditer(r"<style(?![^>]*nonce=)[^>]*>",
                                                              text)]
    assert found == []

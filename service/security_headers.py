"""The browser-side protections every response carries: a strict Content-Security-Policy (scripts
and styles only from Doorstep's own files), no framing by other sites, no MIME sniffing, no
referrer sent elsewhere, nothing of the office or of a person's answers kept in a browser's or a
proxy's cache, and HSTS when the request came over HTTPS.

Written here rather than with Flask-Talisman: its defaults would force HTTPS and secure cookies
(an office on plain http://192.168.x.y would break), it leaves Cache-Control to the app, and the
headers are a handful of constants; its last release is from 2023.
"""
from __future__ import annotations

import secrets

from flask import current_app, g, request

HSTS_SECONDS = 365 * 24 * 3600
#: Paths whose pages show personal data or the office's work: never stored by a browser or proxy.
#: (Any response to a post is never stored either: it may echo what was typed.)
PRIVATE_PATHS = ("/admin", "/visit", "/d/", "/api/")
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "connect-src": "'self'",
    "font-src": "'self'",
    "manifest-src": "'self'",
    "worker-src": "'self'",
    "frame-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def csp_nonce() -> str:
    """A nonce for a `<style>` that must stay inline (a printed sheet that WeasyPrint renders
    without fetching anything); the page's policy then allows that style, and only it."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def framed_by_own_pages(view):
    """Mark a view whose page Doorstep's own pages show in a frame (a draft form's phone preview):
    framed by this origin only, never by another site."""
    view.framed_by_own_pages = True
    return view


def swagger_ui_page(view):
    """Mark the API's docs page: Swagger UI (served from this box) draws its icons from `data:`
    images and sets styles inline as it builds the page, so that page allows both. Its scripts
    stay as strict as everywhere ('self' only), and it shows no personal data."""
    view.swagger_ui_page = True
    return view


def policy_header(nonce: str | None = None, frame_ancestors: str = "'none'",
                  swagger_ui: bool = False) -> str:
    policy = dict(POLICY, **{"frame-ancestors": frame_ancestors})
    if swagger_ui:
        policy["img-src"] += " data:"
        policy["style-src"] += " 'unsafe-inline'"
    if nonce:
        policy["style-src"] += f" 'nonce-{nonce}'"
    return "; ".join(f"{name} {value}" for name, value in policy.items())


def _marked(mark: str) -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, mark, False))


def protect(response):
    """after_request: the headers above, on every response (error pages included)."""
    own_frame = _marked("framed_by_own_pages")
    response.headers["Content-Security-Policy"] = policy_header(
        g.get("csp_nonce"), "'self'" if own_frame else "'none'", _marked("swagger_ui_page"))
    response.headers["X-Frame-Options"] = "SAMEORIGIN" if own_frame else "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.path.startswith(PRIVATE_PATHS) or request.method not in ("GET", "HEAD"):
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure:       # behind a proxy: as PROXY_HOPS' X-Forwarded-Proto says
        response.headers["Strict-Transport-Security"] = f"max-age={HSTS_SECONDS}"
    return response


def init_app(app) -> None:
    app.after_request(protect)
    app.jinja_env.globals["csp_nonce"] = csp_nonce

"""Form pages and submission (the wire format is described in the README)."""
from __future__ import annotations

import uuid
from collections import OrderedDict

from flask import abort, current_app, render_template, request
from flask_wtf.csrf import generate_csrf

from service import csrf, links
from service.records import submissions
from service.formspec import wtf
from service.i18n import current_lang
from service.office import clock
from service.collect import bp, offline
from service.collect.render import page_context


def catalog():
    return current_app.extensions["doorstep.catalog"]


@bp.get("/")
def index():
    return render_template("collect/index.html", forms=list(catalog()))


@bp.route("/f/<form_id>", methods=["GET", "POST"])
@csrf.exempt  # the form checks its own flask-wtf token, so an expired page re-renders with answers
def form_page(form_id):
    spec = catalog().get(form_id)
    if spec is None:
        abort(404)
    return handle(spec, submissions.Attribution())


@bp.route("/s/<token>", methods=["GET", "POST"])
@csrf.exempt  # as form_page: the form checks its own token
def link_page(token):
    """A QR link: its form, with the attribution taken from the Link row and never from the request.

    Expired and disabled links get a page saying so (410), unknown tokens a 404, in the visitor's
    language. Only opening the page (GET) counts as a scan.
    """
    link = links.find(token)
    state = links.state(link) if link is not None else "unknown"
    spec = catalog().get(link.form_id) if link is not None else None
    if state == "active" and spec is None:   # its form was taken out of FORMS_DIR
        state = "disabled"
    if state != "active":
        return render_template("collect/link_closed.html", state=state,
                               contact=current_app.config.get("OFFICE_CONTACT", "")), \
            (404 if state == "unknown" else 410)
    if request.method == "GET":
        links.count_scan(link)
    return handle(spec, links.attribution(link))


def handle(spec, attribution, **page):
    """Render, or accept a post to, one form; QR links call this with their fixed attribution."""
    if request.method != "POST":
        return blank_page(spec, page)
    form = wtf.form_class(spec)()
    if form.token_ok():
        done = submissions.find(form.submission_uuid.data)
        if done is not None and done.form_id == spec.id:
            return thanks(spec, done)
    if form.validate():
        catalog().ensure_published(spec)
        submission, _created = submissions.store(
            spec, form.submission_uuid.data, form.answers, lang=current_lang(),
            consent=bool(spec.consent), attribution=attribution,
            sensitive_consent=bool(getattr(form, "sensitive_consent", None) and
                                   form.sensitive_consent.data))
        return thanks(spec, submission)
    if offline.wants_json():   # the phone's outbox: errors as data, kept with the submission
        return offline.rejected(spec, form, current_lang())
    return render_template("collect/form.html", **page_context(spec, form), **page), 400


#: Rendered public pages are kept per app: the blank form by (path, language, form version, day),
#: the thank-you page by (path, language, form version). A page is the same for everyone but for its
#: CSRF token and submission UUID, or its receipt, which are swapped in per request. Rendering the
#: household form's template costs ~10 ms; the swap, microseconds.
_PAGES_MAX = 512
_TOKEN, _UUID, _RECEIPT = "\x1bcsrf-token\x1b", "\x1bsubmission-uuid\x1b", "\x1breceipt\x1b"


def _kept(key: tuple, render) -> str:
    """The page kept under `key`, rendered by `render()` (with placeholders) the first time."""
    pages = current_app.extensions.setdefault("doorstep.pages", OrderedDict())
    cached = pages.get(key)
    if cached is None:
        cached = pages[key] = render()
        if len(pages) > _PAGES_MAX:
            pages.popitem(last=False)
    else:
        pages.move_to_end(key)
    return cached


def blank_page(spec, page) -> str:
    """The blank form; the WTForms form is only built to render a page not cached yet."""
    today = clock.today()
    key = ("form", request.path, current_lang(), spec.id, spec.version, today,
           tuple(sorted(page.items())))
    token = generate_csrf() if current_app.config.get("WTF_CSRF_ENABLED", True) else ""

    def render():
        form = wtf.form_class(spec)()
        html = render_template("collect/form.html", **page_context(spec, form), **page)
        html = html.replace(form.submission_uuid.data, _UUID)
        return html.replace(token, _TOKEN) if token else html
    return _kept(key, render).replace(_UUID, str(uuid.uuid4())).replace(_TOKEN, token)


def thanks(spec, submission):
    if offline.wants_json():
        return offline.accepted(submission)
    key = ("thanks", request.path, current_lang(), spec.id, spec.version)
    html = _kept(key, lambda: render_template("collect/thanks.html", spec=spec,
                                              receipt=_RECEIPT))
    return html.replace(_RECEIPT, submission.receipt)

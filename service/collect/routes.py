"""Form pages and submission (the wire format is described in the README)."""
from __future__ import annotations

import re
import uuid
from collections import OrderedDict

from flask import abort, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from service import csrf, links
from service.records import ledger, submissions
from service.records.vocabulary import READ_ALOUD
from service.formspec import wtf
from service.i18n import current_lang
from service.office import auth, clock, policy
from service.collect import bp, my_access, offline
from service.collect.render import page_context


def catalog():
    return current_app.extensions["doorstep.catalog"]


@bp.get("/")
def index():
    return render_template("collect/index.html", forms=catalog().open_forms())


@bp.route("/f/<form_id>", methods=["GET", "POST"])
@csrf.exempt  # the form checks its own flask-wtf token, so an expired page re-renders with answers
def form_page(form_id):
    spec = catalog().get(form_id)
    if spec is None:
        abort(404)
    if catalog().is_closed(form_id):
        return form_closed()
    return handle(spec, submissions.Attribution())


def form_closed():
    """A closed form's page (the office closed it: `doorstep forms close`), 410 in the visitor's
    language; its answers stay with the office. The phone's outbox gets the reason as data and
    keeps the entry as not accepted."""
    if offline.wants_json():
        return offline.refused(410, "form", _("The office has closed this form, so it no longer "
                                              "takes answers. Thank you for your interest."))
    return render_template("collect/link_closed.html", state="form_closed",
                           contact=current_app.config.get("OFFICE_CONTACT", "")), 410


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
    if state == "active" and catalog().is_closed(spec.id):
        return form_closed()
    if state != "active":
        return render_template("collect/link_closed.html", state=state,
                               contact=current_app.config.get("OFFICE_CONTACT", "")), \
            (404 if state == "unknown" else 410)
    if request.method == "GET":
        links.count_scan(link)
    return handle(spec, links.attribution(link))


def handle(spec, attribution, visit=None, **page):
    """Render, or accept a post to, one form; QR links call this with their fixed attribution.

    A ledger form's post is a visit: `visit()` says which household (the visit and door-plate
    pages fix it); otherwise the post's own `household` and `base_version` do (`posted_visit`)."""
    if request.method != "POST":
        return blank_page(spec, page)
    form = wtf.form_class(spec)()
    if form.token_ok():
        done = submissions.find(form.submission_uuid.data)
        if done is not None and done.form_id == spec.id:
            return thanks(spec, done)
    twice = wtf.posted_twice(request.form, spec)
    if twice:       # a=1&a=2 for a one-value answer: which was meant? store nothing
        return refuse(spec, form, sent_twice(spec, twice[0]), page)
    try:
        chosen = submissions.Visit() if not spec.ledger else \
            visit() if visit is not None else posted_visit(spec, auth.current_user())
    except Refused as refused:
        return refuse(spec, form, refused, page)
    if form.validate():
        catalog().ensure_published(spec)
        try:
            submission, _created = submissions.store(
                spec, form.submission_uuid.data, form.answers, lang=current_lang(),
                consent=bool(spec.consent), attribution=attribution, visit=chosen,
                sensitive_consent=bool(getattr(form, "sensitive_consent", None) and
                                       form.sensitive_consent.data))
        except ledger.LedgerError as error:   # changed since the checks above: stored nothing
            return refuse(spec, form, Refused.of(error), page)
        return thanks(spec, submission)
    if offline.wants_json():   # the phone's outbox: errors as data, kept with the submission
        return offline.rejected(spec, form, current_lang())
    return render_template("collect/form.html", **page_context(spec, form), **page), 400


# A ledger form's revisit on the wire: `household=<code>` and `base_version=<n>` (README).

class Refused(Exception):
    """A visit the server will not store: `status` 400 (a malformed household or base version,
    or a version the household never had), 404 (unknown, or outside the poster's areas) or 409
    (moved out or closed); `field` is the wire name it is about."""

    def __init__(self, status: int, message: str, field: str = "household"):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    @classmethod
    def of(cls, error: ledger.LedgerError) -> "Refused":
        return {"unknown": not_found, "closed": closed}.get(error.reason, stale)()


def sent_twice(spec, key: str) -> Refused:
    q = spec.question(key.rsplit("-", 1)[-1])
    name = q.label.get(current_lang()) if q is not None else key
    return Refused(400, _("“%(name)s” was sent more than once in one post, so it is not clear "
                          "which answer is meant; nothing was stored. Please check the answers "
                          "and send them again.", name=name), key)


def not_found() -> Refused:
    # the same words for an unknown household and a foreign one: a code reveals nothing
    return Refused(404, _("This household is not known, or is not in your areas."))


def closed() -> Refused:
    return Refused(409, _("This household has moved out or its record is closed, so this visit "
                          "was not stored. Its answers are kept for the office to place."))


def stale() -> Refused:
    return Refused(400, _("This visit page does not match the household's record. Open the "
                          "household again from the visit list; the answers below are kept."),
                   "base_version")


CODE = re.compile(rf"[{READ_ALOUD}]{{4}}-?[{READ_ALOUD}]{{4}}")
VERSION = re.compile(r"[0-9]{1,9}")   # ASCII digits only: str.isdigit() would take "３" or "²"


def well_formed_code(text: str) -> bool:
    return CODE.fullmatch(text.strip().upper()) is not None


def posted_visit(spec, holder) -> submissions.Visit:
    """The household a ledger form's post revisits, checked before anything is stored: none
    posted is a first visit; a code and a base version must both be well formed (else 400), the
    household known and one `holder` may visit (else 404), and still visited (else 409). A code
    that was merged away leads to the household it went into; the visit is then applied as if
    from version 0, so whatever differs becomes a conflict for the office, never an overwrite."""
    return visit_of(spec, holder, request.form.get("household", ""),
                    request.form.get("base_version", ""))


def visit_of(spec, holder, code: str, base: str) -> submissions.Visit:
    """`posted_visit` for a household code and base version however they came (the API's JSON)."""
    code, base = code.strip(), base.strip()
    if not code and not base:
        return submissions.Visit()
    if not well_formed_code(code):
        raise Refused(400, _("This household code is not valid. Open the household again from "
                             "the visit list; the answers below are kept."))
    if not VERSION.fullmatch(base):
        raise Refused(400, _("This visit page is damaged: its household version is not a whole "
                             "number. Open the household again from the visit list; the answers "
                             "below are kept."), "base_version")
    household = ledger.find(code)
    if household is None or household.form_id != spec.id or \
            not policy.can(holder, "households.visit", household):
        raise not_found()
    if household.status not in ledger.VISITABLE:
        raise closed()
    merged = code.upper().replace("-", "") != household.code.replace("-", "")
    return submissions.Visit(household.code, 0 if merged else int(base))


def refuse(spec, form, refused: Refused, page):
    """The form again with its answers and the reason (the outbox gets the reason as data and
    keeps the answers as not accepted)."""
    form.validate()   # the answers' own problems are shown alongside
    if offline.wants_json():
        return offline.refused(refused.status, refused.field, refused.message)
    return render_template("collect/form.html", **page_context(spec, form),
                           visit_refused=refused.message, **page), refused.status


#: Rendered public pages are kept per app: the blank form by (path, language, form version, day),
#: the thank-you page by (path, language, form version). A page is the same for everyone but for its
#: CSRF token and submission UUID, or its receipt, which are swapped in per request. Rendering the
#: household form's template costs ~10 ms; the swap, microseconds.
_PAGES_MAX = 512
_TOKEN, _UUID, _RECEIPT = "\x1bcsrf-token\x1b", "\x1bsubmission-uuid\x1b", "\x1breceipt\x1b"
_HOUSEHOLD, _CHECK = "\x1bhousehold\x1b", "\x1bcheck\x1b"


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
    code = offline.registered(submission)
    check = my_access.receipt_check(spec, submission)   # /my's second factor, when no phone
    surveyor = request.endpoint in ("collect.visit", "collect.register")
    key = ("thanks", request.path, current_lang(), spec.id, spec.version, code is not None,
           check is not None)
    html = _kept(key, lambda: render_template(
        "collect/thanks.html", spec=spec, receipt=_RECEIPT,
        household=_HOUSEHOLD if code else None, check=_CHECK if check else None,
        visit_list=url_for("collect.visits") if surveyor else None))
    return html.replace(_RECEIPT, submission.receipt).replace(_HOUSEHOLD, code or "") \
        .replace(_CHECK, check or "")

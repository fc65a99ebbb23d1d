"""The phone in the field: the service worker, the web app manifest, the outbox's fresh CSRF token
and the JSON answers the outbox reads instead of HTML (README, "Offline phones").

A queued submission is sent as the very same form post a page makes; `X-Doorstep-Outbox: 1` only
changes the reply from a page to JSON, so the wire format stays one.
"""
from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal

from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from wtforms.fields import FieldList, FormField

from service.config import ROOT
from service.i18n import current_lang
from service.collect import bp, my_access
from service.storage.models import Submission
from peewee import fn

#: What the service worker keeps on the phone, besides the pages opened: everything a form page
#: or a household's visit page loads. The version in each URL changes whenever one of these
#: files does.
ASSETS = ("style.css", "checks.js", "outbox.js", "form.js", "offline.js", "visits.js",
          "icons/icon.svg", "icons/icon-192.png", "icons/icon-512.png")
SW_SOURCE = ROOT / "static" / "sw.js"
OUTBOX_HEADER = "X-Doorstep-Outbox"


def asset_version() -> str:
    """A digest of the assets and the worker's source: a deploy that changes one renews the cache.

    Read once per process; a running server does not change its static files.
    """
    version = current_app.extensions.get("doorstep.asset_version")
    if version is None:
        digest = hashlib.sha256(SW_SOURCE.read_bytes())
        for name in ASSETS:
            digest.update((ROOT / "static" / name).read_bytes())
        version = digest.hexdigest()[:12]
        current_app.extensions["doorstep.asset_version"] = version
    return version


def asset_url(filename: str) -> str:
    return url_for("static", filename=filename, v=asset_version())


@bp.app_context_processor
def _assets():
    return {"asset_url": asset_url}


@bp.app_template_filter("check_rules")
def check_rules(q) -> str:
    """The type rules of a question as JSON for static/checks.js (the same rules wtf.py applies),
    with its constraint_message in the page's language."""
    rules = q.qtype.rules(q)
    if q.constraint_message is not None:
        rules["msg"] = q.constraint_message.get(current_lang())
    return json.dumps({k: str(v) if isinstance(v, Decimal) else v
                       for k, v in rules.items() if v is not None},
                      ensure_ascii=False, separators=(",", ":"))


@bp.get("/sw.js")
def service_worker():
    """The worker, from the site root so its scope covers every form and link page."""
    source = SW_SOURCE.read_text(encoding="utf-8")
    source = (source.replace("__VERSION__", asset_version())
              .replace("__ASSETS__", json.dumps([asset_url(a) for a in ASSETS])))
    response = current_app.response_class(source, mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"
    # always revalidated, so a deploy reaches the phones on their next visit with signal
    response.headers["Cache-Control"] = "no-cache"
    return response


START_PAGE = re.compile(r"/[fs]/[A-Za-z0-9_-]+")   # a form or a QR link, nothing else


def _start_url(path: str | None) -> str:
    """The page the home-screen icon opens: the form or link it was added from, never elsewhere."""
    return path if path and START_PAGE.fullmatch(path) else url_for("collect.index")


@bp.get("/manifest.webmanifest")
def manifest():
    start = _start_url(request.args.get("start"))
    body = {
        "name": _("Doorstep"), "short_name": _("Doorstep"),
        "description": _("Community survey forms that work without signal."),
        "id": start, "start_url": start, "scope": "/", "display": "standalone",
        "background_color": "#f3f5f7", "theme_color": "#0b5cad",
        "icons": [
            {"src": asset_url("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": asset_url("icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": asset_url("icons/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    response = current_app.response_class(json.dumps(body, ensure_ascii=False),
                                          mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/outbox/token")
def outbox_token():
    """A fresh CSRF token for this phone's session, fetched by the outbox right before it sends.

    Only a page of this origin can read it (no CORS), so it proves what the page's own token
    proves, without its age: a submission queued yesterday still goes through flask-wtf's check.
    """
    response = jsonify(csrf_token=generate_csrf())
    response.headers["Cache-Control"] = "no-store"
    return response


def wants_json() -> bool:
    """The outbox (or another program) asks for JSON instead of the thank-you or error page."""
    return (request.headers.get(OUTBOX_HEADER) == "1"
            or request.accept_mimetypes.best == "application/json")


def accepted(submission):
    """The reply to a stored (or already stored) submission: its receipt, nothing else (and a
    ledger visit's household code)."""
    if submission.household_id is not None:
        code = registered(submission)
        return jsonify(receipt=submission.receipt, submission_uuid=submission.uuid,
                       form=submission.form_id, household=submission.household.code,
                       registered=code is not None)
    # a receipt that no phone number opens on /my has its check code beside it, as on the page
    check = my_access.receipt_check(my_access.spec_of(submission), submission)
    return jsonify(receipt=submission.receipt, submission_uuid=submission.uuid,
                   form=submission.form_id, **({"check": check} if check else {}))


def registered(submission) -> str | None:
    """The household code a first visit registered (written on the door or in the paper
    ledger), or None for a revisit or a form that keeps no ledger."""
    if submission.household_id is None:
        return None
    if hasattr(submission, "registered"):      # just stored (submissions.store says)
        return submission.registered
    first = (Submission.select(fn.MIN(Submission.id))
             .where(Submission.household == submission.household_id).scalar())
    return submission.household.code if first == submission.id else None


def refused(status: int, field: str, message: str):
    """A ledger visit not stored (400 malformed, 404 unknown or foreign household, 409 moved out
    or closed): the reason as an error of the wire name it is about, so the outbox keeps the
    entry as not accepted with the message shown, for the office to place."""
    response = jsonify(errors={field: [message]}, labels={}, message=message)
    response.status_code = status
    return response


def outcome_recorded(outcome, household):
    """The reply to a stored (or already stored) visit outcome. The household code stands as its
    receipt: the outbox marks an entry sent by its receipt, and it is the code the surveyor knows."""
    return jsonify(receipt=household.code, household=household.code, outcome=outcome.outcome,
                   submission_uuid=outcome.uuid)


def _posted_indices(name: str) -> list[str]:
    """The item numbers posted for repeat group `name`, in order (`members-3-age` gives 3)."""
    pattern = re.compile(rf"^{re.escape(name)}-(\d+)-")
    found = {int(m.group(1)) for key in request.form if (m := pattern.match(key))}
    return [str(i) for i in sorted(found)]


def wire_errors(form) -> dict[str, list[str]]:
    """Every error keyed by the wire name it was posted under (`members-3-age`, `csrf_token`).

    WTForms renumbers repeat items 0..n-1 after reading them; the phone needs the names its own
    page used, so each item's errors go back under the item number that was posted.
    """
    found: dict[str, list[str]] = {}

    def walk(fields, rename=lambda n: n):
        for f in fields:
            if isinstance(f, FieldList):
                posted = _posted_indices(f.name)
                for k, entry in enumerate(f.entries):
                    was = f"{f.name}-{posted[k] if k < len(posted) else k}-"
                    now = f"{entry.name}-"
                    walk(entry.form, lambda n, now=now, was=was: was + n[len(now):]
                         if n.startswith(now) else n)
            elif isinstance(f, FormField):
                walk(f.form, rename)
            elif f.errors:
                found[rename(f.name)] = [str(e) for e in f.errors]
    walk(form)
    for name, errors in form.group_errors.items():
        found[name] = [str(e) for e in errors]
    return found


def rejected(spec, form, lang: str):
    """400 with the errors, each question's label, and a sentence to show in the outbox."""
    errors = wire_errors(form)
    labels = {}
    for name in errors:
        q = spec.question(name.rsplit("-", 1)[-1])
        if q is not None:
            labels[name] = q.label.get(lang)
    response = jsonify(errors=errors, labels=labels,
                       message=_("Some answers need attention; they are marked below."))
    response.status_code = 400
    return response


#: Compressed as served: the public pages and their assets. The office pages are left alone, since
#: they echo what a user typed (a search) next to a CSRF token, which is what BREACH needs.
COMPRESSED_BLUEPRINTS = frozenset({"collect"})
#: ... except a signed-in surveyor's pages: they hold households' answers next to a search or a
#: code taken from the URL (BREACH again), and are few.
UNCOMPRESSED_ENDPOINTS = frozenset({"collect.visits", "collect.register", "collect.visit",
                                    "collect.outcome"})


def init_compression(app) -> None:
    from flask_compress import Compress

    app.config.setdefault("COMPRESS_REGISTER", False)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    compress = Compress(app)

    @app.after_request
    def _compress(response):
        if request.endpoint == "static" and response.status_code == 200:
            # read the (small) file into memory: flask-compress would otherwise wrap the file's
            # stream and leave the file to the garbage collector to close
            response.direct_passthrough = False
            response.make_sequence()
        elif request.blueprint not in COMPRESSED_BLUEPRINTS or \
                request.endpoint in UNCOMPRESSED_ENDPOINTS:
            return response
        return compress.after_request(response)


def page_strings() -> dict[str, str]:
    """The sentences static/checks.js and static/offline.js show, in the page's language.

    The checks use the server's own messages (the same msgids), so a problem reads the same
    whether the phone or the server found it.
    """
    return {
        "required": _("Please answer this question."),
        "too_long": _("Keep this under %(n)s characters."),
        "integer": _("Enter a whole number, e.g. 3."),
        "decimal": _("Enter a number, e.g. 2.5."),
        "range": _("Enter a number from %(low)s to %(high)s."),
        "at_least": _("Enter a number of at least %(low)s."),
        "at_most": _("Enter a number of at most %(high)s."),
        "date": _("Not a valid date value."),
        "date_after": _("Enter a date on or after %(date)s."),
        "date_before": _("Enter a date on or before %(date)s."),
        "phone": _("Enter an 11-digit mainland mobile number, e.g. 13812345678."),
        "id_format": _("An ID number has 18 characters: 17 digits, then a digit or X."),
        "id_date": _("The date of birth in this ID number is not a real date."),
        "id_check": _("This ID number's check digit is wrong; please check it again."),
        "choose_at_least": _("Choose at least %(n)s."),
        "choose_at_most": _("Choose at most %(n)s."),
        "items_at_least": _("Add at least %(n)s."),
        "items_at_most": _("Add at most %(n)s."),
        "consent": _("Please read and agree before answering."),
        "queued": _("Saved on this phone. It is sent by itself as soon as there is signal."),
        "sent_now": _("Sent. The receipt code is"),
        "keep_code": _("Keep this code: the office can find your answers with it."),
        "check_code": _("Check code"),
        "keep_check": _("Keep it with the receipt code: together they open your answers under "
                        "“My submission”."),
        "household_new": _("New household registered. Its household code:"),
        "sent": _("Sent, receipt code"),
        "waiting": _("Waiting for signal"),
        "waiting_n": _("%(n)s waiting to be sent."),
        "rejected_n": _("%(n)s not accepted."),
        "all_sent": _("Everything has been sent."),
        "retry_at": _("No connection; trying again at %(time)s"),
        "rejected": _("Not accepted:"),
        "gone": _("This form or link is no longer open."),
        "refused": _("The server did not accept it (error %(status)s)."),
        "fix": _("Fix the answers"),
        "try_again": _("Try again"),
        "remove": _("Remove"),
        "confirm_remove": _("Take this submission off the phone? Its answers will be lost."),
        "replace_current": _("Replace the answers on this page with the ones to fix?"),
        "offline_ready": _("This form now opens on this phone without signal."),
        "no_offline": _("This address cannot keep the form on the phone for use without signal "
                        "(that needs HTTPS). Answers are still kept on the phone until they are "
                        "sent."),
    }


@bp.app_context_processor
def _strings():
    return {"page_strings": page_strings}

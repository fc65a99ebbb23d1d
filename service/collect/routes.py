"""Form pages and submission (the wire format is described in the README)."""
from __future__ import annotations

from flask import abort, current_app, render_template, request

from .. import csrf, submissions
from ..formspec import wtf
from ..i18n import current_lang
from . import bp
from .render import page_context


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


def handle(spec, attribution, **page):
    """Render, or accept a post to, one form; QR links call this with their fixed attribution."""
    form = wtf.form_class(spec)()
    if request.method == "POST":
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
        return render_template("collect/form.html", **page_context(spec, form), **page), 400
    return render_template("collect/form.html", **page_context(spec, form), **page)


def thanks(spec, submission):
    return render_template("collect/thanks.html", spec=spec, submission=submission)

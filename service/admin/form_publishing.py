"""Forms made by the office (issue 14): /admin/forms lists every form with its state and takes an
XLSForm workbook; the draft it stores is previewed (a summary in words, and the real phone page
of each language at 360 px) before it is published or discarded; a published form is closed and
reopened here too. Each change is service/formspec/publishing.py's, as `doorstep forms …` makes it,
with one audit event in the same transaction; a refused one stores nothing and says why."""
from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, url_for
from flask_babel import force_locale, gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from peewee import IntegrityError

from service.admin import bp
from service.admin.forms import ConfirmForm
from service.collect.render import page_context
from service.formspec import publishing, summary, wtf, xlsform
from service.i18n import current_lang
from service.office import audit, policy
from service.security_headers import framed_by_own_pages
from service.storage.db import write_transaction
from service.storage.form_models import Form, FormVersion


class UploadForm(FlaskForm):
    file = FileField(_l("Workbook (XLSForm, .xlsx)"),
                     validators=[FileRequired(message=_l("Choose a workbook to upload."))],
                     render_kw={"accept": ".xlsx"})


def _catalog():
    return current_app.extensions["doorstep.catalog"]


def _apply(action: str, do, **detail):
    """One change of the forms with its audit event, in one transaction; the outcome, or None
    after flashing why nothing was stored."""
    catalog = _catalog()
    try:
        with write_transaction():
            outcome = do(catalog)
            if outcome.change not in ("unchanged", "already"):
                audit.record(action, target=f"form:{outcome.form_id}", version=outcome.version,
                             change=outcome.change, state=outcome.state, **detail)
    except publishing.Refused as refused:
        flash(str(refused))
        return None
    except IntegrityError:      # the same form changed by someone else at that moment
        flash(_("Another change to this form was being stored at the same time; nothing was "
                "stored. Please try again."))
        return None
    catalog.refresh(force=True)
    return outcome


@bp.get("/forms")
@policy.requires("forms.manage")
def forms_page(upload=None, problems=None):
    catalog = _catalog()
    catalog.refresh(force=True)     # a change made through another worker shows at once here
    states = {f.form_id: f for f in Form.select()}
    ids = sorted(set(states) | {spec.id for spec in catalog})
    stored_of = {}
    for row in FormVersion.select(FormVersion.form_id, FormVersion.version,
                                  FormVersion.published):
        stored_of.setdefault(row.form_id, []).append(row)
    forms = []
    for form_id in ids:
        stored = sorted(stored_of.get(form_id, []), key=lambda r: r.version)
        draft = stored[-1] if stored and not stored[-1].published else None
        spec = catalog.get(form_id) or (catalog.version(form_id, draft.version) if draft else None)
        row = states.get(form_id)
        forms.append({"id": form_id, "spec": spec, "served": catalog.get(form_id),
                      "state": row.state if row else "published",
                      "versions": [r.version for r in stored if r.published],
                      "draft": draft.version if draft else None})
    return render_template("admin/forms.html", forms=forms, upload=upload or UploadForm(),
                           problems=problems or [],
                           limit_kb=current_app.config["MAX_CONTENT_LENGTH"] // 1024)


@bp.post("/forms")
@policy.requires("forms.manage")
def form_upload():
    """A workbook: its problems (one line each, nothing stored), or its form stored as a draft
    (a new form, or the next version of one) and the preview opened."""
    upload = UploadForm()
    if not upload.validate_on_submit():
        return forms_page(upload), 400
    name = upload.file.data.filename or ""
    data = upload.file.data.read()
    try:
        spec, notes = xlsform.load(data, current_app.config["MAX_CONTENT_LENGTH"])
    except xlsform.XLSFormError as exc:
        return forms_page(upload, exc.problems), 400
    outcome = _apply("form_imported", lambda catalog: publishing.import_spec(catalog, spec),
                     file=name, publish=False)
    if outcome is None:
        return forms_page(upload), 400
    for line in notes:      # what the workbook says that Doorstep does not keep (not refusals)
        flash(line)
    if outcome.change == "unchanged":
        flash(_("The workbook is the same as version %(version)s of this form: nothing was "
                "stored.", version=outcome.version))
        return redirect(url_for("admin.forms_page"))
    return redirect(url_for("admin.form_draft", form_id=outcome.form_id))


def _draft_or_404(form_id):
    row = publishing.draft_of(form_id)
    if row is None:
        abort(404)
    return _catalog().version(form_id, row.version)


@bp.get("/forms/<form_id>/draft")
@policy.requires("forms.manage")
def form_draft(form_id):
    """The draft in words and as the phone shows it, with publish and discard buttons."""
    draft = _draft_or_404(form_id)
    lang = current_lang()
    _catalog().refresh(force=True)
    served = _catalog().get(form_id)
    return render_template("admin/form_draft.html", spec=draft, served=served,
                           sections=summary.lines(draft, lang),
                           changes=summary.changes(draft, served, lang),
                           languages=current_app.config["LANGUAGES"])


@bp.get("/forms/<form_id>/draft/phone/<in_lang>")
@policy.requires("forms.manage")
@framed_by_own_pages
def form_draft_phone(form_id, in_lang):
    """The draft as the public form page, in one language; it cannot be sent (a GET-only page,
    its submit button disabled and no outbox)."""
    if in_lang not in current_app.config["LANGUAGES"]:
        abort(404)
    draft = _draft_or_404(form_id)
    g.lang = in_lang        # this frame's language, leaving the office's own choice alone
    with force_locale(in_lang):
        return render_template("collect/form.html", preview=True,
                               **page_context(draft, wtf.form_class(draft)()))


@bp.post("/forms/<form_id>/publish")
@policy.requires("forms.manage")
def form_publish(form_id):
    draft = _draft_or_404(form_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    outcome = _apply("form_published", lambda catalog: publishing.publish(
        catalog, form_id, draft.version), form=form_id)
    if outcome is not None:
        flash(_("Version %(version)s is published: the form's page serves it now.",
                version=outcome.version))
    return redirect(url_for("admin.forms_page"))


@bp.post("/forms/<form_id>/discard")
@policy.requires("forms.manage")
def form_discard(form_id):
    _draft_or_404(form_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if _apply("form_draft_discarded", lambda catalog: publishing.discard_draft(catalog, form_id),
              form=form_id):
        flash(_("The draft was discarded."))
    return redirect(url_for("admin.forms_page"))


def _set_closed(form_id, closing: bool):
    if _catalog().get(form_id) is None and Form.get_or_none(form_id=form_id) is None:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    outcome = _apply("form_closed" if closing else "form_reopened",
                     lambda catalog: publishing.set_closed(catalog, form_id, closing),
                     form=form_id)
    if outcome is not None:
        flash(_("Nothing changed: the form was already so.") if outcome.change == "already"
              else _("The form is closed: its pages tell visitors so.") if closing
              else _("The form is open again."))
    return redirect(url_for("admin.forms_page"))


@bp.post("/forms/<form_id>/close")
@policy.requires("forms.manage")
def form_close(form_id):
    """Close a form: its public pages answer 410; its data stays with the office."""
    return _set_closed(form_id, True)


@bp.post("/forms/<form_id>/reopen")
@policy.requires("forms.manage")
def form_reopen(form_id):
    return _set_closed(form_id, False)

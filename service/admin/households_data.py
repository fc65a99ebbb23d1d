"""The ledger in and out of the office: /admin/households/import (the office's own Excel ledger,
records/household_import.py) and /admin/households/export.csv|xlsx (the households' current state,
or their history with ?history=1; reports/household_export.py), audit-logged like the response
export."""
from __future__ import annotations

import os

from flask import abort, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField

from service import csrf
from service.admin import bp, downloads
from service.i18n import current_lang
from service.office import audit, auth, clock, policy
from service.records import household_import
from service.reports import export_files, household_export
from service.reports.export import Options

#: An office's ledger is larger than the app's usual post limit (MAX_CONTENT_LENGTH): 100,000
#: households are about 10 MB of CSV. Raised for this view only, once the user may import.
IMPORT_MAX_BYTES = 64 * 1024 * 1024


class ImportForm(FlaskForm):
    form_id = SelectField(_l("Form"))
    file = FileField(_l("File (CSV or Excel .xlsx)"), validators=[FileRequired()])


def _ledger_forms() -> list:
    return [spec for spec in current_app.extensions["doorstep.catalog"] if spec.ledger]


def _ledger_or_404(form_id):
    spec = current_app.extensions["doorstep.catalog"].get(form_id or "")
    if spec is None or not spec.ledger:
        abort(404)
    return spec


@bp.route("/households/import", methods=["GET", "POST"])
@csrf.exempt     # checked below by ImportForm, after the body limit is raised (see the view)
@policy.requires("households.import")
def households_import():
    # The app-wide CSRF check would read the body under the usual limit before this view runs;
    # the form checks the same token once the limit is raised for a user who may import.
    request.max_content_length = IMPORT_MAX_BYTES
    user = auth.current_user()
    lang = current_lang()
    form = ImportForm()
    form.form_id.choices = [(s.id, s.title.get(lang)) for s in _ledger_forms()]
    done = problems = None
    if form.validate_on_submit():
        spec = _ledger_or_404(form.form_id.data)
        upload = form.file.data
        name = os.path.basename(upload.filename or "")
        try:
            done = household_import.load(spec, name, upload.read(), user)
        except household_import.ImportProblems as exc:
            problems = exc.problems
        else:
            audit.record("households_imported", target=f"form:{spec.id}", file=name,
                         created=done.created, updated=done.updated)
    status = 400 if problems or form.errors else 200
    return render_template("admin/households_import.html", form=form, done=done,
                           problems=problems), status


@bp.get("/households/export.<ext>")
@policy.requires("export")
def households_export(ext):
    user = auth.current_user()
    spec = _ledger_or_404(request.args.get("form"))
    if ext not in ("csv", "xlsx"):
        abort(404)
    args = request.args
    wants_pii = args.get("pii") == "1"
    if wants_pii and not policy.can(user, "export.pii"):
        abort(404)
    area = policy.get_area_or_404(user, args["area"]) if args.get("area") else None
    history = args.get("history") == "1"
    opts = Options(labels=args.get("labels") == "1", with_pii=wants_pii, lang=current_lang())
    job = household_export.HouseholdExport(spec, user, opts, area)
    stamp = f"{spec.id}-{'history' if history else 'households'}-{clock.today().isoformat()}"
    details = {"form": spec.id, "format": ext, "history": history, "labels": opts.labels,
               "pii": opts.with_pii, "area": area.code if area else None}
    def logged(**more):
        audit.record("households_export", target=f"form:{spec.id}", rows=job.rows_written,
                     **more, **details)

    if ext == "xlsx":
        return downloads.xlsx(lambda path: household_export.write_xlsx(job, path, history=history),
                              f"{stamp}.xlsx", logged)
    rows = job.history_rows if history else job.rows
    return downloads.streamed(lambda: export_files.csv_chunks(rows(), args.get("bom") != "0"),
                              f"{stamp}.csv", "text/csv",
                              lambda finished: logged(complete=finished))

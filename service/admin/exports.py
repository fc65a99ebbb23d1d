"""Downloads: /admin/forms/<form_id>/export.csv|zip|xlsx with the dashboard's filters."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _

from service.office import audit, auth, policy
from service.reports import export, export_files
from service.i18n import current_lang
from service.admin import bp, downloads
from service.office import clock
from service.admin.dashboard import parse_filters, spec_or_404

#: An XLSX is made whole before its first byte is sent (~2,000 households with their members a
#: second here): past this many responses a download would outlive the worker's timeout, so the
#: office is pointed to the CSV or ZIP (streamed) or `doorstep export` instead.
XLSX_WEB_MAX = 100_000


def _options(user) -> export.Options:
    args = request.args
    wants_pii = args.get("pii") == "1"
    if wants_pii and not policy.can(user, "export.pii"):
        abort(404)
    return export.Options(labels=args.get("labels") == "1", with_pii=wants_pii,
                          lang=current_lang(),
                          statuses=() if args.get("status") == "all" else ("valid",))


@bp.get("/forms/<form_id>/export.<ext>")
@policy.requires("export")
def export_file(form_id, ext):
    user = auth.current_user()
    spec = spec_or_404(form_id)
    if ext not in ("csv", "zip", "xlsx"):
        abort(404)
    filters = parse_filters(user, spec)
    opts = _options(user)
    job = export.Export(current_app.extensions["doorstep.catalog"], spec, user, filters, opts)
    if ext == "zip" and not job.groups:
        abort(404)
    bom = request.args.get("bom") != "0"
    stamp = f"{spec.id}-{clock.today().isoformat()}"
    details = {"form": spec.id, "format": ext, "filters": filters.as_args(),
               "labels": opts.labels, "pii": opts.with_pii, "statuses": list(opts.statuses)}

    if ext == "xlsx" and job.count() > XLSX_WEB_MAX:
        flash(_("An XLSX of more than %(n)s responses takes too long to make here: download the "
                "CSV or ZIP, narrow the filters, or ask the administrator for `doorstep export`.",
                n=f"{XLSX_WEB_MAX:,}"))
        return redirect(url_for("admin.dashboard", form_id=spec.id, **filters.as_args()))
    def logged(**more):
        audit.record("export", target=f"form:{spec.id}", rows=job.rows_written, **more, **details)

    if ext == "xlsx":
        return downloads.xlsx(lambda path: export_files.write_xlsx(job, path), f"{stamp}.xlsx",
                              logged)
    chunks = (lambda: export_files.zip_chunks(job, bom)) if ext == "zip" else \
        (lambda: export_files.csv_chunks(job.main_rows(), bom))
    return downloads.streamed(chunks, f"{stamp}.{ext}",
                              "application/zip" if ext == "zip" else "text/csv",
                              lambda finished: logged(complete=finished))

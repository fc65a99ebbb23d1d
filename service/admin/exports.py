"""Downloads: /admin/forms/<form_id>/export.csv|zip|xlsx with the dashboard's filters."""
from __future__ import annotations

import os
import tempfile

from flask import Response, abort, current_app, request, send_file, stream_with_context

from .. import access, audit, auth, export, export_files
from ..i18n import current_lang
from . import bp
from .dashboard import parse_filters, spec_or_404


def _options(user) -> export.Options:
    args = request.args
    wants_pii = args.get("pii") == "1"
    if wants_pii and not access.can_reveal(user):
        abort(404)
    return export.Options(labels=args.get("labels") == "1", with_pii=wants_pii,
                          lang=current_lang(), tz=current_app.config["OFFICE_TIMEZONE"],
                          statuses=() if args.get("status") == "all" else ("valid",))


@bp.get("/forms/<form_id>/export.<ext>")
@auth.login_required("admin", "manager")
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
    stamp = f"{spec.id}-{current_app.extensions['doorstep.today']().isoformat()}"
    details = {"form": spec.id, "format": ext, "filters": filters.as_args(),
               "labels": opts.labels, "pii": opts.with_pii, "statuses": list(opts.statuses)}

    if ext == "xlsx":
        handle, path = tempfile.mkstemp(suffix=".xlsx")
        os.close(handle)
        try:
            export_files.write_xlsx(job, path)
            audit.record("export", target=f"form:{spec.id}", rows=job.rows_written, **details)
            return send_file(path, as_attachment=True, download_name=f"{stamp}.xlsx",
                             mimetype="application/vnd.openxmlformats-officedocument."
                                      "spreadsheetml.sheet")
        finally:
            os.unlink(path)    # the open file stays readable until sent (POSIX)

    def generate():
        finished = False
        try:
            chunks = export_files.zip_chunks(job, bom) if ext == "zip" else \
                export_files.csv_chunks(job.main_rows(), bom)
            yield from chunks
            finished = True
        finally:
            audit.record("export", target=f"form:{spec.id}", rows=job.rows_written,
                         complete=finished, **details)

    mimetype = "application/zip" if ext == "zip" else "text/csv"   # Werkzeug adds the charset
    return Response(stream_with_context(generate()), mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{stamp}.{ext}"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})

"""A form's definition to download: /admin/forms/<id>/form.xlsx (an XLSForm workbook that reads
back to the same definition: formspec/xlsform_out.py) and form.yaml (the definition as Doorstep
keeps it), for the current version or any published one (`?version=N`)."""
from __future__ import annotations

from decimal import Decimal

import yaml
from flask import Response, abort, current_app, request

from service.admin import bp
from service.admin.downloads import disposition
from service.formspec import xlsform_out
from service.office import policy

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _plain(value):
    """A definition's values as YAML writes them (the loader reads decimals as Decimal)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return float(value) if isinstance(value, Decimal) else value


@bp.get("/forms/<form_id>/form.<ext>")
@policy.requires("dashboard.view")
def form_file(form_id, ext):
    catalog = current_app.extensions["doorstep.catalog"]
    spec = catalog.get(form_id)
    version = request.args.get("version", type=int)
    if spec is not None and version is not None and version != spec.version:
        spec = catalog.version(form_id, version) if 0 < version < 2 ** 31 else None
    if spec is None or ext not in ("xlsx", "yaml"):
        abort(404)
    name = f"{spec.id}-v{spec.version}.{ext}"
    if ext == "xlsx":
        try:
            data, kind = xlsform_out.write(spec), XLSX
        except xlsform_out.NotWritable:      # a definition an XLSForm cannot say: YAML only
            abort(404)
    else:
        data = yaml.safe_dump(_plain(spec.source), allow_unicode=True, sort_keys=False,
                              width=100).encode("utf-8")
        kind = "application/yaml; charset=utf-8"
    return Response(data, mimetype=kind, headers={
        "Content-Disposition": disposition(name)})

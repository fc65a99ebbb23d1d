"""Door-plate stickers (门牌码) in the office: an area's sheet to print (HTML) or send to the print
shop (PDF), and one household's code as PNG or SVG. Everything is audit-logged ("door_stickers"):
a sheet hands out the codes that open its households' self-report forms.
"""
from __future__ import annotations

from flask import Response, abort, current_app, request, url_for
from flask_babel import gettext as _

from service.admin import bp
from service.admin.downloads import disposition
from service.admin.links import public_base
from service.errors import render_error
from service.formspec.model import LANGUAGES
from service.links import door_sheets, qr, sheets
from service.office import audit, auth, policy
from service.records.ledger import VISITABLE
from service.storage.models import Household


@bp.get("/households/stickers")
@policy.requires("households.view")
def households_stickers():
    """The stickers of a ledger form's active households in an area and below."""
    me = auth.current_user()
    sheet_lang = request.args.get("sheet_lang", "zh")
    order = request.args.get("order", "code")
    if sheet_lang not in LANGUAGES or order not in door_sheets.ORDERS:
        abort(400)
    area = policy.get_area_or_404(me, request.args.get("area", ""))
    spec = current_app.extensions["doorstep.catalog"].get(request.args.get("form", ""))
    if spec is None or not spec.ledger:
        abort(404)
    # the area's households, within what this user may see (households_for keeps the one rule)
    chosen = door_sheets.in_order(door_sheets.households(spec.id, area, order).where(
        Household.id.in_(policy.households_for(me, spec.id).select(Household.id))), order)
    base, warning = public_base()
    sheet = door_sheets.build(spec, chosen, base, lang=sheet_lang)
    pdf = request.args.get("format") == "pdf"
    if pdf and sheets.cjk_font_missing():
        return render_error(503, _("No Chinese font is installed on the server, so the PDF "
                                   "would print empty boxes (install fonts-noto-cjk)."))
    audit.record("door_stickers", target=f"area:{area.code}", form=spec.id, area=area.code,
                 count=sheet.count, format="pdf" if pdf else "html")
    if pdf:
        response = Response(sheets.pdf(sheets.html(sheet)), mimetype="application/pdf")
        response.headers["Content-Disposition"] = disposition(f"{spec.id}-{area.code}-door.pdf")
        return response
    args = request.args.to_dict()
    args["format"] = "pdf"
    return sheets.html(sheet, toolbar=True, base_warning=warning,
                       back_url=url_for("admin.households", form=spec.id, area=area.code),
                       pdf_url=url_for("admin.households_stickers", **args))


@bp.get("/households/<code>/door.<kind>")
@policy.requires("households.view")
def household_door(code, kind):
    """One household's door code as an image: PNG, or SVG for a designer's own sticker."""
    found = policy.get_household_or_404(auth.current_user(), code)
    if kind not in ("png", "svg") or found.status not in VISITABLE:
        abort(404)       # a closed or moved-out household's code leads nowhere: none to print
    url = door_sheets.door_url(found, public_base()[0])
    audit.record("door_stickers", target=f"household:{found.id}", form=found.form_id,
                 area=found.area.code if found.area_id else None, count=1, format=kind,
                 household=found.code)
    if kind == "png":
        response = Response(qr.png(url), mimetype="image/png")
    else:
        response = Response(qr.svg(url), mimetype="image/svg+xml")
    response.headers["Content-Disposition"] = disposition(f"door-{found.code}.{kind}", inline=True)
    response.headers["Cache-Control"] = "private, no-cache"
    return response

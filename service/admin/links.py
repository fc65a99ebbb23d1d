"""QR links in the office: list, create one or in bulk, disable, QR images and printable sheets.

Managers work only with their area and below (policy.links_for / get_area_or_404), and only with
surveyors of those areas; anything else is 404. Each creation and each disable is audit-logged.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import (Response, abort, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from peewee import JOIN, fn
from wtforms import DateField, SelectField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Optional, ValidationError

from service.office import audit, auth, policy
from service import links
from service.links import qr, sheets
from service.storage.db import write_transaction
from service.errors import render_error
from service.formspec.model import LANGUAGES
from service.i18n import current_lang
from service.storage.models import Area, Link, Submission, User
from service.admin import bp
from service.admin.downloads import disposition
from service.office import clock
from service.records.vocabulary import LINK_CHANNELS
from service.admin.forms import ConfirmForm
from service.admin.people import area_choices

PAGE_SIZE = 100
# shown as _(state); listed so that the message extractor finds them
STATES = (_l("active"), _l("disabled"), _l("expired"))


def not_past(form, field):
    """An expiry date is the last day a link works: today at the earliest (office time)."""
    if field.data and field.data < clock.today():
        raise ValidationError(_l("Choose today or a later day."))


class LinkForm(FlaskForm):
    form_id = SelectField(_l("Form"), validators=[DataRequired()])
    area = SelectField(_l("Area"), validators=[DataRequired()])
    surveyor = SelectField(_l("Surveyor"), validators=[Optional()])
    channel = SelectField(_l("Channel"), choices=[SelectChoice(c, _l(c)) for c in LINK_CHANNELS])
    expires = DateField(_l("Valid until (last day)"), validators=[Optional(), not_past])

    def validate_surveyor(self, field):
        if not (field.data or "").isdigit():
            return                      # empty, or already refused as not one of the choices
        surveyor = User.get_or_none(User.id == int(field.data))
        area = Area.get_or_none(Area.code == self.area.data)
        if surveyor is not None and area is not None:
            try:
                links.check_surveyor(surveyor, area)
            except links.LinkError:
                raise ValidationError(_l("This surveyor does not work in the chosen area."))


class BulkLinkForm(FlaskForm):
    form_id = SelectField(_l("Form"), validators=[DataRequired()])
    areas = SelectMultipleField(_l("Areas"), validators=[DataRequired()])
    channel = SelectField(_l("Channel"), choices=[
        SelectChoice("surveyor", _l("One card for each surveyor of each area")),
        SelectChoice("self", _l("One household flyer link for each area"))])
    expires = DateField(_l("Valid until (last day)"), validators=[Optional(), not_past])


def _catalog():
    return current_app.extensions["doorstep.catalog"]


def _tz() -> ZoneInfo:
    return clock.current().zone


def public_base() -> tuple[str, str | None]:
    """The base URL codes encode, and a warning when phones could not open it."""
    configured = current_app.config.get("PUBLIC_BASE_URL", "").strip()
    base = configured or request.host_url.rstrip("/")
    problem = links.base_url_problem(configured)
    if problem == "unset":
        return base, _("PUBLIC_BASE_URL is not set: these codes point at %(base)s, the address "
                       "this browser used. Set PUBLIC_BASE_URL to an address phones can reach "
                       "(`make run` prints this computer's) before printing.", base=base)
    if problem == "local":
        return base, _("PUBLIC_BASE_URL is %(base)s: phones cannot open that. Set it to this "
                       "computer's address on the local network (`make run` prints it) or to "
                       "the public address.", base=base)
    return base, None


def _form_choices():
    return [(spec.id, f"{spec.title.get(current_lang())} ({spec.id})") for spec in _catalog()]


def _surveyor_choices(me):
    people = (policy.manageable_users(me)
              .where((User.role == "surveyor") & User.active).join(Area, JOIN.LEFT_OUTER))
    return [("", "—")] + [(str(u.id), f"{u.display_name or u.username} ({u.username}) · "
                           f"{u.area.name if u.area else '—'}") for u in people]


def _expiry(form):
    return links.expiry_from_date(form.expires.data, _tz()) if form.expires.data else None


def _audit_created(link: Link, **extra):
    audit.record("link_created", target=f"link:{link.id}", form=link.form_id,
                 area=link.area.code, channel=link.channel,
                 surveyor=link.surveyor.username if link.surveyor_id else None,
                 expires_at=link.expires_at, **extra)


@bp.get("/links")
@policy.requires("links.manage")
def links_page():
    me = auth.current_user()
    query = (policy.links_for(me).select(Link, Area, User).join(Area).switch(Link)
             .join(User, JOIN.LEFT_OUTER))
    form_id = request.args.get("form", "")
    area_code = request.args.get("area", "")
    if form_id:
        query = query.where(Link.form_id == form_id)
    if area_code:
        query = query.where(Link.area.in_(
            policy.area_ids_under(policy.get_area_or_404(me, area_code))))
    total = query.count()
    page = min(max(1, request.args.get("page", 1, type=int)), 10**6)   # an offset SQL can count
    rows = list(query.order_by(Link.id.desc()).paginate(page, PAGE_SIZE))
    counts = dict(Submission.select(Submission.link, fn.COUNT(Submission.id))
                  .where(Submission.link.in_([r.id for r in rows]))
                  .group_by(Submission.link).tuples()) if rows else {}
    _base, warning = public_base()
    return render_template(
        "admin/links.html", rows=rows, counts=counts, total=total, page=page,
        pages=(total + PAGE_SIZE - 1) // PAGE_SIZE, forms=list(_catalog()),
        areas=list(policy.visible_areas(me)), used={"form": form_id, "area": area_code},
        warning=warning, state=links.state, tz=_tz(), last_day=links.last_day,
        titles={spec.id: spec.title.get(current_lang()) for spec in _catalog()})


@bp.route("/links/new", methods=["GET", "POST"])
@policy.requires("links.manage")
def link_new():
    me = auth.current_user()
    form = LinkForm()
    form.form_id.choices = _form_choices()
    form.area.choices = area_choices(me)
    form.surveyor.choices = _surveyor_choices(me)
    if form.validate_on_submit():
        area = policy.get_area_or_404(me, form.area.data)
        surveyor = policy.get_user_or_404(me, int(form.surveyor.data)) \
            if form.surveyor.data else None
        with write_transaction():
            link = links.create(form.form_id.data, area, surveyor, form.channel.data,
                                _expiry(form))
            _audit_created(link)
        flash(_("Link created."))
        return redirect(url_for("admin.link_detail", link_id=link.id))
    return render_template("admin/links_new.html", form=form), (400 if form.errors else 200)


@bp.route("/links/bulk", methods=["GET", "POST"])
@policy.requires("links.manage")
def links_bulk():
    me = auth.current_user()
    form = BulkLinkForm()
    form.form_id.choices = _form_choices()
    form.areas.choices = area_choices(me)
    if form.validate_on_submit():
        chosen = [policy.get_area_or_404(me, code) for code in form.areas.data]
        with write_transaction():
            made, skipped = links.create_bulk(form.form_id.data, chosen, form.channel.data,
                                              _expiry(form))
            for link in made:
                _audit_created(link, bulk=True)
        flash(_("%(n)s link(s) created.", n=len(made)))
        if skipped:
            flash(_("No active surveyor in: %(areas)s", areas=", ".join(a.name for a in skipped)))
        return redirect(url_for("admin.links_page", form=form.form_id.data))
    return render_template("admin/links_bulk.html", form=form), (400 if form.errors else 200)


@bp.get("/links/<int:link_id>")
@policy.requires("links.manage")
def link_detail(link_id):
    link = policy.get_link_or_404(auth.current_user(), link_id)
    base, warning = public_base()
    return render_template("admin/links_detail.html", link=link, url=links.url(link, base),
                           warning=warning, state=links.state(link),
                           last_day=links.last_day(link, _tz()),
                           spec=_catalog().get(link.form_id),
                           submissions=Submission.select().where(Submission.link == link).count())


@bp.post("/links/<int:link_id>/<action>")
@policy.requires("links.manage")
def link_action(link_id, action):
    link = policy.get_link_or_404(auth.current_user(), link_id)
    if action not in ("disable", "enable") or not ConfirmForm().validate_on_submit():
        abort(400)
    links.set_disabled(link, action == "disable")
    audit.record(f"link_{action}d", target=f"link:{link.id}", form=link.form_id,
                 area=link.area.code)
    flash(_("Saved."))
    if request.form.get("back") == "detail":
        return redirect(url_for("admin.link_detail", link_id=link.id))
    return redirect(url_for("admin.links_page"))


@bp.get("/links/<int:link_id>/qr.<kind>")
@policy.requires("links.manage")
def link_qr(link_id, kind):
    link = policy.get_link_or_404(auth.current_user(), link_id)
    url = links.url(link, public_base()[0])
    if kind == "png":
        response = Response(qr.png(url), mimetype="image/png")
    elif kind == "svg":
        response = Response(qr.svg(url), mimetype="image/svg+xml")
    else:
        abort(404)
    response.headers["Content-Disposition"] = disposition(f"link-{link.id}.{kind}", inline=True)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/links/sheet")
@policy.requires("links.manage")
def links_sheet():
    """A printable sheet: the working links of a form in an area (and below), or one link."""
    me = auth.current_user()
    kind = request.args.get("kind", "cards")
    sheet_lang = request.args.get("sheet_lang", "zh")
    if kind not in sheets.KINDS or sheet_lang not in LANGUAGES:
        abort(400)
    if request.args.get("link"):
        one = policy.get_link_or_404(me, request.args.get("link", type=int) or 0)
        spec, area = _catalog().get(one.form_id), one.area
        chosen = [one] if links.state(one) == "active" else []
    else:
        spec = _catalog().get(request.args.get("form", ""))
        area = policy.get_area_or_404(me, request.args.get("area", ""))
        channel = request.args.get("channel") or sheets.DEFAULT_CHANNEL[kind]
        chosen = sheets.active_links(spec.id, area, None if channel == "all" else channel) \
            if spec else []
    if spec is None:
        abort(404)
    base, warning = public_base()
    contact = request.args.get("contact", "").strip()[:200] or \
        current_app.config.get("OFFICE_CONTACT", "")
    sheet = sheets.build(spec, chosen, base, kind=kind, lang=sheet_lang, tz=_tz(),
                         contact=contact)
    if request.args.get("format") == "pdf":
        if sheets.cjk_font_missing():
            return render_error(503, _("No Chinese font is installed on the server, so the PDF "
                                       "would print empty boxes (install fonts-noto-cjk)."))
        response = Response(sheets.pdf(sheets.html(sheet)), mimetype="application/pdf")
        response.headers["Content-Disposition"] = disposition(f"{spec.id}-{area.code}-{kind}.pdf")
        return response
    args = request.args.to_dict()
    args["format"] = "pdf"
    return sheets.html(sheet, toolbar=True, base_warning=warning,
                       back_url=url_for("admin.links_page", form=spec.id),
                       pdf_url=url_for("admin.links_sheet", **args))

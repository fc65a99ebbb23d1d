"""What the office changes on survey rounds: a new round, its households assigned to a surveyor
(a whole area, or a list of household codes) or unassigned, and closing it. Each is a
CSRF-protected post, one write transaction and one audit event; a refused post changes nothing and
says why in the user's language (rounds.RoundError's reasons, ERRORS)."""
from __future__ import annotations

import datetime as dt
import re

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from service.admin import bp
from service.admin.forms import ConfirmForm
from service.admin.households import ledger_forms
from service.admin.people import area_choices
from service.i18n import current_lang
from service.office import audit, auth, clock, policy
from service.records import ledger, rounds
from service.reports import coverage
from service.storage.db import is_sqlite, write_transaction
from service.storage.models import Area, Household, RoundHousehold, SurveyRound, User

#: rounds.RoundError's reasons as the office reads them.
ERRORS = {
    "name": _l("Please give the round a name."),
    "form": _l("Choose a form kept as a household ledger."),
    "dates": _l("The last day is before the first day."),
    "closed": _l("This round is closed: nothing in it changes any more."),
    "scope": _l("The surveyor cannot visit all of these households: choose a surveyor of their "
                "area or of an area above it."),
    "surveyor": _l("Choose an active surveyor from the list."),
}
#: Where a RoundError of the new-round form is shown.
ERROR_FIELDS = {"name": "name", "form": "form_id", "dates": "ends_on"}
UNASSIGN = "none"             # the surveyor choice that takes households off everyone's list
MAX_CODES = 5000
MAX_CHOICES = 300             # surveyors offered in one select
FIRST_YEAR, LAST_YEAR = 2000, 2099      # a mistyped year must not reach date arithmetic


def _in_years(form, field):
    if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(_("Choose a date between %(first)s and %(last)s.",
                                first=FIRST_YEAR, last=LAST_YEAR))


class RoundForm(FlaskForm):
    name = StringField(_l("Name"), filters=[lambda v: v.strip() if v else v], validators=[
        DataRequired(message=ERRORS["name"]), Length(max=200)])
    form_id = SelectField(_l("Ledger form"), validate_choice=False)
    area = SelectField(_l("Area"), validate_choice=False,
                       validators=[InputRequired(message=_l("Choose an area."))])
    starts_on = DateField(_l("First day"), validators=[
        InputRequired(message=_l("Give the first day.")), _in_years])
    ends_on = DateField(_l("Last day"), validators=[
        InputRequired(message=_l("Give the last day.")), _in_years])

    def validate_form_id(self, field):
        if field.data not in dict(field.choices):
            raise ValidationError(ERRORS["form"])

    def validate_ends_on(self, field):
        if self.starts_on.data and field.data and field.data < self.starts_on.data:
            raise ValidationError(ERRORS["dates"])


class AssignForm(FlaskForm):
    """A surveyor (a user id, or UNASSIGN) for the households of an area or of a list."""

    surveyor = SelectField(_l("Surveyor"), validate_choice=False, validators=[
        InputRequired(message=ERRORS["surveyor"])])
    area = SelectField(_l("Area"), validate_choice=False)
    codes = TextAreaField(_l("Household codes"), validators=[Length(max=100_000)])


def surveyor_choices(me, area: Area) -> list[tuple[str, str]] | None:
    """Active surveyors in `me`'s scope who could visit some of `area`: of it, of an area above
    it, or of one below it (rounds.assign refuses a surveyor who cannot reach every household);
    None past MAX_CHOICES (a district's thousands: the page asks to drill down instead)."""
    above = [int(i) for i in area.path.strip("/").split("/") if i]
    query = (User.select(User, Area).join(Area).where(
        (User.role == "surveyor") & User.active &
        (Area.path.startswith(area.path) | Area.id.in_(above))).order_by(User.username)
        .limit(MAX_CHOICES + 1))
    scope = policy.area_scope(me)
    if scope is not None:
        query = query.where(User.area.in_(scope))
    query = list(query)
    if len(query) > MAX_CHOICES:
        return None
    return [("", "—")] + [
        (str(u.id), f"{u.display_name} ({u.username}) · {u.area.name}" if u.display_name
         else f"{u.username} · {u.area.name}") for u in query] + [
        (UNASSIGN, _("Nobody (unassign)"))]


@bp.route("/rounds/new", methods=["GET", "POST"])
@policy.requires("rounds.manage")
def round_new():
    me = auth.current_user()
    form = RoundForm()
    form.form_id.choices = [(s.id, s.title.get(current_lang())) for s in ledger_forms()]
    form.area.choices = area_choices(me)
    if not form.is_submitted():
        form.starts_on.data = clock.today()
        form.ends_on.data = clock.today() + dt.timedelta(days=30)
    elif form.area.data:
        policy.get_area_or_404(me, form.area.data)      # unknown or foreign: 404, as everywhere
    if form.validate_on_submit():
        spec = current_app.extensions["doorstep.catalog"].get(form.form_id.data)
        area = policy.get_area_or_404(me, form.area.data)
        try:
            with write_transaction():
                r = rounds.create(form.name.data, spec, area, form.starts_on.data,
                                  form.ends_on.data, me)
                audit.record("round_create", target=f"round:{r.id}", round=r.id, name=r.name,
                             form=spec.id, area=area.code, starts_on=form.starts_on.data,
                             ends_on=form.ends_on.data)
        except rounds.RoundError as e:
            getattr(form, ERROR_FIELDS.get(e.reason, "name")).errors.append(ERRORS[e.reason])
        else:
            flash(_("The round is created."))
            return redirect(url_for("admin.round_page", round_id=r.id))
    return render_template("admin/round_new.html", form=form), (400 if form.errors else 200)


def _back(r, area_code=None):
    args = {"area": area_code} if area_code else {}
    return redirect(url_for("admin.round_page", round_id=r.id, **args))


def _chosen_surveyor(me, value) -> User | None:
    """The surveyor posted (None: unassign); RoundError("surveyor") for anyone else."""
    if value == UNASSIGN:
        return None
    found = User.get_or_none(User.id == int(value)) if str(value).isdigit() else None
    if found is None or found.role != "surveyor" or not found.active or \
            not policy.sees_area(me, found.area):
        raise rounds.RoundError("surveyor")
    return found


def _assign(round_id, chosen):
    """Both ways of assigning: the round (rounds.manage; of a round over an area above one's own,
    one's part: policy.round_part), the posted form and its surveyor (in scope);
    `chosen(r, part, form)` names the households of `part` (rounds.assign's keywords, and what
    the audit event says of them), or flashes why not and returns None. One write, one event."""
    me = auth.current_user()
    r = policy.get_round_or_404(me, round_id)
    part = policy.round_part(me, r)
    form = AssignForm()
    back = request.args.get("back", "")
    if not form.validate_on_submit():
        flash(str(ERRORS["surveyor"]) if form.surveyor.errors else
              _("The list is too long: at most %(n)s codes at a time.", n=MAX_CODES))
        return _back(r, back)
    households = chosen(r, part, form)
    if households is None:
        return _back(r, back)
    which, said = households
    try:
        with write_transaction():
            who = _chosen_surveyor(me, form.surveyor.data)
            count = rounds.assign(r, who, **which)
            audit.record("round_assign", target=f"round:{r.id}", round=r.id, count=count,
                         surveyor=who.username if who else None, **said)
    except rounds.RoundError as e:
        flash(str(ERRORS[e.reason]))
    else:
        flash(_("Households no longer assigned: %(n)s.", n=count) if who is None else
              _("Households assigned to %(name)s: %(n)s.", n=count,
                name=who.display_name or who.username))
    return _back(r, back)


@bp.post("/rounds/<int:round_id>/assign")
@policy.requires("rounds.manage")
def round_assign(round_id):
    """Assign the round's households of an area (and below) to a surveyor, or unassign them."""
    def of_area(r, part, form):
        area = Area.get_or_none(Area.code == (form.area.data or ""))
        if area is None or not area.path.startswith(part.path):
            flash(_("Choose an area of this round."))
            return None
        return {"area": area}, {"area": area.code}
    return _assign(round_id, of_area)


def codes_in(text: str) -> list[str]:
    """The household codes of a pasted list: one a line, or separated by spaces or commas."""
    return [t for t in re.split(r"[\s,，、;；]+", text or "") if t]


def members_of(r: SurveyRound, codes: list[str], part: Area | None = None
               ) -> tuple[list[int], list[str]]:
    """The round's households behind `codes` (as typed: case and the dash are forgiven; a
    merged code counts for the household it went into), those of `part` and below only when
    given, and the codes that are none of them."""
    normal = {c: re.sub(r"[^0-9A-Za-z]", "", c).upper() for c in codes}
    normal = {c: f"{n[:4]}-{n[4:]}" for c, n in normal.items() if len(n) == 8}
    ids = {}
    for h in Household.select(Household.id, Household.code, Household.merged_into).where(
            Household.code.in_(sorted(set(normal.values())))):
        kept = ledger.find(h.code) if h.merged_into_id is not None else h
        ids[h.code] = kept.id if kept is not None else None
    where = (RoundHousehold.round == r.id) & \
        RoundHousehold.household.in_(sorted({i for i in ids.values() if i}))
    if part is not None:
        where &= RoundHousehold.area.in_(policy.area_ids_under(part))
    inside = {i for (i,) in RoundHousehold.select(RoundHousehold.household).where(
        where).tuples()}
    found = {c: ids.get(normal.get(c)) for c in codes}
    return (sorted({i for i in found.values() if i in inside}),
            [c for c, i in found.items() if i not in inside])


@bp.post("/rounds/<int:round_id>/assign-list")
@policy.requires("rounds.manage")
def round_assign_list(round_id):
    """Assign the households of a list of codes; any code not of this round changes nothing."""
    def listed(r, part, form):
        codes = codes_in(form.codes.data)
        if not codes or len(codes) > MAX_CODES:
            flash(_("Paste one or more household codes.") if not codes else
                  _("The list is too long: at most %(n)s codes at a time.", n=MAX_CODES))
            return None
        whole = part.id == r.area_id
        ids, unknown = members_of(r, codes, None if whole else part)
        if unknown:
            shown = ", ".join(unknown[:20]) + (" …" if len(unknown) > 20 else "")
            flash(_("Not households of this round: %(codes)s. Nothing was changed.",
                    codes=shown) if whole else
                  _("Not households of this round in your areas: %(codes)s. Nothing was "
                    "changed.", codes=shown))
            return None
        return {"household_ids": ids}, {"codes": len(codes)}
    return _assign(round_id, listed)


@bp.post("/rounds/<int:round_id>/close")
@policy.requires("rounds.manage")
def round_close(round_id):
    """Close the round: its figures as they stand now are kept (coverage.freeze) and shown from
    then on, whatever later visits and corrections do."""
    me = auth.current_user()
    r = policy.get_round_or_404(me, round_id, "rounds.manage")
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with write_transaction():
        query = SurveyRound.select().where(SurveyRound.id == r.id)
        r = (query if is_sqlite() else query.for_update()).get()
        if r.status != "open":      # a second click, or someone else was quicker
            flash(_("This round is already closed."))
            return _back(r)
        rounds.close(r, me, coverage.freeze(r))
        audit.record("round_close", target=f"round:{r.id}", round=r.id, name=r.name,
                     figures=coverage.Figures.of(r).totals().as_dict())
    flash(_("The round is closed; its figures are kept as they are now."))
    return _back(r)


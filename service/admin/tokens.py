"""The JSON API's tokens in the office (admins: `tokens.manage`): the list with each token's
state and last use, a new token (its secret shown once), and revoking one. The same functions as
`doorstep tokens …` (service/api/auth.py), each change audit-logged with the admin's name."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from service.admin import bp
from service.admin.forms import ConfirmForm
from service.admin.people import area_choices
from service.api import auth as tokens
from service.office import auth, policy
from service.storage.token_models import ApiToken


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=tokens.NAME_MAX)],
                       description=_l("Who uses it, e.g. district-platform: shown in the audit "
                                      "log"))
    role = SelectField(_l("Role"))
    area = SelectField(_l("Area"))
    expires = DateField(_l("Works until (last day)"), validators=[Optional()])


@bp.get("/tokens")
@policy.requires("tokens.manage")
def tokens_page():
    rows = list(ApiToken.select().order_by(ApiToken.revoked_at.is_null(False), ApiToken.name))
    return render_template("admin/tokens/list.html", tokens=rows, state=tokens.state)


@bp.route("/tokens/new", methods=["GET", "POST"])
@policy.requires("tokens.manage")
def token_new():
    me = auth.current_user()
    form = TokenForm()
    form.role.choices = [(role, _(role)) for role in policy.CAPABILITIES]
    form.area.choices = area_choices(me, blank="—")
    if form.validate_on_submit():
        area = policy.get_area_or_404(me, form.area.data) if form.area.data else None
        try:
            token, secret = tokens.create(form.name.data, form.role.data, area,
                                          form.expires.data, created_by=me)
        except tokens.TokenError as error:
            form[error.field].errors.append(str(error))
        else:
            return render_template("admin/tokens/made.html", token=token, secret=secret)
    return render_template("admin/tokens/new.html", form=form), (400 if form.errors else 200)


@bp.post("/tokens/<int:token_id>/revoke")
@policy.requires("tokens.manage")
def token_revoke(token_id):
    token = ApiToken.get_or_none(ApiToken.id == token_id)
    if token is None or not ConfirmForm().validate_on_submit():
        abort(404 if token is None else 400)
    if tokens.revoke(token, by=auth.current_user()):
        flash(_("Token %(name)s revoked: it no longer works anywhere.", name=token.name))
    return redirect(url_for("admin.tokens_page"))

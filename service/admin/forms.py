"""The office's WTForms: each post is a FlaskForm, so every admin post carries a CSRF token."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(_l("New password"), validators=[
        DataRequired(), Length(min=10, max=256, message=_l("Use at least 10 characters."))])
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(), EqualTo("new", message=_l("The two new passwords differ."))])


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(), Length(max=64),
        Regexp(r"^[A-Za-z0-9_.@-]+$", message=_l("Letters, digits and _ . @ - only."))])
    display_name = StringField(_l("Name"), validators=[Length(max=100)])
    role = SelectField(_l("Role"))
    area = SelectField(_l("Area"))


class AreaForm(FlaskForm):
    # its characters and length: office/areas.py (CODE), the one rule for every way in
    code = StringField(_l("Code"), validators=[DataRequired()])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    parent = SelectField(_l("Belongs to"))


class ReasonForm(FlaskForm):
    """A button that changes something and must say why (status changes)."""

    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(message=_l("Please give a reason.")), Length(max=1000)])


class ConfirmForm(FlaskForm):
    """An empty form: a CSRF-protected POST button (reveal, disable, reset)."""



"""/my: a household opens its own submission with its receipt code and a second factor, sees its
answers, the office's follow-up and reply, and asks for a correction, a deletion or (a sign-up)
a withdrawal. Who may open what is my_access.py; what is asked of the office, my_requests.py.

Its own blueprint inside the public one, so its pages are never compressed: they show a
household's answers and what it typed beside a CSRF token (BREACH; see offline.py).
"""
from __future__ import annotations

import functools

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from service.collect import my_access, my_requests
from service.collect.my_answers import sections_of
from service.i18n import current_lang
from service.office import audit
from service.office.clock import local_time

bp = Blueprint("my", __name__, url_prefix="/my")


class SignInForm(FlaskForm):
    receipt = StringField(_l("Receipt code"), validators=[InputRequired(_l(
        "Enter the receipt code shown when you submitted, like ABCD-EFGH."))])
    digits = StringField(_l("Last four digits of your phone number, or the check code"),
                         validators=[InputRequired(_l("Enter four digits."))])

    def validate_receipt(self, field):
        if my_access.normalised_code(field.data) is None:
            raise ValidationError(_("A receipt code is eight letters and digits, like "
                                    "ABCD-EFGH. Check it and try again."))

    def validate_digits(self, field):
        if my_access.normalised_digits(field.data) is None:
            raise ValidationError(_("Enter four digits."))


class RequestForm(FlaskForm):
    text = TextAreaField(_l("What should be corrected?"), validators=[
        DataRequired(_l("Say what should be corrected.")),
        Length(max=my_requests.TEXT_MAX, message=_l("Keep this under %(max)d characters."))])


class ConfirmForm(FlaskForm):
    text = TextAreaField(_l("Anything the office should know (optional)"), validators=[
        Length(max=my_requests.TEXT_MAX, message=_l("Keep this under %(max)d characters."))])


def _audit(action: str, submission, **detail) -> None:
    """The household did it: the receipt names it, never its answers."""
    audit.record(action, target=f"submission:{submission.id}", username="resident",
                 resident=True, receipt=submission.receipt, form=submission.form_id, **detail)


def _sign_in_page(form, status=200, problem=None):
    return render_template("collect/my/sign_in.html", form=form, problem=problem,
                           contact=current_app.config.get("OFFICE_CONTACT", "")), status


@bp.route("", methods=["GET", "POST"])
def sign_in():
    form = SignInForm()
    if request.method == "GET":
        return _sign_in_page(form)
    if not form.validate_on_submit():
        return _sign_in_page(form, 400)
    receipt = my_access.normalised_code(form.receipt.data)
    which = my_access.admit(receipt)
    if which is not None:
        return _sign_in_page(form, 429, "locked_" + which)
    opened = my_access.open_submission(receipt, my_access.normalised_digits(form.digits.data))
    if opened is None:   # a wrong code and wrong digits: the same words, the same status
        return _sign_in_page(form, 400, "wrong")
    _audit("my_signed_in", opened.submission)
    response = redirect(url_for(".answers"))
    my_access.start_session(response, opened.submission)
    return response


def household(asks: bool = False):
    """Run the view with the submission this browser opened on /my; without one (never opened,
    ended, forged), back to the sign-in. A view that asks the office something (`asks`) of a
    submission whose answers were erased leads to the page saying so instead."""
    def decorate(view):
        @functools.wraps(view)
        def wrapped(**kwargs):
            submission = my_access.signed_in()
            if submission is None:
                flash(_("Your session has ended. Enter your receipt code again."))
                return redirect(url_for(".sign_in"))
            if asks and my_access.erased_on(submission):
                return redirect(url_for(".answers"))
            return view(submission, **kwargs)
        return wrapped
    return decorate


@bp.get("/answers")
@household()
def answers(submission):
    _audit("my_viewed", submission)
    return _answers_page(submission, RequestForm())


def _answers_page(submission, correction_form, status=200):
    """The submission's answers (or only the day they were erased), its follow-ups and the
    office's reply, and what the household may ask."""
    spec, current = my_access.answers_of(submission)
    erased = my_access.erased_on(submission)
    return render_template(
        "collect/my/answers.html", s=submission, spec=spec, erased=erased,
        sections=[] if erased else sections_of(spec, current, current_lang()),
        standing=None if erased else my_requests.standing(submission),
        received=local_time(submission.received_at), local_time=local_time,
        words=my_requests, correction=correction_form, sign_out=FlaskForm(),
        minutes=my_access.session_minutes()), status


def _ask(submission, kind: str, text: str):
    if kind == "deletion" and not text.strip():
        text = _("Please delete my answers.")   # the office's queue wants words; none are asked
    try:
        follow_up, new = my_requests.ask(submission, kind, text.strip())
    except ValueError:   # e.g. a sign-up withdrawn meanwhile from another tab: nothing stored
        flash(_("This request cannot be made now; nothing was sent."))
        return redirect(url_for(".answers"))
    _audit("my_requested", submission, kind=kind, follow_up=follow_up.id, new=new)
    flash(_("Your request is with the office. It will be dealt with by %(day)s.",
            day=follow_up.due_on.isoformat()) if new else
          _("This request was already with the office: it is kept once."))
    return redirect(url_for(".answers"))


@bp.post("/correction")
@household(asks=True)
def correction(submission):
    form = RequestForm()
    if not form.validate_on_submit():
        return _answers_page(submission, form, 400)
    return _ask(submission, "correction", form.text.data)


@bp.route("/<any(deletion, withdrawal):kind>", methods=["GET", "POST"])
@household(asks=True)
def confirm(submission, kind):
    """Asking for deletion, or withdrawing a sign-up: a page that says what it means, then a
    confirmed post."""
    standing = my_requests.standing(submission)
    if kind == "withdrawal" and not standing.may_withdraw:
        return redirect(url_for(".answers"))
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        return _ask(submission, kind, form.text.data or "")
    spec = my_access.spec_of(submission)
    return render_template("collect/my/confirm.html", s=submission, spec=spec, kind=kind,
                           form=form, words=my_requests), 400 if request.method == "POST" else 200


@bp.post("/sign-out")
def sign_out():
    submission = my_access.signed_in()     # (its CSRF token was checked, as every post's)
    if submission is not None:
        _audit("my_signed_out", submission)
    response = redirect(url_for(".sign_in"))
    my_access.end_session(response)
    return response

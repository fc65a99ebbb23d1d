"""Signing in and out, changing one's password, and the office's home page."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from service.office import audit, auth, passwords, policy, sign_in_limits
from service.records import follow_ups
from service.storage.models import Submission, User
from service.admin import bp
from service.admin.forms import ConfirmForm, LoginForm, PasswordChangeForm


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a crafted ?next= must not send a user elsewhere after login."""
    if target and target.startswith("/") and not target.startswith("//") and \
            not urlsplit(target).netloc:
        return target
    return url_for("admin.home")


# a sign-in limit that does not read stops the start, not every sign-in
bp.record_once(lambda state: sign_in_limits.check(state.app.config))


@bp.context_processor
def _office():
    user = auth.current_user()
    # templates ask `can('links.manage')` rather than branch on roles
    return {"user": user, "confirm_form": ConfirmForm(formdata=None),
            "can": lambda action, thing=None: policy.can(user, action, thing)}


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in; wrong passwords are counted per account and address, per address and per account
    in the database (`sign_in_limits`), whichever worker or instance takes them."""
    form = LoginForm()
    if form.validate_on_submit():
        username, address = form.username.data.strip(), auth.client_ip()
        wait = sign_in_limits.refusal(username, address)
        if wait:
            form.password.errors.append(_(
                "Too many wrong passwords. Please try again in %(n)s minutes.",
                n=sign_in_limits.minutes(wait)))
            response = current_app.make_response((render_template("admin/login.html",
                                                                  form=form), 429))
            response.headers["Retry-After"] = str(wait)
            return response
        user = User.get_or_none(User.username == username)
        if auth.check_password(user, form.password.data) and user.active:
            sign_in_limits.succeeded(username, address)
            auth.log_in(user)
            audit.record("login", target=f"user:{user.id}", user=user)
            return redirect(_safe_next(request.args.get("next")))
        sign_in_limits.failed(username, address)
        audit.record("login_failed", target=f"user:{user.id}" if user else "", user=None,
                     username=username[:64])
        form.password.errors.append(_("Wrong username or password, or the account is disabled."))
        return render_template("admin/login.html", form=form), 401
    return render_template("admin/login.html", form=form), (400 if form.errors else 200)


@bp.post("/logout")
def logout():
    if not ConfirmForm().validate_on_submit():   # a logout without its CSRF token is refused
        return redirect(url_for("admin.home"))
    user = auth.current_user()
    if user is not None:
        audit.record("logout", target=f"user:{user.id}")
    auth.log_out()
    flash(_("You are signed out."))
    return redirect(url_for("admin.login"))


@bp.route("/password", methods=["GET", "POST"])
@auth.login_required()
def password():
    user = auth.current_user()
    form = PasswordChangeForm()
    if form.validate_on_submit():
        if not auth.check_password(user, form.current.data):
            form.current.errors.append(_("The current password is wrong."))
        elif form.new.data == form.current.data:
            form.new.errors.append(_("Choose a password different from the current one."))
        elif weak := passwords.problem(form.new.data, user.username):
            form.new.errors.append(weak)
        else:
            User.update(password_hash=auth.hash_password(form.new.data),
                        must_change_password=False).where(User.id == user.id).execute()
            auth.end_sessions(user, keep_sid=session.get("sid"))
            audit.record("password_changed", target=f"user:{user.id}")
            flash(_("Your password is changed."))
            return redirect(url_for("admin.home"))
    status = 400 if form.errors else 200
    return render_template("admin/password.html", form=form), status


@bp.get("/")
@auth.login_required()
def home():
    user = auth.current_user()
    catalog = current_app.extensions["doorstep.catalog"]
    counts = {}
    query = policy.submissions_for(user).where(Submission.status == "valid")
    for spec in catalog:
        counts[spec.id] = query.where(Submission.form_id == spec.id).order_by().count()
    owed = follow_ups.counts(policy.follow_ups_for(user)) \
        if policy.can(user, "follow_ups.view") else None
    return render_template("admin/home.html", forms=list(catalog), counts=counts,
                           closed=catalog.closed, follow_up_counts=owed)

"""Accounts: password hashing, server-side login sessions, and the signed-in guard.

Passwords are hashed with Argon2id (argon2-cffi). The session cookie carries only a random session id
(`sid`) whose row in LoginSession says whether it is still live, so logout, disabling a user or a
password change take effect at once on every instance.
"""
from __future__ import annotations

import datetime as dt
import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, redirect, request, session, url_for

from service.office.passwords import weakness
from service.storage.models import LoginSession, User, utcnow

ROLES = ("admin", "manager", "surveyor")
hasher = PasswordHasher()
# Verifying against a dummy hash for unknown users keeps response times alike (no user enumeration).
_DUMMY_HASH = hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None


def generate_password() -> str:
    """A one-time password that is easy to type from a printout (no 0/O/1/l)."""
    alphabet = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
    while True:     # a random draw that happens to look guessable is drawn again
        password = "".join(secrets.choice(alphabet) for _ in range(12))
        if weakness(password) is None:
            return password


def client_ip() -> str:
    return request.remote_addr or ""


def log_in(user: User) -> None:
    """Start a fresh session: the old cookie content (and its CSRF token) is discarded."""
    session.clear()
    sid = secrets.token_urlsafe(32)
    LoginSession.create(sid=sid, user=user, ip=client_ip())
    session["sid"] = sid
    session.permanent = False


def log_out() -> None:
    sid = session.get("sid")
    if sid:
        LoginSession.update(ended_at=utcnow()).where(LoginSession.sid == sid).execute()
    session.clear()


def end_sessions(user: User, keep_sid: str | None = None) -> None:
    query = LoginSession.update(ended_at=utcnow()).where(
        (LoginSession.user == user) & LoginSession.ended_at.is_null())
    if keep_sid:
        query = query.where(LoginSession.sid != keep_sid)
    query.execute()


def current_user() -> User | None:
    if "user" not in g:
        g.user = None
        sid = session.get("sid")
        if sid:
            oldest = utcnow() - dt.timedelta(hours=current_app.config["LOGIN_MAX_HOURS"])
            row = (LoginSession.select(LoginSession, User).join(User)
                   .where((LoginSession.sid == sid) & LoginSession.ended_at.is_null() &
                          (LoginSession.created_at >= oldest))
                   .first())
            if row is not None and row.user.active:
                g.user = row.user
    return g.user


def login_required():
    """Guard a view: signed in, and the password changed if it was one-time. What a signed-in
    user may do is policy's to say (`policy.requires`)."""
    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                return redirect(url_for("admin.login", next=request.full_path))
            if user.must_change_password and request.endpoint != "admin.password":
                return redirect(url_for("admin.password"))
            return view(*args, **kwargs)
        return wrapped
    return decorator

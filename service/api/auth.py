"""API tokens: made, found and revoked here; a request's token becomes a `policy.Grant` of its
role and area, so `policy.can(holder(), action, thing)` is the very rule the office pages follow.

A token is `ds_` and 43 URL-safe characters (256 random bits), shown once when made; only its
SHA-256 is kept (token_models.py says why not Argon2). Every request names it as
`Authorization: Bearer <token>`; an unknown, expired or revoked one is a 401 problem. Requests are
counted per token in the database (throttle.py), so the limit (`API_RATE_LIMIT` a minute) holds
across every worker and instance; over it, a 429 problem with Retry-After.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import secrets
import time

from flask import current_app, g, request
from flask_babel import gettext as _

from service import throttle
from service.api import problems
from service.office import audit, clock, policy
from service.storage.db import write_transaction
from service.storage.models import Area, User, utcnow
from service.storage.token_models import ApiToken

PREFIX = "ds_"
#: last_used_at is written at most this often per token (a write per request would cost more).
USED_EVERY = dt.timedelta(minutes=1)
RATE_WINDOW = 60
#: a name is shown as `token:<name>` in the audit log, whose user column holds 64 characters
NAME_MAX = 50


class TokenError(ValueError):
    """A token that cannot be made as asked (a name taken, a role unknown); the message says why,
    `field` which of the asked things it is about (name, role, area, expires)."""

    def __init__(self, message: str, field: str = "name"):
        super().__init__(message)
        self.field = field


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(name: str, role: str, area: Area | None = None, expires: dt.date | None = None,
           created_by: User | None = None) -> tuple[ApiToken, str]:
    """Store a new token; returns it with the secret, which exists nowhere else from then on."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise TokenError(_("A token needs a name of 1 to 50 characters."))
    if role not in policy.CAPABILITIES:
        raise TokenError(_("Unknown role: %(role)s.", role=role), "role")
    if area is None and policy.needs_area(role):
        raise TokenError(_("A %(role)s token needs an area.", role=_(role)), "area")
    if expires is not None and expires < clock.today():
        raise TokenError(_("The expiry date has already passed."), "expires")
    secret = PREFIX + secrets.token_urlsafe(32)
    with write_transaction():
        if ApiToken.select().where(ApiToken.name == name).exists():
            raise TokenError(_("A token named %(name)s exists already.", name=name))
        token = ApiToken.create(name=name, token_hash=digest(secret), role=role, area=area,
                                expires=expires, created_by=created_by)
        audit.record("token_created", name, user=created_by,
                     username="" if created_by else "cli", role=role,
                     area=area.code if area else "", expires=expires)
    return token, secret


def revoke(token: ApiToken, by: User | None = None) -> bool:
    """Revoke a token at once on every instance; False when it was revoked already."""
    with write_transaction():
        done = (ApiToken.update(revoked_at=utcnow())
                .where((ApiToken.id == token.id) & ApiToken.revoked_at.is_null()).execute())
        if done:
            audit.record("token_revoked", token.name, user=by, username="" if by else "cli")
    return bool(done)


def state(token: ApiToken) -> str:
    """`active`, `expired` or `revoked`, for the office's list and the command line."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires is not None and token.expires < clock.today():
        return "expired"
    return "active"


def find(secret: str) -> ApiToken | None:
    """The live token this secret is, or None (unknown, expired or revoked alike)."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    token = ApiToken.get_or_none(ApiToken.token_hash == digest(secret))
    return token if token is not None and state(token) == "active" else None


def authenticate() -> ApiToken:
    """The request's token (401 problem without a live one), counted against its rate limit
    (429 problem over it), kept in `g` for `holder()` and `token()`."""
    if "api_token" in g:
        return g.api_token
    scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
    token = find(secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        problems.abort(401, headers={"WWW-Authenticate": 'Bearer realm="doorstep"'})
    limit = current_app.config["API_RATE_LIMIT"]
    used = throttle.hit(f"api:{token.id}", RATE_WINDOW)
    if used > limit:
        problems.abort(429, headers={"Retry-After": str(retry_after(used, limit))},
                       type="rate-limited")
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > USED_EVERY:
        ApiToken.update(last_used_at=now).where(ApiToken.id == token.id).execute()
    g.api_token = token
    g.api_holder = policy.grant_of(token.name, token.role, token.area)
    return token


def retry_after(used: float, limit: int, now: float | None = None) -> int:
    """Seconds until the sliding count falls under `limit` if nothing more is sent: the rest of
    this window, then the share of it that still weighs in the next (throttle.py)."""
    now = time.time() if now is None else now
    left = RATE_WINDOW - now % RATE_WINDOW
    return max(1, math.ceil(left + RATE_WINDOW * max(0.0, 1 - limit / used)))


def holder() -> policy.Grant:
    """The current request's token as a policy holder (after `authenticate`)."""
    authenticate()
    return g.api_holder


def token() -> ApiToken:
    return authenticate()


def required(capability: str | None = None):
    """Guard an API view: a live token within its rate limit, holding `capability` when given
    (else 404, as the pages do: what a token may not use does not reveal that it exists)."""
    if capability is not None and capability not in policy.ACTIONS:
        raise ValueError(f"unknown capability {capability!r}")

    def decorator(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            authenticate()
            if capability is not None and not policy.can(g.api_holder, capability):
                problems.abort(404)
            return view(*args, **kwargs)
        checked.capability = capability
        return checked
    return decorator


def audited(action: str, target: str = "", **detail) -> None:
    """Audit-log one use of the API that returned personal data, under the token's name."""
    audit.record(action, target, username=f"token:{token().name}", via="api", **detail)

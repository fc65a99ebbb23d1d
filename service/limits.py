"""Rate limits (Flask-Limiter): in Redis when REDIS_URL is set, so every instance shares them;
in process memory otherwise (one box, one instance)."""
from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)


def init_app(app) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    # if Redis goes away, count in this process's memory instead of failing every sign-in
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)


def login_username() -> str:
    return "login:" + (request.form.get("username") or "").strip().lower()


def failed_login(response) -> bool:
    """Only failed attempts count: a successful login redirects."""
    return response.status_code != 302

"""Rate limits (Flask-Limiter): in Redis when REDIS_URL is set, so every instance shares them;
in process memory otherwise (one box, one instance). The office's sign-in is not limited here but
in the database, which every worker shares (office/sign_in_limits.py)."""
from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)


def init_app(app) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    # if Redis goes away, count in this process's memory instead of failing every sign-in
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)

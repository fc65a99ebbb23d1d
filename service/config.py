"""Configuration: defaults first, then environment variables, then a test's overrides."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(instance_path: str, overrides: dict | None = None) -> dict:
    """The app's configuration as a dict; `overrides` (tests) win over the environment."""
    overrides = overrides or {}
    env = os.environ
    config = {
        "DATABASE_URL": env.get("DATABASE_URL")
        or f"sqlite:///{Path(instance_path) / 'doorstep.db'}",
        "FORMS_DIR": env.get("FORMS_DIR") or str(ROOT / "forms"),
        # how often (seconds) a process asks the database whether a form was published, closed
        # or reopened elsewhere: one tiny query at most this often
        "FORMS_CHECK_SECONDS": float(env.get("FORMS_CHECK_SECONDS", 1)),
        "OFFICE_TIMEZONE": env.get("OFFICE_TIMEZONE", "Asia/Shanghai"),
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", ""),
        # printed on household flyers: who to ask (e.g. "XX社区居委会 0991-1234567")
        "OFFICE_CONTACT": env.get("OFFICE_CONTACT", ""),
        "REDIS_URL": env.get("REDIS_URL", ""),
        # the keys that seal identifiers (service/storage/keys.py): from these variables, else
        # from field.key and lookup.key in KEYS_DIR (the instance folder), made by `doorstep init`
        "FIELD_KEY": env.get("DOORSTEP_FIELD_KEY", ""),
        "LOOKUP_KEY": env.get("DOORSTEP_LOOKUP_KEY", ""),
        "KEYS_DIR": env.get("KEYS_DIR") or instance_path,
        # how often (seconds) a process looks whether the field key file changed (a rotation)
        "KEYS_CHECK_SECONDS": float(env.get("KEYS_CHECK_SECONDS", 1)),
        # how many reverse proxies stand in front (0: clients connect to gunicorn directly)
        "PROXY_HOPS": int(env.get("PROXY_HOPS", 0)),
        # an office sign-in lasts at most this long, whatever the browser does with its cookie
        "LOGIN_MAX_HOURS": int(env.get("LOGIN_MAX_HOURS", 12)),
        # the rate limits' keys in Redis: deployments sharing one Redis keep apart by prefix
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX", "doorstep"),
        # a dashboard counted from raw answers gives up after this long (gunicorn's worker
        # timeout is 120 s): the page says so instead of the request being killed
        "DASHBOARD_SECONDS": float(env.get("DASHBOARD_SECONDS", 25)),
        # managers may upload, publish, close and reopen forms too (else admins only)
        "MANAGERS_MAY_PUBLISH_FORMS": env.get("MANAGERS_MAY_PUBLISH_FORMS", "") == "1",
        # how many days a surveyor can still see (and correct) their own submissions
        "SURVEYOR_DAYS": int(env.get("SURVEYOR_DAYS", 3)),
        # A household form with a dozen members is a few KB; 1 MB leaves room, stops abuse.
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", 1024 * 1024)),
        # A surveyor may open a form in the morning and submit it hours later.
        "WTF_CSRF_TIME_LIMIT": int(env.get("CSRF_TIME_LIMIT", 24 * 3600)),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "") == "1",
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "translations"),
        "LANGUAGES": ("zh", "en"),
    }
    config.update(overrides)
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = env.get("SECRET_KEY") or _instance_secret(Path(instance_path))
    return config


def _instance_secret(instance: Path) -> str:
    """A random key kept in instance/secret_key, made on first start; never a guessable default.

    All gunicorn workers (and instances sharing the folder) read the same file, so sessions and CSRF
    tokens signed by one are accepted by the others.
    """
    path = instance / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key

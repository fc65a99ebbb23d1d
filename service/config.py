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
        # wrong office passwords allowed, counted in the database (office/sign_in_limits.py):
        # per account and address (with backoff: twice as many in twelve times as long, twice),
        # per address over all accounts, per account over all addresses (past it, only
        # addresses with no failure on the account may still try)
        "LOGIN_LIMIT_ACCOUNT": env.get("LOGIN_LIMIT_ACCOUNT", "5/5minutes"),
        "LOGIN_LIMIT_IP": env.get("LOGIN_LIMIT_IP", "30/10minutes"),
        "LOGIN_LIMIT_ACCOUNT_ALL": env.get("LOGIN_LIMIT_ACCOUNT_ALL", "100/hour"),
        # the rate limits' keys in Redis: deployments sharing one Redis keep apart by prefix
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX", "doorstep"),
        # a dashboard counted from raw answers gives up after this long (gunicorn's worker
        # timeout is 120 s): the page says so instead of the request being killed
        "DASHBOARD_SECONDS": float(env.get("DASHBOARD_SECONDS", 25)),
        # managers may upload, publish, close and reopen forms too (else admins only)
        "MANAGERS_MAY_PUBLISH_FORMS": env.get("MANAGERS_MAY_PUBLISH_FORMS", "") == "1",
        # how many days a surveyor can still see (and correct) their own submissions
        "SURVEYOR_DAYS": int(env.get("SURVEYOR_DAYS", 3)),
        # /my (a household opens its own submission): attempts allowed per client address, and
        # wrong ones per receipt code, in their windows (seconds), counted in the database so
        # every worker and instance shares them; and how long a /my session lasts
        "MY_LIMIT_IP": int(env.get("MY_LIMIT_IP", 30)),
        "MY_LIMIT_IP_SECONDS": int(env.get("MY_LIMIT_IP_SECONDS", 3600)),
        "MY_LIMIT_RECEIPT": int(env.get("MY_LIMIT_RECEIPT", 10)),
        "MY_LIMIT_RECEIPT_SECONDS": int(env.get("MY_LIMIT_RECEIPT_SECONDS", 86400)),
        "MY_SESSION_MINUTES": int(env.get("MY_SESSION_MINUTES", 15)),
        # the key of the check codes printed beside receipts that carry no phone number; unset:
        # made into instance/receipt_check_key when first needed (service/collect/my_access.py)
        "RECEIPT_CHECK_KEY": env.get("RECEIPT_CHECK_KEY", ""),
        # the office's working calendar until it saves one on /admin/follow-ups/holidays: a file
        # of `YYYY-MM-DD,name` lines (`,work` for a make-up working day); due dates skip them
        "HOLIDAYS": env.get("HOLIDAYS", ""),
        # a resident's request through /my (correction, deletion, withdrawal) is due in this
        # many working days (PIPL: "in a timely manner")
        "RESIDENT_REQUEST_WORKING_DAYS": int(env.get("RESIDENT_REQUEST_WORKING_DAYS", 15)),
        # A household form with a dozen members is a few KB; 1 MB leaves room, stops abuse.
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", 1024 * 1024)),
        # A surveyor may open a form in the morning and submit it hours later.
        "WTF_CSRF_TIME_LIMIT": int(env.get("CSRF_TIME_LIMIT", 24 * 3600)),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "") == "1",
        # JSON API (/api/v1): requests per token per minute, shared by every worker and instance
        "API_RATE_LIMIT": int(env.get("API_RATE_LIMIT", 600)),
        # origins whose pages may call the API from a browser (comma-separated); none: CORS off
        "API_CORS_ORIGINS": tuple(o.strip().rstrip("/") for o in
                                  env.get("API_CORS_ORIGINS", "").split(",") if o.strip()),
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "translations"),
        "LANGUAGES": ("zh", "en"),
    }
    config.update(overrides)
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = env.get("SECRET_KEY") or instance_secret(Path(instance_path))
    return config


def instance_secret(instance: Path, name: str = "secret_key") -> str:
    """A random key kept in instance/<name>, made on first start; never a guessable default.

    All gunicorn workers (and instances sharing the folder) read the same file, so sessions and CSRF
    tokens signed by one are accepted by the others.
    """
    path = instance / name
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

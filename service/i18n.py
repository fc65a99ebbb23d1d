"""Language choice: `?lang=zh|en` (remembered in a cookie), else Accept-Language, else Chinese."""
from __future__ import annotations

from flask import current_app, g, request
from flask_babel import Babel

COOKIE = "lang"
babel = Babel()


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang")
    if chosen in languages:
        return chosen
    chosen = request.cookies.get(COOKIE)
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or languages[0]


def current_lang() -> str:
    if "lang" not in g:
        g.lang = select_locale()
    return g.lang


def init_app(app) -> None:
    babel.init_app(app, locale_selector=current_lang)

    @app.after_request
    def _remember(response):
        chosen = request.args.get("lang")
        if chosen in app.config["LANGUAGES"] and request.cookies.get(COOKIE) != chosen:
            response.set_cookie(COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax",
                                httponly=True, secure=app.config["SESSION_COOKIE_SECURE"])
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
        return response

    @app.context_processor
    def _lang():
        return {"lang": current_lang()}


# Words stored as codes and shown translated with `_(code)` in templates; listed here so the
# message extractor finds them.
from flask_babel import lazy_gettext as _l  # noqa: E402

CODE_WORDS = (
    _l("admin"), _l("manager"), _l("surveyor"),        # roles
    _l("web"), _l("self"), _l("api"),                  # channels (surveyor is above)
    _l("valid"), _l("duplicate"), _l("void"),          # statuses
)

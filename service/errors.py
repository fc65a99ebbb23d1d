"""Error pages in the user's language: no request ever ends in a bare 500 page."""
from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

API_PREFIX = "/api/"


def _messages():
    return {
        400: _("The request could not be understood. Please go back and try again."),
        403: _("You do not have access to this page."),
        404: _("This page does not exist. Check the link or scan the code again."),
        405: _("This page cannot be used that way."),
        413: _("What was sent is too large."),
        429: _("Too many attempts. Please wait a minute and try again."),
        500: _("Something went wrong on our side. Nothing you sent was half-stored; "
               "please try again."),
    }


def render_error(code: int, message: str | None = None):
    if request.path.startswith(API_PREFIX):     # never an HTML page to a program
        from service.api import problems
        return problems.response(code, message)
    text = message or _messages().get(code) or _messages()[400 if code < 500 else 500]
    return render_template("error.html", code=code, message=text), code


def init_app(app) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc):
        return render_error(400, _("This page has expired. Please go back, reload it and try "
                                   "again."))

    @app.errorhandler(HTTPException)
    def _http(exc):
        if request.path.startswith(API_PREFIX):
            from service.api import problems
            return problems.of(exc)
        return render_error(exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc):
        app.logger.exception("unhandled error")
        return render_error(InternalServerError.code)

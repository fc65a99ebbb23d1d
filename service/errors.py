"""Error pages in the user's language: no request ever ends in a bare 500 page."""
from __future__ import annotations

import re

from flask import render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

API_PREFIX = "/api/"
#: What no query or form value may hold: control characters (PostgreSQL cannot store NUL; none
#: is ever typed; tab and line breaks are text).
UNREADABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: What no link may hold: a number beyond the databases' integers (19 digits and more: longer
#: than any page, version, count or identifier, an ID number being 18).
ENDLESS_NUMBER = re.compile(r"^\s*[+-]?\d{19,}\s*$")


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


def unreadable_input() -> bool:
    """Whether a query or form value of this request holds what UNREADABLE refuses."""
    if any(ENDLESS_NUMBER.match(value) for value in request.args.values()):
        return True
    # a post's fields, not an upload's (a workbook or ledger is read, with its own limit, by its
    # view; parsing it here would meet the general size limit first)
    posted = request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded"
    sources = (request.args, request.form) if posted else (request.args,)
    for values in sources:
        for name, value in values.items(multi=True):
            if UNREADABLE.search(name) or UNREADABLE.search(value):
                return True
    return False


def init_app(app) -> None:
    @app.before_request
    def _refuse_unreadable():
        """One check for every page: a control character in a link or a post, or an endless
        number in a link, is refused with a page in the user's language, never met by a query
        or a 500."""
        if not request.path.startswith(API_PREFIX) and unreadable_input():
            return render_error(400, _("What was sent holds characters or numbers that cannot "
                                       "be read. Please check it and try again."))

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

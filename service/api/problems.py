"""Errors of the JSON API as RFC 9457 problem details (`application/problem+json`), in the
language the client asked for (Accept-Language; Chinese when in doubt), for every error under
/api/v1: the API's own refusals, a body that does not match the schema, and 404/405/413/500 from
anywhere else. A program never gets an HTML page.

`abort(status, detail, errors=…, type=…)` raises one from a view; `response(status)` makes one.
`errors` (a 422's answers that need attention) is keyed by the question's wire name
(`members-0-age`), the keys the public form and the phone's outbox use.
"""
from __future__ import annotations

from typing import NoReturn

from flask import current_app, json
from flask_babel import gettext as _
from pydantic import BaseModel, Field
from werkzeug.exceptions import HTTPException

MEDIA_TYPE = "application/problem+json"
#: Problem types of our own (RFC 9457 §3.1.1: a URI; tag: URIs (RFC 4151) need no server).
TYPE_ROOT = "tag:doorstep,2026:problem/"


class Problem(BaseModel):
    """RFC 9457 problem details; `errors` maps a question's wire name to its messages."""

    type: str = Field("about:blank", description="A URI naming the kind of problem")
    title: str = Field(description="The kind of problem, in the requested language")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong and what to do, in the requested language")
    errors: dict[str, list[str]] | None = Field(
        None, description="422: messages keyed by question (repeat items as `group-N-question`)")


def _titles() -> dict[int, str]:
    return {
        400: _("Bad request"),
        401: _("Not signed in"),
        403: _("Not allowed"),
        404: _("Not found"),
        405: _("Method not allowed"),
        406: _("Not acceptable"),
        409: _("Conflict"),
        410: _("Gone"),
        413: _("Too large"),
        415: _("Unsupported media type"),
        422: _("Unprocessable content"),
        429: _("Too many requests"),
        500: _("Server error"),
    }


def _details() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        401: _("Send a valid API token as `Authorization: Bearer <token>`. The token may be "
               "unknown, expired or revoked."),
        403: _("This token may not do that."),
        404: _("There is nothing here, or it lies outside this token's areas."),
        405: _("This address does not take that method."),
        413: _("What was sent is too large."),
        415: _("Send the body as JSON, with Content-Type: application/json."),
        422: _("The request does not match what this operation expects."),
        429: _("Too many requests for this token. Wait as long as Retry-After says, then try "
               "again."),
        500: _("Something went wrong on our side. Nothing was half-stored; please try again."),
    }


class ProblemError(HTTPException):
    """A problem raised from a view; the blueprint's error handler answers it."""

    def __init__(self, status: int, detail: str | None = None, *, type: str | None = None,
                 errors: dict | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.code = status
        self.problem_detail, self.problem_type = detail, type
        self.errors, self.extra_headers = errors, headers or {}

    def get_response(self, environ=None, scope=None):
        return response(self.code, self.problem_detail, type=self.problem_type,
                        errors=self.errors, headers=self.extra_headers)


def abort(status: int, detail: str | None = None, *, type: str | None = None,
          errors: dict | None = None, headers: dict | None = None) -> NoReturn:
    raise ProblemError(status, detail, type=type, errors=errors, headers=headers)


def response(status: int, detail: str | None = None, *, type: str | None = None,
             errors: dict | None = None, headers: dict | None = None):
    """The problem response for `status`, with the default words for it unless `detail`."""
    titles = _titles()
    body = {"type": TYPE_ROOT + type if type else "about:blank",
            "title": titles.get(status) or titles[400 if status < 500 else 500],
            "status": status,
            "detail": detail or _details().get(status) or _details()[400 if status < 500 else 500]}
    if errors:
        body["errors"] = {name: [str(m) for m in messages] for name, messages in errors.items()}
    made = current_app.response_class(json.dumps(body, ensure_ascii=False), status=status,
                                      mimetype=MEDIA_TYPE, headers=headers)
    made.headers["Content-Language"] = _language()
    return made


def of(exc: HTTPException):
    """The problem for an HTTP error raised anywhere (a 405 keeps its Allow header)."""
    allowed = {name: value for name, value in exc.get_headers() if name == "Allow"}
    return response(exc.code or 500, headers=allowed)


def _language() -> str:
    from service.i18n import current_lang
    return current_lang()


def request_invalid(req, resp, error, _instance, adapter) -> None:
    """spectree's hook after checking a request against its model: a body or query that does not
    match becomes a 422 problem (keyed by the field's path, e.g. `answers` or `limit`)."""
    if error is None or resp is None:
        return
    errors: dict[str, list[str]] = {}
    for item in adapter.validation_errors(error):
        where = ".".join(str(p) for p in item.get("loc", ())) or "body"
        errors.setdefault(where, []).append(item.get("msg", ""))
    made = response(422, _("The request does not match this operation's schema; see `errors`."),
                    type="schema", errors=errors)
    resp.status_code = 422
    resp.set_data(made.get_data())
    resp.headers = made.headers


def response_checked(req, resp, error, _instance, adapter) -> None:
    """spectree's hook after checking a response: a view that answered off its own schema is our
    bug. The client gets a 500 problem (never the wrong shape), and the log says what differed."""
    if error is None:
        return
    current_app.logger.error("API response off its schema at %s: %s", req.path, error)
    made = response(500)
    resp.status_code = 500
    resp.set_data(made.get_data())
    resp.headers = made.headers


def init_blueprint(bp) -> None:
    """Every error raised inside an API view answers as a problem (routing errors, 404/405 of an
    address no view has, go through errors.render_error, which sends /api/ here too)."""

    @bp.errorhandler(HTTPException)
    def _http(exc):
        if isinstance(exc, ProblemError):
            return exc.get_response()
        if exc.code is None:        # spectree's own 422 (already a problem: request_invalid)
            return exc
        return of(exc)

    @bp.errorhandler(Exception)
    def _unexpected(exc):
        current_app.logger.exception("unhandled error in the API")
        return response(500)

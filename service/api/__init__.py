"""The JSON API (`/api/v1`): for the office's other systems, with API tokens instead of sign-ins.

One endpoint is one view under `bp`, declared with `@operation(...)`: its capability (checked by
`auth.required` through the same policy as the pages), its request models (pydantic, checked by
spectree; the view reads them as `body()` and `query()`) and its responses, from which docs.py
generates the OpenAPI 3.1 document. For example:

    @bp.get("/forms/<form_id>")
    @operation(resp=ok(FormOut, HTTP_404=Problem), tags=["forms"], query=VersionQuery)
    def form(form_id):
        ...return a dict or a model; problems.abort(404) for what the token may not see

No session cookie, so no CSRF (the blueprint is exempt from CSRFProtect); CORS only for the
origins of `API_CORS_ORIGINS`; errors are problems (problems.py).
"""
from __future__ import annotations

import functools

from flask import Blueprint, current_app, request
from spectree import Response, SecurityScheme, SpecTree
from spectree.models import SecuritySchemeData

from service.api import auth, problems
from service.api.problems import Problem

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: The generated document's source: only views declared with `operation` appear in it.
spec = SpecTree(
    "flask", mode="strict", annotations=False, path="api/v1/docs",
    title="Doorstep API", version="1",
    description="Forms, submissions, responses and figures of a Doorstep office. Every request "
                "carries an API token (`doorstep tokens create`) as `Authorization: Bearer …`; "
                "errors are RFC 9457 problems in the language of `Accept-Language`.",
    before=problems.request_invalid, after=problems.response_checked,
    validation_error_model=Problem,
    # components named as the models are (`Problem`, `FormList`): a model name is the API's word
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    security_schemes=[SecurityScheme(name="token", data=SecuritySchemeData(
        type="http", scheme="bearer", description="`doorstep tokens create` prints one"))],
    security={"token": []},
)

#: Problems any operation may answer: no live token, out of scope, over the rate limit.
COMMON_PROBLEMS = {"HTTP_401": Problem, "HTTP_404": Problem, "HTTP_429": Problem}


def ok(model=None, **codes) -> Response:
    """The responses of an operation: `model` for 200 (or as `HTTP_201=` …), the common problems,
    and any others it declares (`HTTP_409=Problem`). And 414: gunicorn refuses a request line
    over 4 KB itself (an HTML page, before Doorstep sees the request)."""
    declared = dict(COMMON_PROBLEMS)
    if model is not None:
        declared["HTTP_200"] = model
    declared.update(codes)
    return Response("HTTP_414", **declared)


def operation(capability: str | None = None, *, resp: Response, tags=(), **models):
    """Declare an API view: a live token (holding `capability` when given), then its request
    checked against `models` (`query=`, `json=`), its answer against `resp`."""
    if "json" in models:
        resp.add_model(415, Problem)

    def decorator(view):
        checked = spec.validate(resp=resp, tags=tags, operation_id=view.__name__, **models)(view)
        return auth.required(capability)(_json_only(checked) if "json" in models else checked)
    return decorator


def _json_only(view):
    """A body is JSON (`Content-Type: application/json`), else a 415 problem before anything
    reads it: a form post or a malformed multipart one never reaches the view."""
    @functools.wraps(view)
    def checked(*args, **kwargs):
        if not request.is_json:
            problems.abort(415, type="json-only")
        return view(*args, **kwargs)
    return checked


def body():
    """The request's JSON body as its model (after `operation` checked it)."""
    return request.context.json


def query():
    """The request's query string as its model."""
    return request.context.query


def _cors(response):
    """CORS for the configured origins only: the origin echoed, never `*`, never credentials
    (a token is sent by the calling page itself)."""
    origin = request.headers.get("Origin", "").rstrip("/")
    if origin and origin in current_app.config["API_CORS_ORIGINS"]:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After, Content-Language"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = \
                "Authorization, Content-Type, Accept-Language"
            response.headers["Access-Control-Max-Age"] = "600"
    response.vary.add("Origin")
    return response


problems.init_blueprint(bp)
bp.after_request(_cors)


def init_app(app) -> None:
    """Register the blueprint (called by the app factory)."""
    from service import csrf
    csrf.exempt(bp)
    app.register_blueprint(bp)


from service.api import docs, forms, submissions  # noqa: E402,F401  (their views join bp)
from service.api import figures, households, responses, rounds  # noqa: E402,F401  (the read side)

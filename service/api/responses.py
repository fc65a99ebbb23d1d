"""Responses over the API: a form's responses with the office list's filters, by keyset pages,
and one response by its receipt or id.

What a token sees is what `policy.submissions_for` gives its role and area, as on the pages (an
office's areas; a surveyor token is no surveyor's account, so it sees none). Identifying (`pii`)
answers are masked by office/masking.py unless the request asks `pii=1` and the token's role may
reveal them (`responses.reveal`); a reveal is audit-logged under the token's name, with the
submissions it returned. Answers are codes and numbers as stored, not labels.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from flask import current_app
from flask_babel import gettext as _
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from service.api import auth, bp, ok, operation, problems, query
from service.api.problems import Problem
from service.office import policy
from service.office.masking import masked_answers
from service.records.vocabulary import CHANNELS, STATUSES
from service.reports import keyset, response_list
from service.reports.response_list import ResponseFilters, matching
from service.storage.models import Submission

MAX_PAGE = 1000
#: Days a filter may name: the office's calendar arithmetic (a day's start in UTC, the day after)
#: stays inside Python's dates, and no submission is older than the first.
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(9998, 12, 31)


def text(description: str = "", max_length: int = 64):
    """A text parameter: bounded, and without control characters (which no code, name or answer
    holds, and PostgreSQL refuses outright in a query: NUL)."""
    return Field(None, max_length=max_length, pattern=r"^[^\x00-\x1f\x7f]*$",
                 description=description)


def _iso_day(value):
    """Only YYYY-MM-DD: pydantic would read `0` as a timestamp, 1 January 1970."""
    if not isinstance(value, dt.date) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


def _in_range(value: dt.date) -> dt.date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"a day from {FIRST_DAY} to {LAST_DAY}")
    return value


#: A day as a query parameter (YYYY-MM-DD)
Day = Annotated[dt.date, BeforeValidator(_iso_day), AfterValidator(_in_range)]


def day(description: str):
    return Field(None, description=description)


class RevealQuery(BaseModel):
    pii: bool = Field(False, description="1: identifying answers unmasked (roles that may "
                                         "reveal them only; audit-logged)")


class ResponsesQuery(RevealQuery):
    area: str | None = text("An area's code: it and below")
    since: Day | None = day("Received on or after this office-local day")
    until: Day | None = day("Received on or before this office-local day")
    channel: Literal[CHANNELS] | None = None
    surveyor: str | None = text("A surveyor's username")
    version: int | None = Field(None, ge=1, le=1_000_000, description="The form version answered")
    status: Literal[STATUSES] | None = None
    limit: int = Field(100, ge=1, le=MAX_PAGE, description="Responses a page")
    next: str | None = Field(None, max_length=200,
                             description="The `next` cursor of the previous page")


class ResponseOut(BaseModel):
    id: int
    receipt: str
    form_id: str
    form_version: int
    received_at: dt.datetime = Field(description="UTC")
    day: dt.date = Field(description="The office-local day it was received")
    channel: str = Field(description="How it came in: " + ", ".join(CHANNELS) + " …")
    status: Literal[STATUSES]
    area: str | None = Field(description="The area's code")
    surveyor: str | None = Field(description="The surveyor's username")
    household: str | None = Field(description="A ledger form's visit: the household's code")
    lang: str
    consent: bool
    sensitive_consent: bool
    answers: dict[str, Any] = Field(description="The current answers (corrections applied) by "
                                                "question name: codes, numbers, lists of codes, "
                                                "repeat groups as lists of items; `pii` answers "
                                                "masked unless revealed")


class ResponsePage(BaseModel):
    responses: list[ResponseOut] = Field(description="In ascending id order")
    next: str | None = Field(description="Pass as `next` for the following page; null: no more")
    pii_revealed: bool


class ResponseDetail(ResponseOut):
    pii_revealed: bool


def catalog():
    return current_app.extensions["doorstep.catalog"]


def may_reveal(asked: bool, thing=None) -> bool:
    """Whether this request reveals identifiers: asked, and the token's role may (403 if not)."""
    if not asked:
        return False
    if not policy.can(auth.holder(), "responses.reveal", thing):
        problems.abort(403, _("This token may not reveal identifying answers; ask without "
                              "pii=1."), type="pii-not-allowed")
    return True


def after_cursor(cursor: str | None) -> int | None:
    try:
        return keyset.after_id(cursor)
    except keyset.BadCursor:
        problems.abort(422, _("This cursor was not made by this service; start again without "
                              "it."), type="bad-cursor",
                       errors={"next": [_("Not a cursor of this list.")]})


def _document(r: response_list.Response, specs: dict, revealed: bool) -> dict:
    key = (r.form_id, r.form_version)
    if key not in specs:
        specs[key] = catalog().version(*key)
    answers = r.answers if revealed else \
        masked_answers(specs[key], r.answers) if specs[key] is not None else {}
    return {"id": r.id, "receipt": r.receipt, "form_id": r.form_id,
            "form_version": r.form_version, "received_at": r.received_at,
            "day": r.day, "channel": r.channel, "status": r.status, "area": r.area,
            "surveyor": r.surveyor, "household": r.household, "lang": r.lang,
            "consent": r.consent, "sensitive_consent": r.sensitive_consent,
            "answers": answers}


@bp.get("/forms/<form_id>/responses")
@operation("responses.view", resp=ok(ResponsePage, HTTP_403=Problem, HTTP_422=Problem),
           tags=["responses"], query=ResponsesQuery)
def list_responses(form_id):
    """A form's responses the token may see, filtered as the office's list, 1 to 1,000 a page."""
    holder, asked = auth.holder(), query()
    if catalog().get(form_id) is None:
        problems.abort(404)
    after = after_cursor(asked.next)
    revealed = may_reveal(asked.pii)
    f = ResponseFilters(since=asked.since, until=asked.until, channel=asked.channel,
                        surveyor=asked.surveyor, version=asked.version, status=asked.status)
    if asked.area:
        f.area = policy.get_area_or_404(holder, asked.area)
    # a filter on days reads the (form, received_at) index; otherwise the table in id order
    rows, following = response_list.page(catalog(), matching(holder, form_id, f), after,
                                         asked.limit, id_walk=not (f.since or f.until))
    if revealed and rows:
        auth.audited("reveal", f"form:{form_id}", count=len(rows),
                     submissions=[r.id for r in rows], filters=f.as_args())
    specs: dict = {}
    # checked here and written by pydantic (a third of what checking a dumped page costs)
    return ResponsePage.model_validate({"responses": [_document(r, specs, revealed)
                                                      for r in rows],
                                        "next": following, "pii_revealed": revealed})


def _find(holder, ref: str) -> Submission:
    """A submission by its id or receipt (as typed: case and the dash forgiven), in scope."""
    if ref.isdigit() and ref.isascii() and len(ref) < 19:
        return policy.get_submission_or_404(holder, int(ref))
    text = "".join(ch for ch in ref.upper() if ch.isalnum())
    if len(text) != 8:
        problems.abort(404)
    found = Submission.get_or_none(Submission.receipt == f"{text[:4]}-{text[4:]}")
    if found is None:
        problems.abort(404)
    return policy.get_submission_or_404(holder, found.id)


@bp.get("/responses/<ref>")
@operation("responses.view", resp=ok(ResponseDetail, HTTP_403=Problem), tags=["responses"],
           query=RevealQuery)
def get_response(ref):
    """One response, by its receipt (`ABCD-EFGH`) or its id."""
    holder = auth.holder()
    submission = _find(holder, ref)
    revealed = may_reveal(query().pii, submission)
    found = response_list.one(catalog(), submission)
    if revealed:
        auth.audited("reveal", f"submission:{submission.id}", form=submission.form_id,
                     receipt=submission.receipt)
    return ResponseDetail.model_validate({**_document(found, {}, revealed),
                                          "pii_revealed": revealed})

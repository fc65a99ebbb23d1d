"""Submitting over the API (`POST /api/v1/forms/<id>/submissions`): the public form's path, fed
JSON instead of a form post.

The body's answers become the very form data the public page posts (the wire format: a
`select_multiple` as its name repeated, repeat items as `<group>-<i>-<question>`, consent as
`y`), checked by the form's own WTForms class (formspec/wtf.py: required, types, bounds,
`show_if`, consent) and stored by `records/submissions.store`, the only writer: the same
validation, rules, idempotency and receipts. 201 with the receipt; the same `submission_uuid`
again → 200 with the same receipt, however many arrive at once (the UUID is unique in the
database); invalid → 422 problem with `errors` keyed by question. A ledger form's `household` and
`base_version` are checked as the visit pages' are (collect/routes.visit_of).

Channel `api`: a token is not an office account, so its submissions name no surveyor; they belong
to the token's area (a revisit: its household's), and each is audit-logged under the token's
name (`api_submitted`), so the office knows which system sent what.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from flask import current_app
from flask_babel import gettext as _
from pydantic import BaseModel, Field, TypeAdapter, WithJsonSchema
from werkzeug.datastructures import MultiDict

from service.api import auth, body, bp, ok, operation, problems
from service.api.problems import Problem
from service.collect import offline
from service.collect.routes import Refused, visit_of
from service.formspec import wtf
from service.i18n import current_lang
from service.records import ledger, submissions
from service.storage.db import write_transaction
from service.storage.models import Household

CHANNEL = "api"
Scalar = str | int | float | bool
Item = dict[str, Scalar | list[Scalar] | None]
#: An answer's shape, as documented; each one is checked by the form itself (`formdata` says what
#: no post could carry, by question, rather than pydantic naming the union's branches)
Answer = Scalar | list[Scalar] | list[Item] | None


class SubmissionIn(BaseModel):
    submission_uuid: uuid.UUID = Field(description="Made by the sender, once per submission: "
                                                   "sending it again never stores it twice")
    answers: Annotated[dict[str, Any], WithJsonSchema({
        "type": "object", "additionalProperties": TypeAdapter(Answer).json_schema()})] = Field(
        description="Each question's answer under its `name`: text, a number, a date as "
                    "YYYY-MM-DD, a time as HH:MM, a list of codes for a select_multiple, a list "
                    "of objects (one per item) for a repeat group; null or absent: unanswered")
    consent: bool = Field(False, description="The household agreed (forms with consent)")
    sensitive_consent: bool = Field(False, description="Agreed to the sensitive questions")
    household: str | None = Field(None, max_length=20,
                                  description="Ledger forms: the household revisited (its code)")
    base_version: int | None = Field(None, ge=0, le=999_999_999,
                                     description="Ledger forms: the household version the "
                                                 "answers started from")


class Receipt(BaseModel):
    receipt: str = Field(description="The code read aloud to the household (XXXX-XXXX)")
    submission_uuid: str
    form_id: str
    form_version: int
    received_at: dt.datetime = Field(description="UTC")
    household: str | None = Field(None, description="Ledger forms: the household's code")
    registered: bool = Field(False, description="This visit registered a new household")


def formdata(spec, answers: dict, consent: bool, sensitive: bool) -> tuple[MultiDict, dict]:
    """The public form's post made from JSON answers, and the errors of answers no post could
    carry (an unknown question, a list where one answer goes)."""
    data, errors = MultiDict(), {}
    if consent:
        data.add("consent", "y")
    if sensitive:
        data.add("sensitive_consent", "y")
    _answers(spec, None, answers, "", data, errors)
    return data, errors


def _answers(spec, group, answers: dict, prefix: str, data: MultiDict, errors: dict) -> None:
    for name, value in answers.items():
        q = spec.question(name) if group is None else \
            next((c for c in group.questions if c.name == name), None)
        if q is None or not q.answerable or (group is None and spec.parent_of(name) is not None):
            errors[prefix + name] = [_("This form has no such question.")]
        elif value is None:
            continue
        elif q.is_group:
            if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
                errors[prefix + name] = [_("A list of items (objects) is expected.")]
                continue
            for i, item in enumerate(value):
                _answers(spec, q, item, f"{prefix}{name}-{i}-", data, errors)
        elif isinstance(value, (list, dict)) and not q.qtype.multiple:
            errors[prefix + name] = [_("One answer is expected, not a list.")]
        else:
            for one in value if isinstance(value, list) else [value]:
                if isinstance(one, (list, dict)):
                    errors[prefix + name] = [_("A list of codes is expected.")]
                    break
                data.add(prefix + name, _text(one))


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def receipt(submission) -> Receipt:
    code = offline.registered(submission)
    return Receipt(receipt=submission.receipt, submission_uuid=submission.uuid,
                   form_id=submission.form_id, form_version=submission.form_version,
                   received_at=submission.received_at.replace(tzinfo=dt.timezone.utc),
                   household=submission.household.code if submission.household_id else None,
                   registered=code is not None)


def refused(error: Refused):
    """A ledger visit the visit pages would refuse: malformed → 422 about its field, unknown or
    foreign household → 404, moved out or closed → 409."""
    if error.status == 400:
        problems.abort(422, error.message, type="visit", errors={error.field: [error.message]})
    problems.abort(error.status, error.message, type="visit")


def visit(spec, sent: SubmissionIn) -> tuple[submissions.Visit, int | None]:
    """The visit a ledger form's submission is, and the area it is counted in."""
    area = auth.token().area_id
    if not spec.ledger:
        if sent.household is not None or sent.base_version is not None:
            problems.abort(422, type="visit", errors={"household": [
                _("This form keeps no households: leave out household and base_version.")]})
        return submissions.Visit(), area
    try:
        chosen = visit_of(spec, auth.holder(), sent.household or "",
                          "" if sent.base_version is None else str(sent.base_version))
    except Refused as error:
        refused(error)
    if chosen.household is not None:      # a revisit belongs to its household's area
        area = Household.get(Household.code == chosen.household).area_id
    return chosen, area


@bp.post("/forms/<form_id>/submissions")
@operation(json=SubmissionIn, resp=ok(HTTP_200=Receipt, HTTP_201=Receipt, HTTP_409=Problem,
                                      HTTP_410=Problem), tags=["submissions"])
def submit(form_id):
    """Submit one response (201); the same `submission_uuid` again answers 200 with the same
    receipt; invalid answers, 422 with `errors` keyed by question."""
    catalog = current_app.extensions["doorstep.catalog"]
    spec = catalog.get(form_id)
    if spec is None:
        problems.abort(404)
    if catalog.is_closed(form_id):
        problems.abort(410, _("The office has closed this form, so it no longer takes answers."),
                       type="form-closed")
    sent = body()
    submission_uuid = str(sent.submission_uuid)
    done = submissions.find(submission_uuid)
    if done is not None:
        return _again(done, spec)
    chosen, area = visit(spec, sent)
    data, errors = formdata(spec, sent.answers, sent.consent, sent.sensitive_consent)
    data.add("submission_uuid", submission_uuid)
    form = wtf.form_class(spec)(formdata=data, meta={"csrf": False})
    if not form.validate() or errors:
        problems.abort(422, _("Some answers need attention; see `errors`."), type="answers",
                       errors={**offline.wire_errors(form), **errors})
    catalog.ensure_published(spec)
    try:
        with write_transaction():     # the audit event commits with the submission: one sync
            submission, created = submissions.store(
                spec, submission_uuid, form.answers, lang=current_lang(),
                consent=bool(spec.consent), sensitive_consent=bool(
                    getattr(form, "sensitive_consent", None) and form.sensitive_consent.data),
                attribution=submissions.Attribution(channel=CHANNEL, area_id=area), visit=chosen)
            if created:
                auth.audited("api_submitted", submission.receipt, form=spec.id)
    except ledger.LedgerError as error:   # changed since the checks above: stored nothing
        refused(Refused.of(error))
    if not created:
        return _again(submission, spec)
    return receipt(submission), 201


def _again(done, spec):
    """A UUID already stored: its receipt again (200), or 409 if it was another form's."""
    if done.form_id != spec.id:
        problems.abort(409, _("This submission_uuid was already used for another form."),
                       type="uuid-taken")
    return receipt(done), 200

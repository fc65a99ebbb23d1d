"""Forms over the API: the list a token may use, and one form's definition (as its published
JSON, the very document `doorstep forms convert` and the office's download start from) with its
versions.

Forms belong to no area: every token may read and fill in the open ones, as anyone may on the
public side; a closed form is listed (state `closed`) to tokens that may read figures
(`dashboard.view`), since its responses and figures stay with the office. Drafts are never shown.
"""
from __future__ import annotations

import json
from typing import Any, Literal

from flask import current_app
from pydantic import BaseModel, Field

from service.api import auth, bp, ok, operation, problems, query
from service.formspec.catalog import _canonical
from service.office import policy
from service.storage.form_models import FormVersion


class Words(BaseModel):
    """A text in each language (English may be absent: it falls back to Chinese)."""

    zh: str
    en: str | None = None


class FormSummary(BaseModel):
    id: str
    title: Words
    version: int = Field(description="The version served (submissions are made to this one)")
    versions: list[int] = Field(description="Every published version, oldest first")
    state: Literal["published", "closed"]
    ledger: bool = Field(description="A household form: each submission is a visit")
    consent: bool = Field(description="Submissions need `consent: true`")
    sensitive_consent: bool = Field(description="Sensitive questions are asked only with "
                                                "`sensitive_consent: true`")


class FormList(BaseModel):
    forms: list[FormSummary]


class FormDefinition(FormSummary):
    definition_version: int = Field(description="The version of `definition`")
    definition: dict[str, Any] = Field(description="The form definition as published (the "
                                                   "YAML definition's keys, as JSON)")


class VersionQuery(BaseModel):
    version: int | None = Field(None, ge=1, le=1_000_000,
                                description="A published version (default: the one served)")


def catalog():
    return current_app.extensions["doorstep.catalog"]


def usable(form_id: str):
    """The served spec of a form the token may use, or a 404 problem."""
    spec = catalog().get(form_id)
    if spec is None or (catalog().is_closed(form_id) and
                        not policy.can(auth.holder(), "dashboard.view")):
        problems.abort(404)
    return spec


def published_versions(form_id: str) -> list[int]:
    return [v for (v,) in FormVersion.select(FormVersion.version)
            .where((FormVersion.form_id == form_id) & (FormVersion.published == True))  # noqa: E712
            .order_by(FormVersion.version).tuples()]


def summary(spec, versions: list[int]) -> dict:
    return {"id": spec.id, "title": spec.title.as_dict(), "version": spec.version,
            "versions": versions or [spec.version],
            "state": "closed" if catalog().is_closed(spec.id) else "published",
            "ledger": spec.ledger, "consent": spec.consent is not None,
            "sensitive_consent": spec.sensitive_consent is not None}


@bp.get("/forms")
@operation(resp=ok(FormList), tags=["forms"])
def list_forms():
    """The forms this token may use."""
    holder = auth.holder()
    shown = [spec for spec in catalog() if not catalog().is_closed(spec.id)
             or policy.can(holder, "dashboard.view")]
    return FormList(forms=[summary(spec, published_versions(spec.id)) for spec in shown])


@bp.get("/forms/<form_id>")
@operation(resp=ok(FormDefinition), tags=["forms"], query=VersionQuery)
def get_form(form_id):
    """One form's definition (the version served, or `?version=N`) and its versions."""
    spec = usable(form_id)
    versions = published_versions(form_id)
    wanted = query().version or spec.version
    shown = spec if wanted == spec.version else \
        catalog().version(form_id, wanted) if wanted in versions else None
    if shown is None:
        problems.abort(404, type="no-such-version")
    return FormDefinition(**summary(spec, versions), definition_version=shown.version,
                          definition=json.loads(_canonical(shown)))

"""The household ledger (台帐) over the API: a ledger form's households with the office list's
filters (keyset pages by id), one household with its current answers, and its history.

Tokens whose role opens the office's ledger (`households.view`) see the households of their
areas (policy.households_for), as on /admin/households; anything else is a 404 problem.
Identifiers (the address, when it is `pii`, and every `pii` answer) are masked unless `pii=1` is
asked by a role that may reveal (`responses.reveal`); each reveal is audited under the token's
name, as the page's reveal button is.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from flask import current_app
from flask_babel import gettext as _
from peewee import fn
from pydantic import BaseModel, Field

from service.api import auth, bp, ok, operation, problems, query
from service.api.problems import Problem
from service.api.responses import Day, RevealQuery, after_cursor, day, may_reveal, text
from service.formspec.loader import LEDGER_ADDRESS
from service.office import policy
from service.office.masking import mask, masked_answers
from service.records import ledger
from service.records.household_index import filterable
from service.records.vocabulary import HOUSEHOLD_STATUSES
from service.reports import household_history, keyset
from service.reports.household_list import HouseholdFilters, matching
from service.storage.db import in_id_order
from service.storage.models import Area, Household, HouseholdConflict

HIDDEN = "***"      # a value of a question the form no longer has, unrevealed (as on the page)
#: What a list page reads of each household: not its answers (`current`, kept sealed, and their
#: cells), which a page does not return and which would be opened for every row it reads
LISTED = (Household.id, Household.code, Household.form_id, Household.area, Household.address,
          Household.status, Household.version, Household.visits, Household.last_visit_at,
          Household.registered_at, Household.duplicate_of, Household.merged_into)


class HouseholdsQuery(RevealQuery):
    area: str | None = text("An area's code: it and below")
    before: Day | None = day("Not visited since this office-local day")
    question: str | None = text("With `value`: households whose current answer to this "
                                "question (not an identifying one) is `value`")
    value: str | None = text("A choice's code or label, or the answer as text", max_length=200)
    duplicates: bool = Field(False, description="Only those flagged as possible duplicates")
    conflicts: bool = Field(False, description="Only those with an open conflict")
    status: Literal[HOUSEHOLD_STATUSES] | None = Field(
        None, description="Default: every status but merged")
    limit: int = Field(100, ge=1, le=1000, description="Households a page")
    next: str | None = Field(None, max_length=200,
                             description="The `next` cursor of the previous page")


class HouseholdOut(BaseModel):
    code: str = Field(description="XXXX-XXXX, read aloud")
    form_id: str
    area: str | None = Field(description="The area's code")
    address: str = Field(description="Masked unless revealed, when the form marks it `pii`")
    status: Literal[HOUSEHOLD_STATUSES]
    version: int = Field(description="Raised by every change of its answers (a revisit's "
                                     "`base_version`)")
    visits: int
    last_visit_at: dt.datetime | None = Field(description="UTC")
    registered_at: dt.datetime = Field(description="UTC")
    duplicate_of: str | None = Field(description="A possible duplicate of this household (code)")
    merged_into: str | None = Field(description="A merged household: where it went (code)")
    open_conflicts: int


class HouseholdPage(BaseModel):
    households: list[HouseholdOut] = Field(description="In ascending id (registration) order")
    next: str | None = Field(description="Pass as `next` for the following page; null: no more")
    pii_revealed: bool


class HouseholdDetail(HouseholdOut):
    answers: dict[str, Any] = Field(description="The current answers by question name "
                                                "(`pii` ones masked unless revealed)")
    pii_revealed: bool


class Change(BaseModel):
    question: str
    old: Any = Field(description="null: unanswered")
    new: Any
    version: int = Field(description="The household version this change made")
    source: str = Field(description="visit, correction, import, resolve or merge")
    at: dt.datetime = Field(description="UTC")
    receipt: str | None = Field(description="The visit that made it")
    by: str | None = Field(description="The office user who made it")


class Visit(BaseModel):
    at: dt.datetime = Field(description="UTC")
    receipt: str | None = Field(description="A visit with the form: its response's receipt")
    outcome: str | None = Field(description="A visit without the form: not_home, refused, "
                                            "vacant, moved_out, no_change")
    channel: str
    surveyor: str | None


class HouseholdHistory(BaseModel):
    code: str
    changes: list[Change] = Field(description="Oldest first; households merged into this one "
                                              "included")
    visits: list[Visit] = Field(description="Newest first")
    pii_revealed: bool


def _ledger_spec(form_id: str):
    spec = current_app.extensions["doorstep.catalog"].get(form_id)
    if spec is None or not spec.ledger:
        problems.abort(404)
    return spec


def _filters(holder, spec, asked: HouseholdsQuery) -> HouseholdFilters:
    f = HouseholdFilters(before=asked.before, duplicates=asked.duplicates,
                         conflicts=asked.conflicts, status=asked.status)
    if asked.area:
        f.area = policy.get_area_or_404(holder, asked.area)
    if asked.question:
        q = spec.question(asked.question)
        if q is None or q not in filterable(spec) or not (asked.value or "").strip():
            problems.abort(422, _("The list filters on a question that is not an identifier, "
                                  "with a value."), type="bad-filter",
                           errors={"question": [_("Not a question the list filters on, or no "
                                                  "value given.")]})
        f.question, f.value = q, asked.value.strip()
    return f


def _summaries(spec, rows: list[Household], revealed: bool) -> list[dict]:
    """The rows as HouseholdOut, with one query each for their areas, codes and conflicts."""
    ids = [h.id for h in rows]
    others = {h.duplicate_of_id for h in rows} | {h.merged_into_id for h in rows}
    others.discard(None)
    codes = dict(Household.select(Household.id, Household.code).where(
        Household.id.in_(sorted(others))).tuples()) if others else {}
    areas = dict(Area.select(Area.id, Area.code).where(Area.id.in_(
        sorted({h.area_id for h in rows if h.area_id}))).tuples()) if rows else {}
    conflicts = dict(HouseholdConflict.select(HouseholdConflict.household, fn.COUNT(HouseholdConflict.id))
                     .where(HouseholdConflict.household.in_(ids) &
                            HouseholdConflict.resolved_at.is_null())
                     .group_by(HouseholdConflict.household).tuples()) if rows else {}
    address_q = spec.question(LEDGER_ADDRESS)
    hide = address_q is not None and address_q.pii and not revealed
    return [{"code": h.code, "form_id": h.form_id, "area": areas.get(h.area_id),
             "address": mask(address_q, h.address) if hide else h.address, "status": h.status,
             "version": h.version, "visits": h.visits, "last_visit_at": _utc(h.last_visit_at),
             "registered_at": _utc(h.registered_at),
             "duplicate_of": codes.get(h.duplicate_of_id), "merged_into":
             codes.get(h.merged_into_id), "open_conflicts": conflicts.get(h.id, 0)}
            for h in rows]


def _utc(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() + "Z" if moment is not None else None


@bp.get("/forms/<form_id>/households")
@operation("households.view", resp=ok(HouseholdPage, HTTP_403=Problem, HTTP_422=Problem),
           tags=["households"], query=HouseholdsQuery)
def list_households(form_id):
    """A ledger form's households the token may see, filtered as the office's ledger list."""
    holder, asked = auth.holder(), query()
    spec = _ledger_spec(form_id)
    after = after_cursor(asked.next)
    revealed = may_reveal(asked.pii)
    listed, condition = matching(holder, spec.id, _filters(holder, spec, asked))
    rows, following = keyset.page(in_id_order(listed.where(condition).select(*LISTED), Household),
                                  Household.id, after, asked.limit)
    if revealed and rows:
        auth.audited("reveal", f"form:{form_id}", count=len(rows),
                     households=[h.code for h in rows])
    return HouseholdPage.model_validate({"households": _summaries(spec, rows, revealed),
                                         "next": following, "pii_revealed": revealed})


def _opened(code: str, **detail):
    """The household (a merged code: the one it went into) in the token's scope, its form, and
    whether this request reveals its identifiers (then audited, with `detail`)."""
    found = policy.get_household_or_404(auth.holder(), code)
    spec = current_app.extensions["doorstep.catalog"].get(found.form_id)
    if spec is None:
        problems.abort(404)
    revealed = may_reveal(query().pii, found)
    if revealed:
        auth.audited("reveal", f"household:{found.id}", form=found.form_id,
                     household=found.code, **detail)
    return found, spec, revealed


@bp.get("/households/<code>")
@operation("households.view", resp=ok(HouseholdDetail, HTTP_403=Problem), tags=["households"],
           query=RevealQuery)
def get_household(code):
    """One household and its current answers (a merged code gives the household it went into)."""
    found, spec, revealed = _opened(code)
    now = ledger.current(found)
    return HouseholdDetail.model_validate({
        **_summaries(spec, [found], revealed)[0], "pii_revealed": revealed,
        "answers": now if revealed else masked_answers(spec, now)})


def _shown(spec, name: str, value, revealed: bool):
    if revealed or value is None:
        return value
    q = spec.question(name)
    if q is None:
        return HIDDEN
    return mask(q, value) if q.pii else value


@bp.get("/households/<code>/history")
@operation("households.view", resp=ok(HouseholdHistory, HTTP_403=Problem), tags=["households"],
           query=RevealQuery)
def get_household_history(code):
    """Each change of the household's answers (and of those merged into it), and its visits."""
    found, spec, revealed = _opened(code, history=True)
    ids = household_history.family(found)
    changes = [{**c, "at": _utc(c["at"]), "old": _shown(spec, c["question"], c["old"], revealed),
                "new": _shown(spec, c["question"], c["new"], revealed)}
               for c in household_history.changes(ids)]
    visits = [{**v, "at": _utc(v["at"])} for v in household_history.visits(ids)]
    return HouseholdHistory.model_validate({"code": found.code, "changes": changes,
                                            "visits": visits, "pii_revealed": revealed})

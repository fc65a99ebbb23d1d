"""The responses of a form as a list: the office list's filters as one query (the responses page
and the JSON API both narrow through `matching`), and pages of responses read in bulk.

A page of the API holds up to 1,000 responses. Reading their current answers from `Answer` rows
(~45 a household visit) costs ~200 ms on its own; most submissions are never corrected, and for
those the answers document kept on the submission (`Submission.answers`, as accepted) is the same
document the rows were made from, so `page` reads that and goes to the rows only for the
submissions a correction changed (tests compare both ways for every question type).

The page reads the driver's rows, past the models' fields, so the kept document comes as stored:
sealed (sealed_fields.py). It is opened with one `sealed_fields.opener()` a page, only for the
responses the page returns and only for those it reads the document of (the `Answer` rows of a
corrected one are read through the model, which opens them).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from service.office import policy
from service.office.clock import day_start_utc
from service.records.answers import answer_rows_of, shape
from service.reports import keyset
from service.storage.db import in_id_order
from service.storage.models import Area, Correction, Household, Submission, User
from service.storage.sealed_fields import opener


@dataclass
class ResponseFilters:
    """The list's filters: days are the office's calendar days (since and until included)."""

    area: Area | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    channel: str | None = None
    surveyor: str | None = None      # a username
    version: int | None = None
    status: str | None = None

    def as_args(self) -> dict:
        """The filters in use, as query parameters (the page's links keep them)."""
        args = {"area": self.area.code if self.area is not None else None,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
                "channel": self.channel, "surveyor": self.surveyor,
                "version": str(self.version) if self.version else None, "status": self.status}
        return {name: value for name, value in args.items() if value}


def matching(holder, form_id: str, f: ResponseFilters):
    """The holder's submissions of one form (policy.submissions_for: a surveyor's own recent
    ones, an office's of its areas) narrowed by the filters."""
    query = policy.submissions_for(holder, form_id)
    if f.area is not None:
        query = query.where(Submission.area.in_(policy.area_ids_under(f.area)))
    if f.since:
        query = query.where(Submission.received_at >= day_start_utc(f.since))
    if f.until:
        query = query.where(Submission.received_at < day_start_utc(f.until + dt.timedelta(days=1)))
    if f.channel:
        query = query.where(Submission.channel == f.channel)
    if f.surveyor:
        query = query.where(Submission.surveyor.in_(
            User.select(User.id).where(User.username == f.surveyor)))
    if f.version:
        query = query.where(Submission.form_version == f.version)
    if f.status:
        query = query.where(Submission.status == f.status)
    return query


@dataclass
class Response:
    """One response as a list reads it: its record, where it came from, its current answers."""

    id: int
    receipt: str
    form_id: str
    form_version: int
    received_at: str           # ISO 8601, UTC ("…Z")
    day: str
    channel: str
    status: str
    area: str | None           # the area's code
    surveyor: str | None       # the surveyor's username
    household: str | None      # a ledger visit's household code
    lang: str
    consent: bool
    sensitive_consent: bool
    answers: dict


#: The columns a page reads (no cells: the list does not need the export's copy of the answers).
COLUMNS = (Submission.id, Submission.receipt, Submission.form_id, Submission.form_version,
           Submission.received_at, Submission.day, Submission.channel, Submission.status,
           Submission.area, Submission.surveyor, Submission.household, Submission.lang,
           Submission.consent, Submission.sensitive_consent, Submission.answers)


def page(catalog, query, after: int | None, limit: int, *, id_walk: bool = True):
    """One keyset page of `query` (see keyset.py): its Responses and the next cursor.

    `id_walk`: read the table in id order from the cursor (db.in_id_order). Right when the
    filters keep most rows; a filter on days is better served by the (form, received_at) index,
    so the caller passes False then."""
    selected = query.select(*COLUMNS)
    if id_walk:
        selected = in_id_order(selected, Submission)
    rows, following = keyset.page(selected, Submission.id, after, limit, raw=True)
    return [Response(*row[:-1], answers=answers) for row, answers in
            zip(_named(rows), current_answers(catalog, rows))], following


def one(catalog, submission: Submission) -> Response:
    """A single response, read as a page's are."""
    found, _none = page(catalog, Submission.select().where(Submission.id == submission.id),
                        None, 1, id_walk=False)
    return found[0]


def _named(rows: list[tuple]) -> list[tuple]:
    """The driver's rows with the received time as ISO 8601 UTC, area, surveyor and household
    ids replaced by their codes and names (one query each for the page), booleans as such."""
    areas = _lookup(Area, Area.code, {r[8] for r in rows})
    people = _lookup(User, User.username, {r[9] for r in rows})
    homes = _lookup(Household, Household.code, {r[10] for r in rows})
    return [(*r[:4], _utc(r[4]), *r[5:8], areas.get(r[8]), people.get(r[9]), homes.get(r[10]),
             r[11], bool(r[12]), bool(r[13]), r[14]) for r in rows]


def _utc(moment) -> str:
    """A stored naive-UTC time as ISO 8601 (SQLite's driver gives peewee's text for it)."""
    text = moment.isoformat() if isinstance(moment, dt.datetime) else str(moment)
    return text.replace(" ", "T") + "Z"


def _lookup(model, column, ids: set) -> dict:
    ids.discard(None)
    if not ids:
        return {}
    return dict(model.select(model.id, column).where(model.id.in_(sorted(ids))).tuples())


def current_answers(catalog, rows: list[tuple]) -> list[dict]:
    """Each row's answers as they stand now (corrections applied), in the rows' order: the kept
    document (as the driver gives it: sealed) for the submissions never corrected, their
    `Answer` rows for the others."""
    ids = [r[0] for r in rows]
    corrected = {i for (i,) in Correction.select(Correction.submission).where(
        Correction.submission.in_(ids)).distinct().tuples()} if ids else set()
    from_rows = answer_rows_of(sorted(corrected)) if corrected else {}
    open_ = opener() if len(corrected) < len(rows) else None
    out = []
    for r in rows:
        if r[0] in corrected:
            spec = catalog.version(r[2], r[3])
            out.append(shape(spec, from_rows[r[0]]) if spec is not None else {})
        else:
            out.append(json.loads(open_(r[-1]) or "{}"))
    return out

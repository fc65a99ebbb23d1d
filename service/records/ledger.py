"""The household ledger (台帐): households registered by a first visit and kept current by later ones.

A ledger form's submission is a visit to one household. The first visit registers it (a new code);
a revisit names its code and the household version its page was prefilled from (`base_version`).
The household's `current` answers take each question's newest value, question by question:

- a question the visit left as it found it (its answer equals the value at the visit's base) keeps
  the household's value, whatever happened since;
- a question nobody changed since the base takes the visit's answer;
- a question changed both since the base and by the visit, to different values, is a conflict: the
  household keeps the newer value, and the office picks (`resolve`). Nothing is lost either way:
  the visit itself is stored whole, as every submission is.

Sensitive questions are applied only from visits that gave the sensitive consent (otherwise they
were neither asked nor prefilled). Every change is a `HouseholdChange` (old → new, which visit or
who, when); all of it happens in the transaction that stores the visit (submissions.store).
"""
from __future__ import annotations

import json
import re
import secrets
import unicodedata

from service.formspec import FormSpec
from service.formspec.loader import LEDGER_ADDRESS
from service.records import cells, household_index, rounds
from service.records.vocabulary import OUTCOMES, read_aloud_code
from service.storage import sealing
from service.storage.db import db, insert_row, insert_rows, is_sqlite
from service.storage.models import (
    Household, HouseholdChange, HouseholdConflict, Submission, VisitOutcome, utcnow,
)

#: Households that can still be visited; a visit to a moved-out or closed one is refused.
VISITABLE = ("active",)


class LedgerError(Exception):
    """A visit the ledger refuses; `reason` is one of: unknown, closed, version."""

    def __init__(self, reason: str, household: Household | None = None):
        super().__init__(reason)
        self.reason, self.household = reason, household


def normalise_address(text: str) -> str:
    """An address as compared for duplicates: full-width forms folded (NFKC), case, spaces and
    punctuation dropped ("3号楼 2单元" and "3号楼2单元。" are one address)."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return re.sub(r"[\W_]+", "", folded)


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def change_value(spec: FormSpec | None, question: str, value) -> str:
    """A value of the history (`HouseholdChange`) as stored: JSON, sealed when it may hold an
    identifier (a `pii` question, a repeat group with one, a question the form no longer has)."""
    q = spec.question(question) if spec is not None else None
    text = _dump(value)
    return sealing.seal(text) if q is None or holds_pii(q) else text


def holds_pii(q) -> bool:
    """Whether answers to `q` may identify someone: it is `pii`, or a group with such a question."""
    return q.pii or (q.is_group and any(holds_pii(child) for child in q.questions))


def current(household: Household) -> dict:
    return json.loads(household.current or "{}")


def prefill(spec: FormSpec, household: Household, sensitive_ok: bool) -> dict:
    """The answers a revisit's page starts from: the current ones, except questions asked fresh
    on every visit (`prefill: false`) and, without the sensitive consent, sensitive ones."""
    now = current(household)
    return {q.name: now[q.name] for q in spec.questions()
            if q.name in now and q.prefill and (sensitive_ok or not q.sensitive)}


def find(code: str) -> Household | None:
    """A household by its code (as typed: case and the dash are forgiven), following merges."""
    text = re.sub(r"[^0-9A-Za-z]", "", code or "").upper()
    if len(text) != 8:
        return None
    household = Household.get_or_none(Household.code == f"{text[:4]}-{text[4:]}")
    seen = 0
    while household is not None and household.merged_into_id is not None and seen < 20:
        household, seen = Household.get_by_id(household.merged_into_id), seen + 1
    return household


def _locked(household_id: int) -> Household:
    """The household as it is now, locked until the transaction ends (two visits at once apply
    one after the other). SQLite's IMMEDIATE transaction already holds the write lock."""
    query = Household.select().where(Household.id == household_id)
    return (query if is_sqlite() else query.for_update()).get()


def open_visit(spec: FormSpec, code: str | None, base_version: int | None,
               area_id: int | None) -> Household:
    """The household a visit is for, inside the visit's write transaction: a new one for a first
    visit (no code), else the named one, locked. Raises LedgerError for an unknown, closed or
    moved-out household, or a base version the household never had."""
    if code is None:
        household = Household(code=read_aloud_code(), form_id=spec.id, area=area_id,
                              door_token=secrets.token_urlsafe(12), version=0)
        insert_row(household)       # without peewee's query building: one per registration
        return household
    found = find(code)
    if found is None or found.form_id != spec.id:
        raise LedgerError("unknown")
    household = _locked(found.id)
    if household.status not in VISITABLE:
        raise LedgerError("closed", household)
    if base_version is not None and not 0 <= base_version <= household.version:
        raise LedgerError("version", household)
    return household


def record_visit(spec: FormSpec, household: Household, submission: Submission, answers: dict,
                 base_version: int | None, sensitive_ok: bool,
                 partial: bool = False) -> list[HouseholdConflict]:
    """Apply a stored visit's answers to its household (see the module docstring); returns the
    conflicts it raised. A first visit's answers all apply. `partial`: a report that was not
    prefilled (a household reporting for itself from its door-plate code) changes only what it
    answered and clears nothing."""
    now = current(household)
    base = household.version if base_version is None else base_version
    since = _changed_since(household, base) if base < household.version else {}
    changes, conflicts = [], []
    for q in spec.questions():
        if not q.answerable or (q.sensitive and not sensitive_ok):
            continue
        new, old = answers.get(q.name), now.get(q.name)
        if new == old or (new is None and (partial or (q.sensitive and household.visits))):
            # a self-report clears nothing; nor does a revisit clear a sensitive answer, which
            # its page never shows (it is asked again, and the office corrects it if it must go)
            continue
        if q.name in since:
            if new == since[q.name]:      # the visit kept what it was shown: the newer value stays
                continue
            conflicts.append(HouseholdConflict(
                household=household, question=q.name, kept_value=_dump(old),
                visit_value=_dump(new), submission=submission))
            continue
        changes.append((q.name, old, new))
    for name, _old, new in changes:
        _set(now, name, new)
    first = household.visits == 0
    _save(household, now, changes, "visit", submission=submission, visited=True,
          flag=spec.id if first else None)
    for conflict in conflicts:
        conflict.save()
    return conflicts


def record_outcome(household_id: int, submission_uuid: str, outcome: str, *,
                   received_at, day: str, channel: str = "surveyor", area_id=None,
                   surveyor_id=None, note: str = "") -> tuple[VisitOutcome, bool]:
    """Store a visit that filled in no form, once per UUID (a retry returns the stored one):
    it counts as a visit (last visit, number of visits) and `moved_out` moves the household.
    Returns (outcome, created). Call inside a write transaction; LedgerError as `open_visit`."""
    if outcome not in OUTCOMES:
        raise ValueError(outcome)
    stored = VisitOutcome.get_or_none(VisitOutcome.uuid == submission_uuid)
    if stored is not None:
        return stored, False
    household = _locked(household_id)
    if household.status not in VISITABLE:
        raise LedgerError("closed", household)
    made = VisitOutcome.create(uuid=submission_uuid, household=household, outcome=outcome,
                               received_at=received_at, day=day, channel=channel, area=area_id,
                               surveyor=surveyor_id, note=note)
    household.visits += 1
    household.last_visit_at = received_at
    fields = [Household.visits, Household.last_visit_at]
    if outcome == "moved_out":
        household.status = "moved_out"
        fields.append(Household.status)
    household.save(only=fields)
    rounds.refresh(household.id)
    return made, True


def _changed_since(household: Household, base: int) -> dict:
    """Questions changed after version `base`, each with its value at `base` (the old value of
    its first change since)."""
    found: dict = {}
    for question, old in (HouseholdChange.select(HouseholdChange.question,
                                                 HouseholdChange.old_value)
                          .where((HouseholdChange.household == household) &
                                 (HouseholdChange.version > base))
                          .order_by(HouseholdChange.version, HouseholdChange.id).tuples()):
        found.setdefault(question, json.loads(old))
    return found


_CHANGE_COLUMNS = ("household", "question", "old_value", "new_value", "version", "source",
                   "submission", "user", "at")


def _set(document: dict, name: str, value) -> None:
    document.pop(name, None)
    if value is not None and value != [] and value != "":
        document[name] = value


def _save(household: Household, now: dict, changes: list, source: str, *, submission=None,
          user=None, visited=False, flag: str | None = None) -> None:
    """Write the household's new current answers, one HouseholdChange per changed question, and
    a new version when anything changed; `flag` (a first visit's form id): look for a household
    it may duplicate. Plain SQL: a registration runs this once, and peewee's query building cost
    more than the queries (~0.8 ms each here)."""
    fresh = household.version == 0          # registered by this visit: nothing kept for it yet
    spec = household_index.spec_for(household.form_id)
    if changes:
        household.version += 1
        at, visit = utcnow(), submission.id if submission is not None else None
        by = user.id if user is not None else None
        # a registration writes a row per answer: plain rows, without peewee's query building
        insert_rows(HouseholdChange, [
            (household.id, name, change_value(spec, name, old), change_value(spec, name, new),
             household.version, source, visit, by, at)
            for name, old, new in changes], names=_CHANGE_COLUMNS)
    household.current = _dump(now)
    household.__data__.update(lookup_keys(now))
    if visited:
        household.visits += 1
        household.last_visit_at = submission.received_at if submission is not None else utcnow()
    if flag is not None:
        household.duplicate_of = _duplicate_of(flag, household)
    names = ("current", "version", *LOOKUP_FIELDS, "visits", "last_visit_at", "duplicate_of")
    if spec is not None:     # the current-state export's cells and the list's answer index
        if fresh and submission is not None and submission.answers == household.current and \
                submission.cells_layout == cells.layout_digest(spec):
            # a registration whose answers all applied: its visit's cells are the household's
            household.__data__.update({k: getattr(submission, k)
                                       for k in household_index.CELL_FIELDS})
        else:
            household.__data__.update(cells.columns(spec, now))
        names += household_index.CELL_FIELDS
        household_index.replace_answers(spec, household.id, now, [c[0] for c in changes],
                                        fresh=fresh)
    fields = [Household._meta.fields[name] for name in names]
    param = db.obj.param
    db.execute_sql(
        'UPDATE "household" SET ' + ", ".join(f'"{f.column_name}" = {param}' for f in fields)
        + f' WHERE "id" = {param}',
        [f.db_value(household.__data__.get(f.name)) for f in fields] + [household.id])


#: the household's columns that follow its current answers for look-ups (`lookup_keys`)
LOOKUP_FIELDS = ("address", "address_key", "id_key", "phone_key")


def lookup_keys(answers: dict) -> dict:
    """The household's address (sealed by its column) and the keyed hashes that find it without
    the plain values (sealing.lookup_hash): its normalised address (duplicates, the import's
    matching, a search), its first ID number (duplicates, a search) and its first mobile number
    (a search), among the top-level answers."""
    keys = {"id_key": _first_key("id_number", ID_NUMBER, answers),
            "phone_key": _first_key("phone", MOBILE, answers)}
    address = answers.get(LEDGER_ADDRESS)
    if isinstance(address, str):      # (none answered: the household keeps the one it had)
        keys.update(address=address[:500], address_key=address_key(address))
    return keys


def address_key(address: str | None) -> str:
    """The keyed hash of an address as compared for duplicates ("" for none)."""
    return sealing.lookup_hash("address", address) or ""


ID_NUMBER, MOBILE = re.compile(r"\d{17}[\dX]"), re.compile(r"1\d{10}")


def _first_key(kind: str, pattern: re.Pattern, answers: dict) -> str | None:
    found = next((value for value in answers.values()
                  if isinstance(value, str) and pattern.fullmatch(value)), None)
    return sealing.lookup_hash(kind, found) if found is not None else None


def _duplicate_of(form_id: str, household: Household) -> int | None:
    """An older household this new registration may duplicate: the same address in the same
    area, else the same ID number (the office merges them or dismisses the flag)."""
    param, found = db.obj.param, None
    others = (f'SELECT "id" FROM "household" WHERE "form_id" = {param} AND "id" != {param} '
              "AND \"status\" != 'merged' AND ")
    if household.address_key:
        area = '"area_id" IS NULL' if household.area_id is None else f'"area_id" = {param}'
        params = [form_id, household.id] + ([] if household.area_id is None
                                            else [household.area_id])
        found = db.execute_sql(others + area + f' AND "address_key" = {param} ORDER BY "id" '
                               "LIMIT 1", params + [household.address_key]).fetchone()
    if found is None and household.id_key:
        found = db.execute_sql(others + f'"id_key" = {param} ORDER BY "id" LIMIT 1',
                               [form_id, household.id, household.id_key]).fetchone()
    return found[0] if found else None


def apply_correction(spec: FormSpec, household_id: int, submission: Submission, answers: dict,
                     user) -> None:
    """A visit's answers corrected in the office: the household takes the corrected values of
    the questions whose current value that visit gave (a later visit, import or the office may
    have set the others since), each as a change by `user`. Call inside the correction's write
    transaction."""
    household = _locked(household_id)
    latest: dict = {}
    for question, visit in (HouseholdChange.select(HouseholdChange.question,
                                                   HouseholdChange.submission)
                            .where(HouseholdChange.household == household_id)
                            .order_by(HouseholdChange.version, HouseholdChange.id).tuples()):
        latest[question] = visit
    now = current(household)
    changes = [(q.name, now.get(q.name), answers.get(q.name)) for q in spec.questions()
               if q.answerable and latest.get(q.name) == submission.id
               and now.get(q.name) != answers.get(q.name)]
    for name, _old, new in changes:
        _set(now, name, new)
    _save(household, now, changes, "correction", user=user)


def open_conflicts(household: Household):
    return (HouseholdConflict.select()
            .where((HouseholdConflict.household == household) &
                   HouseholdConflict.resolved_at.is_null())
            .order_by(HouseholdConflict.id))


def resolve(conflict: HouseholdConflict, chosen, user) -> None:
    """The office picks a conflict's value (the kept one, the visit's, or another): it becomes
    the household's, as a change of its own. Call inside a write transaction."""
    household = _locked(conflict.household_id)
    now = current(household)
    old = now.get(conflict.question)
    changes = [] if old == chosen else [(conflict.question, old, chosen)]
    _set(now, conflict.question, chosen)
    _save(household, now, changes, "resolve", user=user)
    HouseholdConflict.update(resolved_at=utcnow(), resolved_by=user, chosen=_dump(chosen)).where(
        HouseholdConflict.id == conflict.id).execute()


def correct(household: Household, question: str, value, user, source: str = "correction") -> bool:
    """Set one question of a household's current answers (the office, an import); returns whether
    anything changed. Call inside a write transaction."""
    household = _locked(household.id)
    now = current(household)
    old = now.get(question)
    if old == value or (old is None and value in ("", [], None)):
        return False
    _set(now, question, value)
    _save(household, now, [(question, old, value)], source, user=user)
    return True


def merge(duplicate: Household, into: Household, user) -> None:
    """Merge `duplicate` into `into`: its code then leads to `into`, its visits and history stay
    its own, and `into` takes its answers only for questions it has none for. Call inside a
    write transaction."""
    if duplicate.id == into.id:
        raise ValueError("a household cannot be merged into itself")
    into, duplicate = _locked(into.id), _locked(duplicate.id)
    now, theirs = current(into), current(duplicate)
    changes = [(name, None, value) for name, value in theirs.items() if name not in now]
    for name, _old, value in changes:
        now[name] = value
    _save(into, now, changes, "merge", user=user)
    Household.update(status="merged", merged_into=into, duplicate_of=None).where(
        Household.id == duplicate.id).execute()
    Household.update(duplicate_of=None).where(
        (Household.id == into.id) & (Household.duplicate_of == duplicate.id)).execute()
    rounds.merged(duplicate.id, into.id)


def dismiss_duplicate(household: Household) -> None:
    """Not a duplicate after all: the flag goes, the household stays as it is."""
    Household.update(duplicate_of=None).where(Household.id == household.id).execute()


def set_status(household: Household, status: str) -> None:
    """active, moved_out or closed (merging is `merge`'s). Call inside a write transaction."""
    if status not in ("active", "moved_out", "closed"):
        raise ValueError(status)
    Household.update(status=status).where(Household.id == household.id).execute()
    rounds.refresh(household.id)      # one that leaves is out of an open round's target

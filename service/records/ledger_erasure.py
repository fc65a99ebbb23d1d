"""What a household keeps of a visit whose answers are erased (erasure.py), made again without it.

A ledger visit's answers live on in its household: as history rows (`HouseholdChange`, old → new),
as conflicts it raised, as the household's current answers and, from those, its address, ID key,
answer index (`household_answer`) and kept export cells. Erasing the visit:

- deletes its history rows, its conflicts, and the history rows the office's corrections of this
  visit carried over to the household (ledger.apply_correction: the same question, value and user);
- for each question those rows touched, the household's current answer becomes the newest value
  that remains in its history (none: the question is unanswered), and the remaining rows' old
  values are chained again, so no row still says "changed from <the erased value>";
- other conflicts keep their visit's value, but a kept or chosen value that was the erased one
  becomes the household's value now;
- address, look-up hashes (ID number, phone), cells and index rows follow the new current answers
  (history and columns written as the ledger writes them: identifiers sealed), and the open rounds
  the household belongs to derive its standing again (rounds.refresh: an erased visit counts no
  more).

A household left with no answers at all (its only visit erased) stays in the ledger, with its code,
door-plate token, visits count and status, and an empty address: erasure removes what was said,
it does not decide that the household is gone (the office closes it if it is). Its code still opens
its visit page, and the next visit fills it in again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from service.formspec.loader import LEDGER_ADDRESS
from service.records import cells, household_index, ledger, rounds
from service.storage.db import is_sqlite
from service.storage.models import AuditEvent, Household, HouseholdChange, HouseholdConflict

NOTHING = json.dumps(None)


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass
class Given:
    """Every top-level value the erased submission gave for each question: as accepted, as
    corrected, before and after each correction, in the conflicts it raised."""

    values: dict[str, list] = field(default_factory=dict)

    @classmethod
    def of(cls, document: dict, answers: dict, corrections: list[tuple]) -> "Given":
        made = cls()
        for source in (document, answers):
            for name, value in source.items():
                made.add(name, value)
        for question, item, old, new, _user in corrections:
            if item is None:
                made.add(question, json.loads(old))
                made.add(question, json.loads(new))
        return made

    def add(self, question: str, value) -> None:
        if value not in (None, "", []) and value not in self.values.setdefault(question, []):
            self.values[question].append(value)

    def holds(self, question: str, text: str | None) -> bool:
        """Whether a stored JSON value is one the submission gave for this question."""
        if text is None or question not in self.values:
            return False
        try:
            return json.loads(text) in self.values[question]
        except ValueError:
            return False


def forget_visit(submission, given: Given, corrections: list[tuple]) -> None:
    """Take the erased visit out of its household (see the module docstring). Call inside the
    erasure's write transaction, after the submission's own rows are erased."""
    household_id = submission.household_id
    household = _locked(household_id)
    for question, value in (HouseholdConflict.select(HouseholdConflict.question,
                                                     HouseholdConflict.visit_value)
                            .where(HouseholdConflict.submission == submission.id).tuples()):
        given.add(question, json.loads(value))
    of_household = HouseholdChange.household == household_id
    resolved = HouseholdConflict.select().where((HouseholdConflict.household == household_id) &
                                                HouseholdConflict.resolved_at.is_null(False))
    resolved = resolved.exists()
    touched = {q for (q,) in HouseholdChange.select(HouseholdChange.question).where(
        of_household & (HouseholdChange.submission == submission.id)).tuples()}
    HouseholdChange.delete().where(of_household &
                                   (HouseholdChange.submission == submission.id)).execute()
    for question, item, _old, new, user in corrections:
        if item is None and new != NOTHING:
            carried = of_household & (HouseholdChange.source == "correction") & (
                HouseholdChange.question == question) & (HouseholdChange.user == user)
            ids = [i for i, value in HouseholdChange.select(HouseholdChange.id,
                                                            HouseholdChange.new_value)
                   .where(carried).tuples() if json.loads(value) == json.loads(new)]
            if ids:
                touched.add(question)
                HouseholdChange.delete().where(HouseholdChange.id.in_(ids)).execute()
    HouseholdConflict.delete().where(HouseholdConflict.submission == submission.id).execute()
    now = ledger.current(household)
    spec = household_index.spec_for(household.form_id)
    for question, value in _rechain(spec, household_id, touched).items():
        _set(now, question, value)
    _scrub_conflicts(household_id, given, now)
    if resolved:        # (the audit log is read only when there is something to scrub)
        _scrub_resolve_events(household_id, given)
    _save(household, spec, now, touched)
    rounds.refresh(household_id)


def _locked(household_id: int) -> Household:
    query = Household.select().where(Household.id == household_id)
    return (query if is_sqlite() else query.for_update()).get()


def _rechain(spec, household_id: int, questions: set) -> dict:
    """Chain the remaining history of these questions again (each row's old value is the new
    value of the row before it) and return each one's newest value (None: no row remains).
    Values are compared as read (opened) and written as the ledger writes them: sealed for a
    question that may hold an identifier (ledger.change_value)."""
    last = dict.fromkeys(questions, NOTHING)
    for change_id, question, old, new in (
            HouseholdChange.select(HouseholdChange.id, HouseholdChange.question,
                                   HouseholdChange.old_value, HouseholdChange.new_value)
            .where((HouseholdChange.household == household_id) &
                   HouseholdChange.question.in_(sorted(questions)))
            .order_by(HouseholdChange.version, HouseholdChange.id).tuples()):
        if old != last[question]:
            HouseholdChange.update(old_value=ledger.change_value(
                spec, question, json.loads(last[question]))).where(
                HouseholdChange.id == change_id).execute()
        last[question] = new
    return {question: json.loads(text) for question, text in last.items()}


def _set(now: dict, question: str, value) -> None:
    now.pop(question, None)
    if value not in (None, "", []):
        now[question] = value


def _scrub_conflicts(household_id: int, given: Given, now: dict) -> None:
    """Other visits' conflicts: a kept or chosen value that was the erased one becomes the
    household's value now."""
    for conflict in HouseholdConflict.select().where(HouseholdConflict.household == household_id):
        instead = _dump(now.get(conflict.question))
        kept = instead if given.holds(conflict.question, conflict.kept_value) else \
            conflict.kept_value
        chosen = instead if given.holds(conflict.question, conflict.chosen) else conflict.chosen
        if (kept, chosen) != (conflict.kept_value, conflict.chosen):
            HouseholdConflict.update(kept_value=kept, chosen=chosen).where(
                HouseholdConflict.id == conflict.id).execute()


def _scrub_resolve_events(household_id: int, given: Given) -> None:
    """The office's `household_resolve` audit entries that carried an erased value keep who,
    when, which question and which side was chosen; the value becomes "erased"."""
    for event_id, detail in AuditEvent.select(AuditEvent.id, AuditEvent.detail).where(
            (AuditEvent.target == f"household:{household_id}") &
            (AuditEvent.action == "household_resolve")).tuples():
        found = json.loads(detail or "{}")
        if given.holds(found.get("question", ""), _dump(found.get("value"))):
            found["value"] = "erased"
            AuditEvent.update(detail=_dump(found)).where(AuditEvent.id == event_id).execute()


def _save(household: Household, spec, now: dict, touched: set) -> None:
    """The household's current answers and what follows them: address and the look-up hashes
    (ledger.lookup_keys: address, ID number, phone), kept cells and the answer index of the
    questions touched. Written through the model, so the sealed columns are sealed."""
    fields = {"current": _dump(now), **ledger.lookup_keys(now)}
    if not isinstance(now.get(LEDGER_ADDRESS), str):    # no address remains: none is kept
        fields.update(address="", address_key="")
    if spec is not None:
        fields.update(cells.columns(spec, now))
        household_index.replace_answers(spec, household.id, now, touched)
    Household.update(**fields).where(Household.id == household.id).execute()

"""Schema step 12's work: values written before encryption sealed where they lie, and the
household look-ups rewritten as keyed hashes (README, "Identifiers encrypted at rest").

Rows are read a batch at a time through a plain cursor (the raw column: the models would hand it
back plain) and each value not yet sealed is sealed with plain SQL (a `SealedText` field would
seal what it is given once more). Values already sealed are left alone, so the step can meet
rows written by a release that sealed them. Which rows of a mixed column are identifiers
(`Answer.value`, `HouseholdChange` values) is read from every stored version of the form: a
question marked `pii` in any of them is sealed in all.
"""
from __future__ import annotations

import json

from service.records.ledger import holds_pii
from service.storage import sealing
from service.storage.db import db, keyset_batches
from service.storage.models import (
    Answer, AuditEvent, Correction, Household, HouseholdChange, HouseholdConflict, Submission,
)

BATCH = 1000


def seal_all(specs: dict) -> dict[str, int]:
    """Seal every plain value of a sealed place; `specs`: (form id, version) → FormSpec.
    Returns how many values were sealed per column (for tests and the step's own checks)."""
    pii: dict[str, set] = {}
    for (form_id, _version), spec in specs.items():
        pii.setdefault(form_id, set()).update(q.name for q in spec.all_questions()
                                              if holds_pii(q))
    done: dict[str, int] = {}
    for model, field in ((Submission, Submission.answers), (Submission, Submission.pii_cells),
                         (Correction, Correction.old_value), (Correction, Correction.new_value),
                         (HouseholdConflict, HouseholdConflict.kept_value),
                         (HouseholdConflict, HouseholdConflict.visit_value),
                         (HouseholdConflict, HouseholdConflict.chosen),
                         (AuditEvent, AuditEvent.detail)):
        done[_name(field)] = seal_column(model.select(model.id, field), model, field)
    for form_id, names in sorted(pii.items()):
        if not names:
            continue
        answers = Answer.select(Answer.id, Answer.value).where(
            (Answer.form_id == form_id) & Answer.question.in_(sorted(names)))
        done[_name(Answer.value)] = done.get(_name(Answer.value), 0) + seal_column(
            answers, Answer, Answer.value)
        of_form = Household.select(Household.id).where(Household.form_id == form_id)
        for field in (HouseholdChange.old_value, HouseholdChange.new_value):
            changes = HouseholdChange.select(HouseholdChange.id, field).where(
                HouseholdChange.household.in_(of_form) &
                HouseholdChange.question.in_(sorted(names)))
            done[_name(field)] = done.get(_name(field), 0) + seal_column(
                changes, HouseholdChange, field)
    done["household"] = seal_households()
    return done


def _name(field) -> str:
    return f"{field.model._meta.table_name}.{field.column_name}"


def seal_column(query, model, field) -> int:
    """Seal the plain values of `field` among the (id, value) rows of `query`."""
    sql = (f'UPDATE "{model._meta.table_name}" SET "{field.column_name}" = {db.obj.param} '
           f'WHERE "id" = {db.obj.param}')
    done = 0
    for batch in keyset_batches(query, model.id, BATCH, raw=True):
        plain = [(sealing.seal(value), row_id) for row_id, value in batch
                 if value is not None and not sealing.is_sealed(value)]
        if plain:
            db.cursor().executemany(sql, plain)
            done += len(plain)
    return done


def seal_households() -> int:
    """Each household's address, current answers and kept pii cells sealed, and its look-ups
    (address, ID number, phone) as keyed hashes of its current answers (ledger.lookup_keys)."""
    from service.records.ledger import address_key, lookup_keys

    columns = ("address", "current", "pii_cells", "address_key", "id_key", "phone_key")
    param = db.obj.param
    sql = ('UPDATE "household" SET ' + ", ".join(f'"{c}" = {param}' for c in columns)
           + f' WHERE "id" = {param}')
    query = Household.select(Household.id, Household.address, Household.current,
                             Household.pii_cells)
    done = 0
    for batch in keyset_batches(query, Household.id, BATCH, raw=True):
        rows = []
        for hid, address, current, pii_cells in batch:
            found = {"address": sealing.unseal(address) or ""}
            found.update(lookup_keys(json.loads(sealing.unseal(current) or "{}")))
            if "address_key" not in found:      # (no address answered: the one it kept)
                found["address_key"] = address_key(found["address"])
            rows.append((_sealed(found["address"]), _sealed(current), _sealed(pii_cells),
                         found["address_key"], found["id_key"], found["phone_key"], hid))
        db.cursor().executemany(sql, rows)
        done += len(rows)
    return done


def _sealed(value):
    return value if value is None or sealing.is_sealed(value) else sealing.seal(value)

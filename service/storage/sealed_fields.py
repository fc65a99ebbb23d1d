"""Columns that keep identifiers sealed at rest (README, "Identifiers encrypted at rest").

A sealed value (sealing.py: AES-GCM under a key kept outside the database) is written by the
column's field and read back plain by it, so the code that reads these columns through the models
(masking, reveal, the ledger, exports, the dashboard) works as it did with plain text:

- `SealedText`: every value written is sealed. For columns that may hold an identifier anywhere
  in them: a submission's answers document, a household's current answers and address, kept
  `pii_cells`, corrections, conflicts, audit details.
- `OpenedText`: a column whose rows mix identifiers and other answers (`Answer.value`,
  `HouseholdChange` values). Only the rows of `pii` questions are sealed, by the writer that
  knows the question (answers.rows_for, ledger._save, household_import): the others stay plain,
  so counting, grouping and filtering on them in SQL goes on as before.

Both read a value that is not sealed as it is (rows stored before schema step 12 sealed them).
Raw writes (db.insert_rows with `names`, db.copy_rows) seal these fields' values too; raw reads
(export batches through a plain cursor) open them with `opener()`.

Never hand a `SealedText` field a value already sealed (it would be sealed twice): rotation and
schema step 12 write sealed text with plain SQL.
"""
from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidTag
from peewee import TextField

from service.storage import sealing


class OpenedText(TextField):
    """Text that may be sealed: read back plain; the writer decides what is sealed."""

    sealed = False

    def python_value(self, value):
        return sealing.unseal(value) if value is not None else None


class SealedText(OpenedText):
    """Text sealed whenever it is written, read back plain."""

    sealed = True

    def db_value(self, value):
        return sealing.seal(value if value is None or isinstance(value, str) else str(value))


def sealers(model, names) -> list:
    """(position, field) of the sealed fields among `names` (raw writes seal these values)."""
    fields = model._meta.fields
    return [(i, fields[name]) for i, name in enumerate(names)
            if getattr(fields[name], "sealed", False)]


def sealed_tuple(row: tuple, found: list) -> tuple:
    """`row` (values in `names` order) with the values of `found` (sealers) sealed."""
    if not found:
        return row
    values = list(row)
    for i, field in found:
        values[i] = field.db_value(values[i])
    return tuple(values)


def opener():
    """A function that opens sealed values, for reading many rows (an export, a search): the key
    ring is looked up once, not per value (that look-up cost as much as the decryption). Plain
    values come back unchanged; anything unusual (a key this ring lacks, a damaged value) goes
    through `sealing.unseal`, which reads the ring again or raises its clear error."""
    keys, prefix, nonce = sealing._sealer().ring().keys, sealing.PREFIX, sealing.NONCE_BYTES
    start = len(prefix)

    def open_(text):
        if text.__class__ is not str or not text.startswith(prefix):
            return text
        kid, _colon, payload = text[start:].partition(":")
        cipher = keys.get(kid)
        if cipher is None:
            return sealing.unseal(text)
        try:
            body = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            return cipher.decrypt(body[:nonce], body[nonce:], kid.encode("ascii")).decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error):
            return sealing.unseal(text)
    return open_

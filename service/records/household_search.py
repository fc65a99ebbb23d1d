"""Finding households by what someone types, with no plain identifier in SQL.

Addresses, phones and ID numbers are sealed at rest (storage/sealed_fields.py); the database
compares only their keyed hashes (sealing.lookup_hash, ledger.lookup_keys). So a search finds:

- a mobile number or an ID number: exactly, by its hash (`phone_key`, `id_key`);
- an address: exactly (after the ledger's normalisation) by its hash, and a part of one
  ("东湖路" for every house of the road) by opening the addresses of the households in scope, a
  batch at a time, when there are at most SCAN_LIMIT of them (a surveyor's areas hold a few
  hundred to a few thousand); beyond that, only whole addresses are found.

The caller adds the household code itself (its column is not sealed).
"""
from __future__ import annotations

from peewee import Expression

from service.records import ledger
from service.storage import sealing
from service.storage.db import keyset_batches
from service.storage.models import Household
from service.storage.sealed_fields import opener

#: The most households whose addresses a search opens to find part of an address.
SCAN_LIMIT = 20_000
BATCH = 2000


def condition(scope, text: str) -> Expression:
    """What households of `scope` (a Household query) match `text`: see the module docstring."""
    found = Household.id.is_null()            # matches nothing: the terms below add to it
    key = ledger.address_key(text)
    if key:
        found |= Household.address_key == key
    for kind, column, pattern in (("phone", Household.phone_key, ledger.MOBILE),
                                  ("id_number", Household.id_key, ledger.ID_NUMBER)):
        hashed = sealing.lookup_hash(kind, text)
        if hashed and pattern.fullmatch(sealing.NORMALISE[kind](text)):
            found |= column == hashed
    part = ledger.normalise_address(text)
    if part and scope.count() <= SCAN_LIMIT:
        ids = address_contains(scope, part)
        if ids:
            found |= Household.id.in_(ids)
    return found


def address_contains(scope, part: str) -> list[int]:
    """Ids of the households of `scope` whose normalised address contains `part`."""
    query, unseal = scope.select(Household.id, Household.address), opener()
    return [hid for batch in keyset_batches(query, Household.id, BATCH, raw=True)
            for hid, address in batch if part in ledger.normalise_address(unseal(address))]

"""The codes Doorstep stores for how a submission came in and where it stands, in one place.

They are stored as these codes and shown translated (`_(code)` in templates, i18n.CODE_WORDS lists
them for the message extractor); the database, exports and the API carry the codes.
"""
from __future__ import annotations

import secrets

#: How a submission came in: the open form (`/f/<id>`), a surveyor's QR link, a household's QR link,
#: another system through the JSON API (`/api/v1`, with a token).
CHANNELS = ("web", "surveyor", "self", "api")
#: The channels a QR link can fix (the open form is `web`).
LINK_CHANNELS = ("surveyor", "self")
#: A submission's status: nothing is ever deleted, a duplicate or void one stops counting.
STATUSES = ("valid", "duplicate", "void")
#: A household's status in the ledger: only an active one is visited.
HOUSEHOLD_STATUSES = ("active", "moved_out", "merged", "closed")

#: A visit that filled in no form (ledger.record_outcome); `moved_out` also moves the household.
OUTCOMES = ("not_home", "refused", "vacant", "moved_out", "no_change")

#: The letters of codes people read aloud over a phone (receipts, household codes): no 0/O, 1/I.
READ_ALOUD = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def read_aloud_code() -> str:
    """Eight random letters of READ_ALOUD as XXXX-XXXX (40 bits)."""
    code = "".join(secrets.choice(READ_ALOUD) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"

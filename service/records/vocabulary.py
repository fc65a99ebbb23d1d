"""The codes Doorstep stores for how a submission came in and where it stands, in one place.

They are stored as these codes and shown translated (`_(code)` in templates, i18n.CODE_WORDS lists
them for the message extractor); the database, exports and the API carry the codes.
"""
from __future__ import annotations

#: How a submission came in: the open form (`/f/<id>`), a surveyor's QR link, a household's QR link.
CHANNELS = ("web", "surveyor", "self")
#: The channels a QR link can fix (the open form is `web`).
LINK_CHANNELS = ("surveyor", "self")
#: A submission's status: nothing is ever deleted, a duplicate or void one stops counting.
STATUSES = ("valid", "duplicate", "void")

"""API tokens: how the office's other systems (a district's data platform, a reporting tool) reach
the JSON API (service/api). A token is not an account: it holds one role and one area, and acts
with exactly their capabilities (service/office/policy.py).

Only the SHA-256 of a token is kept. A token is 256 random bits, so nobody can guess it from its
hash however fast the hash is; a deliberately slow hash (Argon2, as for passwords) protects only
secrets people choose, and would cost every API request ~0.5 s and 64 MiB. A plain digest is also
what lets one indexed look-up find the token.
"""
from __future__ import annotations

from peewee import CharField, DateField, DateTimeField, ForeignKeyField

from service.storage.base import BaseModel, utcnow
from service.storage.models import Area, User


class ApiToken(BaseModel):
    """One system's access: its name (shown in the audit log), role and area; usable until it
    expires (the end of `expires`, in the office's calendar) or is revoked."""

    name = CharField(max_length=64, unique=True)
    token_hash = CharField(max_length=64, unique=True)    # hex SHA-256 of the token
    role = CharField(max_length=16)
    area = ForeignKeyField(Area, null=True, backref="api_tokens", on_delete="RESTRICT")
    expires = DateField(null=True)
    created_by = ForeignKeyField(User, null=True, backref="api_tokens", on_delete="RESTRICT")
    created_at = DateTimeField(default=utcnow)
    revoked_at = DateTimeField(null=True)
    last_used_at = DateTimeField(null=True)

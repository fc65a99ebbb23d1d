"""Attempts counted per key and time window, for limits every worker and instance share
(throttle.py). Apart from models.py: it refers to no other table. Importable from models."""
from __future__ import annotations

from peewee import CharField, CompositeKey, IntegerField

from service.storage.base import BaseModel


class Attempt(BaseModel):
    """Attempts counted per key and time window (failed sign-ins, look-ups through /my, API calls):
    in the database, so every gunicorn worker and every instance counts the same (throttle.py)."""

    name = CharField(max_length=200)
    bucket = IntegerField()    # the window's start, in seconds since the epoch
    hits = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("name", "bucket")

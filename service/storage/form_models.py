"""The forms an instance serves, as the database keeps them (README, "Form definitions").

- `FormVersion` is one definition: published ones are never changed again (old submissions are read
  with theirs); a draft (imported, not yet published) is replaced by the next import.
- `Form` is a form's state (draft, published, closed) and the version it serves; `revision` grows
  with every change, so each instance notices one with a single tiny query (catalog.py).
"""
from __future__ import annotations

from peewee import BooleanField, CharField, DateTimeField, IntegerField, TextField

from service.storage.base import BaseModel, utcnow

FORM_STATES = ("draft", "published", "closed")


class FormVersion(BaseModel):
    """A form definition: the validated definition as JSON and its digest."""

    form_id = CharField(max_length=64)
    version = IntegerField()
    definition = TextField()
    digest = CharField(max_length=64)
    published_at = DateTimeField(default=utcnow)   # when stored, then when published
    published = BooleanField(default=True)         # False: a draft, not served yet

    class Meta:
        indexes = ((("form_id", "version"), True),)


class Form(BaseModel):
    """A form's state and the version it serves (None while it is a draft)."""

    form_id = CharField(max_length=64, unique=True)
    state = CharField(max_length=16, default="published")
    version = IntegerField(null=True)
    revision = IntegerField(default=1)
    changed_at = DateTimeField(default=utcnow)

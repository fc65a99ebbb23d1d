"""What every table shares: the database handle and naive-UTC timestamps."""
from __future__ import annotations

import datetime as dt

from peewee import Model

from service.storage.db import db


def utcnow() -> dt.datetime:
    """Naive UTC: what both databases store without time zone surprises."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False

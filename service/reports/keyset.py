"""Keyset pages for the JSON API: rows in ascending id order after an opaque `next` cursor.

A page is `WHERE id > last ORDER BY id LIMIT n`, never OFFSET, so the page a million rows deep
costs what the first does. Ascending ids make the walk stable while rows are added: a new row
gets a larger id than any already stored, so it lands after every cursor handed out and is read
once, at the end; nothing is skipped or repeated. The cursor only carries the last id; it is
opaque (versioned base64) so it can carry more later without breaking clients.
"""
from __future__ import annotations

import base64
import binascii

from service.storage.db import db

PREFIX = "k1:"
#: The largest id a cursor may carry (64-bit ids; anything larger is not one of ours).
MAX_ID = 2 ** 63 - 1


class BadCursor(ValueError):
    """A `next` cursor this service did not make (or a damaged one)."""


def cursor_for(last_id: int) -> str:
    text = f"{PREFIX}{last_id}".encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def after_id(cursor: str | None) -> int | None:
    """The id a cursor continues after; None for no cursor (the first page). Raises BadCursor."""
    if cursor is None or cursor == "":
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor(cursor) from exc
    digits = text[len(PREFIX):]
    if not text.startswith(PREFIX) or not digits.isdigit() or not digits.isascii() \
            or int(digits) > MAX_ID:
        raise BadCursor(cursor)
    return int(digits)


def page(query, key, after: int | None, limit: int, raw: bool = False) -> tuple[list, str | None]:
    """One page of `query` (already selecting what the caller wants, `key` first when it reads
    tuples) after id `after`: its rows, and the cursor of the next page (None: this was the
    last). One row more than asked is read to know whether another page follows. `raw`: the
    driver's own tuples, without peewee's conversions (a third of a page's reading time)."""
    if after is not None:
        query = query.where(key > after)
    query = query.order_by(key).limit(limit + 1)
    rows = db.execute(query).fetchall() if raw else list(query)
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1][0] if isinstance(rows[-1], tuple) else getattr(rows[-1], key.name)
    return rows, cursor_for(last)

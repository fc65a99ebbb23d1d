"""Re-sealing under the current field key: the work of `doorstep keys rotate`.

Every column registered in `sealing.SEALED_PLACES` is read in id order, only its rows holding a
value under an older key (a LIKE on the key id: rows already under the current key are never
touched), a batch at a time, each batch its own write transaction with its rows locked. A sealed
value is found by its shape wherever it sits (a column of its own, a JSON document, export cells)
and replaced by the same plain text sealed under the current key, so the rest of the document is
left byte for byte. Nothing but the rows' sealed values changes, so the service keeps serving
meanwhile, and a rotation stopped anywhere is finished by running it again.

The column is read and written raw (the driver's values, no peewee conversion): a field type that
unseals on read must not hand rotation plain text, nor seal its ciphertext a second time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from peewee import SQL, CharField, NodeList, TextField, Value, fn

from service.storage import sealing
from service.storage.db import db, is_sqlite, write_transaction


@dataclass
class Progress:
    """What a pass did: rows rewritten and values re-sealed per place, batches run."""

    rows: dict[str, int] = field(default_factory=dict)
    values: int = 0
    batches: int = 0


def place_name(place) -> str:
    return f"{place.model._meta.table_name}.{place.column_name}"


def places() -> list:
    return list(sealing.SEALED_PLACES)


def _under(place, key_ids: list[str]):
    """The rows of `place` holding a value sealed under one of `key_ids`."""
    tests = [NodeList((place, SQL("LIKE"), Value(f"%{sealing.PREFIX}{kid}:%", converter=False)))
             for kid in key_ids]
    condition = tests[0]
    for test in tests[1:]:
        condition = condition | test
    return condition


def count_under(place, key_ids: list[str]) -> int:
    """How many rows of `place` still hold a value under one of `key_ids`."""
    if not key_ids:
        return 0
    query = place.model.select(fn.COUNT(SQL("*"))).where(_under(place, key_ids))
    return db.execute(query).fetchone()[0]


def reseal_text(text: str, older: set[str]) -> tuple[str, int]:
    """`text` with every sealed value under a key of `older` sealed again under the current key."""
    count = 0

    def again(match):
        nonlocal count
        if match.group(1) not in older:
            return match.group(0)
        count += 1
        return sealing.seal(sealing.unseal(match.group(0)))
    return sealing.SEALED.sub(again, text), count


def reseal_place(place, older: list[str], size: int, progress: Progress,
                 stop_after: int | None = None, report: Callable[[str, int], None] | None = None
                 ) -> bool:
    """Re-seal the rows of one place under the current key; False when stopped by `stop_after`
    (the number of batches of the whole pass) before the place was done."""
    model, key = place.model, place.model._meta.primary_key
    name, last = place_name(place), None
    while True:
        if stop_after is not None and progress.batches >= stop_after:
            return False
        with write_transaction():
            query = model.select(key, place).where(_under(place, older))
            if last is not None:
                query = query.where(key > last)
            query = query.order_by(key).limit(size)
            if not is_sqlite():
                query = query.for_update()   # a visit saved meanwhile waits for this batch
            rows = db.execute(query).fetchall()
            changed = []
            for row_id, text in rows:
                new, count = reseal_text(text, set(older))
                if count:
                    changed.append((new, row_id))
                    progress.values += count
            if changed:
                _update(place, changed)
        progress.batches += 1
        if rows:
            progress.rows[name] = progress.rows.get(name, 0) + len(rows)
            last = rows[-1][0]
            if report:
                report(name, progress.rows[name])
        if len(rows) < size:
            return True


def _update(place, changed: list[tuple[str, int]]) -> None:
    """Write a batch's new texts (text, id) in one go: executemany on SQLite, psycopg2's
    execute_batch on PostgreSQL (its executemany is a round trip per row: 6x slower)."""
    param, meta = db.obj.param, place.model._meta
    sql = (f'UPDATE "{meta.table_name}" SET "{place.column_name}" = {param} '
           f'WHERE "{meta.primary_key.column_name}" = {param}')
    if is_sqlite():
        db.cursor().executemany(sql, changed)
    else:
        from psycopg2.extras import execute_batch
        execute_batch(db.cursor(), sql, changed, page_size=len(changed))


def reseal_all(older: list[str], size: int = 500, stop_after: int | None = None,
               report: Callable[[str, int], None] | None = None,
               extra: list | None = None) -> tuple[Progress, bool]:
    """One pass over every sealed place (and `extra` columns); (what it did, whether it went
    through to the end)."""
    progress = Progress()
    for place in places() + (extra or []):
        if not reseal_place(place, older, size, progress, stop_after, report):
            return progress, False
    return progress, True


def unregistered(key_ids: list[str]) -> list:
    """Text columns outside `SEALED_PLACES` that hold a value under one of `key_ids` anyway (one
    query per table): checked before a key leaves the ring, so a column nobody registered is
    re-sealed too rather than left unreadable."""
    from service.storage.models import MODELS
    found = []
    for model in MODELS:
        columns = [f for f in model._meta.sorted_fields
                   if isinstance(f, (CharField, TextField)) and not sealing.is_registered(f)]
        if not columns or not key_ids:
            continue
        condition = _under(columns[0], key_ids)
        for column in columns[1:]:
            condition = condition | _under(column, key_ids)
        if model.select(SQL("1")).where(condition).exists():
            found += [c for c in columns if count_under(c, key_ids)]
    return found


def remaining(key_ids: list[str]) -> dict[str, int]:
    """Rows per place still holding a value under one of `key_ids` (places with none left out)."""
    counts = {place_name(p): count_under(p, key_ids) for p in places() + unregistered(key_ids)}
    return {name: n for name, n in counts.items() if n}

"""`doorstep keys`: the keys that seal identifiers. `status` says which keys there are and what
still needs an older one, `new` prints a fresh key, `rotate` moves every sealed value to a new
field key while the service keeps serving (service/storage/rotation.py)."""
from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from service.cli import _connect, _fail, main
from service.office import audit
from service.storage import keys, rotation, sealing


@main.group("keys")
def keys_group():
    """The keys that seal identifiers (names, phones, ID numbers, addresses)."""


def _ring():
    try:
        return current_app.extensions["doorstep.sealing"].ring(force=True)
    except sealing.SealingError as exc:
        _fail(str(exc))


@keys_group.command("status")
@with_appcontext
def status_command():
    """Which field keys there are, and how many rows still hold values under older ones."""
    _connect()
    ring = _ring()
    click.echo(f"field keys from {ring.source}")
    click.echo(f"  current: {ring.current}")
    for kid in ring.older:
        left = rotation.remaining([kid])
        click.echo(f"  older:   {kid}, {sum(left.values())} row(s) still under it"
                   + "".join(f"\n           {name}: {n}" for name, n in left.items()))
    if ring.older:
        click.echo("a rotation is under way: `doorstep keys rotate` finishes it")


@keys_group.command("new", with_appcontext=False)
def new_command():
    """Print a fresh random key (for DOORSTEP_FIELD_KEY or DOORSTEP_LOOKUP_KEY)."""
    click.echo(keys.new_key())


@keys_group.command("rotate")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1),
              help="rows re-sealed per transaction")
@click.option("--stop-after", type=click.IntRange(1), default=None, metavar="BATCHES",
              help="stop after this many batches (run the command again to go on)")
@click.option("--settle", default=15.0, show_default=True, type=click.FloatRange(0),
              help="seconds given to running workers to take up the new key (and finish the "
                   "requests they began under the old one) before the old key is dropped")
@with_appcontext
def rotate_command(batch_size, stop_after, settle):
    """Seal every identifier under a new field key, online, in batches; resumable.

    A new key becomes current (the old ones stay in the ring), every value under an older key is
    sealed again under it, and an older key leaves the ring once no value remains under it. If
    the ring already holds older keys, an unfinished rotation is carried on instead.

    The lookup key is not rotated: every keyed hash stored beside the ciphertexts would change
    with it, and the look-ups (duplicate households, search by phone) would miss until all were
    recomputed.
    """
    _connect()
    ring = _ring()
    if not ring.older:
        if ring.path is None:
            _fail("DOORSTEP_FIELD_KEY holds one key: put a new one first (`doorstep keys new`), "
                  "the current one after it, restart the service, then run this again")
        keys.rewrite_ring(ring.path, [keys.new_key(), *ring.encoded.values()])
        ring = _ring()
        click.echo(f"new field key {ring.current} written to {ring.path}; the older key stays "
                   "until no value is sealed under it")
    else:
        click.echo(f"carrying on the rotation to field key {ring.current}")
    sealing.record_key_in_use()    # the database now needs this key (checked at start)
    began, older = time.monotonic(), ring.older

    def report(place, rows):
        click.echo(f"  {place}: {rows} row(s) re-sealed")

    done, first_pass = rotation.reseal_all(older, batch_size, stop_after, report)
    if not first_pass:
        click.echo(f"stopped after {done.batches} batch(es), {done.values} value(s) re-sealed: "
                   "run `doorstep keys rotate` again to go on")
        return
    # workers re-read the ring at least every KEYS_CHECK_SECONDS; one that sealed under an
    # older key just before is caught by a last pass once they all have the new one
    time.sleep(max(0.0, settle - (time.monotonic() - began)))
    strays = rotation.unregistered(older)
    for place in strays:
        click.echo(f"note: {rotation.place_name(place)} holds sealed values but is not in "
                   "sealing.SEALED_PLACES: re-sealed too", err=True)
    last, _ = rotation.reseal_all(older, batch_size, None, report, strays)
    left = rotation.remaining(older)
    if left:
        _fail("values still under an older key: " + ", ".join(f"{p}: {n}" for p, n in left.items())
              + "; run `doorstep keys rotate` again")
    _retire(ring, older)
    rows = {p: done.rows.get(p, 0) + last.rows.get(p, 0) for p in done.rows.keys() | last.rows}
    audit.record("field_keys_rotated", target=f"key:{ring.current}", user=None, username="cli",
                 retired=older, values=done.values + last.values, rows=rows)
    click.echo(f"{done.values + last.values} value(s) in {sum(rows.values())} row(s) re-sealed "
               f"under field key {ring.current}")


def _retire(ring, older):
    """Drop the older keys: from the ring file, or tell the operator to drop them from the
    variable (a command cannot change the service's environment)."""
    if ring.path is not None:
        keys.rewrite_ring(ring.path, [ring.encoded[ring.current]])
        click.echo(f"no value left under {', '.join(older)}: removed from {ring.path}")
    else:
        click.echo(f"no value left under {', '.join(older)}: remove it from DOORSTEP_FIELD_KEY "
                   "and restart the service")

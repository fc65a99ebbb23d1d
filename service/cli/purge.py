"""`doorstep purge`: erase the answers each form keeps no longer (its `retention_days`), as a
deletion the office approved would (records/retention.py); one audit entry for the run (none for
a dry run, which changes nothing)."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from service.cli import _connect, main
from service.office import audit


@main.command("purge")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="the office day to purge as of (default: today)")
@click.option("--dry-run", is_flag=True, help="count what would be erased, erase nothing")
@with_appcontext
def purge_command(as_of, dry_run):
    """Erase the answers of submissions older than their form's retention_days."""
    from service.office import clock
    from service.records import retention
    _connect()
    day = as_of.date() if as_of else clock.today()
    run = retention.purge(current_app.extensions["doorstep.catalog"], day, dry_run=dry_run)
    verb = "would erase" if dry_run else "erased"
    for form_id, n in sorted(run.counts.items()):
        click.echo(f"{form_id}: {verb} {n} submission(s) made before {run.cutoffs[form_id]}")
    if not run.counts:
        click.echo("no form declares retention_days: nothing to purge")
    click.echo(f"{run.total} submission(s) {'to erase' if dry_run else 'erased'} as of {day}")
    if dry_run:         # a dry run changes nothing: nothing to log
        return
    audit.record("purge", target="retention", user=None, username="cli", as_of=day.isoformat(),
                 dry_run=dry_run, erased=run.counts,
                 kept_from={f: d.isoformat() for f, d in run.cutoffs.items()})

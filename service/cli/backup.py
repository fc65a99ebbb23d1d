"""`doorstep backup` and `doorstep restore`: a consistent copy of the database taken while the
service serves, and bringing one back into an empty database (storage/backup.py)."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from service.cli import _connect, _fail, main
from service.office import audit


@main.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="the file to write (SQLite: a database file; PostgreSQL: pg_dump -Fc)")
@with_appcontext
def backup_command(out):
    """Copy the database to FILE while the service goes on serving."""
    from service.storage import backup, sealing
    _connect()
    try:
        version = backup.backup(current_app.config["DATABASE_URL"], out)
    except backup.BackupError as exc:
        _fail(str(exc))
    audit.record("backup", target="database", user=None, username="cli", file=out,
                 schema_version=version)
    sealed = sealing.key_on_record()
    under = f" (its values are sealed under field key {sealed})" if sealed else ""
    click.echo(f"backup written to {out} (schema version {version}); the keys in instance/ or "
               f"the environment are not in it{under}: keep them apart, a restore needs them")


@main.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@with_appcontext
def restore_command(file):
    """Bring a backup FILE back into an EMPTY database (a non-empty one is refused), with the
    keys its values were sealed under in place (refused without them)."""
    from service.storage import backup
    from service.storage.db import db
    db.connect(reuse_if_open=True)
    try:
        version, upgraded = backup.restore(current_app.config["DATABASE_URL"], file)
    except backup.BackupError as exc:
        _fail(str(exc))
    audit.record("restore", target="database", user=None, username="cli", file=file,
                 schema_version=version, upgraded=upgraded)
    more = f", then upgraded to {upgraded[-1]}" if upgraded else ""
    click.echo(f"restored {file} (schema version {version}{more})")

"""`doorstep init` (create or upgrade the database, publish the forms, the first admin) and
`doorstep serve` (gunicorn, as the container runs it)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from service import formspec
from service.cli import _fail, main
from service.config import ROOT
from service.office import areas, audit, auth
from service.records import cells, household_index
from service.storage import keys, schema, sealing
from service.storage.models import User


@main.command("init")
@with_appcontext
def init_command():
    """Create or upgrade the database and publish the forms in FORMS_DIR."""
    from service.storage.db import db
    _field_keys()     # before the upgrade: its steps may seal values written before encryption
    db.connect(reuse_if_open=True)
    try:
        reached = schema.upgrade()
    except schema.SchemaTooNew as exc:
        _fail(str(exc))
    if reached:
        click.echo(f"database schema: version {reached[-1]}")
    sealing.record_key_in_use()
    catalog = current_app.extensions["doorstep.catalog"]
    problems = catalog.publish_all()
    for line in problems:
        click.echo(f"error: {line}", err=True)
    if problems:
        sys.exit(1)
    rewritten = cells.rewrite_stale(catalog)
    if rewritten:
        click.echo(f"export cells rewritten in this release's layout: {rewritten} submission(s)")
    rewritten = household_index.rewrite_stale(catalog)
    if rewritten:
        click.echo(f"export cells rewritten in this form's layout: {rewritten} household(s)")
    for code in areas.codes_outside_the_rules():
        # made before codes were checked: they keep working (downloads name files safely), but
        # the rule says what a code may be; the office may want to replace such an area
        click.echo(f"warning: area code {code!r} is outside the characters allowed for new "
                   "codes (letters, digits, - and _)", err=True)
    click.echo(f"database ready; {len(list(catalog))} form(s) published: "
               + ", ".join(spec.id for spec in catalog))
    if not User.select().exists():
        password = auth.generate_password()
        admin = User.create(username="admin", role="admin", must_change_password=True,
                            password_hash=auth.hash_password(password))
        audit.record("user_created", target=f"user:{admin.id}", user=None, username="cli",
                     username_created="admin", role="admin", first_admin=True)
        click.echo("")
        click.echo("First administrator created. Sign in at /admin/login with")
        click.echo("  username: admin")
        click.echo(f"  one-time password: {password}")
        click.echo("(shown only this once; you will be asked to choose a new password)")
        click.echo("")


def _field_keys():
    """Write the field and lookup key files that nothing provides yet, and say where they are;
    never for a database that already holds values sealed under a key (the app refused to start
    if it could ask the database; this asks again in case it could not)."""
    if not current_app.extensions["doorstep.sealing"].configured:
        from service.storage.db import db
        db.connect(reuse_if_open=True)
        expected = sealing.key_on_record()
        if expected:
            _fail(f"the database holds values sealed under field key {expected}: put its keys "
                  "back instead of making new ones")
    made = keys.create_missing(current_app.config)
    sealing.reload_keys(current_app)
    for path in made:
        click.echo(f"key written: {path} (keep a copy apart from the database's backups)")


@main.command("serve", with_appcontext=False)
@click.option("--bind", default=lambda: os.environ.get("BIND", "127.0.0.1:8000"), show_default=True)
@click.option("--workers", type=int, default=None, help="gunicorn workers (default: from CPUs)")
def serve_command(bind, workers):
    """Serve Doorstep under gunicorn (the same as the container does)."""
    try:
        formspec.load_dir(os.environ.get("FORMS_DIR") or str(ROOT / "forms"))
    except formspec.FormError as exc:
        for line in exc.problems:
            click.echo(f"error: {line}", err=True)
        sys.exit(1)
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    args = [gunicorn, "-c", str(ROOT / "gunicorn.conf.py"), "--bind", bind]
    if workers:
        args += ["--workers", str(workers)]
    args.append("service:create_app()")
    click.echo(f"Doorstep on http://{bind}/  (Ctrl+C stops it)")
    os.chdir(ROOT)
    os.execv(args[0], args)

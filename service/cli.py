"""The `doorstep` command: init, forms check, serve (a Flask CLI group around create_app)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from . import areas, audit, auth, formspec
from .config import ROOT
from .models import Area, User


def _create_app():
    from . import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
def main():
    """Doorstep: door-to-door surveys and form collection."""


@main.command("init")
@with_appcontext
def init_command():
    """Create or upgrade the database and publish the forms in FORMS_DIR."""
    from .db import db
    from .models import create_tables
    db.connect(reuse_if_open=True)
    create_tables()
    catalog = current_app.extensions["doorstep.catalog"]
    problems = catalog.publish_all()
    for line in problems:
        click.echo(f"error: {line}", err=True)
    if problems:
        sys.exit(1)
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


@main.group("users")
def users_group():
    """Office accounts."""


@users_group.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(auth.ROLES))
@click.option("--area", "area_code", default=None, help="area code (required but for admins)")
@click.option("--name", "display_name", default="")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@with_appcontext
def users_create(username, role, area_code, display_name, password_stdin):
    """Create an account; prompts for its password unless --password-stdin."""
    _connect()
    username = username.strip()
    if not username or len(username) > 64:
        _fail("username must be 1 to 64 characters")
    if User.select().where(User.username == username).exists():
        _fail(f"user '{username}' already exists")
    area = None
    if area_code:
        area = Area.get_or_none(Area.code == area_code)
        if area is None:
            _fail(f"no area with code '{area_code}' (import areas first)")
    elif role != "admin":
        _fail(f"a {role} belongs to an area: give --area CODE")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        _fail("the password must have at least 10 characters")
    user = User.create(username=username, display_name=display_name, role=role, area=area,
                       password_hash=auth.hash_password(password))
    audit.record("user_created", target=f"user:{user.id}", user=None, username="cli",
                 username_created=username, role=role, area=area_code)
    click.echo(f"created {role} '{username}'" + (f" in {area_code}" if area_code else ""))


@main.group("areas")
def areas_group():
    """The area tree."""


@areas_group.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@with_appcontext
def areas_import(file):
    """Import areas from a CSV with columns code,name,parent_code (all or nothing)."""
    _connect()
    try:
        created, updated = areas.import_csv(file.read())
    except areas.AreaError as exc:
        for line in exc.problems:
            click.echo(f"error: {file.name}: {line}", err=True)
        click.echo("nothing was imported", err=True)
        sys.exit(1)
    except UnicodeDecodeError:
        _fail(f"{file.name} is not UTF-8 text (save it as CSV UTF-8)")
    audit.record("areas_imported", target=file.name, user=None, username="cli",
                 created=created, updated=updated)
    click.echo(f"{created} area(s) created, {updated} updated")


def _connect():
    from .db import db
    db.connect(reuse_if_open=True)


def _fail(message):
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@main.group("forms")
def forms_group():
    """Work with the form definitions."""


# no app context: the check must report bad forms even though the app refuses to start on them
@forms_group.command("check", with_appcontext=False)
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def forms_check(directory):
    """Validate every form definition; one line per problem, non-zero exit on any."""
    directory = directory or os.environ.get("FORMS_DIR") or str(ROOT / "forms")
    try:
        specs = formspec.load_dir(directory)
    except formspec.FormError as exc:
        for line in exc.problems:
            click.echo(f"error: {line}", err=True)
        click.echo(f"{len(exc.problems)} problem(s) in {directory}", err=True)
        sys.exit(1)
    for spec in specs.values():
        n = sum(1 for q in spec.all_questions() if q.answerable)
        click.echo(f"ok: {spec.id} v{spec.version} ({n} questions)")


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

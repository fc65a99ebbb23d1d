"""The `doorstep` command: init, forms check, serve (a Flask CLI group around create_app)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from . import formspec
from .config import ROOT


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


@main.group("forms")
def forms_group():
    """Work with the form definitions."""


@forms_group.command("check")
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


@main.command("serve")
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

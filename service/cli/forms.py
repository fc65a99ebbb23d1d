"""`doorstep forms check`: validate the form definitions without starting the app."""
from __future__ import annotations

import os
import sys

import click

from service import formspec
from service.cli import main
from service.config import ROOT


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

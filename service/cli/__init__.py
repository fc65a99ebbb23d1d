"""The `doorstep` command: a Flask CLI group around create_app, one module per command group
(forms, people: users and areas, links, data: export and households, rounds, serve: init
and serve, purge: retention, backup: backup and restore,
tokens: the JSON API's tokens)."""
from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup

from service.storage.models import User


def _create_app():
    from service import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
def main():
    """Doorstep: door-to-door surveys and form collection."""


def _connect():
    """Connect for a command that needs the tables; a database never initialised is a clear error."""
    from service.storage.db import db
    db.connect(reuse_if_open=True)
    if not User.table_exists():
        _fail("the database is not set up yet: run `doorstep init` first")


def _fail(message):
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def spec_and_area(form_id, area_code):
    """The form and the area a command names, or a clear error for either."""
    from flask import current_app

    from service.storage.models import Area
    spec = current_app.extensions["doorstep.catalog"].get(form_id)
    if spec is None:
        _fail(f"no form '{form_id}' in FORMS_DIR")
    area = Area.get_or_none(Area.code == area_code)
    if area is None:
        _fail(f"no area with code '{area_code}'")
    return spec, area


# the command groups register themselves on `main` (after it and the helpers exist)
from service.cli import backup, data, forms, links, people, purge, rounds, serve  # noqa: E402,F401
from service.cli import holidays, keys, tokens  # noqa: E402,F401

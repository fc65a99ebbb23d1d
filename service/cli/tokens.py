"""`doorstep tokens …`: the JSON API's tokens (service/api/auth.py): create one (its secret is
printed once, on the last line, for a script to take with `tail -n 1`), list them, revoke one."""
from __future__ import annotations

import click
from flask.cli import with_appcontext
from flask_babel import force_locale

from service.api import auth
from service.cli import _connect, _fail, main
from service.office import policy
from service.storage.models import Area
from service.storage.token_models import ApiToken


@main.group("tokens")
def tokens_group():
    """API tokens for the office's other systems."""


@tokens_group.command("create")
@click.option("--name", required=True, help="who uses it, e.g. district-platform (audit log)")
@click.option("--role", required=True, type=click.Choice(list(policy.CAPABILITIES)))
@click.option("--area", "area_code", default=None, help="area code (required but for admins)")
@click.option("--expires", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="last day it works (YYYY-MM-DD, the office's calendar)")
@with_appcontext
def tokens_create(name, role, area_code, expires):
    """Create a token; it is printed once, on the last line, and never shown again."""
    _connect()
    area = None
    if area_code:
        area = Area.get_or_none(Area.code == area_code)
        if area is None:
            _fail(f"no area with code '{area_code}'")
    with force_locale("en"):
        try:
            token, secret = auth.create(name, role, area, expires.date() if expires else None)
        except auth.TokenError as error:
            _fail(str(error))
    click.echo(f"created {role} token '{token.name}'" + (f" in {area_code}" if area else "") +
               (f", valid through {token.expires}" if token.expires else "") +
               "; it is shown only now:")
    click.echo(secret)


@tokens_group.command("list")
@with_appcontext
def tokens_list():
    """Every token: name, role, area, state, expiry, last use (never the secret)."""
    _connect()
    click.echo("name\trole\tarea\tstate\texpires\tlast_used")
    for token in ApiToken.select().order_by(ApiToken.name):
        click.echo("\t".join([token.name, token.role, token.area.code if token.area else "",
                              auth.state(token), str(token.expires or ""),
                              token.last_used_at.strftime("%Y-%m-%d %H:%M") + " UTC"
                              if token.last_used_at else ""]))


@tokens_group.command("revoke")
@click.argument("name")
@with_appcontext
def tokens_revoke(name):
    """Revoke a token by name: every instance refuses it from its next request."""
    _connect()
    token = ApiToken.get_or_none(ApiToken.name == name)
    if token is None:
        _fail(f"no token named '{name}'")
    if not auth.revoke(token):
        _fail(f"token '{name}' was revoked already")
    click.echo(f"revoked token '{name}'")

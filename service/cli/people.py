"""`doorstep users …` and `doorstep areas …`: office accounts and the area tree."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from flask_babel import force_locale

from service.cli import _connect, _fail, main
from service.office import areas, audit, auth, passwords
from service.storage.models import Area, User


# the language of the reasons a password or an area code is refused (the other lines are English)
LANG = click.option("--lang", type=click.Choice(["zh", "en"]), default="en", show_default=True,
                    help="the language of the reasons given for a refusal")


@main.group("users")
def users_group():
    """Office accounts."""


@users_group.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(auth.ROLES))
@click.option("--area", "area_code", default=None, help="area code (required but for admins)")
@click.option("--name", "display_name", default="")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@LANG
@with_appcontext
def users_create(username, role, area_code, display_name, password_stdin, lang):
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
    with force_locale(lang):
        weak = passwords.problem(password, username)
    if weak:
        _fail(weak)
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
@LANG
@with_appcontext
def areas_import(file, lang):
    """Import areas from a CSV with columns code,name,parent_code (all or nothing). A code is
    letters, digits, - and _ (at most 64, starting with a letter or digit)."""
    _connect()
    try:
        with force_locale(lang):
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

"""The `doorstep` command: init, forms check, serve (a Flask CLI group around create_app)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from service.office import areas, audit, auth
from service import formspec
from service.storage import schema
from service import links
from service.links import sheets
from service.config import ROOT
from service.office import clock
from service.records import cells
from service.records.vocabulary import LINK_CHANNELS
from service.storage.models import Area, User


def _create_app():
    from service import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
def main():
    """Doorstep: door-to-door surveys and form collection."""


@main.command("init")
@with_appcontext
def init_command():
    """Create or upgrade the database and publish the forms in FORMS_DIR."""
    from service.storage.db import db
    db.connect(reuse_if_open=True)
    try:
        reached = schema.upgrade()
    except schema.SchemaTooNew as exc:
        _fail(str(exc))
    if reached:
        click.echo(f"database schema: version {reached[-1]}")
    catalog = current_app.extensions["doorstep.catalog"]
    problems = catalog.publish_all()
    for line in problems:
        click.echo(f"error: {line}", err=True)
    if problems:
        sys.exit(1)
    rewritten = cells.rewrite_stale(catalog)
    if rewritten:
        click.echo(f"export cells rewritten in this release's layout: {rewritten} submission(s)")
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


@main.command("export")
@click.argument("form_id")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="FILE.csv, FILE.zip (with repeat groups) or FILE.xlsx")
@click.option("--area", "area_code", default=None)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--labels", is_flag=True, help="choice labels instead of codes")
@click.option("--with-pii", is_flag=True, help="include identifying questions")
@click.option("--no-bom", is_flag=True, help="plain UTF-8 (default: with BOM, for Excel)")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh")
@with_appcontext
def export_command(form_id, out, area_code, since, until, labels, with_pii, no_bom, lang):
    """Export a form's valid responses, as the office's download does (audit-logged)."""
    from flask_babel import force_locale

    from service.office import policy
    from service.reports import aggregate, export, export_files
    _connect()
    spec = current_app.extensions["doorstep.catalog"].get(form_id)
    if spec is None:
        _fail(f"no form '{form_id}'")
    filters = aggregate.Filters(since=since.date() if since else None,
                                until=until.date() if until else None)
    if area_code:
        filters.area = Area.get_or_none(Area.code == area_code)
        if filters.area is None:
            _fail(f"no area with code '{area_code}'")
    opts = export.Options(labels=labels, with_pii=with_pii, lang=lang)
    # the command line is the server's owner: every capability, no area restriction
    job = export.Export(current_app.extensions["doorstep.catalog"], spec, policy.SYSTEM, filters,
                        opts)
    kind = Path(out).suffix.lower()
    if kind not in (".csv", ".zip", ".xlsx"):
        _fail("--out must end in .csv, .zip or .xlsx")
    total = job.count()
    with force_locale(lang), click.progressbar(length=total, label="exporting",
                                               file=sys.stderr) as bar:
        if kind == ".xlsx":
            export_files.write_xlsx(job, out)
            bar.update(total)
        else:
            with open(out, "wb") as fh:
                chunks = export_files.zip_chunks(job, not no_bom) if kind == ".zip" else \
                    export_files.csv_chunks(job.main_rows(), not no_bom)
                seen = 0
                for chunk in chunks:
                    fh.write(chunk)
                    bar.update(job.rows_written - seen)
                    seen = job.rows_written
    audit.record("export", target=f"form:{form_id}", user=None, username="cli",
                 rows=job.rows_written, form=form_id, format=kind[1:], labels=labels,
                 pii=with_pii, filters=filters.as_args())
    if kind == ".csv" and job.groups:
        click.echo("note: repeat groups are not in a single CSV; use --out FILE.zip for them",
                   err=True)
    click.echo(f"{job.rows_written} response(s) written to {out}")


@main.group("links")
def links_group():
    """QR links and their printed sheets."""


def _public_base() -> str:
    """PUBLIC_BASE_URL, or this machine's LAN address with a warning: a code must never point at
    localhost, which on a phone is the phone itself."""
    base = current_app.config.get("PUBLIC_BASE_URL", "").strip()
    problem = links.base_url_problem(base)
    if problem == "unset":
        base = f"http://{links.lan_address()}:8000"
        click.echo(f"warning: PUBLIC_BASE_URL is not set; using {base} (this machine on the "
                   "local network)", err=True)
    elif problem == "local":
        click.echo(f"warning: PUBLIC_BASE_URL is {base}: phones cannot open that", err=True)
    return base


def _spec_and_area(form_id, area_code):
    spec = current_app.extensions["doorstep.catalog"].get(form_id)
    if spec is None:
        _fail(f"no form '{form_id}' in FORMS_DIR")
    area = Area.get_or_none(Area.code == area_code)
    if area is None:
        _fail(f"no area with code '{area_code}'")
    return spec, area


@links_group.command("create")
@click.argument("form_id")
@click.option("--area", "area_code", required=True)
@click.option("--surveyor", default=None, help="the surveyor's username (or unique name)")
@click.option("--channel", type=click.Choice(LINK_CHANNELS), default=None,
              help="default: surveyor with --surveyor, else self")
@click.option("--expires", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="last day the link works (office time), YYYY-MM-DD")
@with_appcontext
def links_create(form_id, area_code, surveyor, channel, expires):
    """Create a link; its full URL is the last line printed."""
    _connect()
    spec, area = _spec_and_area(form_id, area_code)
    person = None
    if surveyor:   # a username, or the display name of exactly one surveyor
        person = User.get_or_none(User.username == surveyor)
        if person is None:
            named = list(User.select().where((User.display_name == surveyor) &
                                             (User.role == "surveyor")).limit(2))
            if len(named) != 1:
                _fail(f"no surveyor '{surveyor}'" if not named else
                      f"several surveyors are called '{surveyor}': give the username")
            person = named[0]
    tz = clock.current().zone
    expires_at = links.expiry_from_date(expires.date(), tz) if expires else None
    try:
        link = links.create(spec.id, area, person, channel, expires_at)
    except links.LinkError as exc:
        _fail(str(exc))
    audit.record("link_created", target=f"link:{link.id}", user=None, username="cli",
                 form=spec.id, area=area.code, channel=link.channel,
                 surveyor=person.username if person else None,
                 expires_at=expires_at)
    click.echo(f"link {link.id}: {spec.id}, {area.code}, {link.channel}"
               + (f", {person.username}" if person else "")
               + (f", until {expires.date().isoformat()}" if expires else ""))
    click.echo(links.url(link, _public_base()))


@links_group.command("sheet")
@click.argument("form_id")
@click.option("--area", "area_code", required=True, help="the area (links below it included)")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="a .pdf (or .html) file")
@click.option("--kind", type=click.Choice(sheets.KINDS), default="cards", show_default=True)
@click.option("--lang", type=click.Choice(("zh", "en")), default="zh", show_default=True)
@click.option("--channel", type=click.Choice(LINK_CHANNELS + ("all",)), default=None,
              help="which links: default surveyor for cards, self for flyers")
@click.option("--contact", default=None, help="office contact on flyers (OFFICE_CONTACT)")
@with_appcontext
def links_sheet(form_id, area_code, out, kind, lang, channel, contact):
    """Write the printable sheet of an area's working links, as PDF for the print shop."""
    _connect()
    spec, area = _spec_and_area(form_id, area_code)
    channel = channel or sheets.DEFAULT_CHANNEL[kind]
    chosen = list(sheets.active_links(spec.id, area, None if channel == "all" else channel))
    if not chosen:
        _fail(f"no working {channel} links for '{form_id}' in {area_code} "
              "(make some with `doorstep links create`)")
    pdf = not out.lower().endswith((".html", ".htm"))
    if pdf and sheets.cjk_font_missing():
        _fail("no Chinese font is installed: the PDF would show boxes "
              "(apt-get install fonts-noto-cjk)")
    base = _public_base()
    with current_app.test_request_context("/", base_url=base):
        sheet = sheets.build(spec, chosen, base, kind=kind, lang=lang,
                             tz=clock.current().zone,
                             contact=contact or current_app.config.get("OFFICE_CONTACT", ""))
        page = sheets.html(sheet)
    Path(out).write_bytes(sheets.pdf(page) if pdf else page.encode())
    click.echo(f"{sheet.count} code(s) on {len(sheet.pages)} page(s): {out}")


@links_group.command("address", with_appcontext=False)
@click.option("--bind", default="0.0.0.0:8000", show_default=True)
def links_address(bind):
    """Print the address phones on the same network should open (for PUBLIC_BASE_URL)."""
    host, _, port = bind.rpartition(":") if ":" in bind else (bind, "", "8000")
    url = f"http://{links.lan_address()}:{port}"
    click.echo(f"Phones on the same network open: {url}/")
    if links.base_url_problem(f"http://{host}") == "local" and host not in ("0.0.0.0", "[::]"):
        click.echo(f"(but the server listens on {host} only: use BIND=0.0.0.0:{port} for phones)")
    configured = os.environ.get("PUBLIC_BASE_URL", "")
    if links.base_url_problem(configured):
        click.echo(f"QR links print PUBLIC_BASE_URL, which is {configured or 'not set'}: "
                   f"export PUBLIC_BASE_URL={url} (or the public address) before printing codes.")
    else:
        click.echo(f"QR links point at PUBLIC_BASE_URL={configured}")


def _connect():
    """Connect for a command that needs the tables; a database never initialised is a clear error."""
    from service.storage.db import db
    db.connect(reuse_if_open=True)
    if not User.table_exists():
        _fail("the database is not set up yet: run `doorstep init` first")


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

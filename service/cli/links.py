"""`doorstep links …`: QR links, their printed sheets, and the address phones should open."""
from __future__ import annotations

import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from service import links
from service.cli import _connect, _fail, main, spec_and_area
from service.links import sheets
from service.office import audit, clock
from service.records.vocabulary import LINK_CHANNELS
from service.storage.models import User


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
    spec, area = spec_and_area(form_id, area_code)
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
    spec, area = spec_and_area(form_id, area_code)
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

"""Printable A4 sheets of QR links: surveyor cards (12 to a page) and household flyers (1 a page).

One set of templates (templates/sheets/) serves both outputs: the browser prints the HTML with its
print CSS, and `pdf()` renders the very same HTML with WeasyPrint for the print shop. Cards are put
on pages here, in Python, rather than left to the browser's grid fragmentation: each page is a
fixed 190 x 276 mm box, so no engine can cut a code in two, whatever the number of links.
"""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import render_template
from flask_babel import force_locale
from markupsafe import Markup
from peewee import JOIN

from service import links
from service.links import qr
from service.office.policy import area_ids_under
from service.formspec import FormSpec
from service.storage.models import Area, Link, User, utcnow

KINDS = ("cards", "flyer")
CARDS_PER_PAGE = 12          # 3 x 4 cards of 63 x 68 mm inside A4's 10 mm margins
DEFAULT_CHANNEL = {"cards": "surveyor", "flyer": "self"}


@dataclass(frozen=True)
class Card:
    """One link as printed: its code and the words around it."""

    link_id: int
    url: str
    code: Markup
    area: str
    surveyor: str
    last_day: dt.date | None


@dataclass(frozen=True)
class Sheet:
    kind: str
    lang: str
    spec: FormSpec
    pages: list[list[Card]]
    contact: str

    @property
    def count(self) -> int:
        return sum(len(page) for page in self.pages)


def active_links(form_id: str, area: Area, channel: str | None = None):
    """The form's working links in `area` and below, in print order (area, surveyor, age)."""
    query = (Link.select(Link, Area, User).join(Area).switch(Link)
             .join(User, JOIN.LEFT_OUTER)
             .where((Link.form_id == form_id) & Link.area.in_(area_ids_under(area)) &
                    ~Link.disabled &
                    (Link.expires_at.is_null() | (Link.expires_at > utcnow()))))
    if channel:
        query = query.where(Link.channel == channel)
    return query.order_by(Area.path, User.username, Link.id)


def build(spec: FormSpec, chosen, base: str, *, kind: str = "cards", lang: str = "zh",
          tz: ZoneInfo, contact: str = "") -> Sheet:
    """The sheet's content, cut into pages; `chosen` are Link rows with area and surveyor."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    cards = []
    for link in chosen:
        url = links.url(link, base)
        surveyor = (link.surveyor.display_name or link.surveyor.username) if link.surveyor_id else ""
        cards.append(Card(link_id=link.id, url=url, code=Markup(qr.svg_inline(url)),
                          area=link.area.name, surveyor=surveyor,
                          last_day=links.last_day(link, tz)))
    per_page = CARDS_PER_PAGE if kind == "cards" else 1
    pages = [cards[i:i + per_page] for i in range(0, len(cards), per_page)]
    return Sheet(kind=kind, lang=lang, spec=spec, pages=pages, contact=contact)


def html(sheet: Sheet, **screen) -> str:
    """The sheet as an HTML page in its own language; `screen` adds the on-screen toolbar."""
    with force_locale(sheet.lang):
        return render_template(f"sheets/{sheet.kind}.html", sheet=sheet, spec=sheet.spec,
                               lang=sheet.lang, **screen)


def _self_contained(url, *args, **kwargs):
    raise ValueError(f"sheets load nothing from outside (asked for {url[:80]})")


def pdf(page: str) -> bytes:
    """Render a sheet's HTML to PDF with WeasyPrint; fonts come from the system (fontconfig)."""
    from weasyprint import HTML   # imported here: it takes a second and only sheets need it

    return HTML(string=page, url_fetcher=_self_contained).write_pdf()


def cjk_font_missing() -> bool:
    """True when fontconfig knows no Chinese font: the PDF would print boxes instead of text."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False      # cannot tell; WeasyPrint will still use what fontconfig finds
    found = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True,
                           timeout=30).stdout
    return not found.strip()

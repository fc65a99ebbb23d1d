"""Door-plate stickers (门牌码): an A4 sheet of an area's households, one QR sticker each.

A sticker carries only what a stranger at the door may read: the code of
`PUBLIC_BASE_URL/d/<door_token>` (a random token, not the household code), the household code
read aloud, the area's name and one line saying what scanning does. Never the address, a name or
any answer: the sticker hangs in a public stairwell. Printing goes through the link sheets'
machinery (`sheets.html`, `sheets.pdf`): the same fixed A4 pages, so no code is ever cut.

24 stickers a page, 3 x 8 of 63.3 x 34.5 mm: the layout of the common 24-up A4 label paper
(24格不干胶), cut along the dashed lines on plain adhesive sheets too. A 31 mm code leaves a
symbol of about 25 mm for URLs up to 62 characters (QR version 4), which phones read at arm's
length; beside it there is room for the code in large type and the line to scan.
"""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from service.formspec import FormSpec
from service.links import qr
from service.office.policy import area_ids_under
from service.records.ledger import VISITABLE
from service.storage.models import Area, Household

STICKERS_PER_PAGE = 24       # 3 columns x 8 rows (see the module docstring)
ORDERS = ("code", "address")


def door_url(household: Household, base: str) -> str:
    """What a household's sticker encodes: the door-plate landing, by its unguessable token."""
    return f"{base.rstrip('/')}/d/{household.door_token}"


@dataclass(frozen=True)
class Sticker:
    """One household's sticker as printed (nothing personal: see the module docstring)."""

    code: str
    url: str
    qr: Markup
    area: str


@dataclass(frozen=True)
class DoorSheet:
    """Pages of stickers, in the shape `sheets.html` renders (`kind` names the template)."""

    lang: str
    spec: FormSpec
    pages: list[list[Sticker]]
    kind: str = "door"

    @property
    def count(self) -> int:
        return sum(len(page) for page in self.pages)


def households(form_id: str, area: Area, order: str = "code"):
    """The form's active households in `area` and below, with their area, in code order (or by
    area: `in_order` then sorts each area's by address)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    query = (Household.select(Household, Area).join(Area)
             .where((Household.form_id == form_id) & Household.status.in_(VISITABLE) &
                    Household.area.in_(area_ids_under(area))))
    if order == "address":
        return query.order_by(Area.path, Household.code)
    return query.order_by(Household.code)


def in_order(chosen, order: str) -> list:
    """The chosen households in the sheet's order: by area then address is the order a surveyor
    walks (the address itself is not printed). Sorted here: addresses are sealed in the database,
    where ORDER BY would sort their ciphertext."""
    rows = list(chosen)
    if order == "address":
        rows.sort(key=lambda h: (h.area.path, h.address, h.code))
    return rows


def build(spec: FormSpec, chosen, base: str, *, lang: str = "zh") -> DoorSheet:
    """The sheet's stickers cut into pages; `chosen` are Household rows with their area."""
    stickers = []
    for household in chosen:
        url = door_url(household, base)
        stickers.append(Sticker(code=household.code, url=url, qr=Markup(qr.svg_inline(url)),
                                area=household.area.name if household.area_id else ""))
    pages = [stickers[i:i + STICKERS_PER_PAGE]
             for i in range(0, len(stickers), STICKERS_PER_PAGE)]
    return DoorSheet(lang=lang, spec=spec, pages=pages)

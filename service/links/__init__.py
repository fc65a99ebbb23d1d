"""QR links: a form fixed to an area (maybe a surveyor) and a channel, behind a short random token.

Everything a submission's attribution needs is in the Link row, so a visitor who edits the page can
change nothing of it. The token is 96 random bits (`secrets.token_urlsafe(12)`, 16 characters): short
enough for a small code that scans fast from paper, far too many to guess.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
import socket
import subprocess
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from service.storage.db import write_transaction
from service.storage.models import Area, Link, User, utcnow
from service.records.submissions import Attribution
from service.records.vocabulary import LINK_CHANNELS

TOKEN_BYTES = 12
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,32}$")


class LinkError(Exception):
    """A link that cannot be made as asked; the message is for the person asking."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def expiry_from_date(last_day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """A link valid through `last_day` (office time) stops at the next local midnight, stored UTC."""
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return end.astimezone(dt.timezone.utc).replace(tzinfo=None)


def last_day(link: Link, tz: ZoneInfo) -> dt.date | None:
    """The last office-time day the link works (the deadline printed on sheets)."""
    if link.expires_at is None:
        return None
    end = link.expires_at.replace(tzinfo=dt.timezone.utc).astimezone(tz)
    return (end - dt.timedelta(microseconds=1)).date()


def check_surveyor(surveyor: User | None, area: Area) -> None:
    if surveyor is None:
        return
    if surveyor.role != "surveyor" or not surveyor.active:
        raise LinkError(f"'{surveyor.username}' is not an active surveyor")
    if surveyor.area is None or not surveyor.area.path.startswith(area.path):
        raise LinkError(f"surveyor '{surveyor.username}' does not work in area '{area.code}'")


def create(form_id: str, area: Area, surveyor: User | None = None, channel: str | None = None,
           expires_at: dt.datetime | None = None) -> Link:
    """One new link. The channel defaults to `surveyor` for a named surveyor, else `self`."""
    channel = channel or ("surveyor" if surveyor is not None else "self")
    if channel not in LINK_CHANNELS:
        raise LinkError(f"channel must be one of {', '.join(LINK_CHANNELS)}")
    check_surveyor(surveyor, area)
    if expires_at is not None and expires_at <= utcnow():
        raise LinkError("the expiry date has already passed")
    return Link.create(token=new_token(), form_id=form_id, area=area, surveyor=surveyor,
                       channel=channel, expires_at=expires_at)


def create_bulk(form_id: str, areas: list[Area], channel: str,
                expires_at: dt.datetime | None = None) -> tuple[list[Link], list[Area]]:
    """Links for a form × areas: one per active surveyor of each area (channel `surveyor`), or one
    per area (channel `self`). Returns the links and the areas that had no surveyor to link."""
    made, skipped = [], []
    with write_transaction():
        for area in areas:
            if channel == "self":
                made.append(create(form_id, area, None, "self", expires_at))
                continue
            people = list(User.select().where((User.area == area) & (User.role == "surveyor") &
                                              User.active).order_by(User.username))
            if not people:
                skipped.append(area)
            for surveyor in people:
                made.append(create(form_id, area, surveyor, channel, expires_at))
    return made, skipped


def state(link: Link, now: dt.datetime | None = None) -> str:
    """`active`, `disabled` or `expired`."""
    if link.disabled:
        return "disabled"
    if link.expires_at is not None and link.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def find(token: str) -> Link | None:
    if not TOKEN_PATTERN.match(token or ""):
        return None
    return Link.get_or_none(Link.token == token)


def count_scan(link: Link) -> None:
    """Add one scan in SQL (scans = scans + 1), so two phones at once both count."""
    Link.update(scans=Link.scans + 1).where(Link.id == link.id).execute()


def set_disabled(link: Link, disabled: bool) -> None:
    Link.update(disabled=disabled).where(Link.id == link.id).execute()
    link.disabled = disabled


def attribution(link: Link) -> Attribution:
    return Attribution(channel=link.channel, area_id=link.area_id,
                       surveyor_id=link.surveyor_id, link_id=link.id)


def url(link: Link, base: str) -> str:
    return f"{base.rstrip('/')}/s/{link.token}"


def base_url_problem(base: str) -> str | None:
    """Why phones could not open links made with `base`: `unset`, `local`, or None when fine."""
    if not base:
        return "unset"
    host = urlsplit(base).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return "local"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return "local" if address.is_loopback or address.is_unspecified else None


def lan_address() -> str:
    """This machine's address on the local network, as phones on the same Wi-Fi would reach it.

    A UDP socket "connected" to a private address only asks the kernel for a route: nothing is
    sent. `hostname -I` is the fallback when there is no route (no network at all).
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.254.254.254", 9))
            address = probe.getsockname()[0]
        if not ipaddress.ip_address(address).is_loopback and address != "0.0.0.0":
            return address
    except OSError:
        pass
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for word in out.split():
        try:
            if ipaddress.ip_address(word).version == 4:
                return word
        except ValueError:
            continue
    return "127.0.0.1"

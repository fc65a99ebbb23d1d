"""Identifiers sealed at rest: `seal`/`unseal` for the values of questions marked `pii`, and
`lookup_hash` for the exact look-ups the product needs without the plain value.

A sealed value is ASCII: `~s1:<key id>:<base64url(nonce + AES-256-GCM ciphertext)>`, with a random
96-bit nonce and the key id as associated data. Being ASCII with no character JSON or CSV escapes,
a sealed value reads the same inside a JSON document or a row of export cells as in a column of
its own, so rotation (rotation.py) finds and re-seals it anywhere by its shape alone. A value that
is not sealed (written before encryption) reads back unchanged until rotation seals it.

The keys (keys.py) are loaded once per process by `init_app`. A ring read from a file is checked
for changes at most every KEYS_CHECK_SECONDS, and at once when a value names a key the process
does not know: so `doorstep keys rotate` reaches running workers without a restart.

`SEALED_PLACES` lists every column that holds sealed values (each module that seals registers
its columns with `register`): the places rotation re-seals.
"""
from __future__ import annotations

import base64
import hmac
import os
import re
import time
import unicodedata

from cryptography.exceptions import InvalidTag
from flask import current_app, has_app_context

from service.storage import keys

PREFIX = "~s1:"
#: a sealed value: the prefix, the key id, then at least nonce + tag (28 bytes) in base64url
SEALED = re.compile(r"~s1:(k[0-9a-f]{8}):([A-Za-z0-9_-]{38,})")
NONCE_BYTES = 12

#: columns holding sealed values, alone or inside a document (peewee fields); see `register`
SEALED_PLACES: list = []


class SealingError(Exception):
    """A sealed value that cannot be opened, or no key to seal with; the message says which."""


def register(*fields) -> None:
    """Declare columns (peewee fields) that hold sealed values, so `doorstep keys rotate` re-seals
    them. A column may hold them as its whole value or inside a JSON document or export cells."""
    for field in fields:
        if not is_registered(field):
            SEALED_PLACES.append(field)


def is_registered(field) -> bool:
    # by identity: a peewee field's == builds an SQL expression, so `in` would always be true
    return any(place is field for place in SEALED_PLACES)


class Sealer:
    """The keys of one app: the field key ring (re-read when its file changes) and the lookup key."""

    def __init__(self, config: dict):
        self.config = config
        self.check_seconds = float(config.get("KEYS_CHECK_SECONDS", 1))
        self._ring = keys.load_ring(config)
        self.lookup_key = keys.load_lookup_key(config)
        self._checked = time.monotonic()

    @property
    def configured(self) -> bool:
        return self._ring is not None and self.lookup_key is not None

    def ring(self, force: bool = False) -> keys.KeyRing:
        ring = self._ring
        if ring is None or ring.path is not None:
            now = time.monotonic()
            if force or ring is None or now - self._checked >= self.check_seconds:
                self._checked = now
                self._reread()
                ring = self._ring
        if ring is None:
            raise SealingError("no field key: set DOORSTEP_FIELD_KEY or run `doorstep init`, "
                               f"which writes {keys.field_file(self.config['KEYS_DIR'])}")
        return ring

    def _reread(self) -> None:
        if self._ring is None:
            self._ring = keys.load_ring(self.config)
            self.lookup_key = self.lookup_key or keys.load_lookup_key(self.config)
            return
        path = self._ring.path
        try:
            changed = path.stat().st_mtime_ns != self._ring.stamp
        except FileNotFoundError:
            changed = False      # a file being replaced: keep the keys in hand
        if changed:
            self._ring = keys.read_ring_file(path) or self._ring


_last: Sealer | None = None


def init_app(app) -> None:
    """Load the app's keys. Refuses to start when a key is missing but the database says values
    were sealed (and hashed): a restored database without its keys must not get new ones. The
    database is asked only then, so a normal start does not depend on it."""
    global _last
    sealer = Sealer(app.config)
    if not sealer.configured:
        expected = key_on_record()
        if expected:
            where = app.config["KEYS_DIR"]
            missing = ("no field key (DOORSTEP_FIELD_KEY, or field.key in " if sealer._ring is None
                       else "no lookup key (DOORSTEP_LOOKUP_KEY, or lookup.key in ") + f"{where})"
            raise SealingError(
                f"the database holds values sealed under field key {expected} and their lookup "
                f"hashes, but {missing} is configured: put the keys kept apart from the backups "
                "back; new keys would leave those values unreadable")
    app.extensions["doorstep.sealing"] = _last = sealer


def reload_keys(app) -> None:
    """Read the app's keys again (`doorstep init` has just written them)."""
    global _last
    app.extensions["doorstep.sealing"] = _last = Sealer(app.config)


def _sealer() -> Sealer:
    if has_app_context():
        sealer = current_app.extensions.get("doorstep.sealing")
        if sealer is not None:
            return sealer
    if _last is None:
        raise SealingError("sealing is not set up: no app was created")
    return _last


def current_key_id() -> str:
    return _sealer().ring().current


def is_sealed(text) -> bool:
    return isinstance(text, str) and SEALED.fullmatch(text) is not None


def seal(text: str | None) -> str | None:
    """`text` sealed under the current key. A value that already looks sealed is sealed again
    (someone typed it), so `unseal` always gives back exactly what was sealed."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"seal() takes text, not {type(text).__name__}")
    ring = _sealer().ring()
    kid = ring.current
    nonce = os.urandom(NONCE_BYTES)
    body = nonce + ring.keys[kid].encrypt(nonce, text.encode("utf-8"), kid.encode("ascii"))
    return f"{PREFIX}{kid}:{base64.urlsafe_b64encode(body).rstrip(b'=').decode('ascii')}"


def unseal(text):
    """The plain text of a sealed value; anything else (a value from before encryption, None, a
    number) comes back unchanged."""
    if not isinstance(text, str):
        return text
    match = SEALED.fullmatch(text)
    return text if match is None else _open(match.group(1), match.group(2))


def _open(kid: str, payload: str) -> str:
    sealer = _sealer()
    cipher = sealer.ring().keys.get(kid)
    if cipher is None:       # sealed by a process that has a newer ring: read the file again
        cipher = sealer.ring(force=True).keys.get(kid)
    if cipher is None:
        raise SealingError(f"a value is sealed under field key {kid}, which is not in the key "
                           f"ring ({sealer.ring().source}): put that key back in the ring")
    body = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    try:
        plain = cipher.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], kid.encode("ascii"))
    except InvalidTag:
        raise SealingError(f"a value sealed under field key {kid} does not open: it was altered"
                           ) from None
    return plain.decode("utf-8")


def _normal_id_number(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().upper()


def _normal_phone(value: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch.isdigit())


def _normal_address(value: str) -> str:
    from service.records.ledger import normalise_address   # the ledger's own rule, one place
    return normalise_address(value)


#: how each kind of identifier is compared: two values equal after this are the same
NORMALISE = {"id_number": _normal_id_number, "phone": _normal_phone, "address": _normal_address}


def lookup_hash(kind: str, value: str | None) -> str | None:
    """The keyed hash (HMAC-SHA256 under the lookup key, base64url, 32 characters) that an exact
    look-up compares instead of the plain value; None for no value or one that normalises to
    nothing. The kind is hashed too, so an ID number never equals a phone number."""
    normal = NORMALISE[kind](unseal(value)) if value is not None else ""
    if not normal:
        return None
    key = _sealer().lookup_key
    if key is None:
        raise SealingError("no lookup key: set DOORSTEP_LOOKUP_KEY or run `doorstep init`")
    digest = hmac.digest(key, f"{kind}\0{normal}".encode("utf-8"), "sha256")
    return base64.urlsafe_b64encode(digest).decode("ascii")[:32]


#: the audit action that records, in the database, which field key its sealed values need
KEY_IN_USE = "field_key_in_use"


def key_on_record() -> str | None:
    """The newest field key id the database recorded as in use (init and rotation record it)."""
    from peewee import InterfaceError, OperationalError

    from service.storage.db import db
    from service.storage.models import AuditEvent
    try:
        opened = db.connect(reuse_if_open=True)
    except (OperationalError, InterfaceError):
        return None    # a database that cannot be asked: /healthz says so; `init` asks again
    try:
        if not AuditEvent.table_exists():
            return None
        event = (AuditEvent.select(AuditEvent.target).where(AuditEvent.action == KEY_IN_USE)
                 .order_by(AuditEvent.id.desc()).first())
        return event.target.removeprefix("key:") if event else None
    finally:
        if opened:
            db.close()


def record_key_in_use(username: str = "cli") -> bool:
    """Write in the audit log that the current field key is in use, once per key: a database
    restored without its key is then refused at start instead of getting a new one."""
    from service.office import audit
    from service.storage.models import AuditEvent
    target = f"key:{current_key_id()}"
    if AuditEvent.select().where(AuditEvent.action == KEY_IN_USE,
                                 AuditEvent.target == target).exists():
        return False
    audit.record(KEY_IN_USE, target=target, user=None, username=username,
                 source=_sealer().ring().source)
    return True

"""The keys that seal identifiers (sealing.py): where they come from, how they are written.

Two keys, kept outside the database and apart from its backups:

- the field key ring seals values (AES-256-GCM). `DOORSTEP_FIELD_KEY` or the file
  `instance/field.key`: base64 keys of 32 bytes, separated by commas, spaces or lines, the first
  one current. Older keys stay in the ring while `doorstep keys rotate` re-seals the values under
  them, and leave it when none remains. A key's id is derived from the key itself (`k` and 8 hex
  digits), so the same key has the same id in every process and file, and a key id written in a
  sealed value tells which key opens it.
- the lookup key makes the keyed hashes of exact look-ups (HMAC-SHA256). `DOORSTEP_LOOKUP_KEY` or
  `instance/lookup.key`: one base64 key. It is never rotated with the field keys: every stored hash
  would change with it.

`doorstep init` writes both files when neither the variable nor the file exists (mode 0600, never
over an existing file).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FIELD_FILE, LOOKUP_FILE = "field.key", "lookup.key"
KEY_BYTES = 32
_HEADER = ("# Doorstep's field keys (base64, one a line). The first seals new values; the others\n"
           "# are older keys kept until `doorstep keys rotate` has re-sealed every value under\n"
           "# them. Keep a copy of this file apart from the database's backups.\n")


class KeyProblem(Exception):
    """A key that is missing, malformed or unknown; the message says which and what to do."""


def new_key() -> str:
    """A fresh random key, base64."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def key_id(raw: bytes) -> str:
    """The public id of a field key: stable, short, and telling nothing usable about the key."""
    return "k" + hashlib.sha256(b"doorstep field key id\0" + raw).hexdigest()[:8]


def _decode(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KeyProblem(f"{where}: not a base64 key of {KEY_BYTES} bytes")
    return raw


@dataclass
class KeyRing:
    """The field keys a process knows, newest (current) first, each with its cipher ready."""

    keys: dict[str, AESGCM] = field(default_factory=dict)    # id -> cipher, current first
    encoded: dict[str, str] = field(default_factory=dict)    # id -> the key in base64
    source: str = ""                                          # a file's path, or the variable
    path: Path | None = None                                  # the file, when read from one
    stamp: float | None = None                                # the file's mtime when read

    @classmethod
    def parse(cls, text: str, source: str) -> "KeyRing":
        words = _words(text)
        if not words:
            raise KeyProblem(f"{source}: holds no key")
        ring = cls(source=source)
        for word in words:
            raw = _decode(word, source)
            if key_id(raw) not in ring.keys:
                ring.keys[key_id(raw)], ring.encoded[key_id(raw)] = AESGCM(raw), word
        return ring

    @property
    def current(self) -> str:
        return next(iter(self.keys))

    @property
    def older(self) -> list[str]:
        return list(self.keys)[1:]


def field_file(keys_dir) -> Path:
    return Path(keys_dir) / FIELD_FILE


def load_ring(config: dict) -> KeyRing | None:
    """The field key ring from DOORSTEP_FIELD_KEY or KEYS_DIR/field.key; None when neither is set."""
    if config.get("FIELD_KEY"):
        return KeyRing.parse(config["FIELD_KEY"], "DOORSTEP_FIELD_KEY")
    return read_ring_file(field_file(config["KEYS_DIR"]))


def read_ring_file(path: Path) -> KeyRing | None:
    try:
        stamp = path.stat().st_mtime_ns
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    ring = KeyRing.parse(text, str(path))
    ring.path, ring.stamp = path, stamp
    return ring


def load_lookup_key(config: dict) -> bytes | None:
    """The lookup key from DOORSTEP_LOOKUP_KEY or KEYS_DIR/lookup.key; None when neither is set."""
    if config.get("LOOKUP_KEY"):
        return _decode(config["LOOKUP_KEY"], "DOORSTEP_LOOKUP_KEY")
    path = Path(config["KEYS_DIR"]) / LOOKUP_FILE
    try:
        return _decode(path.read_text(encoding="ascii"), str(path))
    except FileNotFoundError:
        return None


def create_missing(config: dict) -> list[Path]:
    """Write the key files that neither their variable nor an existing file provides (0600, never
    over a file); the paths written."""
    made = []
    for name, setting in ((FIELD_FILE, "FIELD_KEY"), (LOOKUP_FILE, "LOOKUP_KEY")):
        path = Path(config["KEYS_DIR"]) / name
        if config.get(setting) or path.exists():
            continue
        body = (_HEADER if name == FIELD_FILE else "") + new_key() + "\n"
        if _write_new(path, body):
            made.append(path)
    return made


def _write_new(path: Path, body: str) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:      # another process made it first: theirs stands
        return False
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def rewrite_ring(path: Path, keys: list[str]) -> None:
    """Replace the ring file with `keys` (base64, current first), atomically and still 0600."""
    temp = path.with_name(path.name + ".new")
    temp.unlink(missing_ok=True)
    _write_new(temp, _HEADER + "".join(k + "\n" for k in keys))
    os.replace(temp, path)


def _words(text: str) -> list[str]:
    """The keys written in a variable or file: comment lines left out, then split."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [w for w in re.split(r"[\s,]+", "\n".join(lines)) if w]

"""A consistent copy of the database taken while the service serves, and bringing one back.

- SQLite: the `sqlite3` backup API copies every page in one step from one read transaction, so the
  copy is the database at one moment; in WAL mode writers go on meanwhile. The copy is then
  vacuumed (no free pages: nothing erased lingers in it) and made a single file (no WAL).
- PostgreSQL: `pg_dump` in its custom format, from the configured DATABASE_URL (its password
  handed over in the environment, never on the command line), of the tables of the connection's
  schema: pg_dump reads one snapshot, so the copy is consistent and nobody waits for it. pg_dump
  must exist and be at least the server's major version (an older one refuses a newer server).

A restore goes into an EMPTY database only (a non-empty one is refused and left as it was), and
reads the backup's schema version first: one newer than this release is refused; an older one is
restored and then upgraded like `doorstep init` would. Keys for encrypted fields live in
`instance/` or the environment, never in the database: they are not in a backup, and must be kept
(and restored) apart from it. A restore reads which field key the backup's values are sealed under
(the newest `field_key_in_use` the database recorded, else the key of its newest sealed audit
entry) and is refused, with nothing changed, when
this installation's key ring lacks it or no lookup key is set; once restored, one stored address
hash is checked against the lookup key, so a different lookup key is named at once instead of
every search and duplicate check quietly finding nothing.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from service.storage import schema, sealing
from service.storage.db import db, is_sqlite


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


def backup(url: str, out: str) -> int:
    """Write a consistent copy of the database at `url` to `out`; returns its schema version."""
    version = schema.current_version()
    if version is None:
        raise BackupError("the database has no Doorstep tables: nothing to back up")
    partial = f"{out}.part"
    Path(partial).unlink(missing_ok=True)
    try:
        if is_sqlite():
            _sqlite_copy(db.obj.database, partial)
        else:
            _pg_dump(url, partial)
        _sync(partial)
        os.replace(partial, out)
    finally:
        Path(partial).unlink(missing_ok=True)
    return version


def restore(url: str, file: str) -> tuple[int, list[int]]:
    """Bring the backup `file` into the (empty) database at `url`. Returns the backup's schema
    version and the upgrade steps applied after it."""
    if not Path(file).is_file():
        raise BackupError(f"no such file: {file}")
    version = sqlite_version(file) if is_sqlite() else _pg_version(file)
    if version > schema.latest():
        raise BackupError(f"the backup is at schema version {version}, newer than this release "
                          f"knows ({schema.latest()}): restore it with a newer Doorstep")
    tables = _tables()
    if tables:
        raise BackupError(f"the database is not empty ({tables} table(s)): restore only into an "
                          "empty database; nothing was changed")
    _check_keys(_sqlite_key(file) if is_sqlite() else _pg_key(file))
    if is_sqlite():
        _sqlite_restore(file, db.obj.database)
    else:
        _pg_restore(url, file)
    db.close()
    db.connect()
    upgraded = schema.upgrade()
    _check_lookup_key()
    return version, upgraded


# --- the keys a backup needs --------------------------------------------------------------------

def _keys_where() -> str:
    where = sealing._sealer().config.get("KEYS_DIR")
    return (f"field.key and lookup.key in {where}, or DOORSTEP_FIELD_KEY and "
            "DOORSTEP_LOOKUP_KEY")


def _check_keys(needed: str | None) -> None:
    """Refuse (nothing changed yet) to restore without both keys, or with a key ring that lacks
    the field key the backup's values are sealed under (`needed`; None: nothing in the backup
    says, as in one from before encryption, whose values the upgrade seals with the keys here)."""
    sealer = sealing._sealer()
    try:
        ring = sealer.ring()
    except sealing.SealingError:
        ring = None
    if ring is None:
        problem = "no field key is configured here"
    elif needed is not None and needed not in ring.keys:
        problem = f"the key ring here ({ring.source}) does not hold field key {needed}"
    elif sealer.lookup_key is None:
        problem = "no lookup key is configured here"
    else:
        return
    sealed = f"the backup's values are sealed under field key {needed}" if needed else \
        "a restored database needs the keys its values were sealed with"
    raise BackupError(f"{sealed}, but {problem}: put the keys kept apart from the backups in "
                      f"place ({_keys_where()}) and restore again; nothing was changed")


def _check_lookup_key() -> None:
    """One stored address hash made again with this installation's lookup key: a different key
    would leave every search and duplicate check finding nothing, without an error. (After the
    upgrade: a backup from before the keyed hashes has them made with this key by then.)"""
    from service.storage.models import Household
    for address, key in (Household.select(Household.address, Household.address_key)
                         .where(Household.address_key != "").limit(20).tuples()):
        if len(address) < 500:             # (a longer one was hashed whole, stored cut)
            if sealing.lookup_hash("address", address) != key:
                raise BackupError("restored, but the lookup key here is not the one the "
                                  "backup's hashes were made with: put the lookup key kept apart "
                                  f"from the backups in place ({_keys_where()}) before starting "
                                  "Doorstep, or searches and duplicate checks find nothing")
            return


def _sqlite_key(file: str) -> str | None:
    """The field key a SQLite backup's values need (see `_newest_key`)."""
    table = _audit_table()
    with sqlite3.connect(f"file:{Path(file).resolve()}?mode=ro", uri=True) as copy:
        if not copy.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
            return None
        recorded = copy.execute(f'SELECT "target" FROM "{table}" WHERE "action" = ? '
                                'ORDER BY "id" DESC LIMIT 1', (sealing.KEY_IN_USE,)).fetchone()
        sealed = copy.execute(f'SELECT "detail" FROM "{table}" WHERE "detail" LIKE ? '
                              'ORDER BY "id" DESC LIMIT 1', (sealing.PREFIX + "%",)).fetchone()
    return _newest_key(recorded and recorded[0], sealed and sealed[0])


def _newest_key(recorded: str | None, sealed: str | None) -> str | None:
    """The field key id the database recorded last as in use (`doorstep init`, rotation), else
    the one its newest sealed audit entry was sealed under (None: nothing sealed)."""
    if recorded:
        return recorded.removeprefix("key:")
    match = sealing.SEALED.fullmatch(sealed or "")
    return match.group(1) if match else None


def _pg_key(file: str) -> str | None:
    """The field key a pg_dump backup's values need (see `_newest_key`), from its audit rows read
    back as pg_restore writes them (streamed: the log may be long)."""
    table, columns = _audit_table(), None
    newest = {"recorded": (-1, None), "sealed": (-1, None)}
    with subprocess.Popen([_tool("pg_restore"), "--data-only", f"--table={table}", "--file=-",
                           file], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          encoding="utf-8", errors="replace") as dump:
        for line in dump.stdout:
            line = line.rstrip("\n")
            if line.startswith("COPY ") and f"{table} (" in line:
                columns = [c.strip().strip('"') for c in
                           line[line.index("(") + 1:line.rindex(")")].split(",")]
            elif columns is not None and line == "\\.":
                columns = None
            elif columns is not None:
                row = dict(zip(columns, line.split("\t")))
                kind, value = (("recorded", row["target"]) if row["action"] == sealing.KEY_IN_USE
                               else ("sealed", row["detail"]))
                if value.startswith(sealing.PREFIX if kind == "sealed" else "") and \
                        int(row["id"]) > newest[kind][0]:
                    newest[kind] = (int(row["id"]), value)
    return _newest_key(newest["recorded"][1], newest["sealed"][1])


def _audit_table() -> str:
    from service.storage.models import AuditEvent
    return AuditEvent._meta.table_name


# --- SQLite -------------------------------------------------------------------------------------

def _sqlite_copy(path: str, out: str) -> None:
    source, copy = sqlite3.connect(path, timeout=30), sqlite3.connect(out)
    try:
        source.backup(copy)            # every page in one step: the database at one moment
        copy.execute("VACUUM")
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        source.close()


def sqlite_version(file: str) -> int:
    """The schema version a SQLite backup records."""
    try:
        with sqlite3.connect(f"file:{Path(file).resolve()}?mode=ro", uri=True) as copy:
            names = {n for (n,) in copy.execute("SELECT name FROM sqlite_master")}
            if "schema_version" not in names:
                raise BackupError(f"{file} is not a Doorstep backup (no schema version in it)")
            return int(copy.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{file} is not a Doorstep backup of a SQLite database ({exc})")


def _sqlite_restore(file: str, path: str) -> None:
    db.close()
    source, target = sqlite3.connect(file), sqlite3.connect(path, timeout=30)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=WAL")
    finally:
        target.close()
        source.close()


def _tables() -> int:
    """How many tables the database (PostgreSQL: the connection's schema) holds."""
    if is_sqlite():
        return db.execute_sql("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
                              ).fetchone()[0]
    return db.execute_sql("SELECT COUNT(*) FROM pg_catalog.pg_tables "
                          "WHERE schemaname = current_schema()").fetchone()[0]


def _sync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- PostgreSQL ---------------------------------------------------------------------------------

def _tool(name: str) -> str:
    """The path of pg_dump or pg_restore, checked against the server's major version."""
    found = shutil.which(name)
    server = int(db.execute_sql("SHOW server_version_num").fetchone()[0]) // 10000
    if found is None:
        raise BackupError(f"{name} is not installed: install PostgreSQL's client tools of "
                          f"version {server} or later (Debian: apt-get install postgresql-client)")
    said = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", said)
    client = int(match.group(1)) if match else 0
    if client < server:
        raise BackupError(f"{name} is version {client}, older than the server ({server}): "
                          f"install PostgreSQL {server}'s client tools")
    return found


def _libpq(url: str) -> tuple[str, dict]:
    """DATABASE_URL as libpq takes it, and the environment carrying its password (so that it is
    never on a command line, where other users of the machine could read it)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        parts = parts._replace(netloc=f"{user}{host}{port}")
    return urlunsplit(parts), env


def _run(command: list[str], env: dict) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {done.stderr.strip()[-2000:]}")


def _pg_dump(url: str, out: str) -> None:
    tool = _tool("pg_dump")
    current = db.execute_sql("SELECT current_schema()").fetchone()[0]
    conninfo, env = _libpq(url)
    # the schema's tables with their sequences, indexes and constraints, not the schema itself:
    # a restore goes into an empty database that has it (public) already
    _run([tool, "--format=custom", "--no-owner", "--no-privileges",
          f'--table="{current}".*', f"--file={out}", f"--dbname={conninfo}"], env)


def _pg_version(file: str) -> int:
    """The schema version a pg_dump backup records (its schema_version rows, read back)."""
    tool = _tool("pg_restore")
    done = subprocess.run([tool, "--data-only", "--table=schema_version", "--file=-", file],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{file} is not a Doorstep backup of a PostgreSQL database "
                          f"({done.stderr.strip()[-500:]})")
    versions, inside = [], False
    for line in done.stdout.splitlines():
        if line.startswith("COPY ") and "schema_version" in line:
            inside = True
        elif inside and line == "\\.":
            inside = False
        elif inside and line.split("\t", 1)[0].isdigit():
            versions.append(int(line.split("\t", 1)[0]))
    if not versions:
        raise BackupError(f"{file} is not a Doorstep backup (no schema version in it)")
    return max(versions)


def _pg_restore(url: str, file: str) -> None:
    conninfo, env = _libpq(url)
    _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
          "--single-transaction", f"--dbname={conninfo}", file], env)

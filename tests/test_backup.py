"""Backups (service/storage/backup.py, `doorstep backup` and `doorstep restore`), on both databases.

A backup is taken by another process while a thread keeps submitting; restored into an empty
database, it holds every receipt acknowledged before the backup started, and its tallies equal a
recount, read with the keys the values were sealed under. A restore refuses a database that is not
empty (nothing changes), a backup newer than the release, and keys that do not open the backup
(saying which key is missing). A backup made after an erasure holds none of the erased answers,
plain or inside the sealed values it holds.
"""
from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import pytest

from service.records import submissions
from service.storage import backup, keys, sealing
from service.storage.db import db
from service.storage.models import Submission

from .conftest import KITCHEN_ANSWERS, ROOT, TEST_FORMS, make_app, use_database_of
from .databases import PG_URL, POSTGRES, with_params
from .test_erasure import HEAD, SECRET, erase, held_in
from .test_households_office import FIRST, book  # noqa: F401  (book: a fixture)
from .test_tally import recount, tallies


def doorstep(url: str, tmp_path, *args, **more) -> subprocess.CompletedProcess:
    """`doorstep …` in a process of its own, on the database at `url`, with the keys in
    tmp_path/instance (those of the test's app) unless `more` names others (KEYS_DIR=…)."""
    env = {**os.environ, "DATABASE_URL": url, "FORMS_DIR": str(TEST_FORMS), "SECRET_KEY": "x",
           "INSTANCE_PATH": str(tmp_path / "instance"), "PYTHONPATH": str(ROOT), **more}
    return subprocess.run([sys.executable, "-c", "from service.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=300)


@contextmanager
def empty_database(tmp_path, source_url: str):
    """The URL of an empty database to restore into: a new SQLite file (a new name each time), or
    a scratch PostgreSQL database (with the source's schema, empty) dropped afterwards."""
    if not POSTGRES:
        yield f"sqlite:///{tmp_path / f'restored-{secrets.token_hex(4)}.db'}"
        return
    import psycopg2
    with db.connection_context():
        schema = db.execute_sql("SELECT current_schema()").fetchone()[0]
    name = f"doorstep_restore_{secrets.token_hex(4)}"
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        target = PG_URL.rsplit("/", 1)[0] + f"/{name}"
        with psycopg2.connect(target) as made:
            made.cursor().execute(f'CREATE SCHEMA "{schema}"')
        made.close()
        yield with_params(target, options=f"-csearch_path={schema}")
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def restore_with_keys(app, target: str, file: Path, tmp_path):
    """`doorstep restore FILE` into `target` with `app`'s keys (as an office keeps them apart from
    its backups), and an app on the restored database reading it with those keys."""
    done = doorstep(target, tmp_path, "restore", str(file), KEYS_DIR=app.config["KEYS_DIR"])
    assert done.returncode == 0, done.stderr
    return make_app(tmp_path / f"restored-{secrets.token_hex(4)}", DATABASE_URL=target,
                    KEYS_DIR=app.config["KEYS_DIR"])


def tables_in(url: str) -> int:
    """How many tables the database at `url` holds (PostgreSQL: in its search_path's schema)."""
    if not POSTGRES:
        path = Path(url[len("sqlite:///"):])
        if not path.exists():
            return 0
        with sqlite3.connect(path) as made:
            n = made.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()
        made.close()
        return n[0]
    import psycopg2
    with psycopg2.connect(url) as made:
        cursor = made.cursor()
        cursor.execute("SELECT COUNT(*) FROM pg_catalog.pg_tables "
                       "WHERE schemaname = current_schema()")
        n = cursor.fetchone()[0]
    made.close()
    return n


def readable(file: Path) -> bytes:
    """A backup's bytes as text can be searched: the SQLite file itself, pg_dump's archive
    as the SQL pg_restore makes of it (the archive is compressed)."""
    if not POSTGRES:
        return file.read_bytes()
    return subprocess.run(["pg_restore", "--file=-", str(file)], capture_output=True,
                          check=True).stdout


def keep_submitting(app, stop: threading.Event, acknowledged: list) -> None:
    """Submit kitchen responses until told to stop, noting each receipt once it is stored."""
    spec = app.extensions["doorstep.catalog"].get("kitchen")
    with app.app_context():
        while not stop.is_set():
            with db.connection_context():
                stored, _ = submissions.store(spec, str(uuid4()), KITCHEN_ANSWERS)
            acknowledged.append((time.monotonic(), stored.receipt))


def test_a_backup_under_write_load_restores_every_receipt_acknowledged_before_it(app,
                                                                                 tmp_path):
    url = app.config["DATABASE_URL"]
    with app.app_context(), db.connection_context():
        app.extensions["doorstep.catalog"].ensure_published(
            app.extensions["doorstep.catalog"].get("kitchen"))
    stop, acknowledged = threading.Event(), []
    writer = threading.Thread(target=keep_submitting, args=(app, stop, acknowledged))
    writer.start()
    try:
        while len(acknowledged) < 20:
            time.sleep(0.05)
        started = time.monotonic()
        made = doorstep(url, tmp_path, "backup", "--out", str(tmp_path / "copy.bak"))
        finished = time.monotonic()
        while acknowledged[-1][0] < finished:
            time.sleep(0.05)       # writes went on during the backup and after it
    finally:
        stop.set()
        writer.join()
    assert made.returncode == 0, made.stderr
    assert "backup written to" in made.stdout and "keep them apart" in made.stdout
    before = {receipt for at, receipt in acknowledged if at < started}
    during = len(acknowledged) - len(before)
    assert len(before) >= 20 and during > 0
    with empty_database(tmp_path, url) as target:
        restored = restore_with_keys(app, target, tmp_path / "copy.bak", tmp_path)
        with restored.app_context(), db.connection_context():
            receipts = {r for (r,) in Submission.select(Submission.receipt).tuples()}
            assert before <= receipts
            assert receipts <= {r for _at, r in acknowledged}
            answers = {a for (a,) in Submission.select(Submission.answers).tuples()}
            assert [json.loads(a) for a in answers] == [KITCHEN_ANSWERS]
            kept = tallies()
            assert sum(n for key, n in kept.items() if key[6] == "") == len(receipts)
            assert recount(restored) == kept
        use_database_of(app)


def test_a_restore_refuses_a_database_that_is_not_empty(app, tmp_path):
    url = app.config["DATABASE_URL"]
    with app.app_context(), db.connection_context():
        spec = app.extensions["doorstep.catalog"].get("kitchen")
        app.extensions["doorstep.catalog"].ensure_published(spec)
        submissions.store(spec, str(uuid4()), KITCHEN_ANSWERS)
    assert doorstep(url, tmp_path, "backup", "--out", str(tmp_path / "copy.bak")).returncode == 0
    with app.app_context(), db.connection_context():
        submissions.store(spec, str(uuid4()), KITCHEN_ANSWERS)
        rows = list(Submission.select().order_by(Submission.id).tuples())
    refused = doorstep(url, tmp_path, "restore", str(tmp_path / "copy.bak"))
    assert refused.returncode == 1
    assert "the database is not empty" in refused.stderr and "nothing was changed" in refused.stderr
    with app.app_context(), db.connection_context():
        assert list(Submission.select().order_by(Submission.id).tuples()) == rows
    missing = doorstep(url, tmp_path, "restore", str(tmp_path / "no-such.bak"))
    assert missing.returncode == 1 and "no such file" in missing.stderr


@pytest.mark.skipif(POSTGRES, reason="a SQLite backup's schema version is edited in place")
def test_a_restore_refuses_a_backup_newer_than_this_release(app, tmp_path):
    url = app.config["DATABASE_URL"]
    copy = tmp_path / "copy.bak"
    assert doorstep(url, tmp_path, "backup", "--out", str(copy)).returncode == 0
    with sqlite3.connect(copy) as edited:
        edited.execute("INSERT INTO schema_version (version, description, applied_at) "
                       "VALUES (999, 'from the future', '2030-01-01')")
    edited.close()
    with empty_database(tmp_path, url) as target:
        refused = doorstep(target, tmp_path, "restore", str(copy))
        assert refused.returncode == 1 and "newer than this release" in refused.stderr
        assert not Path(target[len("sqlite:///"):]).exists() or \
            not sqlite3.connect(target[len("sqlite:///"):]).execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    not_one = tmp_path / "not-a-backup.bak"
    not_one.write_bytes(b"hello")
    with empty_database(tmp_path, url) as target:
        refused = doorstep(target, tmp_path, "restore", str(not_one))
        assert refused.returncode == 1 and "not a Doorstep backup" in refused.stderr


def test_a_backup_made_after_an_erasure_holds_none_of_the_erased_answers(office, tmp_path):
    app, url = office.app, office.app.config["DATABASE_URL"]
    sub = office.store("secret", answers=SECRET, area="SQ1")
    erased = [SECRET["name"], SECRET["why"], SECRET["story"], SECRET["phone"], SECRET["idn"],
              SECRET["members"][0]["mname"]]
    before, after = tmp_path / "before.bak", tmp_path / "after.bak"
    assert doorstep(url, tmp_path, "backup", "--out", str(before)).returncode == 0
    with app.app_context():          # sealed values found in the backup open with the app's keys
        assert held_in(erased, readable(before)) == erased      # the search finds them when there
        assert erase(app, sub.id)
        assert doorstep(url, tmp_path, "backup", "--out", str(after)).returncode == 0
        text = readable(after)
        assert held_in(erased, text) == []
    assert office.receipts["secret"].encode() in text      # the row itself stays


def test_a_restore_without_the_backups_keys_is_refused_saying_which_key(app, tmp_path):
    url = app.config["DATABASE_URL"]
    with app.app_context(), db.connection_context():
        spec = app.extensions["doorstep.catalog"].get("kitchen")
        app.extensions["doorstep.catalog"].ensure_published(spec)
        stored, _ = submissions.store(spec, str(uuid4()), KITCHEN_ANSWERS)
        sealing.record_key_in_use()          # as `doorstep init` does
        needed = sealing.current_key_id()
    made = doorstep(url, tmp_path, "backup", "--out", str(tmp_path / "copy.bak"))
    assert made.returncode == 0 and f"sealed under field key {needed}" in made.stdout
    other, none = tmp_path / "other-keys", tmp_path / "no-keys"
    keys.create_missing({"KEYS_DIR": str(other)})
    none.mkdir()
    for where, problem in ((other, f"does not hold field key {needed}"),
                           (none, "no field key is configured")):
        with empty_database(tmp_path, url) as target:
            refused = doorstep(target, tmp_path, "restore", str(tmp_path / "copy.bak"),
                               KEYS_DIR=str(where))
            assert refused.returncode == 1, refused.stderr
            assert f"sealed under field key {needed}" in refused.stderr
            assert problem in refused.stderr and "nothing was changed" in refused.stderr
            assert "Traceback" not in refused.stderr
            assert tables_in(target) == 0
    # with the same keys it goes in, and reads back
    with empty_database(tmp_path, url) as target:
        restored = restore_with_keys(app, target, tmp_path / "copy.bak", tmp_path)
        with restored.app_context(), db.connection_context():
            kept = Submission.get(Submission.receipt == stored.receipt)
            assert json.loads(kept.answers) == KITCHEN_ANSWERS
        use_database_of(app)


@pytest.mark.skipif(not POSTGRES, reason="pg_dump is PostgreSQL's")
def test_without_a_fitting_pg_dump_the_backup_says_what_to_install(app, tmp_path, monkeypatch):
    with app.app_context(), db.connection_context():
        monkeypatch.setattr(backup.shutil, "which", lambda name: None)
        with pytest.raises(backup.BackupError, match="pg_dump is not installed.*postgresql-client"):
            backup.backup(app.config["DATABASE_URL"], str(tmp_path / "x.bak"))
        monkeypatch.setattr(backup.shutil, "which", lambda name: "/usr/bin/" + name)
        monkeypatch.setattr(backup.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
            a, 0, stdout="pg_dump (PostgreSQL) 9.6.24\n"))
        with pytest.raises(backup.BackupError, match="version 9, older than the server"):
            backup.backup(app.config["DATABASE_URL"], str(tmp_path / "x.bak"))
    assert not (tmp_path / "x.bak").exists() and not (tmp_path / "x.bak.part").exists()


def test_a_restore_with_another_lookup_key_says_so(book, tmp_path):
    """The field key opens the values, but the lookup key is not the one the backup's hashes were
    made with (or there is none): said, instead of searches quietly finding nothing."""
    app, url = book.app, book.app.config["DATABASE_URL"]
    book.visit(dict(FIRST, **HEAD), "SQ1")
    assert doorstep(url, tmp_path, "backup", "--out", str(tmp_path / "copy.bak")).returncode == 0
    field = (Path(app.config["KEYS_DIR"]) / keys.FIELD_FILE).read_text()
    other, none = tmp_path / "other-lookup", tmp_path / "no-lookup"
    for where in (other, none):
        where.mkdir()
        (where / keys.FIELD_FILE).write_text(field)
    keys.create_missing({"KEYS_DIR": str(other)})      # a new lookup key beside the right field key
    for where, said in ((other, "the lookup key here is not the one"),
                        (none, "no lookup key is configured")):
        with empty_database(tmp_path, url) as target:
            refused = doorstep(target, tmp_path, "restore", str(tmp_path / "copy.bak"),
                               KEYS_DIR=str(where))
            assert refused.returncode == 1 and said in refused.stderr, refused.stderr
            assert "Traceback" not in refused.stderr
        use_database_of(app)

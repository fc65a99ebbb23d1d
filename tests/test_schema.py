"""The schema's recorded version: `doorstep init` creates or upgrades the database, step by step,
on SQLite and on PostgreSQL (whichever this pass runs on), and running it again changes nothing."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading

import pytest
from peewee import IntegerField, TextField
from playhouse.schema_diff import diff_models

from service.records import cells
from service import formspec
from service.storage import schema
from service.formspec.catalog import _canonical
from service.storage.db import db, open_database
from service.storage.models import MODELS, Answer, Area, Submission, Tally, User
from service.records.answers import answer_rows
from service.storage.schema import SchemaVersion, Step

from . import schema_v1
from .conftest import TEST_FORMS, database_url_for


@contextlib.contextmanager
def connected(url):
    """The models bound to the database at `url` for the block."""
    db.initialize(open_database(url))
    db.connect(reuse_if_open=True)
    try:
        yield db
    finally:
        db.close()


def versions():
    return [(v.version, v.description) for v in SchemaVersion.select().order_by(SchemaVersion.version)]


def shape():
    """Tables, columns (type, nullability), indexes and foreign keys, as the database reports them."""
    tables = {}
    for table in sorted(db.get_tables()):
        tables[table] = (
            sorted((c.name, c.data_type.lower(), c.null, c.primary_key)
                   for c in db.get_columns(table)),
            sorted((tuple(i.columns), i.unique) for i in db.get_indexes(table)),
            sorted((f.column, f.dest_table, f.dest_column) for f in db.get_foreign_keys(table)))
    return tables


def version_1_database(url):
    """A database as version 1 left it (frozen in tests/schema_v1.py), its version unrecorded."""
    with connected(url):
        schema_v1.up(None, db)


def add_link_note(migrator):
    migrator.migrate(migrator.add_column("link", "note", TextField(default="")))


def add_link_priority(migrator):
    migrator.migrate(migrator.add_column("link", "priority", IntegerField(default=0)))


def test_init_creates_every_table_and_records_the_newest_version(tmp_path, cli):
    url = database_url_for(tmp_path, empty=True)
    env = {"DATABASE_URL": url, "FORMS_DIR": str(TEST_FORMS), "SECRET_KEY": "x",
           "INSTANCE_PATH": str(tmp_path / "instance")}
    first = cli("init", env=env)
    assert first.exit_code == 0, first.output
    assert f"database schema: version {schema.latest()}" in first.output
    with connected(url):
        assert {m._meta.table_name for m in MODELS} <= set(db.get_tables())
        assert not diff_models(db, MODELS), diff_models(db, MODELS)
        assert versions() == [(schema.latest(), "tables created")]


def test_running_init_twice_changes_nothing(tmp_path, cli):
    url = database_url_for(tmp_path, empty=True)
    env = {"DATABASE_URL": url, "FORMS_DIR": str(TEST_FORMS), "SECRET_KEY": "x",
           "INSTANCE_PATH": str(tmp_path / "instance")}
    assert cli("init", env=env).exit_code == 0
    with connected(url):
        before = (shape(), versions(), User.select().count())
    second = cli("init", env=env)
    assert second.exit_code == 0, second.output
    assert "database schema" not in second.output
    assert "one-time password" not in second.output     # the first admin is made once
    with connected(url):
        assert (shape(), versions(), User.select().count()) == before


def test_a_database_made_before_versions_were_recorded_is_version_1_and_keeps_its_rows(tmp_path):
    url = database_url_for(tmp_path, empty=True)
    version_1_database(url)
    with connected(url):
        Area.create(code="JD", name="幸福街道", path="/1/")
        assert schema.upgrade() == [step.version for step in schema.STEPS]
        assert versions()[0] == (1, "tables made before versions were recorded")
        assert [a.code for a in Area.select()] == ["JD"]


def test_version_2_gives_every_stored_submission_its_export_cells(tmp_path):
    """Submissions stored before `submission.cells` existed get it from their current answer rows
    (a correction already applied to the rows included), read with their own version's form."""
    spec = formspec.load_file(TEST_FORMS / "survey.yaml")
    answers = {"housing": "own", "needs": ["job", "loan"], "size": 3, "remark": "旧的",
               "members": [{"mname": "张一", "age": 40}]}
    url = database_url_for(tmp_path, empty=True)
    version_1_database(url)
    with connected(url):
        db.execute_sql(   # as version 1 wrote it (without the later `published` column)
            "INSERT INTO form_version (form_id, version, definition, digest, published_at) "
            f"VALUES ({', '.join([db.param] * 5)})",
            ("survey", spec.version, _canonical(spec), "-", dt.datetime(2026, 3, 1)))
        for n in (1, 2):
            row = {"id": n, "uuid": f"00000000-0000-4000-8000-00000000000{n}",
                   "receipt": f"AAAA-000{n}", "form_id": "survey", "form_version": spec.version,
                   "received_at": dt.datetime(2026, 3, 1), "day": "2026-03-01",
                   "channel": "web", "status": "valid", "lang": "zh", "consent": True,
                   "sensitive_consent": False, "answers": json.dumps(answers)}
            db.execute_sql(         # as version 1 wrote it (the model's new columns aren't there)
                f"INSERT INTO submission ({', '.join(row)}) "
                f"VALUES ({', '.join([db.param] * len(row))})", tuple(row.values()))
            rows = answer_rows(spec, answers)
            if n == 2:       # corrected later: the answer rows hold the current value
                rows = [dict(r, value="新的") if r["question"] == "remark" else r for r in rows]
            Answer.insert_many([dict(r, submission=n) for r in rows]).execute()
        assert schema.upgrade() == [step.version for step in schema.STEPS]
        stored = {s.id: {"cells": s.cells, "pii_cells": s.pii_cells,
                         "cells_formula": s.cells_formula} for s in Submission.select()}
    assert stored[1] == cells.encode(spec, answers)
    assert stored[2] == cells.encode(spec, dict(answers, remark="新的"))
    assert stored[1]["cells"] == "own,1,0,1,job;loan,3,,,旧的"
    assert stored[1]["pii_cells"] == '""'           # the name, a lone empty cell
    with connected(url):       # step 3 counted the answers, per channel
        assert {(t.day, t.channel, t.n) for t in Tally.select().where(
            (Tally.question == "needs") & (Tally.value == "job"))} == {("2026-03", "web", 2)}


def test_later_steps_run_in_order_once_each_and_are_recorded(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(schema, "STEPS", [
        Step(2, "links carry a note", lambda m: (ran.append(2), add_link_note(m))),
        Step(3, "links carry a priority", lambda m: (ran.append(3), add_link_priority(m))),
    ])
    url = database_url_for(tmp_path, empty=True)
    version_1_database(url)
    with connected(url):
        assert schema.upgrade() == [2, 3]
        assert schema.upgrade() == []
        assert ran == [2, 3]
        assert [v for v, _ in versions()] == [1, 2, 3]
        assert versions()[1:] == [(2, "links carry a note"), (3, "links carry a priority")]
        assert {"note", "priority"} <= {c.name for c in db.get_columns("link")}


def test_a_failing_step_leaves_the_database_whole_at_the_version_before_it(tmp_path, monkeypatch):
    def broken(migrator):
        add_link_priority(migrator)
        raise RuntimeError("step 3 went wrong half-way")

    steps = [Step(2, "links carry a note", add_link_note), Step(3, "priority", broken)]
    monkeypatch.setattr(schema, "STEPS", steps)
    url = database_url_for(tmp_path, empty=True)
    version_1_database(url)
    with connected(url):
        with pytest.raises(RuntimeError, match="half-way"):
            schema.upgrade()
        assert [v for v, _ in versions()] == [1, 2]
        columns = {c.name for c in db.get_columns("link")}
        assert "note" in columns and "priority" not in columns   # step 3's DDL was rolled back

        steps[1] = Step(3, "priority", add_link_priority)     # the fixed release
        assert schema.upgrade() == [3]
        assert "priority" in {c.name for c in db.get_columns("link")}


def test_step_numbers_follow_each_other(monkeypatch):
    monkeypatch.setattr(schema, "STEPS", [])
    schema.step(2, "first change")(add_link_note)
    with pytest.raises(ValueError, match="must be numbered 3"):
        schema.step(4, "a gap")(add_link_priority)


def test_a_database_newer_than_this_doorstep_is_refused(tmp_path, cli):
    url = database_url_for(tmp_path, empty=True)
    with connected(url):
        schema.upgrade()
        SchemaVersion.create(version=schema.latest() + 1, description="from the future")
    env = {"DATABASE_URL": url, "FORMS_DIR": str(TEST_FORMS), "SECRET_KEY": "x",
           "INSTANCE_PATH": str(tmp_path / "instance")}
    refused = cli("init", env=env)
    assert refused.exit_code == 1
    assert f"newer than this Doorstep knows ({schema.latest()})" in refused.output


def test_instances_started_at_once_upgrade_the_database_once(tmp_path, monkeypatch):
    """Several containers may run `doorstep init` at the same moment against one database."""
    ran = []

    def slow_step(migrator):
        ran.append(threading.get_ident())
        add_link_note(migrator)

    monkeypatch.setattr(schema, "STEPS", [Step(2, "links carry a note", slow_step)])
    url = database_url_for(tmp_path, empty=True)
    version_1_database(url)
    db.initialize(open_database(url))
    results, barrier = [], threading.Barrier(4)

    def start():
        barrier.wait()
        try:
            with db.connection_context():   # each thread has its own connection
                results.append(schema.upgrade())
        except Exception as exc:            # noqa: BLE001  (reported by the assertion below)
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results, key=len) == [[], [], [], [2]], results
    assert len(ran) == 1
    with connected(url):
        assert [v for v, _ in versions()] == [1, 2]


def test_version_1_upgraded_through_every_step_matches_a_fresh_database(tmp_path):
    """The guard for every later schema change: a model changed without an upgrade step fails
    here, naming the difference.

    Version 1 is released (tests/schema_v1.py never changes again): a model change needs a step
    appended to service/storage/schema.py."""
    upgraded, fresh = (database_url_for(tmp_path, empty=True) for _ in range(2))
    version_1_database(upgraded)
    with connected(upgraded):
        schema.upgrade()
        difference = diff_models(db, MODELS)
        upgraded_shape = shape()
    with connected(fresh):
        schema.upgrade()
        fresh_shape = shape()
    assert not difference, f"version 1 + steps differs from the models:\n{difference}"
    assert upgraded_shape == fresh_shape

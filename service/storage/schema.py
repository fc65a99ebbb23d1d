"""The database schema's recorded version, and the steps that upgrade an older database to it.

`doorstep init` calls `upgrade()` on SQLite and PostgreSQL alike; running it again changes nothing.
The table `schema_version` keeps one row per version the database reached (number, what, when).

- An empty database gets every table of `models.py` and is recorded at the newest version: the
  models describe the newest schema, so no step needs to run on it.
- A database made before versions were recorded (by `models.create_tables()`) is version 1.
- An older database gets each later step in order, each in its own transaction together with its
  `schema_version` row, so a step that fails leaves the database whole at the version before it.
- Instances started at once take turns: a PostgreSQL advisory lock, SQLite's write lock.

A later release that changes a model appends a step here, for example:

    @step(2, "links carry a note for the office")
    def _link_note(migrator):
        migrator.migrate(migrator.add_column("link", "note", TextField(default="")))

`migrator` is peewee's `playhouse.migrate` SchemaMigrator for the database being upgraded.
tests/test_schema.py proves that version 1 upgraded through every step matches the models.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

from peewee import CharField, DateTimeField, IntegerField, Model, fn
from playhouse.migrate import SchemaMigrator

from service.storage import models
from service.storage.db import db, is_sqlite, write_transaction

BASE_VERSION = 1          # the tables `models.create_tables()` made before versions were recorded
_PG_LOCK = 0x646F6F72     # "door": the advisory lock that serialises upgrades on PostgreSQL


@dataclass(frozen=True)
class Step:
    version: int
    description: str
    apply: Callable[[SchemaMigrator], None]


STEPS: list[Step] = []


def step(version: int, description: str):
    """Register the upgrade from `version - 1` to `version`; versions follow each other."""
    def register(function):
        expected = (STEPS[-1].version if STEPS else BASE_VERSION) + 1
        if version != expected:
            raise ValueError(f"schema step {version} ({description}) must be numbered {expected}")
        STEPS.append(Step(version, description, function))
        return function
    return register


class SchemaTooNew(Exception):
    """The database was upgraded by a newer Doorstep than the one running."""


class SchemaVersion(Model):
    version = IntegerField(primary_key=True)
    description = CharField(max_length=200)
    applied_at = DateTimeField(default=models.utcnow)

    class Meta:
        database = db
        table_name = "schema_version"


def latest() -> int:
    return STEPS[-1].version if STEPS else BASE_VERSION


def current_version() -> int | None:
    """The database's version: None when it has no Doorstep table yet."""
    if SchemaVersion.table_exists():
        recorded = SchemaVersion.select(fn.MAX(SchemaVersion.version)).scalar()
        if recorded is not None:
            return recorded
    doorstep_tables = {model._meta.table_name for model in models.MODELS}
    return BASE_VERSION if doorstep_tables & set(db.get_tables()) else None


def upgrade() -> list[int]:
    """Bring the connected database to the newest version; return the versions it reached."""
    reached = []
    with _one_at_a_time():
        while (version := _next()) is not None:
            reached.append(version)
    return reached


def _next() -> int | None:
    """Take the database one version further in one transaction; None when it is up to date.

    The version is read again inside the transaction: another instance may have moved it.
    """
    with _foreign_keys_off(), write_transaction():
        SchemaVersion.create_table(safe=True)
        current, newest = current_version(), latest()
        if current is None:
            models.create_tables()
            SchemaVersion.create(version=newest, description="tables created")
            return newest
        if current > newest:
            raise SchemaTooNew(f"the database is at schema version {current}, newer than this "
                               f"Doorstep knows ({newest}): run a newer release")
        if not SchemaVersion.select().exists():
            SchemaVersion.create(version=current, description="tables made before versions "
                                 "were recorded")
        pending = [s for s in STEPS if s.version > current]
        if not pending:
            return None
        upgrade_step = pending[0]
        upgrade_step.apply(SchemaMigrator.from_database(db))
        SchemaVersion.create(version=upgrade_step.version, description=upgrade_step.description)
        return upgrade_step.version


@contextlib.contextmanager
def _one_at_a_time():
    """On PostgreSQL a session advisory lock: DDL from two instances never interleaves.
    (On SQLite every step already holds the write lock from its first statement.)"""
    if is_sqlite():
        yield
        return
    db.execute_sql("SELECT pg_advisory_lock(%s)", (_PG_LOCK,))
    try:
        yield
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (_PG_LOCK,))


@contextlib.contextmanager
def _foreign_keys_off():
    """SQLite rebuilds a table to alter it; with foreign keys on, dropping the old copy would
    cascade. The pragma only changes outside a transaction, hence around it."""
    if not is_sqlite():
        yield
        return
    db.pragma("foreign_keys", 0)
    try:
        yield
    finally:
        db.pragma("foreign_keys", 1)
    problems = db.execute_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"schema upgrade left broken references: {problems[:5]}")


# --- steps ------------------------------------------------------------------------------------

def _stored_specs() -> dict:
    """Every published form definition, by (form id, version), as `FormVersion` keeps them."""
    import json

    from service import formspec
    from service.storage.models import FormVersion
    # the columns of version 1 only: later steps add some, and earlier steps run without them
    return {(form_id, version): formspec.parse(
        json.loads(definition), where=f"{form_id} v{version} (stored)")
        for form_id, version, definition in FormVersion.select(
            FormVersion.form_id, FormVersion.version, FormVersion.definition).tuples()}


@step(2, "submissions keep their current answers as export cells")
def _submission_cells(migrator):
    """Add `submission.cells` (and `pii_cells`, `cells_formula`) and fill them in for every stored
    submission from its current answer rows (corrections included), read with the definition of
    the version it was made with."""
    from peewee import BooleanField, TextField

    from service.records import cells
    from service.storage.models import Submission
    from service.records.answers import answer_rows_of, shape

    existing = {c.name for c in db.get_columns("submission")}
    for column, field in (("cells", TextField(null=True)), ("pii_cells", TextField(null=True)),
                          ("cells_formula", BooleanField(default=False))):
        if column not in existing:
            migrator.migrate(migrator.add_column("submission", column, field))
    specs = _stored_specs()
    last = 0
    while True:
        batch = list(Submission.select(Submission.id, Submission.form_id, Submission.form_version)
                     .where(Submission.id > last).order_by(Submission.id).limit(1000).tuples())
        if not batch:
            return
        last = batch[-1][0]
        rows = answer_rows_of([sid for sid, _form, _version in batch])
        for sid, form_id, version in batch:
            spec = specs.get((form_id, version))
            if spec is not None:     # unpublished definition: cells stay NULL, export rebuilds
                Submission.update(**cells.encode(spec, shape(spec, rows[sid]))).where(
                    Submission.id == sid).execute()


@step(3, "answers tallied per channel too")
def _tally_channels(migrator):
    """Answer counts gain the channel (the dashboard's channel filter reads the tally), and the
    covering index behind them that column and the form version (a version filter took 0.8 s at a
    million submissions without it, 0.13 s with): the tally is recounted from the stored answers."""
    from service.records import tally

    class Stored:
        specs = _stored_specs()

        def version(self, form_id, version):
            return self.specs.get((form_id, version))

    migrator.migrate(
        migrator.drop_index("tally", "tally_form_id_question_value_day_area_id_n"),
        migrator.add_index("tally", ("form_id", "question", "value", "day", "area_id",
                                     "channel", "form_version", "n"), False))
    tally.rebuild(Stored())


@step(4, "long free-text answers out of the value index; no duplicate submission index")
def _answer_indexes(migrator):
    """A PostgreSQL index entry holds at most 2,704 bytes: a long Chinese answer in the
    (form, question, value) index refused the whole submission. The index now leaves out values
    longer than `models.SHORT_VALUE` (the answer filter only looks up choice codes). The foreign
    key's own index on `answer.submission_id` goes: (submission_id, question) serves it."""
    from service.storage.models import Answer
    existing = {i.name for i in db.get_indexes("answer")}
    for name in ("answer_form_id_question_value", "answer_submission_id"):
        if name in existing:
            migrator.migrate(migrator.drop_index("answer", name))
    for index in Answer._meta.fields_to_index():
        if index._name == "answer_form_id_question_value":
            db.execute(index)


@step(5, "export cells record the layout they were written in")
def _cells_layout(migrator):
    """`submission.cells_layout` (cells.layout_digest: how a form version's cells are laid out):
    rows whose layout is not their version's digest are rebuilt by the export and rewritten by
    `doorstep init`. Cells stored until now were written by step 2 and the writers of this same
    layout; rows of a version never published keep NULL (the export rebuilds those anyway)."""
    from peewee import CharField

    from service.records import cells
    from service.storage.models import Submission
    if "cells_layout" not in {c.name for c in db.get_columns("submission")}:
        migrator.migrate(migrator.add_column("submission", "cells_layout",
                                             CharField(max_length=16, null=True)))
    for (form_id, version), spec in _stored_specs().items():
        Submission.update(cells_layout=cells.layout_digest(spec)).where(
            (Submission.form_id == form_id) & (Submission.form_version == version) &
            Submission.cells.is_null(False)).execute()


@step(6, "the household ledger: households, their changes and conflicts; visits name theirs")
def _ledger(migrator):
    """Tables `household`, `household_change`, `household_conflict` and `visit_outcome`, and on
    `submission` the household a visit belongs to and the version a revisit started from."""
    from peewee import ForeignKeyField, IntegerField

    from service.storage.models import (
        Household, HouseholdChange, HouseholdConflict, VisitOutcome)
    db.create_tables([Household, HouseholdChange, HouseholdConflict, VisitOutcome], safe=True)
    existing = {c.name for c in db.get_columns("submission")}
    if "household_id" not in existing:
        migrator.migrate(migrator.add_column(
            "submission", "household_id",
            ForeignKeyField(Household, null=True, field=Household.id, on_delete="RESTRICT")))
    if "base_version" not in existing:
        migrator.migrate(migrator.add_column("submission", "base_version",
                                             IntegerField(null=True)))


@step(7, "the ledger's counts by area and of possible duplicates read an index")
def _household_count_index(migrator):
    """(form, status, area, duplicate_of) on `household`: the office's list counts a form's
    households per status, for some areas or among possible duplicates, from this index alone
    (without it each count read every household's row: a second and more at 100,000)."""
    from service.storage.models import Household
    existing = {i.name for i in db.get_indexes("household")}
    for index in Household._meta.fields_to_index():
        if index._name == "household_form_id_status_area_id_duplicate_of_id" and \
                index._name not in existing:
            db.execute(index)


@step(8, "households keep their answers as export cells and as an index for the list's filter")
def _household_index(migrator):
    """`household_answer` (the office's list filtered by an answer: an index lookup instead of
    reading every household's JSON) and on `household` the current-state export's kept cells
    (`cells`, `pii_cells`, `cells_formula`, `cells_layout`), filled in for every household from
    its current answers with its form's newest stored definition (household_index.py)."""
    from peewee import BooleanField, TextField

    from service.records import household_index
    from service.storage.models import Household, HouseholdAnswer
    db.create_tables([HouseholdAnswer], safe=True)
    existing = {c.name for c in db.get_columns("household")}
    for column, field in (("cells", TextField(null=True)), ("pii_cells", TextField(null=True)),
                          ("cells_formula", BooleanField(default=False)),
                          ("cells_layout", CharField(max_length=16, null=True))):
        if column not in existing:
            migrator.migrate(migrator.add_column("household", column, field))
    newest: dict = {}
    for (form_id, version), spec in _stored_specs().items():
        if version > newest.get(form_id, (0, None))[0]:
            newest[form_id] = (version, spec)
    for form_id in {f for (f,) in Household.select(Household.form_id).distinct().tuples()}:
        if form_id in newest:    # a form never published: cells stay NULL, the export rebuilds
            household_index.rewrite(newest[form_id][1], only_stale=False)


@step(9, "survey rounds: a period of visits over some areas, and where each household stands")
def _rounds(migrator):
    """Tables `survey_round`, `round_household` and `round_count` (rounds.py)."""
    from service.storage.models import RoundCount, RoundHousehold, SurveyRound
    db.create_tables([SurveyRound, RoundHousehold, RoundCount], safe=True)


@step(10, "forms live in the database: each form's state and served version; drafts")
def _forms(migrator):
    """Table `form` (a form's state: draft, published, closed, and the version it serves) and
    `form_version.published` (False for a draft). Every version stored until now was published;
    `doorstep init` gives each form of FORMS_DIR its `form` row (catalog.py)."""
    from peewee import BooleanField

    from service.storage.form_models import Form
    db.create_tables([Form], safe=True)
    if "published" not in {c.name for c in db.get_columns("form_version")}:
        migrator.migrate(migrator.add_column("form_version", "published",
                                             BooleanField(default=True)))


@step(11, "attempts counted in the database, shared by every worker and instance")
def _attempts(migrator):
    """Table `attempt` (throttle.py): sign-in and look-up limits that hold across workers."""
    from service.storage.models import Attempt
    db.create_tables([Attempt], safe=True)


@step(12, "follow-ups: what the office owes a household after a submission, and its calendar")
def _follow_ups(migrator):
    """Tables `follow_up`, `follow_up_note` and `holiday` (records/follow_ups.py)."""
    from service.storage.models import FollowUp, FollowUpNote, Holiday
    db.create_tables([FollowUp, FollowUpNote, Holiday], safe=True)


@step(13, "a submission whose answers were erased says when")
def _erased_at(migrator):
    """`submission.erased_at` (erasure.py): the row stays, its answers are gone everywhere, and
    it counts nowhere."""
    if "erased_at" not in {c.name for c in db.get_columns("submission")}:
        migrator.migrate(migrator.add_column("submission", "erased_at",
                                             DateTimeField(null=True)))


@step(14, "API tokens for the office's other systems")
def _api_tokens(migrator):
    """Table `api_token` (token_models.py): hashed tokens with their role, area and expiry."""
    from service.storage.token_models import ApiToken
    db.create_tables([ApiToken], safe=True)


@step(15, "identifiers sealed at rest; households found by keyed hashes")
def _sealed_identifiers(migrator):
    """`household.phone_key` (a keyed hash of its first mobile number, indexed with the form) and
    `household.address` as text (a sealed address is longer than its 500 characters);
    then every value written before encryption is sealed where it lies and the households'
    address and ID number keys become keyed hashes (seal_existing.py), a batch at a time."""
    from peewee import TextField

    from service.storage import seal_existing
    from service.storage.models import Household
    if "phone_key" not in {c.name for c in db.get_columns("household")}:
        migrator.migrate(migrator.add_column("household", "phone_key",
                                             CharField(max_length=32, null=True)))
    existing = {i.name for i in db.get_indexes("household")}
    for index in Household._meta.fields_to_index():
        if index._name == "household_form_id_phone_key" and index._name not in existing:
            db.execute(index)
    migrator.migrate(migrator.alter_column_type("household", "address",
                                                TextField(default="")))
    if is_sqlite():     # the plain values' bytes are overwritten, not left in free space
        db.execute_sql("PRAGMA secure_delete = ON")
    try:
        seal_existing.seal_all(_stored_specs())
    finally:
        if is_sqlite():
            db.execute_sql("PRAGMA secure_delete = OFF")

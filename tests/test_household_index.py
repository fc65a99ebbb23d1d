"""What each household keeps beside its current answers for the office (household_index.py): the
answer index the list's filter looks up, and the export cells the current-state download copies.

Both must always say what `Household.current` says, whatever changed it (a visit, a revisit, a
correction, a resolved conflict, a merge, an import), and the export made from kept cells must be
byte for byte the export made from the answers themselves, for every question type.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import secrets

from service import formspec
from service.formspec import types
from service.office import policy
from service.records import cells, household_index, ledger
from service.reports.export import Options
from service.reports.export_files import csv_chunks
from service.reports.household_export import HouseholdExport
from service.storage import schema
from service.storage.db import db
from service.storage.models import Household, HouseholdAnswer, HouseholdConflict, User

from .conftest import TEST_FORMS, database_url_for
from .test_households_data import csv_bytes, doorstep, files  # noqa: F401  (fixtures)
from .test_households_office import FIRST, book, codes  # noqa: F401  (book: a fixture)
from .test_schema import connected, version_1_database


def indexed(app) -> dict:
    """Every household's index rows as stored, and as its current answers say they should be."""
    with app.app_context(), db.connection_context():
        spec = app.extensions["doorstep.catalog"].get("ledger")
        stored, expected = {}, {}
        for h in Household.select().order_by(Household.id):
            stored[h.code] = sorted(HouseholdAnswer.select(
                HouseholdAnswer.household, HouseholdAnswer.question, HouseholdAnswer.value)
                .where(HouseholdAnswer.household == h.id).tuples())
            expected[h.code] = sorted(household_index.answer_rows(spec, h.id, ledger.current(h)))
            assert (h.cells, h.pii_cells, h.cells_formula, h.cells_layout) == tuple(
                cells.columns(spec, ledger.current(h)).values()), h.code
        return stored, expected


def test_every_change_keeps_the_index_and_cells_in_step(book, doorstep, files):
    app = book.app
    first = book.visit(FIRST, "SQ1")
    twin = book.visit(dict(FIRST, needs=["training"], size=4), "SQ1")     # same address: flagged
    # two revisits from the same base: the second makes a conflict on `size`
    book.visit(dict(FIRST, size=5, needs=["job", "training"]), code=first.code, base=1)
    book.visit(dict(FIRST, size=6), code=first.code, base=1)
    admin = User.get(User.username == "admin")
    with app.app_context(), db.connection_context():
        with db.atomic():
            ledger.correct(Household.get_by_id(first.id), "income", 3500, admin)
            conflict = HouseholdConflict.get(HouseholdConflict.household == first.id)
            ledger.resolve(conflict, 6, admin)
            ledger.merge(Household.get_by_id(twin.id), Household.get_by_id(first.id), admin)
    code, _said, err = doorstep("import", files("a.csv", csv_bytes(
        [["SQ1", "幸福路 3号楼 2单元 101", "", "7", "training", "", ""],
         ["G1", "东湖路 8号", "", "2", "job", "", "0"]])), "--form", "ledger")
    assert code == 0, err
    stored, expected = indexed(app)
    assert stored == expected
    mine = {(q, v) for _h, q, v in stored[first.code]}
    assert mine == {("size", "7"), ("needs", "training"), ("income", "3500"),
                    ("visit_date", "2026-03-01")}     # pii (address, names, ID) never indexed
    client = book.client("admin")

    def listed(query):
        return set(codes(client.get("/admin/households?" + query)))
    assert listed("question=size&value=7") == {first.code}
    assert listed("question=size&value=6") == set()           # the old value is gone
    assert listed("question=needs&value=job") == {stored_code for stored_code, rows in
                                                  stored.items() if ("job" in
                                                  {v for _h, q, v in rows if q == "needs"})}
    assert listed("question=income&value=3500") == {first.code}


def test_a_long_answer_is_left_out_of_the_index_and_a_number_is_found_as_text(book):
    h = book.visit(dict(FIRST, visit_date="2026-03-02", size=12, needs=[]), "SQ1")
    with book.app.app_context(), db.connection_context():
        spec = book.app.extensions["doorstep.catalog"].get("ledger")
        rows = household_index.answer_rows(spec, h.id, {"size": 12, "visit_date": "x" * 201,
                                                        "needs": ["job", "job"], "income": None})
    assert rows == [(h.id, "needs", "job"), (h.id, "size", "12")]
    assert household_index.values(True) == {"true"} and household_index.values({"a": 1}) == set()


# --- the export from kept cells equals the export from the answers ---------------------------

def every_type_ledger():
    """A ledger form with one question of every answered type (an identifier one among them)."""
    questions = [{"name": "address", "type": "text", "label": "住址", "required": True,
                  "pii": True}]
    for kind in types.names():
        entry = types.get(kind)
        if entry.answers and not entry.group:
            questions.append({"name": "q_" + kind, "type": kind, "label": kind,
                              **entry.example()})
    return formspec.parse({"id": "every", "version": 1, "ledger": True, "title": "每种",
                           "sections": [{"questions": questions}]})


def exported(rows) -> bytes:
    return b"".join(csv_chunks(rows))


def test_the_export_from_kept_cells_is_the_export_from_the_answers_for_every_type(app, database):
    spec, rng = every_type_ledger(), random.Random(5)
    documents = [{}, {"address": "=1+1"}]
    for _ in range(30):
        documents.append({q.name: q.qtype.sample(q, rng, dt.date(2026, 3, 1))
                          for q in spec.questions() if q.answerable and rng.random() < 0.8})
    documents.append({q.name: "-2, \"x\"\n=SUM(A1)" for q in spec.questions()
                      if q.answerable and q.qtype.text_like})
    for n, answers in enumerate(documents):
        row = {"code": f"AAAA-{n:04d}", "form_id": "every", "door_token": secrets.token_hex(8),
               "current": json.dumps(answers, ensure_ascii=False), "version": 1, "visits": n % 3,
               "last_visit_at": dt.datetime(2026, 3, 1, 8, n) if n % 2 else None}
        if n != 3:        # one household without kept cells: made from its answers
            row.update(cells.columns(spec, answers))
        Household.insert(row).execute()
    Household.update(cells_layout="stale", cells="0,0").where(
        Household.code == "AAAA-0004").execute()
    for with_pii in (False, True):
        opts = Options(with_pii=with_pii)
        fast = HouseholdExport(spec, policy.SYSTEM, opts)
        slow = HouseholdExport(spec, policy.SYSTEM, opts)
        assert exported(fast.rows()) == exported(slow._labelled_rows(True))
        plain = [["" if c is None else str(c) for c in r] for r in fast.rows(for_csv=False)]
        assert plain == [["" if c is None else str(c) for c in r]
                         for r in slow._labelled_rows(False)]
        assert fast.rows_written == 2 * len(documents)     # the CSV and the workbook rows


def test_init_rewrites_cells_kept_in_another_layout(book, cli, tmp_path):
    h = book.visit(FIRST, "SQ1")
    with book.app.app_context(), db.connection_context():
        Household.update(cells_layout="old", cells="x").where(Household.id == h.id).execute()
    env = {"DATABASE_URL": book.app.config["DATABASE_URL"], "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance")}
    done = cli("init", env=env)
    assert "export cells rewritten in this form's layout: 1 household(s)" in done.stdout
    with book.app.app_context(), db.connection_context():
        spec = book.app.extensions["doorstep.catalog"].get("ledger")
        again = Household.get_by_id(h.id)
        assert again.cells == cells.encode(spec, ledger.current(again))["cells"] != "x"


def test_step_8_fills_in_the_index_and_cells_of_households_stored_before(tmp_path, monkeypatch):
    spec = formspec.load_file(TEST_FORMS / "ledger.yaml")
    url = database_url_for(tmp_path, empty=True)
    version_1_database(url)
    answers = {"address": "幸福路 1号", "size": 3, "needs": ["job", "training"], "income": 0}
    steps = list(schema.STEPS)
    with connected(url):
        monkeypatch.setattr(schema, "STEPS", steps[:6])         # versions 2 to 7
        assert schema.upgrade()[-1] == 7
        from service.formspec.catalog import _canonical
        db.execute_sql(     # as version 7 wrote it (without step 10's `published`)
            "INSERT INTO form_version (form_id, version, definition, digest, published_at) "
            f"VALUES ({', '.join([db.param] * 5)})",
            ("ledger", 1, _canonical(spec), "-", dt.datetime(2026, 3, 1)))
        db.execute_sql(     # as version 7 wrote it (step 6 made the table as the model has it)
            "INSERT INTO household (code, form_id, address, address_key, status, version, "
            "current, visits, registered_at, door_token, cells_formula) "
            f"VALUES ({', '.join([db.param] * 11)})",
            ("AAAA-AAAA", "ledger", "幸福路 1号", "幸福路1号", "active", 1,
             json.dumps(answers, ensure_ascii=False), 0, dt.datetime(2026, 3, 1), "t0", False))
        monkeypatch.setattr(schema, "STEPS", steps)
        assert schema.upgrade()[0] == 8
        h = Household.get()
        assert h.cells == cells.encode(spec, answers)["cells"]
        assert h.cells_layout == cells.layout_digest(spec)
        assert sorted(HouseholdAnswer.select(HouseholdAnswer.question, HouseholdAnswer.value)
                      .tuples()) == [("income", "0"), ("needs", "job"), ("needs", "training"),
                                     ("size", "3")]


def test_an_import_keeps_backslashes_tabs_and_line_breaks_as_typed(office, doorstep, files):
    """PostgreSQL takes an import's rows by COPY (db.copy_rows): its text format escapes."""
    name = "王\\五\t(户主)\n二行 \\N"
    code, _said, err = doorstep("import", files("c.csv", csv_bytes(
        [["SQ1", "幸福路 9号", name, "2", "job", "", ""]])), "--form", "ledger")
    assert code == 0, err
    with office.app.app_context(), db.connection_context():
        h = Household.get(Household.address_key == ledger.address_key("幸福路 9号"))
        assert ledger.current(h)["head_name"] == name
        assert cells.parse(h.pii_cells)[1] == name

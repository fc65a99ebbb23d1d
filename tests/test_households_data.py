"""The ledger in and out: importing the office's own Excel ledger (CSV or XLSX, the command line and
the upload) and exporting the households' current state and history, on tests/forms/ledger.yaml.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid

import pytest
import python_calamine
import xlsxwriter

from service.records import submissions
from service.records.ledger import address_key
from service.records.submissions import Attribution, Visit
from service.storage.db import db
from service.storage.models import AuditEvent, Household, HouseholdChange

from .conftest import TEST_FORMS, command_on, csrf_token

BOM = "\ufeff"
HEADER = ["area_code", "address", "head_name", "size", "needs", "visit_date", "income"]
# codes, Chinese and English labels, "、" and ";" between choices, a formula-like name
ROWS = [
    ["SQ1", "幸福路 1号", "张三", "3", "就业、training", "2026-01-02", "2000"],
    ["SQ1", "幸福路 2号", "=HYPERLINK(\"x\")", "1", "Job", "", ""],
    ["G1", "幸福路 3号", "", "5", "job;培训", "2026-02-03", "0"],
]
CURRENT = {
    "幸福路 1号": {"address": "幸福路 1号", "head_name": "张三", "size": 3,
                 "needs": ["job", "training"], "visit_date": "2026-01-02", "income": 2000},
    "幸福路 2号": {"address": "幸福路 2号", "head_name": "=HYPERLINK(\"x\")", "size": 1,
                 "needs": ["job"]},
    "幸福路 3号": {"address": "幸福路 3号", "size": 5, "needs": ["job", "training"],
                 "visit_date": "2026-02-03", "income": 0},
}


def csv_bytes(rows, header=HEADER) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows, header=HEADER) -> bytes:
    """The rows as Excel keeps them: numbers as numbers, dates as date cells."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet, day = book.add_worksheet("台帐"), book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, header)
    for r, row in enumerate(rows, start=1):
        for c, cell in enumerate(row):
            if cell == "":
                continue
            if cell.isdigit():
                sheet.write_number(r, c, int(cell))
            elif header[c] == "visit_date" and cell != "2026-02-30":   # Excel has no such day
                sheet.write_datetime(r, c, dt.datetime.fromisoformat(cell), day)
            else:
                sheet.write_string(r, c, cell)
    book.close()
    return buffer.getvalue()


@pytest.fixture
def doorstep(office, cli, tmp_path):
    """`doorstep households …` on the office's database: (exit code, stdout, stderr)."""
    return command_on(office.app, cli, tmp_path, "households")


@pytest.fixture
def files(tmp_path):
    def write(name, data: bytes):
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)
    return write


def households(app) -> dict:
    with app.app_context(), db.connection_context():
        return {h.address: h for h in Household.select().order_by(Household.id)}


def changes(app) -> list[tuple]:
    with app.app_context(), db.connection_context():
        return list(HouseholdChange.select(HouseholdChange.question, HouseholdChange.old_value,
                                           HouseholdChange.new_value, HouseholdChange.version,
                                           HouseholdChange.source).order_by(HouseholdChange.id)
                    .tuples())


def events(app, action) -> list[dict]:
    with app.app_context(), db.connection_context():
        return [dict(json.loads(e.detail), username=e.username) for e in
                AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id)]


def upload(client, data: bytes, name: str, form_id="ledger"):
    return client.post("/admin/households/import", data={
        "csrf_token": csrf_token(client), "form_id": form_id,
        "file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


# --- import --------------------------------------------------------------------------------

def test_a_csv_registers_households_with_codes_labels_and_the_enumeration_comma(
        office, doorstep, files):
    code, out, err = doorstep("import", files("台帐.csv", csv_bytes(ROWS)), "--form", "ledger")
    assert (code, err) == (0, "") and out == "3 household(s) created, 0 updated, 0 unchanged\n"
    made = households(office.app)
    assert {a: json.loads(h.current) for a, h in made.items()} == CURRENT
    for h in made.values():
        assert (h.status, h.version, h.visits, h.last_visit_at, h.form_id) == (
            "active", 1, 0, None, "ledger")
        assert len(h.code) == 9 and h.code[4] == "-" and len(h.door_token) >= 16
    assert made["幸福路 3号"].area_id == office.areas["G1"]
    assert made["幸福路 1号"].address_key == address_key("幸福路1号")    # a keyed hash
    history = changes(office.app)
    assert len(history) == sum(len(c) for c in CURRENT.values())
    assert {(s, v, old) for _q, old, _new, v, s in history} == {("import", 1, "null")}
    assert events(office.app, "households_imported") == [
        {"file": "台帐.csv", "created": 3, "updated": 0, "username": "cli"}]


def test_an_xlsx_with_excel_numbers_and_dates_reads_as_the_csv_does(office, doorstep, files):
    assert doorstep("import", files("a.xlsx", xlsx_bytes(ROWS)), "--form", "ledger")[0] == 0
    assert {a: json.loads(h.current) for a, h in households(office.app).items()} == CURRENT
    # the same ledger as CSV is the same households: nothing to change
    assert doorstep("import", files("a.csv", csv_bytes(ROWS)), "--form", "ledger")[1] == \
        "0 household(s) created, 0 updated, 3 unchanged\n"


def test_importing_the_same_file_again_changes_nothing(office, doorstep, files):
    path = files("a.csv", csv_bytes(ROWS))
    doorstep("import", path, "--form", "ledger")
    before = {a: (h.code, h.version, h.current) for a, h in households(office.app).items()}
    history = changes(office.app)
    code, out, _err = doorstep("import", path, "--form", "ledger")
    assert code == 0 and out == "0 household(s) created, 0 updated, 3 unchanged\n"
    assert {a: (h.code, h.version, h.current) for a, h in households(office.app).items()} == before
    assert changes(office.app) == history


def test_a_known_address_updates_its_household_with_import_in_its_history(office, doorstep, files):
    with office.app.app_context(), db.connection_context():
        spec = office.app.extensions["doorstep.catalog"].get("ledger")
        office.app.extensions["doorstep.catalog"].ensure_published(spec)
        visited, _ = submissions.store(
            spec, str(uuid.uuid4()), {"address": "幸福路 3号楼 2单元 101", "size": 2,
                                      "needs": ["job"]},
            attribution=Attribution(area_id=office.areas["SQ1"]), visit=Visit(None, None))
        household = visited.household
    row = ["SQ1", "幸福路3号楼2单元101。", "", "4", "job", "", ""]
    code, out, _err = doorstep("import", files("a.csv", csv_bytes([row])), "--form", "ledger")
    assert code == 0 and out == "0 household(s) created, 1 updated, 0 unchanged\n"
    with office.app.app_context(), db.connection_context():
        kept = Household.get_by_id(household.id)
        assert (kept.version, kept.visits) == (2, 1)
        assert json.loads(kept.current) == {"address": "幸福路3号楼2单元101。", "size": 4,
                                            "needs": ["job"]}
        assert Household.select().count() == 1
        assert {(c.question, c.old_value, c.new_value, c.source, c.version) for c in
                HouseholdChange.select().where(HouseholdChange.source == "import")} == {
            ("address", '"幸福路 3号楼 2单元 101"', '"幸福路3号楼2单元101。"', "import", 2),
            ("size", "2", "4", "import", 2)}


BAD_ROWS = [
    ["SQ1", "幸福路 1号", "", "2.5", "", "", ""],              # 2: not a whole number
    ["SQ1", "幸福路 2号", "", "99", "", "", ""],               # 3: out of range
    ["SQ1", "幸福路 3号", "", "", "就业、飞行", "", ""],        # 4: no such choice
    ["SQ1", "幸福路 4号", "", "", "", "2026-02-30", ""],        # 5: no such day
    ["XX", "幸福路 5号", "", "", "", "", ""],                   # 6: no such area
    ["SQ1", "", "张三", "", "", "", ""],                        # 7: no address
    ["SQ1", "幸福路1号", "", "", "", "", ""],                   # 8: the address of line 2
    ["SQ1", "幸福路 9号", "", "", "", "", "-1"],                # 9: below min
]
PROBLEMS = [
    "line 2: size: Enter a whole number, e.g. 3.",
    "line 3: size: Enter a number from 1 to 20.",
    "line 4: needs: Choose from the options shown.",
    "line 5: visit_date: Not a valid date value.",
    "line 6: area_code: no area XX among yours",
    "line 7: address: Please answer this question.",
    "line 8: address: the same address as line 2",
    "line 9: income: Enter a number from 0 to 1000000.",
]


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_stored(office, doorstep, files):
    good = ["SQ1", "幸福路 10号", "", "3", "", "", ""]
    path = files("bad.csv", csv_bytes(BAD_ROWS + [good]))
    code, out, err = doorstep("import", path, "--form", "ledger", "--lang", "en")
    assert code == 1 and out == ""
    assert err.splitlines() == [f"error: bad.csv: {p}" for p in PROBLEMS] + \
        ["nothing was imported"]
    assert households(office.app) == {} and changes(office.app) == []
    assert events(office.app, "households_imported") == []
    # in Chinese by default
    _code, _out, err = doorstep("import", path, "--form", "ledger")
    assert "第 2 行：size：" in err.splitlines()[0] and "请输入整数" in err.splitlines()[0]


@pytest.mark.parametrize("header, problem", [
    (HEADER + ["remark"], "line 1: remark: not a question of this form that can be imported"),
    (["area_code", "size"], "line 1: address: this column is missing"),
    (["area_code", "address", "size", "size"], "line 1: size: this column appears twice"),
])
def test_a_bad_header_refuses_the_file(office, doorstep, files, header, problem):
    path = files("h.csv", csv_bytes([], header=header))
    code, _out, err = doorstep("import", path, "--form", "ledger", "--lang", "en")
    assert code == 1 and f"error: h.csv: {problem}" in err.splitlines()


def test_not_a_ledger_form_or_file_is_refused(office, doorstep, files):
    assert doorstep("import", files("a.csv", csv_bytes(ROWS)), "--form", "survey")[2] == \
        "error: no ledger form 'survey'\n"
    code, _out, err = doorstep("import", files("a.xlsx", b"not a zip"), "--form", "ledger",
                               "--lang", "en")
    assert code == 1 and "not an Excel workbook" in err


def test_the_upload_agrees_with_the_command_line(office, doorstep, files):
    admin = office.client("admin")
    page = admin.get("/admin/households/import")
    assert page.status_code == 200 and 'type="file"' in page.text
    bad = upload(admin, xlsx_bytes(BAD_ROWS), "bad.xlsx")
    assert bad.status_code == 400
    for problem in PROBLEMS:
        assert problem.replace('"', "&#34;") in bad.text.replace("&#39;", "'")
    assert households(office.app) == {}
    done = upload(admin, xlsx_bytes(ROWS), "台帐.xlsx")
    assert done.status_code == 200 and "3 household(s) created, 0 updated, 0 unchanged" in done.text
    assert {a: json.loads(h.current) for a, h in households(office.app).items()} == CURRENT
    assert doorstep("import", files("a.csv", csv_bytes(ROWS)), "--form", "ledger")[1] == \
        "0 household(s) created, 0 updated, 3 unchanged\n"
    assert events(office.app, "households_imported")[0] == {
        "file": "台帐.xlsx", "created": 3, "updated": 0, "username": "admin"}
    # CSRF is checked, though the view takes it upon itself
    refused = admin.post("/admin/households/import", data={
        "form_id": "ledger", "file": (io.BytesIO(csv_bytes(ROWS)), "a.csv")},
        content_type="multipart/form-data")
    assert refused.status_code == 400 and len(households(office.app)) == 3


def test_a_manager_imports_only_into_their_areas(office):
    office.app.config["MAX_CONTENT_LENGTH"] = 400     # a ledger is larger than other posts
    manager = office.client("mgr1")          # SQ1 and G1 below it
    refused = upload(manager, csv_bytes(ROWS + [["SQ2", "西山路 1号", "", "", "", "", ""]]),
                     "a.csv")
    assert refused.status_code == 400 and "line 5: area_code: no area SQ2 among yours" in \
        refused.text and households(office.app) == {}
    assert upload(manager, csv_bytes(ROWS), "a.csv").status_code == 200
    assert len(households(office.app)) == 3
    # (elsewhere the usual limit holds)
    assert office.client().post("/f/kitchen", data={"x": "y" * 500}).status_code == 413
    surveyor = office.client("sv1")
    assert surveyor.get("/admin/households/import").status_code == 404


# --- export --------------------------------------------------------------------------------

@pytest.fixture
def ledger(office, doorstep, files):
    """The three households of ROWS (SQ1, SQ1, G1) and one in SQ2, then one of them updated."""
    doorstep("import", files("a.csv", csv_bytes(ROWS + [
        ["SQ2", "西山路 1号", "王五", "2", "", "", ""]])), "--form", "ledger")
    doorstep("import", files("b.csv", csv_bytes([["SQ1", "幸福路 1号", "", "4", "", "", ""]])),
             "--form", "ledger")
    return households(office.app)


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM.encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


META = ["household_code", "status", "version", "last_visit_at", "visits", "area_code",
        "area_name"]
ANSWERS = ["visit_date", "size", "needs/job", "needs/training", "needs", "income", "health"]


def test_the_current_state_csv(office, ledger, doorstep, tmp_path):
    out = tmp_path / "h.csv"
    code, said, _err = doorstep("export", "--form", "ledger", "--out", str(out))
    assert code == 0 and said == f"4 household(s) written to {out}\n"
    rows = read_csv(out.read_bytes())
    assert rows[0] == META + ANSWERS          # identifying questions left out
    first = ledger["幸福路 1号"]
    assert rows[1] == [first.code, "active", "2", "", "0", "SQ1", "东湖社区",
                       "2026-01-02", "4", "1", "1", "job;training", "2000", ""]
    assert [r[5] for r in rows[1:]] == ["SQ1", "SQ1", "G1", "SQ2"]
    # with identifiers and labels: the formula-like name is neutralised
    code, _said, _err = doorstep("export", "--form", "ledger", "--out", str(out), "--with-pii",
                                 "--labels", "--lang", "en")
    rows = read_csv(out.read_bytes())
    assert rows[0][:2] == ["Household code", "Status"] and "Head of household" in rows[0]
    second = rows[2][rows[0].index("Head of household")]
    assert second == "'=HYPERLINK(\"x\")" and rows[1][rows[0].index("Needs")] == "Job;Training"
    assert events(office.app, "households_export")[-1]["pii"] is True


def test_the_history_csv_has_one_row_per_change(office, ledger, doorstep, tmp_path):
    out = tmp_path / "history.csv"
    assert doorstep("export", "--form", "ledger", "--out", str(out), "--history")[0] == 0
    rows = read_csv(out.read_bytes())
    assert rows[0] == ["household_code", "question", "old_value", "new_value", "source", "by",
                       "at"]
    first = ledger["幸福路 1号"].code
    mine = [r[1:5] for r in rows[1:] if r[0] == first]
    assert mine == [["size", "", "3", "import"], ["needs", "", "job;training", "import"],
                    ["visit_date", "", "2026-01-02", "import"], ["income", "", "2000", "import"],
                    ["size", "3", "4", "import"]]
    assert not any(r[1] in ("address", "head_name") for r in rows[1:])   # pii left out


def test_the_office_downloads_its_own_areas_only(office, ledger):
    manager = office.client("mgr1")
    got = manager.get("/admin/households/export.csv?form=ledger")
    assert got.status_code == 200 and got.mimetype == "text/csv"
    rows = read_csv(got.data)
    assert sorted(r[5] for r in rows[1:]) == ["G1", "SQ1", "SQ1"]
    assert manager.get("/admin/households/export.csv?form=ledger&area=SQ2").status_code == 404
    assert manager.get("/admin/households/export.csv?form=kitchen").status_code == 404
    history = read_csv(manager.get("/admin/households/export.csv?form=ledger&history=1").data)
    codes = {h.code for a, h in ledger.items() if a != "西山路 1号"}
    assert {r[0] for r in history[1:]} == codes
    with manager.get("/admin/households/export.xlsx?form=ledger&pii=1") as xlsx:
        assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
        data = xlsx.data
    cells = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)) \
        .get_sheet_by_index(0).to_python()
    assert len(cells) == 4 and cells[0][:2] == ["household_code", "status"]
    assert {r[cells[0].index("size")] for r in cells[1:]} == {4, 1, 5}   # numbers as numbers
    assert [e["username"] for e in events(office.app, "households_export")] == \
        ["mgr1", "mgr1", "mgr1"]
    assert office.client("sv1").get("/admin/households/export.csv?form=ledger").status_code \
        == 404


def test_a_post_too_large_for_an_office_page_gets_the_friendly_413(office):
    """The office pages' context builds a CSRF form; it must not read the refused body again."""
    client = office.client("mgr1")
    page = client.post("/admin/users/new", data={"x": "y" * (2 * 1024 * 1024)})
    assert page.status_code == 413
    assert "太大" in page.get_data(as_text=True) or "too large" in page.get_data(as_text=True)


def test_two_imports_of_one_file_at_once_register_each_address_once(office, files, tmp_path):
    """Two offices' clerks (two processes) import the same ledger at the same moment: one waits
    for the other, whose households the second then finds (nothing new, nothing twice)."""
    import os
    import subprocess

    from .live import BIN, ROOT
    rows = [["SQ1", f"并发路 {i}号", "", str(i % 9 + 1), "job", "", ""] for i in range(300)]
    path = files("same.csv", csv_bytes(rows))
    env = {**os.environ, "DATABASE_URL": office.app.config["DATABASE_URL"],
           "FORMS_DIR": str(TEST_FORMS), "SECRET_KEY": "x",
           "INSTANCE_PATH": str(tmp_path / "instance")}
    runs = [subprocess.Popen([str(BIN / "doorstep"), "households", "import", path, "--form",
                              "ledger"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    said = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], said
    stored = households(office.app)
    assert sum(address.startswith("并发路") for address in stored) == 300
    created = sorted(int(out.split(" household(s) created")[0].split()[-1]) for out, _e in said)
    assert created == [0, 300]

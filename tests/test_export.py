"""Exports as the office downloads them, checked byte for byte and read back with the csv module.

Four valid households of tests/forms/survey.yaml and one voided, received at known moments, with
answers chosen to trip up a spreadsheet: formulas, quotes, commas, line breaks, tabs, Chinese.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile

import pytest

from service.office import policy
from service.reports import export
from service.records import answers as stored_answers, submissions
from service.storage.db import db
from service.storage.models import AuditEvent, Submission, User

from .conftest import PASSWORD, TEST_FORMS, login, make_app, use_database_of

UTC = dt.datetime
BOM = b"\xef\xbb\xbf"

# key: area, channel, surveyor, received (UTC), answers
HOUSEHOLDS = {
    "e1": ("SQ1", "surveyor", "sv1", UTC(2026, 3, 1, 16, 30),
           {"name": "=SUM(A1)", "housing": "own", "needs": ["job", "loan"], "size": 3,
            "income": "-200", "visited": "2026-02-01", "remark": "@cmd",
            "members": [{"mname": "张一", "age": 40, "sex": "m"}, {"mname": "-1+2", "age": 8}]}),
    "e2": ("SQ2", "web", None, UTC(2026, 3, 2, 2, 0),
           {"name": "李四", "housing": "rent", "size": 1, "income": "2500.5",
            "remark": '说"好",\n再见', "members": [{"mname": "李一", "age": 70, "sex": "f"}]}),
    "e3": (None, "self", None, UTC(2026, 3, 3, 4, 5),
           {"name": "+86 王五", "needs": ["training"], "remark": "\t缩进"}),
    "e4": ("G1", "web", None, UTC(2026, 3, 3, 5, 0),
           {"size": 2, "income": "-3.5", "remark": "\r回车"}),
    "void": ("SQ1", "web", None, UTC(2026, 3, 2, 3, 0),
             {"name": "作废", "housing": "other", "members": [{"mname": "作废", "age": 1}]}),
}

META = ["submission_id", "receipt", "received_at", "form_version", "area_code", "area_name",
        "surveyor", "channel", "status"]
QUESTIONS = ["housing", "needs/job", "needs/training", "needs/loan", "needs", "size", "income",
             "visited", "remark"]
# what each household's row holds after the metadata (codes, pii left out)
ROWS = {
    "e1": ["2026-03-02 00:30:00", "1", "SQ1", "东湖社区", "sv1", "surveyor", "valid",
           "own", "1", "0", "1", "job;loan", "3", "-200", "2026-02-01", "'@cmd"],
    "e2": ["2026-03-02 10:00:00", "1", "SQ2", "西山社区", "", "web", "valid",
           "rent", "0", "0", "0", "", "1", "2500.5", "", '说"好",\n再见'],
    "e3": ["2026-03-03 12:05:00", "1", "", "", "", "self", "valid",
           "", "0", "1", "0", "training", "", "", "", "'\t缩进"],
    "e4": ["2026-03-03 13:00:00", "1", "G1", "东湖一网格", "", "web", "valid",
           "", "0", "0", "0", "", "2", "-3.5", "", "'\r回车"],
}


def load_households(office, set_clock):
    with office.app.app_context(), db.connection_context():
        for key, (area, channel, surveyor, moment, answers) in HOUSEHOLDS.items():
            set_clock(moment)
            office.store(key, "survey", answers, channel=channel, area=area, surveyor=surveyor)
        submissions.set_status(Submission[office.subs["void"]], "void", "test entry",
                               User.get(User.username == "admin"))
    return office


@pytest.fixture(scope="module")
def households_once(office_once):
    use_database_of(office_once.app)
    with pytest.MonkeyPatch.context() as patch:
        return load_households(office_once, lambda moment: patch.setattr(
            submissions, "utcnow", lambda: moment))


@pytest.fixture
def households(households_once):
    """The households above, stored once for the module (exports only read them)."""
    use_database_of(households_once.app)
    return households_once


@pytest.fixture(scope="module")
def admin(households_once):
    use_database_of(households_once.app)
    return households_once.client("admin")


def row(office, key) -> list[str]:
    return [str(office.subs[key]), office.receipts[key], *ROWS[key]]


def read_csv(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def download(client, path, status=200) -> bytes:
    with client.get(path) as page:     # closed as a server closes it (the XLSX is a temp file)
        assert page.status_code == status, page.data[:500]
        return page.data


def last_export():
    event = AuditEvent.select().where(AuditEvent.action == "export") \
        .order_by(AuditEvent.id.desc()).first()
    return event, json.loads(event.detail)


# CSV bytes

def test_the_csv_is_utf8_with_a_bom_for_excel_and_rows_in_form_order(households, admin):
    body = download(admin, "/admin/forms/survey/export.csv")
    assert body.startswith(BOM + b"submission_id,receipt,received_at,form_version,")
    assert body.count(BOM) == 1
    assert "东湖社区".encode("utf-8") in body
    assert body.endswith(b"\r\n")
    assert read_csv(body) == [META + QUESTIONS] + [row(households, k)
                                                 for k in ("e1", "e2", "e3", "e4")]


def test_the_download_is_a_dated_attachment_never_cached(households, admin):
    with admin.get("/admin/forms/survey/export.csv") as page:
        today = households.app.extensions["doorstep.today"]().isoformat()
        assert page.headers["Content-Disposition"] == f'attachment; filename="survey-{today}.csv"'
        assert page.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert page.headers["Cache-Control"] == "no-store"


def test_bom_0_gives_plain_utf8(households, admin):
    body = download(admin, "/admin/forms/survey/export.csv?bom=0")
    assert body.startswith(b"submission_id,receipt,")
    assert BOM not in body
    assert body.decode("utf-8").splitlines()[0] == ",".join(META + QUESTIONS)


def test_cells_a_spreadsheet_would_run_are_neutralised_but_numbers_stay_numbers(
        households, admin):
    body = download(admin, "/admin/forms/survey/export.csv?pii=1")
    rows = {r[0]: r for r in read_csv(body)[1:]}
    name = read_csv(body)[0].index("name")
    assert [rows[str(households.subs[k])][name] for k in ("e1", "e2", "e3", "e4")] == \
        ["'=SUM(A1)", "李四", "'+86 王五", ""]
    # the quoting is the csv module's: quotes doubled, commas and line breaks inside quotes
    assert '"\'=SUM(A1)"'.encode() not in body and b",'=SUM(A1)," in body
    assert '"说""好"",\n再见"'.encode("utf-8") in body
    assert b",-200," in body and b",-3.5," in body                 # plain negative numbers
    for cell, safe in (("=1+1", "'=1+1"), ("+1", "'+1"), ("-1+2", "'-1+2"), ("@cmd", "'@cmd"),
                       ("\tx", "'\tx"), ("\rx", "'\rx"), ("-3", "-3"), ("-2.50", "-2.50"),
                       ("a=b", "a=b"), ("", ""), (None, ""), (7, "7")):
        assert export.neutralise(cell) == safe


def test_labels_1_gives_labels_in_the_users_language(households, admin):
    english = read_csv(download(admin, "/admin/forms/survey/export.csv?labels=1"))
    assert english[0][:3] == ["Submission id", "Receipt", "Received"]
    assert english[0][9:] == ["Housing", "Needs: Job", "Needs: Training", "Needs: Loan", "Needs",
                              "Household size", "Monthly income", "Visited", "Remark"]
    assert english[1][9:14] == ["Own home", "1", "0", "1", "Job;Loan"]
    chinese = read_csv(download(admin, "/admin/forms/survey/export.csv?labels=1&lang=zh"))
    assert chinese[0][9:14] == ["住房", "需求: 就业", "需求: 培训", "需求: 贷款", "需求"]
    assert chinese[1][5:8] == ["东湖社区", "sv1", "调查员"]
    assert chinese[1][9:14] == ["自有住房", "1", "0", "1", "就业;贷款"]
    assert chinese[2][9] == "租房"


# Filters, scope and pii

@pytest.mark.parametrize("query, keys", [
    ("area=SQ1", ["e1", "e4"]),                      # with its grid G1
    ("area=G1", ["e4"]),
    ("since=2026-03-03", ["e3", "e4"]),
    ("until=2026-03-02", ["e1", "e2"]),              # e1 is 2 March in Beijing
    ("channel=web", ["e2", "e4"]),
    ("surveyor=sv1", ["e1"]),
    ("version=1", ["e1", "e2", "e3", "e4"]),
    ("q=housing&v=own", ["e1"]),
    ("q=sex&v=f", ["e2"]),
])
def test_the_dashboards_filters_apply_and_the_export_is_audit_logged(households, admin, query,
                                                                      keys):
    rows = read_csv(download(admin, f"/admin/forms/survey/export.csv?{query}"))[1:]
    assert rows == [row(households, k) for k in keys]
    event, detail = last_export()
    assert event.username == "admin" and event.target == "form:survey"
    assert detail["rows"] == len(keys) and detail["complete"] is True
    assert detail["filters"] == dict(p.split("=") for p in query.split("&"))
    assert (detail["format"], detail["pii"], detail["labels"]) == ("csv", False, False)


def test_voided_households_are_left_out_unless_every_status_is_asked_for(households, admin):
    rows = read_csv(download(admin, "/admin/forms/survey/export.csv?status=all"))[1:]
    assert [r[8] for r in rows] == ["valid", "valid", "valid", "valid", "void"]


def test_a_manager_exports_only_their_area(households):
    manager = households.client("mgr1")
    rows = read_csv(download(manager, "/admin/forms/survey/export.csv"))[1:]
    assert [r[0] for r in rows] == [str(households.subs[k]) for k in ("e1", "e4")]
    download(manager, "/admin/forms/survey/export.csv?area=SQ2", 404)
    download(manager, "/admin/forms/survey/export.zip?area=JD", 404)
    pii = read_csv(download(manager, "/admin/forms/survey/export.csv?pii=1"))
    assert pii[0][9] == "name" and pii[1][9] == "'=SUM(A1)"


def test_pii_needs_the_right_to_reveal(households, monkeypatch):
    for ext in ("csv", "zip", "xlsx"):
        download(households.client("sv1"), f"/admin/forms/survey/export.{ext}", 404)
    manager = households.client("mgr1")
    monkeypatch.setitem(policy.CAPABILITIES, "manager",
                        policy.CAPABILITIES["manager"] - {"export.pii"})
    download(manager, "/admin/forms/survey/export.csv?pii=1", 404)
    download(manager, "/admin/forms/survey/export.zip?pii=1", 404)
    assert "name" not in read_csv(download(manager, "/admin/forms/survey/export.csv"))[0]


def test_unknown_forms_and_formats_are_404(households, admin):
    download(admin, "/admin/forms/nope/export.csv", 404)
    download(admin, "/admin/forms/survey/export.pdf", 404)


def test_a_form_without_repeat_groups_has_no_zip(tmp_path, fast_hashing):
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "flat.yaml").write_text(
        "id: flat\nversion: 1\ntitle: {zh: 平, en: Flat}\nsections:\n"
        "  - title: {zh: 一, en: One}\n    questions:\n"
        "      - {name: size, type: integer, label: {zh: 人数, en: Size}}\n", encoding="utf-8")
    app = make_app(tmp_path, forms)
    from service.office import auth
    with app.app_context(), db.connection_context():
        User.create(username="admin", role="admin", password_hash=auth.hash_password(PASSWORD))
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    download(client, "/admin/forms/flat/export.zip", 404)
    assert read_csv(download(client, "/admin/forms/flat/export.csv")) == [META + ["size"]]


# ZIP with repeat groups

def members_of(archive: bytes) -> tuple[list[str], dict[str, list[list[str]]]]:
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        assert z.testzip() is None
        return z.namelist(), {n: read_csv(z.read(n)) for n in z.namelist()}


def test_the_zip_holds_the_main_table_and_one_table_per_repeat_group(households, admin):
    with admin.get("/admin/forms/survey/export.zip") as page:
        assert page.is_streamed and page.headers["Content-Type"] == "application/zip"
        names, tables = members_of(page.data)
    assert names == ["survey.csv", "survey-members.csv"]
    assert tables["survey.csv"] == read_csv(download(admin, "/admin/forms/survey/export.csv"))
    e1, e2 = (str(households.subs[k]) for k in ("e1", "e2"))
    r1, r2 = households.receipts["e1"], households.receipts["e2"]
    assert tables["survey-members.csv"] == [
        ["submission_id", "receipt", "item", "age", "sex"],
        [e1, r1, "1", "40", "m"], [e1, r1, "2", "8", ""], [e2, r2, "1", "70", "f"]]
    _, with_pii = members_of(download(admin, "/admin/forms/survey/export.zip?pii=1&area=SQ1"))
    assert with_pii["survey-members.csv"] == [
        ["submission_id", "receipt", "item", "mname", "age", "sex"],
        [e1, r1, "1", "张一", "40", "m"], [e1, r1, "2", "'-1+2", "8", ""]]
    _, detail = last_export()
    assert (detail["format"], detail["rows"], detail["pii"]) == ("zip", 2, True)


def test_each_csv_in_the_zip_follows_the_bom_option(households, admin):
    with zipfile.ZipFile(io.BytesIO(download(admin, "/admin/forms/survey/export.zip"))) as z:
        assert all(z.read(n).startswith(BOM) for n in z.namelist())
    with zipfile.ZipFile(io.BytesIO(download(admin, "/admin/forms/survey/export.zip?bom=0"))) \
            as z:
        assert not any(z.read(n).startswith(BOM) for n in z.namelist())


# XLSX

MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def workbook(data: bytes) -> dict[str, list[list]]:
    """Sheet name → rows of cell values (str or float), read from the XLSX's XML."""
    def column(ref):
        n = 0
        for ch in re.match(r"[A-Z]+", ref).group():
            n = n * 26 + ord(ch) - 64
        return n - 1

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        shared = []
        if "xl/sharedStrings.xml" in z.namelist():
            shared = ["".join(t.text or "" for t in si.iter(f"{MAIN_NS}t"))
                      for si in ET.fromstring(z.read("xl/sharedStrings.xml"))]
        rels = {r.get("Id"): r.get("Target")
                for r in ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))}
        out = {}
        for sheet in ET.fromstring(z.read("xl/workbook.xml")).iter(f"{MAIN_NS}sheet"):
            xml = ET.fromstring(z.read("xl/" + rels[sheet.get(f"{REL_NS}id")]))
            assert not list(xml.iter(f"{MAIN_NS}f")), "a cell holds a formula"
            rows = []
            for r in xml.iter(f"{MAIN_NS}row"):
                cells = {}
                for c in r.iter(f"{MAIN_NS}c"):
                    kind, v = c.get("t"), c.find(f"{MAIN_NS}v")
                    if kind == "s":
                        value = shared[int(v.text)]
                    elif kind == "inlineStr":
                        value = "".join(t.text or "" for t in c.iter(f"{MAIN_NS}t"))
                    else:
                        value = float(v.text)
                    cells[column(c.get("r"))] = value
                rows.append([cells.get(i, "") for i in range(max(cells) + 1)])
            out[sheet.get("name")] = rows
        return out


def test_the_xlsx_has_one_sheet_per_table_with_strings_kept_as_text(households, admin):
    with admin.get("/admin/forms/survey/export.xlsx?pii=1&lang=zh&labels=1") as page:
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("application/vnd.openxmlformats")
        sheets = workbook(page.data)
    assert list(sheets) == ["survey", "members"]
    main = sheets["survey"]
    assert main[0][9:12] == ["户主姓名", "住房", "需求: 就业"]
    assert len(main) == 5
    e1 = main[1]
    assert e1[0] == households.subs["e1"] and e1[2] == "2026-03-02 00:30:00"
    assert e1[5] == "东湖社区"
    # a formula-like answer is a text cell (never a formula), numbers are numbers
    assert e1[9:17] == ["=SUM(A1)", "自有住房", 1.0, 0.0, 1.0, "就业;贷款", 3.0, -200.0]
    assert sheets["members"][0][3:] == ["姓名", "年龄", "性别"]
    assert [r[2:] for r in sheets["members"][1:]] == [
        [1.0, "张一", 40.0, "男"], [2.0, "-1+2", 8.0], [1.0, "李一", 70.0, "女"]]
    _, detail = last_export()
    assert (detail["format"], detail["rows"]) == ("xlsx", 4)


def test_an_xlsx_too_large_to_make_in_a_request_points_to_the_csv(households, admin,
                                                                  monkeypatch):
    from service.admin import exports
    monkeypatch.setattr(exports, "XLSX_WEB_MAX", 1)
    page = admin.get("/admin/forms/survey/export.xlsx?area=SQ1&lang=en")  # 2 households
    assert (page.status_code, page.headers["Location"]) == (302, "/admin/forms/survey?area=SQ1")
    assert "download the CSV or ZIP" in admin.get(page.headers["Location"]).text
    with admin.get("/admin/forms/survey/export.xlsx?area=SQ2") as page:      # 1 household
        assert page.status_code == 200
    assert last_export()[1]["filters"] == {"area": "SQ2"}    # the refused one was not logged


def test_a_table_longer_than_a_worksheet_goes_on_in_further_sheets(households, admin,
                                                                   monkeypatch):
    """Excel holds 1,048,576 rows a sheet and XlsxWriter drops the rest without a word: longer
    tables continue in "members (2)", … (here with 3 rows a sheet: a header and two rows)."""
    from service.reports import export_files
    monkeypatch.setattr(export_files, "XLSX_MAX_ROWS", 3)
    sheets = workbook(download(admin, "/admin/forms/survey/export.xlsx"))
    assert list(sheets) == ["survey", "survey (2)", "members", "members (2)"]
    assert all(rows[0] == sheets["survey"][0] for name, rows in sheets.items()
               if name.startswith("survey"))
    assert [len(rows) for rows in sheets.values()] == [3, 3, 3, 2]
    assert [r[0] for r in sheets["survey"][1:] + sheets["survey (2)"][1:]] == \
        sorted(households.subs[k] for k in ("e1", "e2", "e3", "e4"))


# The command line

@pytest.fixture
def doorstep(households, cli, tmp_path):
    """`doorstep …` on the households' database; the database handle is given back afterwards."""
    env = {"DATABASE_URL": households.app.config["DATABASE_URL"], "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance")}

    def run(*args):
        try:
            return cli(*args, env=env)
        finally:
            use_database_of(households.app)
    return run


def test_the_command_line_writes_what_the_download_gives(households, admin, doorstep, tmp_path):
    out = tmp_path / "x.csv"
    done = doorstep("export", "survey", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert "4 response(s) written" in done.output
    event, detail = last_export()
    assert event.username == "cli" and (detail["rows"], detail["format"]) == (4, "csv")
    assert out.read_bytes() == download(admin, "/admin/forms/survey/export.csv")
    # repeat groups do not fit one CSV: the command says so
    assert "--out FILE.zip" in done.output

    done = doorstep("export", "survey", "--out", str(out), "--area", "SQ1", "--since",
                    "2026-03-02", "--until", "2026-03-03", "--labels", "--with-pii")
    assert done.exit_code == 0, done.output
    event, detail = last_export()
    assert event.username == "cli" and detail["rows"] == 2 and detail["pii"] is True
    assert detail["filters"] == {"area": "SQ1", "since": "2026-03-02", "until": "2026-03-03"}
    assert out.read_bytes() == download(
        admin, "/admin/forms/survey/export.csv?area=SQ1&since=2026-03-02&until=2026-03-03"
               "&labels=1&pii=1&lang=zh")


def test_the_command_line_writes_zip_and_xlsx(households, admin, doorstep, tmp_path):
    assert doorstep("export", "survey", "--out", str(tmp_path / "x.zip")).exit_code == 0
    _, tables = members_of((tmp_path / "x.zip").read_bytes())
    _, served = members_of(download(admin, "/admin/forms/survey/export.zip"))
    assert tables == served
    assert doorstep("export", "survey", "--out", str(tmp_path / "x.xlsx")).exit_code == 0
    sheets = workbook((tmp_path / "x.xlsx").read_bytes())
    assert list(sheets) == ["survey", "members"] and len(sheets["survey"]) == 5


@pytest.mark.parametrize("args, message", [
    (("nope", "--out", "x.csv"), "error: no form 'nope'"),
    (("survey", "--out", "x.csv", "--area", "NOWHERE"), "error: no area with code 'NOWHERE'"),
    (("survey", "--out", "x.txt"), "error: --out must end in .csv, .zip or .xlsx"),
])
def test_the_command_line_refuses_a_bad_form_or_area(doorstep, tmp_path, monkeypatch, args,
                                                     message):
    monkeypatch.chdir(tmp_path)
    refused = doorstep("export", *args)
    assert refused.exit_code == 1
    assert message in refused.output
    assert not (tmp_path / "x.csv").exists()


def test_a_member_left_blank_is_not_a_row_of_the_members_table(app, cli, tmp_path):
    """A blank item has no answer rows, so it is not a member (as the dashboard counts it); the
    others keep their numbers, which are those of the response page and its corrections."""
    spec = app.extensions["doorstep.catalog"].get("survey")
    with app.app_context(), db.connection_context():
        app.extensions["doorstep.catalog"].ensure_published(spec)
        done, _ = submissions.store(spec, "00000000-0000-4000-8000-000000000001",
                                    {"members": [{}, {"age": 5}, {}, {"sex": "f"}, {}]})
    out = tmp_path / "x.zip"
    assert cli("export", "survey", "--out", str(out), env={
        "DATABASE_URL": app.config["DATABASE_URL"], "FORMS_DIR": str(TEST_FORMS),
        "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance")}).exit_code == 0
    _, tables = members_of(out.read_bytes())
    assert tables["survey-members.csv"][1:] == [[str(done.id), done.receipt, "2", "5", ""],
                                                [str(done.id), done.receipt, "4", "", "f"]]


# Corrections and the cells kept beside each submission

def test_a_corrected_answer_is_exported_with_its_new_value(app, fast_hashing):
    """The export reads each submission's kept cells (service/records/cells.py): a correction rewrites
    them, so the download shows the corrected value, neutralised like any other."""
    from service.office import auth
    from service.records import cells
    spec = app.extensions["doorstep.catalog"].get("survey")
    with app.app_context(), db.connection_context():
        app.extensions["doorstep.catalog"].ensure_published(spec)
        admin = User.create(username="admin", role="admin",
                            password_hash=auth.hash_password(PASSWORD))
        done, _ = submissions.store(spec, "00000000-0000-4000-8000-000000000001",
                                    {"needs": ["job"], "remark": "旧", "size": 2})
        submissions.correct(spec, done, spec.question("needs"), None, ["training", "loan"],
                            "走访核实", admin)
        submissions.correct(spec, done, spec.question("remark"), None, "=新", "走访核实", admin)
        submissions.correct(spec, done, spec.question("size"), None, None, "不详", admin)
        stored = Submission[done.id]
        assert {"cells": stored.cells, "pii_cells": stored.pii_cells,
                "cells_formula": stored.cells_formula} == \
            cells.encode(spec, stored_answers.current_answers(spec, done))
        assert stored.cells_formula       # "=新"
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    header, line = read_csv(download(client, "/admin/forms/survey/export.csv"))
    got = dict(zip(header, line))
    assert [got[k] for k in ("needs/job", "needs/training", "needs/loan", "needs", "size",
                             "remark")] == ["0", "1", "1", "training;loan", "", "'=新"]


def test_a_submission_without_kept_cells_is_exported_from_its_answer_rows(households, admin):
    """Rows whose form version was never published have no cells after the upgrade (schema
    step 2): the export rebuilds them from the answer rows, with the same bytes."""
    before = download(admin, "/admin/forms/survey/export.csv?status=all")
    with households.app.app_context(), db.connection_context():
        kept = {s.id: (s.cells, s.pii_cells, s.cells_formula) for s in Submission.select()}
        Submission.update(cells=None, pii_cells=None, cells_formula=False).execute()
    try:
        assert download(admin, "/admin/forms/survey/export.csv?status=all") == before
    finally:
        with households.app.app_context(), db.connection_context():
            for sid, (public, pii, formula) in kept.items():
                Submission.update(cells=public, pii_cells=pii, cells_formula=formula).where(
                    Submission.id == sid).execute()


# Form versions

def test_an_old_versions_answers_are_exported_after_the_form_changed(tmp_path, fast_hashing):
    forms = tmp_path / "forms"
    forms.mkdir()
    shutil.copy(TEST_FORMS / "survey.yaml", forms / "survey.yaml")
    first = make_app(tmp_path, forms)
    spec = first.extensions["doorstep.catalog"].get("survey")
    with first.app_context(), db.connection_context():
        first.extensions["doorstep.catalog"].ensure_published(spec)
        submissions.store(spec, "00000000-0000-4000-8000-000000000001",
                          {"housing": "own", "remark": "旧版备注", "size": 4})

    text = (forms / "survey.yaml").read_text(encoding="utf-8")     # v2: remark became floor
    (forms / "survey.yaml").write_text(text.replace("version: 1", "version: 2").replace(
        "{name: remark, type: textarea, label: {zh: 备注, en: Remark}}",
        "{name: floor, type: integer, label: {zh: 楼层, en: Floor}}"), encoding="utf-8")
    second = make_app(tmp_path, forms)
    spec = second.extensions["doorstep.catalog"].get("survey")
    from service.office import auth
    with second.app_context(), db.connection_context():
        second.extensions["doorstep.catalog"].ensure_published(spec)
        submissions.store(spec, "00000000-0000-4000-8000-000000000002",
                          {"housing": "rent", "floor": 6})
        User.create(username="admin", role="admin", password_hash=auth.hash_password(PASSWORD))
    client = second.test_client()
    assert login(client, "admin").status_code == 302
    table = read_csv(download(client, "/admin/forms/survey/export.csv"))
    header = table[0]
    assert header[9:] == QUESTIONS[:-1] + ["floor", "remark"]   # current order, then the old one
    old, new = ({h: v for h, v in zip(header, r)} for r in table[1:])
    assert (old["form_version"], old["housing"], old["size"], old["remark"], old["floor"]) == \
        ("1", "own", "4", "旧版备注", "")
    assert (new["form_version"], new["housing"], new["floor"], new["remark"]) == \
        ("2", "rent", "6", "")
    assert [r[3] for r in read_csv(download(client, "/admin/forms/survey/export.csv?version=1"))
            [1:]] == ["1"]


# Streaming

def test_the_csv_is_streamed_and_read_in_batches(app, fast_hashing, monkeypatch):
    """2,500 submissions with batches of 100: every row exactly once, in id order, and the first
    bytes leave before most batches are read (memory stays flat however many rows)."""
    from service.office import auth
    from service.storage.models import Answer
    with app.app_context(), db.connection_context(), db.atomic():
        User.create(username="admin", role="admin", password_hash=auth.hash_password(PASSWORD))
        moment = UTC(2026, 3, 1, 8, 0)
        for start in range(0, 2500, 500):
            Submission.insert_many([
                {"uuid": f"00000000-0000-4000-8000-{i:012d}", "receipt": f"R{i:07d}",
                 "form_id": "survey", "form_version": 1, "received_at": moment,
                 "day": "2026-03-01", "answers": "{}"} for i in range(start, start + 500)
            ]).execute()
        ids = [i for (i,) in Submission.select(Submission.id).order_by(Submission.id).tuples()]
        Answer.insert_many([{"submission": sid, "form_id": "survey", "question": "size",
                             "value": str(n % 50), "number": n % 50}
                            for n, sid in enumerate(ids)]).execute()

    batches = []
    real = export.keyset_batches

    def counted(*args, **kwargs):
        for batch in real(*args, **kwargs):
            batches.append(len(batch))
            yield batch
    monkeypatch.setattr(export, "BATCH", 100)
    monkeypatch.setattr(export, "keyset_batches", counted)
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    page = client.get("/admin/forms/survey/export.csv?bom=0")
    assert page.status_code == 200 and page.is_streamed
    chunks = page.iter_encoded()
    first = next(chunks)
    assert first.startswith(b"submission_id,") and len(batches) < 10
    body = first + b"".join(chunks)
    page.close()
    assert batches == [100] * 25
    rows = read_csv(body)[1:]
    assert [int(r[0]) for r in rows] == ids
    assert [r[1] for r in rows] == [f"R{i:07d}" for i in range(2500)]
    size = read_csv(body)[0].index("size")
    assert [r[size] for r in rows[:3]] == ["0", "1", "2"]
    with app.app_context(), db.connection_context():
        assert last_export()[1]["rows"] == 2500

    # a download abandoned after its first bytes stops reading and is logged as incomplete
    batches.clear()
    page = client.get("/admin/forms/survey/export.csv")
    next(page.iter_encoded())
    page.close()
    assert len(batches) < 10
    with app.app_context(), db.connection_context():
        detail = last_export()[1]
        assert detail["complete"] is False and 0 < detail["rows"] < 2500

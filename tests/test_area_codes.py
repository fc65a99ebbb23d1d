"""An area's code is letters, digits, - and _ (areas.CODE), checked at every way in: the office's
form, the CSV import and `doorstep areas import`, with the reason in the user's language; codes
stored before the rule are listed by `doorstep init`. And no user text can break a download's
header: every Content-Disposition is built by one helper (RFC 6266, RFC 5987 `filename*`)."""
from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from service.admin.downloads import disposition
from service.cli import main as cli_main
from service.storage.db import db
from service.storage.models import Area

from .conftest import TEST_FORMS, csrf_token

BAD = ["a/b", "..", "a\nb", 'say"hi"', "东湖社区", "-lead", "x" * 65, "a b", "a.b"]
GOOD = ["JD9", "SQ-01", "g_2", "110101001001", "x" * 64]
NAMES = ["东湖/../社区\r\n报表.pdf", 'a "quoted"\nname.csv', "..\\..\\etc/passwd", "幸福街道.xlsx"]


def codes():
    with db.connection_context():
        return {a.code for a in Area.select()}


@pytest.fixture
def doorstep(app, tmp_path):
    env = {"DATABASE_URL": app.config["DATABASE_URL"], "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance")}
    return lambda *args: CliRunner().invoke(cli_main, list(args), env=env,
                                            catch_exceptions=False)


@pytest.mark.parametrize("code", BAD)
def test_the_office_form_refuses_a_code_outside_the_rule_and_stores_nothing(office, code):
    admin = office.client("admin")
    before = codes()
    page = admin.post("/admin/areas", data={"code": code, "name": "东湖", "parent": "",
                                            "csrf_token": csrf_token(admin)})
    assert page.status_code == 400
    assert "An area code has 1 to 64 characters" in page.text
    assert codes() == before


def test_the_office_form_says_why_in_chinese(office):
    admin = office.client("admin")
    admin.set_cookie("lang", "zh")
    page = admin.post("/admin/areas", data={"code": "a/b", "name": "东湖", "parent": "",
                                            "csrf_token": csrf_token(admin)})
    assert page.status_code == 400 and "区域代码" in page.text


@pytest.mark.parametrize("code", GOOD)
def test_codes_within_the_rule_are_taken(office, code):
    admin = office.client("admin")
    page = admin.post("/admin/areas", data={"code": code, "name": "东湖", "parent": "",
                                            "csrf_token": csrf_token(admin)})
    assert page.status_code == 302 and code in codes()


@pytest.mark.parametrize("lang, said", [("en", "An area code has 1 to 64 characters"),
                                        ("zh", "区域代码")])
def test_the_csv_import_refuses_a_bad_code_by_line_and_imports_nothing(doorstep, tmp_path, lang,
                                                                       said):
    path = tmp_path / "areas.csv"
    path.write_text('code,name,parent_code\nJD,幸福街道,\n"SQ/1",东湖社区,JD\n"..",上级,\n',
                    encoding="utf-8")
    result = doorstep("areas", "import", str(path), "--lang", lang)
    assert result.exit_code == 1
    assert re.search(rf"line 3: {said}", result.output) and "line 4:" in result.output
    assert "nothing was imported" in result.output
    assert codes() == set()


def test_init_lists_codes_stored_before_the_rule(app, doorstep):
    with db.connection_context():
        Area.create(code="东湖/1", name="东湖社区", path="/")
    result = doorstep("init")
    assert result.exit_code == 0
    assert "warning: area code '东湖/1' is outside the characters allowed" in result.output


@pytest.mark.parametrize("name", NAMES)
def test_a_download_name_can_never_break_its_header(name):
    value = disposition(name)
    assert "\n" not in value and "\r" not in value and value.isascii()
    assert value.startswith("attachment; filename=")
    fallback = re.search(r'filename="?([^";]*)', value).group(1)
    assert "/" not in fallback and "\\" not in fallback and not fallback.startswith(".")
    full = re.search(r"filename\*=UTF-8''(\S+)", value)
    if not name.isascii():
        kept = unquote(full.group(1))
        assert "/" not in kept and "\n" not in kept and kept.strip("_")
        assert all(c in kept for c in "东湖" if c in name) or "幸福街道" in kept
    assert disposition(name, inline=True).startswith("inline; ")


def test_a_sheet_for_an_area_with_a_legacy_code_downloads(office):
    """An area stored before the rule, named with a slash, dots, a line break and Chinese: its
    links' PDF sheet still downloads, its file name made safe (it was a 500)."""
    with db.connection_context():
        Area.update(code='东湖/../"x"\n1').where(Area.code == "SQ2").execute()
    admin = office.client("admin")
    page = admin.get("/admin/links/sheet", query_string={
        "form": "kitchen", "area": '东湖/../"x"\n1', "kind": "cards", "format": "pdf"})
    assert page.status_code in (200, 503), page.text     # 503: no Chinese font on this machine
    if page.status_code == 200:
        value = page.headers["Content-Disposition"]
        assert value.startswith("attachment; filename=") and "\n" not in value
        assert unquote(value.split("filename*=UTF-8''")[1]) == "kitchen-东湖_..__x__1-cards.pdf"

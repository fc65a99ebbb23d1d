"""Printed sheets: every code on every rendered PDF page decodes, is whole, big enough, and works.

Pages are rendered by pdfium and read by zxing-cpp, as a phone reads paper; a decoded URL is then
opened and answered through, so a sheet is proven to lead to the right form and attribution.
"""
from __future__ import annotations

import ctypes
import datetime as dt
import math
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pypdfium2
import pypdfium2.raw as pdfium_c
import pytest

from service import links
from service.storage.db import db
from service.storage.models import Area, Link, Submission, User, utcnow

from .conftest import Visitor, code_width_mm, decode_pdf

BASE = "http://192.168.1.20:8000"
ANSWERS = {"consent": "y", "name": "张三", "employed": "yes", "members-0-mname": "李四"}
TZ = ZoneInfo("Asia/Shanghai")


def make_links(app, n, area="SQ1", surveyor="sv1", channel=None, **kw) -> list[Link]:
    with app.app_context(), db.atomic():
        where = Area.get(Area.code == area)
        person = User.get(User.username == surveyor) if surveyor else None
        return [links.create("kitchen", where, person, channel, **kw) for _ in range(n)]


def sheet_cli(office, cli, tmp_path, *args, name="sheet.pdf"):
    out = tmp_path / name
    env = {"DATABASE_URL": office.app.config["DATABASE_URL"], "SECRET_KEY": "x",
           "FORMS_DIR": office.app.config["FORMS_DIR"], "PUBLIC_BASE_URL": BASE}
    result = cli("links", "sheet", "kitchen", "--out", str(out), *args, env=env)
    assert result.exit_code == 0, result.output
    return out.read_bytes(), result.output


def page_texts(pdf: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def page_fonts(pdf: bytes) -> set[tuple[str, bool]]:
    """(base font name, embedded?) of every text object of the first page."""
    document = pypdfium2.PdfDocument(pdf)
    fonts = set()
    try:
        for text in document[0].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT]):
            font = pdfium_c.FPDFTextObj_GetFont(text.raw)
            size = pdfium_c.FPDFFont_GetBaseFontName(font, None, 0)
            name = ctypes.create_string_buffer(size)
            pdfium_c.FPDFFont_GetBaseFontName(font, name, size)
            fonts.add((name.value.decode(), bool(pdfium_c.FPDFFont_GetIsEmbedded(font))))
    finally:
        document.close()
    return fonts


def submit_through(app, url) -> Submission:
    phone = Visitor(app.test_client())
    assert phone.submit(urlsplit(url).path, ANSWERS).status_code == 200
    with app.app_context():
        return Submission.select().order_by(Submission.id.desc()).first()


def test_a_200_link_card_sheet_prints_on_17_pages_and_every_code_scans(office, cli, tmp_path):
    made = make_links(office.app, 200)
    pdf, output = sheet_cli(office, cli, tmp_path, "--area", "JD")
    assert "200 code(s) on 17 page(s)" in output

    pages = decode_pdf(pdf)
    assert len(pages) == math.ceil(200 / 12) == 17
    assert [len(codes) for codes in pages] == [12] * 16 + [8]     # whole codes only
    decoded = [code.text for codes in pages for code in codes]
    assert sorted(decoded) == sorted(f"{BASE}/s/{link.token}" for link in made)
    assert min(code_width_mm(code) for codes in pages for code in codes) >= 25
    assert {code.ec_level for codes in pages for code in codes} <= {"M", "Q", "H"}

    for url in (decoded[0], decoded[-1]):
        stored = submit_through(office.app, url)
        link = next(link for link in made if url.endswith(link.token))
        assert (stored.link_id, stored.area_id, stored.surveyor_id, stored.channel) == \
            (link.id, office.areas["SQ1"], office.users["sv1"], "surveyor")


def test_card_text_is_chinese_in_an_embedded_font(office, cli, tmp_path):
    make_links(office.app, 2, expires_at=links.expiry_from_date(dt.date(2099, 6, 30), TZ))
    pdf, _ = sheet_cli(office, cli, tmp_path, "--area", "SQ1")
    text, = page_texts(pdf)
    assert "东湖社区" in text and "调查员: sv1" in text and "有效期至 2099-06-30" in text
    fonts = page_fonts(pdf)
    assert any("CJK" in name for name, _embedded in fonts)
    assert all(embedded for _name, embedded in fonts)       # the print shop needs no fonts


def test_cards_in_english_on_request(office, cli, tmp_path):
    make_links(office.app, 1)
    pdf, _ = sheet_cli(office, cli, tmp_path, "--area", "SQ1", "--lang", "en")
    text, = page_texts(pdf)
    assert "Surveyor: sv1" in text and "No expiry date" in text


@pytest.mark.parametrize("lang, words", [
    ("zh", ["请于 2099-06-30 前填写", "目的", "有疑问请联系 东湖社区居委会 0991-1234567"]),
    ("en", ["Please fill in by 2099-06-30", "Purpose",
            "Questions? Contact 东湖社区居委会 0991-1234567"]),
])
def test_a_household_flyer_is_one_large_code_a_page_with_deadline_privacy_and_contact(
        office, cli, tmp_path, lang, words):
    made = make_links(office.app, 2, surveyor=None, channel="self",
                      expires_at=links.expiry_from_date(dt.date(2099, 6, 30), TZ))
    make_links(office.app, 1)                 # a surveyor card: not on a household flyer
    pdf, _ = sheet_cli(office, cli, tmp_path, "--area", "SQ1", "--kind", "flyer",
                       "--lang", lang, "--contact", "东湖社区居委会 0991-1234567")
    pages = decode_pdf(pdf)
    assert [len(codes) for codes in pages] == [1, 1]
    assert {codes[0].text for codes in pages} == {f"{BASE}/s/{link.token}" for link in made}
    assert all(code_width_mm(codes[0]) >= 60 for codes in pages)
    for text in page_texts(pdf):
        flat = " ".join(text.split())
        for expected in words + ["测试" if lang == "zh" else "Test"]:
            assert expected in flat
    stored = submit_through(office.app, pages[0][0].text)
    assert (stored.channel, stored.surveyor_id) == ("self", None)


def test_disabled_and_expired_links_are_left_off_the_sheet(office, cli, tmp_path):
    working, disabled, expired = make_links(office.app, 3)
    with office.app.app_context():
        links.set_disabled(disabled, True)
        Link.update(expires_at=utcnow() - dt.timedelta(hours=1)).where(
            Link.id == expired.id).execute()
    pdf, _ = sheet_cli(office, cli, tmp_path, "--area", "SQ1")
    assert [[c.text for c in codes] for codes in decode_pdf(pdf)] == \
        [[f"{BASE}/s/{working.token}"]]


def test_a_sheet_with_no_working_links_is_refused_clearly(office, cli, tmp_path):
    env = {"DATABASE_URL": office.app.config["DATABASE_URL"], "SECRET_KEY": "x",
           "FORMS_DIR": office.app.config["FORMS_DIR"]}
    result = cli("links", "sheet", "kitchen", "--area", "SQ2", "--out",
                 str(tmp_path / "x.pdf"), env=env)
    assert result.exit_code == 1 and "no working surveyor links" in result.output
    assert not (tmp_path / "x.pdf").exists()


# The same sheets in the office's browser

def test_the_office_sheet_is_a4_print_html_with_whole_pages(office):
    office.app.config["PUBLIC_BASE_URL"] = BASE
    made = make_links(office.app, 25)
    page = office.client("mgr1").get("/admin/links/sheet?form=kitchen&area=SQ1&kind=cards")
    assert page.status_code == 200
    html = page.text
    assert "@page{size:A4;margin:10mm}" in html
    assert html.count('<section class="page cards">') == 3
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="qr"') == 25
    assert all(f"{BASE}/s/{link.token}" in html for link in made)
    assert 'lang="zh-CN"' in html and "调查员" in html


def test_the_office_downloads_the_pdf_sheet(office):
    office.app.config["PUBLIC_BASE_URL"] = BASE
    link, = make_links(office.app, 1, surveyor=None, channel="self")
    response = office.client("mgr1").get(
        "/admin/links/sheet?form=kitchen&area=SQ1&kind=flyer&sheet_lang=en&format=pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    assert [[c.text for c in codes] for codes in decode_pdf(response.data)] == \
        [[f"{BASE}/s/{link.token}"]]


@pytest.mark.parametrize("query", ["form=kitchen&area=SQ1", "form=kitchen&area=JD",
                                   "form=nope&area=SQ2", "form=kitchen&area=NOWHERE"])
def test_another_areas_sheet_is_not_found(office, query):
    make_links(office.app, 1)
    assert office.client("mgr2").get(f"/admin/links/sheet?{query}").status_code == 404

"""Door-plate stickers (门牌码): every code on every rendered page scans to its household's door URL,
and nothing personal is printed. On tests/forms/ledger.yaml and the office fixture's areas
(JD > SQ1 > G1, JD > SQ2; mgr1 manages SQ1, mgr2 SQ2).

Pages are rendered by pdfium and read by zxing-cpp, as in tests/test_sheets.py.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from urllib.parse import urlsplit

import cairosvg
import pypdfium2
import pytest
from PIL import Image

from service.links import door_sheets
from service.office import policy
from service.records import household_import, ledger
from service.storage.db import db
from service.storage.models import Area, AuditEvent, Household

from .conftest import TEST_FORMS, code_width_mm, decode_image, decode_pdf, use_database_of

BASE = "http://192.168.1.20:8000"
HEADER = ["area_code", "address", "head_name", "head_id", "size", "needs", "income"]
# what must never be on a door: addresses, names, an ID number and answers
PRIVATE = ["梧桐巷", "Wutong", "欧阳", "11010519491231002X", "98765", "培训"]


def rows():
    """25 active households in SQ1 and 3 in G1 (28 on SQ1's sheet: 24 + 4), one moved out of
    SQ1, two in SQ2. Addresses numbered backwards, so address order is not import order."""
    made = [["SQ1", f"梧桐巷 {40 - i:02d}号 Wutong Lane", f"欧阳{i}", "", "7", "培训", "98765"]
            for i in range(26)]
    made[0][3] = "11010519491231002X"
    made += [["G1", f"梧桐巷 {50 + i:02d}号", f"欧阳G{i}", "", "2", "", ""] for i in range(3)]
    made += [["SQ2", f"梧桐巷 {60 + i:02d}号", f"欧阳S{i}", "", "2", "", ""] for i in range(2)]
    return made


@pytest.fixture
def homes(office):
    """The households by address (the one moved out is 梧桐巷 40号)."""
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows()])
    app = office.app
    with app.test_request_context(), db.connection_context():   # import messages need a locale
        spec = app.extensions["doorstep.catalog"].get("ledger")
        app.extensions["doorstep.catalog"].ensure_published(spec)
        household_import.load(spec, "homes.csv", out.getvalue().encode(), policy.SYSTEM)
        Household.update(status="moved_out").where(
            # (addresses are sealed: found by their keyed hash)
            Household.address_key == ledger.address_key("梧桐巷 40号 Wutong Lane")).execute()
        return {h.address: h for h in Household.select(Household, Area).join(Area)}


def door(h) -> str:
    return f"{BASE}/d/{h.door_token}"


def on_sq1_sheet(homes) -> list[Household]:
    """SQ1's sheet: its active households and those of G1 below it, in code order."""
    return sorted((h for h in homes.values() if h.status == "active" and
                   h.area.code in ("SQ1", "G1")), key=lambda h: h.code)


def stickers_cli(office, cli, tmp_path, *args, name="door.pdf"):
    out = tmp_path / name
    env = {"DATABASE_URL": office.app.config["DATABASE_URL"], "SECRET_KEY": "x",
           "FORMS_DIR": str(TEST_FORMS), "PUBLIC_BASE_URL": BASE}
    try:
        result = cli("households", "stickers", "--form", "ledger", "--out", str(out), *args,
                     env=env)
    finally:
        use_database_of(office.app)
    assert result.exit_code == 0, result.output
    return out.read_bytes(), result.output


def page_texts(pdf: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def printed_beside(pdf: bytes, dpi: int = 150) -> list[list[tuple[str, bool, list[str]]]]:
    """Per page, each household code in the text: (code, whether its box has ink, the decoded
    QR codes level with it and at most 25 mm to its left). Text extraction alone would also find
    text that a box's overflow clipped away, so the ink is looked at on the rendered page."""
    document = pypdfium2.PdfDocument(pdf)
    pages = []
    try:
        for page in document:
            image = page.render(scale=dpi / 72).to_pil().convert("L")
            codes, height, textpage = decode_image(image), page.get_height(), page.get_textpage()
            found = []
            for i in range(textpage.count_rects()):
                left, bottom, right, top = textpage.get_rect(i)
                text = textpage.get_text_bounded(left, bottom, right, top).strip()
                if not re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", text):
                    continue
                x0, y0, x1, y1 = (round(v * dpi / 72) for v in
                                  (left, height - top, right, height - bottom))
                middle = (y0 + y1) / 2
                beside = [c.text for c in codes
                          if c.position.top_left.y < middle < c.position.bottom_left.y
                          and 0 < x0 - c.position.top_right.x < 25 / 25.4 * dpi]
                found.append((text, image.crop((x0, y0, x1, y1)).getextrema()[0] < 128,
                              beside))
            pages.append(found)
    finally:
        document.close()
    return pages


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def events(app) -> list[dict]:
    with app.app_context(), db.connection_context():
        return [dict(json.loads(e.detail), target=e.target, username=e.username)
                for e in AuditEvent.select().where(AuditEvent.action == "door_stickers")
                .order_by(AuditEvent.id)]


def test_24_stickers_a_page_and_every_code_scans_to_its_households_door(office, homes, cli,
                                                                        tmp_path):
    pdf, output = stickers_cli(office, cli, tmp_path, "--area", "SQ1")
    expected = on_sq1_sheet(homes)
    assert len(expected) == 28 and "28 sticker(s) on 2 page(s)" in output

    pages = decode_pdf(pdf)
    assert len(pages) == math.ceil(28 / door_sheets.STICKERS_PER_PAGE) == 2
    assert [len(codes) for codes in pages] == [24, 4]          # whole codes only
    decoded = [code.text for codes in pages for code in codes]
    assert sorted(decoded) == sorted(door(h) for h in expected)
    assert min(code_width_mm(code) for codes in pages for code in codes) >= 24
    assert {code.ec_level for codes in pages for code in codes} <= {"M", "Q", "H"}
    # each household code is drawn (not clipped away) right beside its own QR code
    by_code = {h.code: door(h) for h in expected}
    seen = [printed for page in printed_beside(pdf) for printed in page]
    assert sorted(code for code, _drawn, _beside in seen) == sorted(by_code)
    assert all(drawn and beside == [by_code[code]] for code, drawn, beside in seen), seen

    # a decoded code opens that household's self-report form for a stranger
    page = office.app.test_client().get(urlsplit(decoded[0]).path)
    assert page.status_code == 200 and 'name="address"' in page.text
    assert events(office.app)[-1] == {"target": "area:SQ1", "username": "cli", "form": "ledger",
                            "area": "SQ1", "count": 28, "format": "pdf"}


@pytest.mark.parametrize("lang, words", [
    ("zh", ["东湖社区", "东湖一网格", "住户编码", "扫码登记或更新本户信息"]),
    ("en", ["东湖社区", "Householdcode", "Scantoregisterorupdatethishousehold"]),
])
def test_a_sticker_prints_code_area_and_what_to_do_and_nothing_personal(
        office, homes, cli, tmp_path, lang, words):
    pdf, _ = stickers_cli(office, cli, tmp_path, "--area", "SQ1", "--lang", lang)
    html, _ = stickers_cli(office, cli, tmp_path, "--area", "SQ1", "--lang", lang,
                           name="door.html")
    text = "".join(flat(t) for t in page_texts(pdf))
    for word in words:
        assert word in text
    for h in on_sq1_sheet(homes):
        assert h.code in text and h.code in html.decode()
    for private in PRIVATE + ["西山社区"]:
        assert flat(private) not in text and private not in html.decode()


def test_address_order_walks_each_area_by_address(office, homes, cli, tmp_path):
    html, _ = stickers_cli(office, cli, tmp_path, "--area", "SQ1", "--order", "address",
                           name="door.html")
    printed = re.findall(r'data-household="([^"]+)"', html.decode())
    expected = sorted(on_sq1_sheet(homes),
                      key=lambda h: (h.area.code != "SQ1", h.address))
    assert printed == [h.code for h in expected]
    html, _ = stickers_cli(office, cli, tmp_path, "--area", "SQ1", name="door.html")
    assert re.findall(r'data-household="([^"]+)"', html.decode()) == sorted(printed)


def test_an_area_without_households_is_refused_clearly(office, homes, cli, tmp_path):
    env = {"DATABASE_URL": office.app.config["DATABASE_URL"], "SECRET_KEY": "x",
           "FORMS_DIR": str(TEST_FORMS), "PUBLIC_BASE_URL": BASE}
    with office.app.app_context(), db.connection_context():
        Household.update(status="closed").where(
            Household.area == office.areas["SQ2"]).execute()
    try:
        empty = cli("households", "stickers", "--form", "ledger", "--area", "SQ2", "--out",
                    str(tmp_path / "x.pdf"), env=env)
        not_ledger = cli("households", "stickers", "--form", "kitchen", "--area", "SQ2",
                         "--out", str(tmp_path / "x.pdf"), env=env)
    finally:
        use_database_of(office.app)
    assert empty.exit_code == 1 and "no active households" in empty.output
    assert not_ledger.exit_code == 1 and "no ledger form 'kitchen'" in not_ledger.output
    assert not (tmp_path / "x.pdf").exists()


# The same sheet in the office

def test_the_office_sheet_is_a4_print_html_logged_with_form_area_and_count(office, homes):
    office.app.config["PUBLIC_BASE_URL"] = BASE
    page = office.client("mgr1").get("/admin/households/stickers?form=ledger&area=SQ1")
    assert page.status_code == 200
    html = page.text
    assert "@page{size:A4;margin:10mm}" in html
    assert html.count('<section class="page door">') == 2
    assert html.count('<div class="sticker"') == 28
    printed = on_sq1_sheet(homes)
    assert re.findall(r'data-household="([^"]+)"', html) == [h.code for h in printed]
    assert not any(h.code in html for h in homes.values() if h not in printed)
    assert "format=pdf" in html and "返回住户台帐" in html      # the sheet's language throughout
    for private in PRIVATE:
        assert private not in html
    assert events(office.app) == [{"target": "area:SQ1", "username": "mgr1", "form": "ledger",
                         "area": "SQ1", "count": 28, "format": "html"}]


def test_the_office_downloads_the_pdf(office, homes):
    office.app.config["PUBLIC_BASE_URL"] = BASE
    response = office.client("mgr2").get(
        "/admin/households/stickers?form=ledger&area=SQ2&format=pdf&sheet_lang=en")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    in_sq2 = [h for h in homes.values() if h.area.code == "SQ2"]
    assert [sorted(c.text for c in codes) for codes in decode_pdf(response.data)] == \
        [sorted(door(h) for h in in_sq2)]
    assert events(office.app)[-1]["format"] == "pdf" and events(office.app)[-1]["count"] == 2


@pytest.mark.parametrize("query", ["form=ledger&area=SQ1", "form=ledger&area=G1",
                                   "form=ledger&area=JD", "form=ledger&area=NOWHERE",
                                   "form=kitchen&area=SQ2", "form=nope&area=SQ2"])
def test_another_areas_sheet_is_not_found(office, homes, query):
    assert office.client("mgr2").get(f"/admin/households/stickers?{query}").status_code == 404
    assert events(office.app) == []


def test_a_surveyor_may_not_print_stickers(office, homes):
    client = office.client("sv1")
    assert client.get("/admin/households/stickers?form=ledger&area=SQ1").status_code in (403, 404)
    code = on_sq1_sheet(homes)[0].code
    assert client.get(f"/admin/households/{code}/door.png").status_code in (403, 404)


# One household's code as an image

def svg_to_image(svg: bytes) -> Image.Image:
    return Image.open(io.BytesIO(cairosvg.svg2png(bytestring=svg, output_width=480,
                                                  background_color="white")))


def test_one_households_png_and_svg_decode_to_its_door(office, homes):
    office.app.config["PUBLIC_BASE_URL"] = BASE
    h = on_sq1_sheet(homes)[0]
    client = office.client("mgr1")
    png = client.get(f"/admin/households/{h.code}/door.png")
    svg = client.get(f"/admin/households/{h.code}/door.svg")
    assert (png.mimetype, svg.mimetype) == ("image/png", "image/svg+xml")
    assert [c.text for c in decode_image(Image.open(io.BytesIO(png.data)))] == [door(h)]
    assert [c.text for c in decode_image(svg_to_image(svg.data))] == [door(h)]
    assert f"/admin/households/{h.code}/door.png" in client.get(f"/admin/households/{h.code}").text
    assert [e["household"] for e in events(office.app)] == [h.code, h.code]


def test_another_areas_or_a_moved_out_households_image_is_not_found(office, homes):
    gone = homes["梧桐巷 40号 Wutong Lane"]
    foreign = next(h for h in homes.values() if h.area.code == "SQ2")
    client = office.client("mgr1")
    assert client.get(f"/admin/households/{foreign.code}/door.png").status_code == 404
    assert client.get(f"/admin/households/{gone.code}/door.svg").status_code == 404
    assert client.get(f"/admin/households/{foreign.code}/door.gif").status_code == 404
    assert events(office.app) == []


def test_the_ledger_page_offers_the_sticker_sheet(office, homes):
    page = office.client("mgr1").get("/admin/households?form=ledger&area=SQ1")
    assert 'id="sticker-form"' in page.text
    assert 'action="/admin/households/stickers"' in page.text

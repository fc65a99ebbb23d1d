"""QR images as a phone's scanner meets them: every code here is decoded by zxing-cpp, not trusted.

A code must carry the link's full URL, at error correction M or better (a dirty or torn code still
scans), inside the full 4-module white quiet zone (a neighbouring card never bleeds into it).
"""
from __future__ import annotations

import io

import cairosvg
import pytest
from PIL import Image

from service import links
from service.links import qr
from service.storage.db import db
from service.storage.models import Area, Link, User

from .conftest import PASSWORD, decode_image, hidden

URLS = ["http://192.168.1.20:8000/s/AbCdEfGhIjKlMnOp",
        "https://survey.example-street-office.gov.cn/s/zZ9_-aB3cD4eF5gH6iJ7kL8m"]
STRONG_ENOUGH = {"M", "Q", "H"}
BASE = "http://192.168.1.20:8000"


def only_code(image) -> object:
    found = decode_image(image)
    assert len(found) == 1, f"expected one QR code, found {len(found)}"
    return found[0]


def svg_to_image(svg: bytes, width: int = 480) -> Image.Image:
    """Rasterise an SVG as a viewer would (cairosvg), on white."""
    png = cairosvg.svg2png(bytestring=svg, output_width=width, background_color="white")
    return Image.open(io.BytesIO(png))


@pytest.mark.parametrize("url", URLS)
def test_the_png_decodes_to_the_url_at_level_m_or_better(url):
    code = only_code(Image.open(io.BytesIO(qr.png(url))))
    assert code.text == url
    assert code.ec_level in STRONG_ENOUGH


@pytest.mark.parametrize("url", URLS)
def test_the_png_keeps_the_full_white_quiet_zone(url):
    box = 10
    image = Image.open(io.BytesIO(qr.png(url, box_size=box))).convert("L")
    modules = qr.code(url).modules_count
    assert image.size == ((modules + 8) * box,) * 2
    border = 4 * box
    width = image.size[0]
    strips = [image.crop((0, 0, width, border)), image.crop((0, width - border, width, width)),
              image.crop((0, 0, border, width)), image.crop((width - border, 0, width, width))]
    assert all(strip.getextrema() == (255, 255) for strip in strips)
    assert image.getpixel((border, border)) == 0      # the finder pattern starts right inside


@pytest.mark.parametrize("url", URLS)
def test_the_svg_file_rendered_to_an_image_decodes(url):
    svg = qr.svg(url)
    modules = qr.code(url).modules_count
    assert f'viewBox="0 0 {modules + 8} {modules + 8}"'.encode() in svg   # quiet zone included
    code = only_code(svg_to_image(svg))
    assert code.text == url
    assert code.ec_level in STRONG_ENOUGH


@pytest.mark.parametrize("url", URLS)
def test_the_inline_sheet_svg_rendered_to_an_image_decodes(url):
    code = only_code(svg_to_image(qr.svg_inline(url).encode()))
    assert code.text == url
    assert code.ec_level in STRONG_ENOUGH


def make_link(app, area="SQ1", surveyor="sv1", **kw) -> Link:
    with app.app_context():
        return links.create("kitchen", Area.get(Area.code == area),
                            User.get(User.username == surveyor) if surveyor else None, **kw)


@pytest.mark.parametrize("kind", ["png", "svg"])
def test_the_office_downloads_a_link_code_that_opens_the_link(office, kind):
    office.app.config["PUBLIC_BASE_URL"] = BASE
    link = make_link(office.app)
    response = office.client("mgr1").get(f"/admin/links/{link.id}/qr.{kind}")
    assert response.status_code == 200
    assert response.mimetype == {"png": "image/png", "svg": "image/svg+xml"}[kind]
    image = Image.open(io.BytesIO(response.data)) if kind == "png" else svg_to_image(response.data)
    code = only_code(image)
    assert code.text == f"{BASE}/s/{link.token}"
    assert code.ec_level in STRONG_ENOUGH


def test_without_public_base_url_codes_use_the_address_the_office_browser_used(office):
    link = make_link(office.app)
    client, lan = office.app.test_client(), "http://10.1.2.3:8000"
    token = hidden(client.get("/admin/login", base_url=lan).text, "csrf_token")
    client.post("/admin/login", base_url=lan,
                data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    response = client.get(f"/admin/links/{link.id}/qr.png", base_url=lan)
    assert only_code(Image.open(io.BytesIO(response.data))).text == \
        f"http://10.1.2.3:8000/s/{link.token}"


@pytest.mark.parametrize("who", ["mgr2", "sv1"])
def test_another_areas_code_is_not_found(office, who):
    link = make_link(office.app)
    client = office.client(who)
    for kind in ("png", "svg"):
        assert client.get(f"/admin/links/{link.id}/qr.{kind}").status_code == 404


def test_a_code_needs_a_signed_in_office(office):
    link = make_link(office.app)
    response = office.client().get(f"/admin/links/{link.id}/qr.png")
    assert response.status_code == 302 and "/admin/login" in response.location
    with office.app.app_context():
        db.connect(reuse_if_open=True)
        assert Link.get_by_id(link.id).scans == 0

"""The office prints a form's dashboard from Chromium: A4 pages, and no chart cut by a page break.

A community manager signs in, opens the dashboard of their area and prints it to PDF (page.pdf
with the page's own CSS page size: Chromium's print path, so `@media print` and its page breaks are
what is tested). pdfium reads each page's size and renders it. To find each chart on paper, each
gets an outline of a colour of its own before printing: an outline is painted, never laid out, so
the pages break exactly where they would without it. A chart is whole when its colour is on one
page only, as a rectangle of the chart's own proportions.
"""
from __future__ import annotations

import datetime as dt
import random
import secrets
import uuid

import pytest

from bench.synthetic import answers_for
from service import create_app
from service.office import areas, auth
from service.records.submissions import Attribution, store
from service.storage.db import db
from service.storage.models import User

from .conftest import ROOT

pytestmark = pytest.mark.browser

PASSWORD = "dashboard-print-2025"
A4 = (595.28, 841.89)        # points
SCALE = 2                    # pdfium renders 144 dpi: 1 CSS px is 1.5 pixels
PIXELS_PER_CSS_PX = SCALE * 72 / 96
OUTLINE = 3                  # CSS px


@pytest.fixture
def surveyed_area(live_server):
    """An area with 40 synthetic households of the demo `household` form, and its manager, in the
    live database; the form's Chinese title."""
    suffix = secrets.token_hex(3)
    app = create_app({"DATABASE_URL": f"sqlite:///{live_server.database}",
                      "KEYS_DIR": str(live_server.keys), "SECRET_KEY": "x",
                      "FORMS_DIR": str(ROOT / "forms")})
    rng = random.Random(20260301)
    with app.app_context(), db.atomic():
        spec = app.extensions["doorstep.catalog"].get("household")
        area = areas.create(f"PRINTDASH-{suffix}", "打印社区")
        manager = User.create(username=f"mgr-dash-{suffix}", role="manager", area=area,
                              password_hash=auth.hash_password(PASSWORD))
        for _ in range(40):
            store(spec, str(uuid.uuid4()), answers_for(spec, rng, dt.date.today()),
                  consent=True, sensitive_consent=True,
                  attribution=Attribution(channel=rng.choice(["web", "self"]), area_id=area.id))
    return area.code, manager.username, spec.title.get("zh")


def outline_boxes(image, n: int) -> dict[int, tuple[int, int, int, int]]:
    """Where each chart's outline is on a rendered page: {chart: (x0, y0, x1, y1)}, for the charts
    with at least 50 pixels there. Chart i's outline is pure red with blue 6i: nothing else on the
    page is red without green, and a pixel blended with white, text or a chart gains green or loses
    red, so it is never taken for another chart's outline."""
    from PIL import ImageChops
    red, green, blue = image.convert("RGB").split()
    pure = ImageChops.multiply(red.point(lambda v: 255 if v >= 252 else 0),
                               green.point(lambda v: 255 if v <= 3 else 0))
    boxes = {}
    for i in range(n):
        mine = ImageChops.multiply(pure, blue.point(lambda v: 255 if abs(v - 6 * i) <= 1 else 0))
        if mine.histogram()[255] >= 50:
            boxes[i] = mine.getbbox()
    return boxes


def test_the_dashboard_prints_on_a4_pages_with_no_chart_cut(live_server, browser, surveyed_area):
    import pypdfium2

    area, manager, title = surveyed_area
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login")
    page.fill('input[name="username"]', manager)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/forms/household?area={area}")
    # (width, height) of each chart's viewBox, in document order
    shapes = page.eval_on_selector_all(
        "svg.chart", "svgs => svgs.map(s => [s.viewBox.baseVal.width, s.viewBox.baseVal.height])")
    n = len(shapes)
    assert 10 <= n <= 42, n          # 42 outline colours (blue 0 to 246 in steps of 6)
    page.eval_on_selector_all("svg.chart", f"""svgs => svgs.forEach((s, i) => {{
        s.style.outline = '{OUTLINE}px solid rgb(255, 0, ' + 6 * i + ')';
        s.style.outlineOffset = '0px'; }})""")
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    context.close()

    document = pypdfium2.PdfDocument(pdf)
    try:
        sizes = [document[k].get_size() for k in range(len(document))]
        text = "".join(document[k].get_textpage().get_text_range() for k in range(len(document)))
        boxes = [outline_boxes(document[k].render(scale=SCALE).to_pil(), n)
                 for k in range(len(document))]
    finally:
        document.close()

    assert len(sizes) >= 2, "the dashboard should take several pages, or no page break is tested"
    for width, height in sizes:
        assert abs(width - A4[0]) <= 2 and abs(height - A4[1]) <= 2, (width, height)
    assert title in text and "40 份有效答卷" in text
    # what is for the screen only is not printed: the office's menu and the filters
    assert "退出登录" not in text and manager not in text     # Sign out, who is signed in
    assert "应用" not in text                                  # the filters' Apply button

    for i, (vb_width, vb_height) in enumerate(shapes):
        pages = [k for k, found in enumerate(boxes) if i in found]
        assert len(pages) == 1, f"chart {i} is on pages {pages}"
        x0, y0, x1, y1 = boxes[pages[0]][i]          # x1 and y1 are past the box
        width = (x1 - x0) / PIXELS_PER_CSS_PX - 2 * OUTLINE
        height = (y1 - y0) / PIXELS_PER_CSS_PX - 2 * OUTLINE
        assert width > 100, (i, width)
        assert abs(height - width * vb_height / vb_width) <= 3, \
            f"chart {i} is {height:.0f} px high on paper instead of " \
            f"{width * vb_height / vb_width:.0f}: cut at the page's end"

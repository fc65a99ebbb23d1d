"""The office prints a round's coverage page and a grid's not-yet list from Chromium on A4.

A street office's manager signs in, opens the coverage of a round of their street and prints it,
then opens the not-yet list of one grid, shows its addresses (a logged reveal) and prints that for
the surveyor. Chromium's own print path (page.pdf with the page's CSS page size) is what is tested:
the pages are A4, what is for the screen only (menu, buttons, forms) is not printed, the bars are,
and the list runs over several pages with its column heads on each and every household on paper.
"""
from __future__ import annotations

import datetime as dt
import random
import secrets
import uuid

import pytest

from bench.synthetic import answers_for
from service import create_app
from service.office import areas, auth, clock
from service.records import rounds
from service.records.submissions import Attribution, Visit, store
from service.storage.db import db, write_transaction
from service.storage.models import Household, Submission, User

from .conftest import ROOT
from .test_admin_browser import PASSWORD, sign_in

pytestmark = pytest.mark.browser

A4 = (595.28, 841.89)        # points
BAR = (11, 92, 173)          # #0b5cad, the bars' fill
IN_GRID = 90


@pytest.fixture
def street_round(live_server):
    """A street with a community and two grids, IN_GRID households in the first grid (all but a
    few not yet visited) and 10 in the second; a round of the street; its manager."""
    suffix = secrets.token_hex(3)
    app = create_app({"DATABASE_URL": f"sqlite:///{live_server.database}",
                      "KEYS_DIR": str(live_server.keys), "SECRET_KEY": "x",
                      "FORMS_DIR": str(ROOT / "forms")})
    rng = random.Random(20260301)
    with app.app_context(), db.atomic():
        spec = app.extensions["doorstep.catalog"].get("household")
        app.extensions["doorstep.catalog"].ensure_published(spec)
        street = areas.create(f"PRJD-{suffix}", "打印街道")
        community = areas.create(f"PRSQ-{suffix}", "打印社区", street)
        grids = [areas.create(f"PRG{i}-{suffix}", f"打印{i}网格", community) for i in (1, 2)]
        manager = User.create(username=f"mgr-rounds-{suffix}", role="manager", area=street,
                              password_hash=auth.hash_password(PASSWORD))
        made = []
        for i in range(IN_GRID + 10):
            answers = dict(answers_for(spec, rng, dt.date.today(), awkward=0),
                           address=f"打印路 {i + 1:03d}号 {suffix}")
            submission, _ = store(spec, str(uuid.uuid4()), answers, consent=True,
                                  sensitive_consent=True, visit=Visit(),
                                  attribution=Attribution(channel="surveyor",
                                                          area_id=grids[i >= IN_GRID].id))
            made.append(submission.household_id)
        Submission.update(received_at=dt.datetime(2020, 1, 1)).where(
            Submission.household.in_(made[5:])).execute()      # five done, the rest not yet
        today = clock.today()
        with write_transaction():
            r = rounds.create(f"打印轮 {suffix}", spec, street, today - dt.timedelta(days=3),
                              today + dt.timedelta(days=27), manager)
        codes = [h.code for h in Household.select().where(Household.id.in_(made[5:IN_GRID]))]
    return r.id, grids[0].code, manager.username, codes, suffix


def printed(pdf: bytes) -> tuple[list, list[str], list]:
    """Each page's size, text and rendering (72 dpi)."""
    import pypdfium2
    document = pypdfium2.PdfDocument(pdf)
    try:
        pages = [document[k] for k in range(len(document))]
        return ([p.get_size() for p in pages], [p.get_textpage().get_text_range() for p in pages],
                [p.render(scale=1).to_pil().convert("RGB") for p in pages])
    finally:
        document.close()


def assert_a4(sizes):
    for width, height in sizes:
        assert abs(width - A4[0]) <= 2 and abs(height - A4[1]) <= 2, (width, height)


def test_the_coverage_page_and_a_not_yet_list_print_on_a4(live_server, browser, street_round):
    round_id, grid, manager, codes, suffix = street_round
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, live_server.url, manager)
    page.goto(f"{live_server.url}/admin/rounds/{round_id}")
    assert page.locator("#assign").is_visible() and page.locator("#close").is_visible()
    sizes, texts, images = printed(page.pdf(prefer_css_page_size=True, print_background=True))
    assert_a4(sizes)
    text = "".join(texts)
    # the office, the round, its period and the day it is printed, with the figures
    assert "打印街道" in text and f"打印轮 {suffix}" in text and "走访期间" in text
    assert "截至" in text and "打印于" in text and manager in text       # (who printed it)
    assert "打印社区" in text and "目标户数" in text and "按调查员" in text
    # not printed: the menu, the drill-down's list links, the assignment forms, the close button
    for screen_only in ("退出登录", "调查轮次", "未完成名单", "分配住户给调查员", "结束本轮"):
        assert screen_only not in text, screen_only
    colours = images[0].getcolors(maxcolors=1 << 20)
    assert sum(n for n, rgb in colours if all(abs(a - b) <= 8 for a, b in zip(rgb, BAR))) > 50

    # the grid's not-yet list, its addresses shown for the surveyor
    page.goto(f"{live_server.url}/admin/rounds/{round_id}/not-yet?area={grid}")
    assert "打印路 006号" not in page.content()                 # masked until revealed
    page.click("#reveal")
    page.wait_for_selector("table.not-yet")
    sizes, texts, _images = printed(page.pdf(prefer_css_page_size=True, print_background=True))
    context.close()
    assert_a4(sizes)
    assert len(sizes) >= 2, "the list should take several pages, or no page break is tested"
    text = "".join(texts)
    assert all(code in text for code in codes) and len(codes) == IN_GRID - 5
    assert f"打印路 006号 {suffix}" in text and "显示完整住址" not in text
    assert "尚未完成" in text and "打印于" in text
    for page_text in texts:                     # the column heads on every page
        assert "未果次数" in page_text and "住址" in page_text

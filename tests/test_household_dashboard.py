"""A ledger form's dashboard: its visits (every submission, as any form's) or its households as
they stand now, each counted once with its current answers."""
from __future__ import annotations

import re

from service.records import ledger
from service.records.submissions import Visit
from service.storage.db import db
from service.storage.models import Household

FIRST = {"address": "东湖路 1号", "head_name": "张三", "size": 3, "needs": ["job"],
         "income": 2000}


def _visits(office):
    """Three households of SQ1 and one of SQ2: the first revisited twice (size 3 → 4 → 5), the
    third moved out."""
    with office.app.app_context(), db.connection_context():
        one = office.store("one", "ledger", FIRST, area="SQ1").household
        office.store("two", "ledger", dict(FIRST, address="东湖路 2号", needs=["training"]),
                     area="SQ1")
        gone = office.store("gone", "ledger", dict(FIRST, address="东湖路 3号"), area="SQ1")
        office.store("far", "ledger", dict(FIRST, address="西山路 9号", size=7), area="SQ2")
        office.store("again", "ledger", dict(FIRST, size=4), area="SQ1",
                     visit=Visit(one.code, 1))
        office.store("later", "ledger", dict(FIRST, size=5), area="SQ1",
                     visit=Visit(one.code, 2))
        ledger.set_status(Household.get_by_id(gone.household_id), "moved_out")


def total(page: str) -> int:
    return int(re.search(r'<p class="big"><strong>(\d+)</strong>', page).group(1))


def table_of(page: str, question: str) -> dict[str, int]:
    """A question's figures table on the page: label → count."""
    block = re.search(rf'id="q-{question}".*?</section>', page, re.S).group(0)
    return {label: int(n) for label, n in re.findall(
        r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td>", block)}


def test_the_households_view_counts_each_household_once_as_it_stands_now(office):
    _visits(office)
    admin = office.client("admin")
    visits = admin.get("/admin/forms/ledger?lang=en").text
    assert total(visits) == 6                                   # every visit
    households = admin.get("/admin/forms/ledger?view=households&lang=en").text
    assert total(households) == 3                               # moved out: not counted
    assert "households being visited" in households
    sizes = table_of(households, "size")
    assert sizes.get("5") == 1 and sizes.get("3") == 1 and sizes.get("7") == 1
    assert "4" not in sizes or sizes["4"] == 0                  # an older value, not current


def test_the_households_view_keeps_to_the_users_areas_and_the_area_filter(office):
    _visits(office)
    assert total(office.client("mgr2").get("/admin/forms/ledger?view=households").text) == 1
    admin = office.client("admin")
    assert total(admin.get("/admin/forms/ledger?view=households&area=SQ1").text) == 2
    assert admin.get("/admin/forms/ledger?view=households&area=NOWHERE").status_code == 404


def test_a_form_without_a_ledger_has_only_its_visits(office):
    page = office.client("admin").get("/admin/forms/kitchen?view=households")
    assert page.status_code == 200 and "Households (current state)" not in page.text
    assert total(page.text) == 4

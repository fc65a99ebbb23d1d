"""The ledger in the office (/admin/households): the list, one household's page, and what the
office changes on it, on tests/forms/ledger.yaml.

The office fixture has JD > SQ1 > G1 and JD > SQ2, an admin, mgr1 (manager of SQ1), mgr2 (of SQ2)
and sv1 (surveyor in SQ1). A household of another area is a 404 whatever URL is typed; every change
is a CSRF-protected post, one audit event, and a refused post changes no row.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest

from service.admin import households as households_view
from service.records import submissions
from service.records.submissions import Attribution, Visit
from service.storage.db import db
from service.storage.models import (
    AuditEvent, Household, HouseholdChange, HouseholdConflict, Submission,
)

from .conftest import csrf_token

FIRST = {"visit_date": "2026-03-01", "address": "幸福路 3号楼 2单元 101", "head_name": "张三",
         "head_id": "11010519491231002X", "size": 3, "needs": ["job"], "income": 2000}


@pytest.fixture
def book(office):
    """The office plus a helper storing one visit of the ledger form (returns the household)."""
    app = office.app

    def visit(answers, area=None, code=None, base=None, surveyor=None):
        with app.app_context(), db.connection_context():
            spec = app.extensions["doorstep.catalog"].get("ledger")
            app.extensions["doorstep.catalog"].ensure_published(spec)
            stored, _created = submissions.store(
                spec, str(uuid.uuid4()), answers, sensitive_consent=True,
                attribution=Attribution(channel="surveyor", area_id=office.areas.get(area),
                                        surveyor_id=office.users.get(surveyor)),
                visit=Visit(code, base))
            return Household.get_by_id(stored.household_id)
    office.visit = visit
    return office


def household(code) -> Household:
    with db.connection_context():
        return Household.get(Household.code == code)


def rows():
    """Every row a household action could touch: equal results mean nothing changed."""
    with db.connection_context():
        return [list(model.select().order_by(model.id).tuples()) for model in (
            Household, HouseholdChange, HouseholdConflict, Submission, AuditEvent)]


def audits(action):
    with db.connection_context():
        return [(e.target, json.loads(e.detail)) for e in
                AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id)]


def codes(page) -> list[str]:
    return re.findall(r'<tr data-code="([^"]+)"', page.text)


def link(page, rel) -> str | None:
    m = re.search(rf'<a rel="{rel}" href="([^"]+)"', page.text)
    return m.group(1).replace("&amp;", "&") if m else None


@pytest.fixture
def three(book):
    """A household in SQ1 (visited by sv1), one in G1, one in SQ2."""
    return {"sq1": book.visit(FIRST, "SQ1", surveyor="sv1").code,
            "g1": book.visit(dict(FIRST, address="东湖路 8号", head_id=None), "G1").code,
            "sq2": book.visit(dict(FIRST, address="西山路 1号", head_id=None), "SQ2").code}


# path                                               admin mgr1 mgr2 sv1
PAGES = [
    ("/admin/households",                              200, 200, 200, 404),
    ("/admin/households?form=ledger",                  200, 200, 200, 404),
    ("/admin/households?form=kitchen",                 404, 404, 404, 404),   # not a ledger
    ("/admin/households?area=SQ1",                     200, 200, 404, 404),
    ("/admin/households?area=SQ2",                     200, 404, 200, 404),
    ("/admin/households?area=NOWHERE",                 404, 404, 404, 404),
    ("/admin/households/{sq1}",                        200, 200, 404, 404),
    ("/admin/households/{g1}",                         200, 200, 404, 404),
    ("/admin/households/{sq2}",                        200, 404, 200, 404),
    ("/admin/households/ZZZZ-ZZZZ",                    404, 404, 404, 404),
    ("/admin/households/not-a-code",                   404, 404, 404, 404),
]


def test_the_pages_for_every_role(book, three):
    for name, column in (("admin", 1), ("mgr1", 2), ("mgr2", 3), ("sv1", 4)):
        client = book.client(name)
        got = [(path, client.get(path.format(**three)).status_code) for path, *_ in PAGES]
        assert got == [(row[0], row[column]) for row in PAGES], name
        menu = client.get("/admin/").text
        assert ('href="/admin/households"' in menu) == (name != "sv1")
    # each manager lists only the households of their own areas
    assert set(codes(book.client("mgr1").get("/admin/households"))) == {three["sq1"], three["g1"]}
    assert set(codes(book.client("mgr2").get("/admin/households"))) == {three["sq2"]}
    assert set(codes(book.client("admin").get("/admin/households"))) == set(three.values())
    # a code typed loosely leads to the household's own address
    loose = book.client("admin").get(f"/admin/households/{three['sq1'].lower().replace('-', '')}")
    assert loose.status_code == 302 and loose.location.endswith(f"/admin/households/{three['sq1']}")


def test_the_list_filters_counts_and_pages_by_keyset(book, monkeypatch):
    made = [book.visit(dict(FIRST, address=f"幸福路 {i}号", head_id=None, size=i,
                            needs=["job", "training"] if i % 2 else ["job"]), "SQ1").code
            for i in range(1, 6)]
    below = book.visit(dict(FIRST, address="东湖路 1号", head_id=None, size=9), "G1").code
    with db.connection_context():
        Household.update(status="closed").where(Household.code == made[0]).execute()
        Household.update(last_visit_at=dt.datetime(2025, 1, 1)).where(
            Household.code == made[1]).execute()
    client = book.client("mgr1")
    monkeypatch.setattr(households_view, "PAGE_SIZE", 2)
    # keyset pages, newest registration first, forwards then back; an area includes those below
    newest_first = [below] + made[::-1]
    url, seen, pages = "/admin/households?area=SQ1", [], 0
    while url:
        page = client.get(url)
        assert page.status_code == 200 and "OFFSET" not in url
        seen.append(codes(page))
        pages += 1
        url = link(page, "next")
    assert pages == 3 and sum(seen, []) == newest_first
    back = []
    url = link(client.get(f"/admin/households?area=SQ1&older={household(made[1]).id + 1}"),
               "prev")
    while url:
        page = client.get(url)
        back.insert(0, codes(page))
        url = link(page, "prev")
    assert back[0][0] == below and sum(back, []) == newest_first[:4]
    monkeypatch.setattr(households_view, "PAGE_SIZE", 50)

    def listed(query):
        page = client.get("/admin/households?" + query)
        assert page.status_code == 200, query
        return set(codes(page))
    assert listed("area=G1") == {below} and listed("area=SQ1") == listed("") == set(newest_first)
    assert listed("status=closed") == {made[0]}
    assert made[0] in listed("") and listed("status=active") == listed("") - {made[0]}
    assert listed("question=size&value=3") == {made[2]}             # 3, not 30
    assert listed("question=needs&value=training") == {made[0], made[2], made[4]}
    assert listed("question=needs&value=培训") == {made[0], made[2], made[4]}  # by its label
    assert listed("question=head_name&value=张三") == listed("")   # identifiers: no filter
    assert listed("before=2026-01-01") == {made[1]}                  # not visited since then
    page = client.get("/admin/households?area=SQ1")
    assert re.search(r'id="total">6 households', page.text)
    assert 'data-status="active">5<' in page.text and 'data-status="closed">1<' in page.text


def test_identifiers_are_masked_until_an_audited_reveal(book):
    code = book.visit(FIRST, "SQ1").code
    client = book.client("mgr1")
    for page in (client.get("/admin/households"), client.get(f"/admin/households/{code}")):
        assert "张三" not in page.text and "11010519491231002X" not in page.text
        assert "幸福路 3号楼 2单元 101" not in page.text and "幸福路" in page.text   # its start
    assert "张*" in client.get(f"/admin/households/{code}").text
    before = rows()
    assert client.post(f"/admin/households/{code}").status_code == 400    # no CSRF token
    assert rows() == before
    page = client.post(f"/admin/households/{code}", data={"csrf_token": csrf_token(client)})
    assert page.status_code == 200
    assert "张三" in page.text and "11010519491231002X" in page.text
    assert audits("reveal") == [(f"household:{household(code).id}",
                                 {"form": "ledger", "household": code})]
    other = book.client("mgr2")
    assert other.post(f"/admin/households/{code}",
                      data={"csrf_token": csrf_token(other)}).status_code == 404


def test_the_office_resolves_a_conflict_of_two_revisits(book):
    first = book.visit(FIRST, "SQ1")
    book.visit(dict(FIRST, income=3000), "SQ1", code=first.code, base=1)
    book.visit(dict(FIRST, income=2800), "SQ1", code=first.code, base=1)
    with db.connection_context():
        clash = HouseholdConflict.get(HouseholdConflict.household == first.id)
    client = book.client("mgr1")
    page = client.get(f"/admin/households/{first.code}")
    assert 'data-conflict="income"' in page.text and "3000" in page.text and "2800" in page.text
    assert codes(client.get("/admin/households?conflicts=1")) == [first.code]
    path = f"/admin/households/{first.code}/conflicts/{clash.id}"
    before = rows()
    assert client.post(path, data={"choice": "visit"}).status_code == 400    # no CSRF token
    assert client.post(path, data={"choice": "nonsense", "csrf_token": csrf_token(client)}
                       ).status_code == 302
    assert rows() == before
    foreign = book.client("mgr2")
    assert foreign.post(path, data={"choice": "visit", "csrf_token": csrf_token(foreign)}
                        ).status_code == 404
    assert client.post(f"/admin/households/{first.code}/conflicts/999999",
                       data={"choice": "visit", "csrf_token": csrf_token(client)}
                       ).status_code == 404
    done = client.post(path, data={"choice": "visit", "csrf_token": csrf_token(client)},
                       follow_redirects=True)
    assert "The conflict is resolved." in done.text
    assert json.loads(household(first.code).current)["income"] == 2800
    assert 'data-conflict="income"' not in done.text
    assert audits("household_resolve") == [(f"household:{first.id}", {
        "household": first.code, "question": "income", "choice": "visit", "value": 2800})]
    with db.connection_context():
        last = HouseholdChange.select().order_by(HouseholdChange.id.desc()).first()
        assert (last.source, last.user_id) == ("resolve", book.users["mgr1"])
    again = client.post(path, data={"choice": "kept", "csrf_token": csrf_token(client)},
                        follow_redirects=True)
    assert "This conflict is already resolved." in again.text
    assert json.loads(household(first.code).current)["income"] == 2800


def test_a_possible_duplicate_is_merged_or_dismissed(book):
    kept = book.visit(FIRST, "SQ1")
    twin = book.visit(dict(FIRST, address="幸福路3号楼2单元101。", head_id=None), "SQ1")
    other = book.visit(dict(FIRST, address="别处 7号"), "SQ1")         # the same ID number
    assert household(twin.code).duplicate_of_id == kept.id
    assert household(other.code).duplicate_of_id == kept.id
    client = book.client("mgr1")
    assert set(codes(client.get("/admin/households?duplicates=1"))) == {twin.code, other.code}
    page = client.get(f"/admin/households/{twin.code}")
    assert 'id="merge"' in page.text and kept.code in page.text
    foreign = book.client("mgr2")
    before = rows()
    assert client.post(f"/admin/households/{twin.code}/merge").status_code == 400
    assert client.post(f"/admin/households/{other.code}/dismiss").status_code == 400
    assert foreign.post(f"/admin/households/{twin.code}/merge",
                        data={"csrf_token": csrf_token(foreign)}).status_code == 404
    assert rows() == before
    merged = client.post(f"/admin/households/{twin.code}/merge",
                         data={"csrf_token": csrf_token(client)})
    assert merged.status_code == 302 and merged.location.endswith(f"/admin/households/{kept.code}")
    assert (household(twin.code).status, household(twin.code).merged_into_id) == \
        ("merged", kept.id)
    gone = client.get(f"/admin/households/{twin.code}")         # the merged code leads on
    assert gone.status_code == 302 and gone.location.endswith(f"/admin/households/{kept.code}")
    assert twin.code in client.get(f"/admin/households/{kept.code}").text   # "merged into this"
    assert twin.code not in codes(client.get("/admin/households"))
    assert codes(client.get("/admin/households?status=merged")) == [twin.code]
    dismissed = client.post(f"/admin/households/{other.code}/dismiss",
                            data={"csrf_token": csrf_token(client)}, follow_redirects=True)
    assert "The possible duplicate is dismissed." in dismissed.text
    assert household(other.code).duplicate_of_id is None and household(other.code).status == \
        "active"
    assert [a for a, _ in audits("household_merge")] == [f"household:{twin.id}"]
    assert [a for a, _ in audits("household_dismiss")] == [f"household:{other.id}"]


def test_a_status_change_needs_a_reason(book):
    code = book.visit(FIRST, "SQ1").code
    client = book.client("mgr1")
    path = f"/admin/households/{code}/status"
    before = rows()
    assert client.post(path, data={"status": "moved_out", "reason": "搬走了"}
                       ).status_code == 400                                   # no CSRF token
    client.post(path, data={"status": "moved_out", "csrf_token": csrf_token(client)})  # no reason
    client.post(path, data={"status": "merged", "reason": "x",
                            "csrf_token": csrf_token(client)})            # not set by hand
    assert rows() == before and household(code).status == "active"
    foreign = book.client("mgr2")
    assert foreign.post(path, data={"status": "closed", "reason": "x",
                                    "csrf_token": csrf_token(foreign)}).status_code == 404
    page = client.post(path, data={"status": "moved_out", "reason": "搬走了",
                                   "csrf_token": csrf_token(client)}, follow_redirects=True)
    assert household(code).status == "moved_out"
    assert "The household is now: Moved out." in page.text and "搬走了" in page.text
    assert audits("household_status") == [(f"household:{household(code).id}", {
        "household": code, "old": "active", "new": "moved_out", "reason": "搬走了"})]


def test_the_household_page_shows_visits_and_each_questions_changes(book):
    first = book.visit(FIRST, "SQ1", surveyor="sv1")
    book.visit(dict(FIRST, income=3500), "SQ1", code=first.code, base=1, surveyor="sv1")
    with db.connection_context():
        receipts = [s.receipt for s in Submission.select().where(
            Submission.household == first.id).order_by(Submission.id)]
    page = book.client("admin").get(f"/admin/households/{first.code}")
    assert all(r in page.text for r in receipts) and "/admin/responses/" in page.text
    income = re.findall(r'<li data-q="income">(.*?)</li>', page.text, re.S)
    assert len(income) == 2 and "2000 → 3500" in " ".join(income[1].split())
    assert "3500" in page.text and "sv1" in page.text


def test_chinese_by_default(book, three):
    client = book.client("admin")
    client.set_cookie("lang", "zh")
    page = client.get("/admin/households")
    assert "住户台帐" in page.text and "疑似重复" in page.text and "最近走访" in page.text
    assert "Households" not in page.text and "Last visit" not in page.text


@pytest.mark.parametrize("path", [
    "/admin/households?before=2026-13-45", "/admin/households?older=abc",
    "/admin/households?newer=-1", "/admin/households?older=99999999999999999999",
    "/admin/households?question=nope&value=x", "/admin/households?status=bogus",
    "/admin/households?question=size&value=" + "9" * 300,
    "/admin/households?question=income&value=%27%20OR%201=1",
    "/admin/households/%E4%B8%AD%E6%96%87", "/admin/households/AAAA-AAAA/status",
])
def test_bad_input_never_500s(book, three, path):
    client = book.client("admin")
    assert client.get(path).status_code in (200, 400, 404, 405)   # 400: a number past any integer
    for post in ("/admin/households/ZZZZ-ZZZZ/merge", "/admin/households/ZZZZ-ZZZZ/dismiss",
                 "/admin/households/ZZZZ-ZZZZ/status",
                 f"/admin/households/{three['sq1']}/conflicts/abc"):
        assert client.post(post, data={"csrf_token": csrf_token(client)}).status_code == 404

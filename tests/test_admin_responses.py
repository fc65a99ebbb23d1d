"""The office's response list and detail: paging, filters, masked identifiers and their logged
reveal, corrections under the public form's rules, and status changes that never delete anything.
"""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from service.storage.db import db
from service.storage.models import Answer, AuditEvent, Correction, StatusChange, Submission, utcnow

from .conftest import KITCHEN_ANSWERS, csrf_token, errors

LIST = "/admin/forms/kitchen/responses"
HEAD = {"head_name": "张三", "head_phone": "13812345678", "head_id": "11010119800103002X",
        "address": "幸福小区3栋2单元501", "size": 3}
MASKED = {"head_name": "张*", "head_phone": "138****5678", "head_id": "1101**********002X",
          "address": "幸福小****"}


def listed(page) -> list[str]:
    """The receipts a response list shows, top to bottom."""
    assert page.status_code == 200, page.text
    return re.findall(r'<a href="/admin/responses/\d+">([0-9A-Z]{4}-[0-9A-Z]{4})</a>', page.text)


def receipts(office, *keys) -> set[str]:
    return {office.receipts[k] for k in keys}


def set_received(office, key, when: dt.datetime):
    with db.connection_context():
        Submission.update(received_at=when).where(Submission.id == office.subs[key]).execute()


def audit(action):
    with db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id))


def answer_rows(submission_id, question):
    with db.connection_context():
        return [(a.item, a.value) for a in Answer.select().where(
            (Answer.submission == submission_id) & (Answer.question == question))
            .order_by(Answer.item, Answer.id)]


# The list

def test_the_list_pages_through_responses_newest_first(office):
    with office.app.app_context(), db.atomic():
        for i in range(27):
            office.store(f"extra{i}", area="SQ1")
    start = utcnow() - dt.timedelta(days=1)
    for i, key in enumerate(office.subs):
        set_received(office, key, start + dt.timedelta(minutes=i))
    newest_first = [office.receipts[k] for k in reversed(list(office.subs))]
    admin = office.client("admin")

    first = admin.get(LIST)
    assert "31 responses" in first.text
    assert listed(first) == newest_first[:25]
    assert "page=2" in first.text
    second = admin.get(LIST + "?page=2")
    assert listed(second) == newest_first[25:]
    assert listed(admin.get(LIST + "?page=9")) == []


@pytest.mark.parametrize("query, expected", [
    ("", {"sq1", "g1", "sq2", "none"}),
    ("area=JD", {"sq1", "g1", "sq2"}),            # an area includes everything below it
    ("area=SQ1", {"sq1", "g1"}),
    ("area=G1", {"g1"}),
    ("channel=surveyor", {"sq1"}),
    ("channel=self", {"g1"}),
    ("channel=web", {"sq2", "none"}),
    ("channel=bogus", {"sq1", "g1", "sq2", "none"}),   # an unknown filter value filters nothing
    ("surveyor=sv1", {"sq1"}),
    ("surveyor=nobody", set()),
    ("area=SQ1&channel=self", {"g1"}),
])
def test_the_list_filters_by_area_channel_and_surveyor(office, query, expected):
    page = office.client("admin").get(f"{LIST}?{query}")
    assert set(listed(page)) == receipts(office, *expected)


def test_date_filters_count_days_in_the_offices_time_zone(office):
    """23:30 in Beijing on 1 March is 15:30 UTC: it belongs to 1 March, not to the UTC day."""
    set_received(office, "sq2", dt.datetime(2025, 2, 28, 16, 0))    # 00:00 on 1 March, Beijing
    set_received(office, "sq1", dt.datetime(2025, 3, 1, 15, 30))    # 23:30 on 1 March
    set_received(office, "g1", dt.datetime(2025, 3, 1, 16, 30))     # 00:30 on 2 March
    set_received(office, "none", dt.datetime(2025, 2, 28, 15, 59))  # 23:59 on 28 February
    admin = office.client("admin")
    day = lambda q: set(listed(admin.get(f"{LIST}?{q}")))  # noqa: E731
    assert day("since=2025-03-01&until=2025-03-01") == receipts(office, "sq2", "sq1")
    assert day("since=2025-03-02") == receipts(office, "g1")
    assert day("until=2025-02-28") == receipts(office, "none")
    assert day("since=2025-03-01") == receipts(office, "sq2", "sq1", "g1")
    assert day("since=not-a-date") == receipts(office, "sq2", "sq1", "g1", "none")


def test_the_list_filters_by_status(office):
    admin = office.client("admin")
    page = admin.post(f"/admin/responses/{office.subs['sq2']}/status/void",
                      data={"reason": "a test entry", "csrf_token": csrf_token(admin)})
    assert page.status_code == 302
    assert set(listed(admin.get(LIST + "?status=void"))) == receipts(office, "sq2")
    assert set(listed(admin.get(LIST + "?status=valid"))) == receipts(office, "sq1", "g1", "none")
    assert set(listed(admin.get(LIST + "?status=duplicate"))) == set()
    assert set(listed(admin.get(LIST))) == receipts(office, "sq1", "g1", "sq2", "none")


def test_a_manager_filters_only_within_their_own_area(office):
    manager = office.client("mgr1")
    assert set(listed(manager.get(LIST))) == receipts(office, "sq1", "g1")
    assert set(listed(manager.get(LIST + "?area=G1"))) == receipts(office, "g1")
    assert manager.get(LIST + "?area=SQ2").status_code == 404


# Masked identifiers

@pytest.fixture
def registered(office):
    """A registry submission in SQ1 collected by sv1: a name, phone, ID number and address."""
    office.store("head", "registry", HEAD, channel="surveyor", area="SQ1", surveyor="sv1")
    return office.subs["head"]


def test_identifiers_are_masked_in_the_list(office, registered):
    page = office.client("mgr1").get("/admin/forms/registry/responses")
    cells = re.findall(r"<td>([^<]*)</td>", page.text)
    for name, masked in MASKED.items():
        assert masked in cells, name
        assert HEAD[name] not in page.text, name


@pytest.mark.parametrize("role", ["admin", "mgr1", "sv1"])
def test_identifiers_are_masked_on_the_detail_page_for_everyone(office, registered, role):
    page = office.client(role).get(f"/admin/responses/{registered}")
    assert page.status_code == 200
    for name, masked in MASKED.items():
        assert masked in page.text and HEAD[name] not in page.text, name
    assert re.search(r'data-q="size">3\b', page.text)   # not an identifier: shown as it is


def test_a_manager_reveals_identifiers_and_the_reveal_is_logged(office, registered):
    manager = office.client("mgr1")
    page = manager.post(f"/admin/responses/{registered}", data={"csrf_token": csrf_token(manager)})
    assert page.status_code == 200
    for name, value in HEAD.items():
        assert re.search(rf'data-q="{name}">{value}\b', page.text), name
    [event] = audit("reveal")
    assert (event.username, event.target) == ("mgr1", f"submission:{registered}")
    assert json.loads(event.detail)["form"] == "registry"
    # revealing is per view: the next plain visit is masked again
    assert HEAD["head_id"] not in manager.get(f"/admin/responses/{registered}").text


def test_a_surveyor_cannot_reveal_identifiers(office, registered):
    surveyor = office.client("sv1")
    page = surveyor.get(f"/admin/responses/{registered}")
    assert 'id="reveal"' not in page.text
    page = surveyor.post(f"/admin/responses/{registered}",
                         data={"csrf_token": csrf_token(surveyor)})
    assert page.status_code == 404
    assert HEAD["head_id"] not in page.text
    assert audit("reveal") == []


@pytest.mark.parametrize("role", ["mgr1", "sv1"])
def test_the_correction_page_does_not_reveal_an_identifier(office, registered, role):
    """Opening 'correct' on an ID number must not show it unmasked without a logged reveal."""
    page = office.client(role).get(f"/admin/responses/{registered}/correct/head_id")
    assert page.status_code == 200
    assert HEAD["head_id"] not in page.text


def test_a_corrected_identifier_stays_out_of_the_audit_log_and_history(office, registered):
    manager = office.client("mgr1")
    page = manager.post(f"/admin/responses/{registered}/correct/head_phone", data={
        "value": "139 0000 1111", "reason": "the household gave a new number",
        "csrf_token": csrf_token(manager)})
    assert page.status_code == 302
    assert answer_rows(registered, "head_phone") == [(None, "13900001111")]
    [event] = audit("correction")
    assert "13900001111" not in event.detail and HEAD["head_phone"] not in event.detail
    detail = manager.get(f"/admin/responses/{registered}").text
    assert "13900001111" not in detail and "139****1111" in detail


# Corrections

def correct(client, submission_id, question, value, reason="wrong at the door", item=None):
    query = f"?item={item}" if item is not None else ""
    return client.post(f"/admin/responses/{submission_id}/correct/{question}{query}",
                       data={"value": value, "reason": reason, "csrf_token": csrf_token(client)})


@pytest.mark.parametrize("question, value, message", [
    ("n", "99", "Enter a number from 1 to 20."),
    ("n", "three", "Enter a whole number, e.g. 3."),
    ("name", "", "Please answer this question."),
    ("phone", "12345", "Enter an 11-digit mainland mobile number, e.g. 13812345678."),
    ("idn", "110101198001030021", "This ID number's check digit is wrong; please check it again."),
    ("d", "2999-01-01", "Enter a date on or before"),
    ("employed", "maybe", "Choose from the options shown."),
    ("tags", ["a", "b", "c"], "Choose at most 2."),
])
def test_an_invalid_correction_is_refused_with_the_public_forms_message(office, question, value,
                                                                        message):
    manager = office.client("mgr1")
    before = office.snapshot()
    page = correct(manager, office.subs["sq1"], question, value)
    assert page.status_code == 400
    assert any(e.startswith(message) for e in errors(page.text)), errors(page.text)
    assert office.snapshot() == before


def test_every_questions_correction_page_opens_prefilled_answered_or_not(office):
    full = {**KITCHEN_ANSWERS, "employed": "no", "why": "照顾老人", "phone": "13812345678",
            "idn": "11010119800103002X", "d": "2024-01-02", "tags": ["a", "c"],
            "story": "租住", "income": "68.5", "moved": "2001-02-03", "needs": ["x", "y"],
            "eth": "han"}
    office.store("full", answers=full, area="SQ1", sensitive_consent=True)
    spec = office.app.extensions["doorstep.catalog"].get("kitchen")
    manager = office.client("mgr1")
    for key in ("full", "sq1"):   # every question answered; most of them unanswered
        for q in spec.all_questions():
            if not q.answerable or q.type == "repeat":
                continue
            item = "?item=1" if spec.parent_of(q.name) else ""   # member 1 is 8: `school` shown
            page = manager.get(f"/admin/responses/{office.subs[key]}/correct/{q.name}{item}")
            # sq1 gave no sensitive consent, and is employed (so `why` is not asked)
            refused = key == "sq1" and (q.sensitive or q.name == "why")
            assert page.status_code == (302 if refused else 200), (key, q.name)
    page = manager.get(f"/admin/responses/{office.subs['full']}/correct/income")
    assert re.search(r'name="value" id="value" value="68\.50?"', page.text)
    page = manager.get(f"/admin/responses/{office.subs['full']}/correct/moved")
    assert 'value="2001-02-03"' in page.text


def test_a_correction_needs_a_reason(office):
    manager = office.client("mgr1")
    before = office.snapshot()
    page = correct(manager, office.subs["sq1"], "n", "5", reason="  ")
    assert page.status_code == 400
    assert "Please give a reason." in errors(page.text)
    assert office.snapshot() == before


def test_a_correction_replaces_the_answer_and_keeps_the_old_value_and_reason(office):
    manager, sub = office.client("mgr1"), office.subs["sq1"]
    page = correct(manager, sub, "n", "5", reason="counted the grandmother twice")
    assert (page.status_code, page.headers["Location"]) == (302, f"/admin/responses/{sub}")
    assert answer_rows(sub, "n") == [(None, "5")]
    with db.connection_context():
        fix = Correction.get()
        assert (fix.question, fix.item, json.loads(fix.old_value), json.loads(fix.new_value),
                fix.reason, fix.user_id) == ("n", None, 3, 5, "counted the grandmother twice",
                                             office.users["mgr1"])
        # the submission as accepted is kept exactly as it was
        assert json.loads(Submission.get_by_id(sub).answers) == KITCHEN_ANSWERS
    [event] = audit("correction")
    assert event.username == "mgr1" and event.target == f"submission:{sub}"
    assert {"question": "n", "old": 3, "new": 5, "reason": "counted the grandmother twice"
            }.items() <= json.loads(event.detail).items()
    page = manager.get(f"/admin/responses/{sub}")
    assert re.search(r'data-q="n">5\b', page.text)
    assert "counted the grandmother twice" in page.text


def test_a_correction_inside_a_repeat_item_changes_only_that_item(office):
    manager, sub = office.client("mgr1"), office.subs["sq1"]
    assert correct(manager, sub, "age", "9", item=1).status_code == 302
    assert answer_rows(sub, "age") == [(0, "30"), (1, "9")]
    with db.connection_context():
        fix = Correction.get()
        assert (fix.question, fix.item, fix.old_value, fix.new_value) == ("age", 1, "8", "9")
    page = manager.get(f"/admin/responses/{sub}")
    assert re.search(r'data-q="age" data-item="1">9\b', page.text)
    assert correct(manager, sub, "age", "200", item=0).status_code == 400
    assert correct(manager, sub, "age", "9", item=2).status_code == 404


def test_an_optional_answer_can_be_cleared_and_a_choice_set(office):
    manager, sub = office.client("mgr1"), office.subs["sq1"]
    assert correct(manager, sub, "n", "").status_code == 302
    assert answer_rows(sub, "n") == []
    assert correct(manager, sub, "tags", ["b", "a"]).status_code == 302
    assert answer_rows(sub, "tags") == [(None, "a"), (None, "b")]
    with db.connection_context():
        assert [(c.question, c.new_value) for c in Correction.select().order_by(Correction.id)] \
            == [("n", "null"), ("tags", '["a", "b"]')]


def test_a_sensitive_answer_cannot_be_added_without_the_households_consent(office):
    manager = office.client("mgr1")
    before = office.snapshot()
    page = correct(manager, office.subs["sq1"], "eth", "han")
    assert page.status_code == 302
    assert office.snapshot() == before


@pytest.mark.parametrize("question, item", [("why", None), ("school", 0)])
def test_a_correction_cannot_answer_a_question_the_form_hides(office, question, item):
    """`why` is asked only when not employed, `school` only under 18: sq1's household is employed
    and member 0 is 30, so the public form would neither ask nor store them."""
    manager = office.client("mgr1")
    before = office.snapshot()
    page = correct(manager, office.subs["sq1"], question, "照顾老人", item=item)
    assert page.status_code == 302
    assert "This question is not asked for these answers" in manager.get(
        page.headers["Location"]).text
    assert office.snapshot() == before


def test_a_correction_may_answer_a_question_the_answers_open(office):
    manager, sub = office.client("mgr1"), office.subs["sq1"]
    assert correct(manager, sub, "school", "实验小学", item=1).status_code == 302   # member 1 is 8
    assert answer_rows(sub, "school") == [(1, "实验小学")]


def test_a_correction_clears_the_answers_it_hides_with_their_own_history(office):
    """Member 1 (8 years old) goes to school; corrected to 30, the form would not ask for a
    school any more, so the school answer is cleared too, and the history says so."""
    manager, sub = office.client("mgr1"), office.subs["sq1"]
    assert correct(manager, sub, "school", "实验小学", item=1).status_code == 302
    assert correct(manager, sub, "age", "30", item=1, reason="身份证核对").status_code == 302
    assert answer_rows(sub, "school") == [] and answer_rows(sub, "age") == [(0, "30"), (1, "30")]
    with db.connection_context():
        assert [(c.question, c.item, json.loads(c.old_value), json.loads(c.new_value), c.reason)
                for c in Correction.select().order_by(Correction.id)] == [
            ("school", 1, None, "实验小学", "wrong at the door"),
            ("age", 1, 8, 30, "身份证核对"),
            ("school", 1, "实验小学", None, "身份证核对")]
    page = manager.get(f"/admin/responses/{sub}")
    assert page.text.count("身份证核对") == 2
    assert [(json.loads(e.detail)["question"], json.loads(e.detail)["new"])
            for e in audit("correction")] == [("school", "实验小学"), ("age", 30), ("school", None)]


def test_a_required_question_a_correction_opens_is_pointed_out(office):
    """Corrected from employed to not employed, the household now owes the required `why`: the
    response page says so and links to its correction, until it is answered."""
    manager, sub = office.client("mgr1"), office.subs["sq1"]
    assert 'id="missing"' not in manager.get(f"/admin/responses/{sub}").text
    assert correct(manager, sub, "employed", "no").status_code == 302
    page = manager.get(f"/admin/responses/{sub}").text
    notice = page.split('id="missing"', 1)[1].split("</section>", 1)[0]
    assert f'href="/admin/responses/{sub}/correct/why"' in notice
    assert correct(manager, sub, "why", "照顾老人").status_code == 302
    assert 'id="missing"' not in manager.get(f"/admin/responses/{sub}").text


# Status

def set_status(client, submission_id, status, reason="seen twice"):
    return client.post(f"/admin/responses/{submission_id}/status/{status}",
                       data={"reason": reason, "csrf_token": csrf_token(client)})


def test_void_duplicate_and_restore_keep_every_row_and_say_why(office):
    manager, sub = office.client("mgr1"), office.subs["g1"]
    with db.connection_context():
        answers_before = Answer.select().count()
    assert set_status(manager, sub, "void", "a test entry by the trainer").status_code == 302
    assert set_status(manager, sub, "valid", "it was a real household").status_code == 302
    assert set_status(manager, sub, "duplicate", "entered twice").status_code == 302
    with db.connection_context():
        assert Submission.get_by_id(sub).status == "duplicate"
        assert [(c.old_status, c.new_status, c.reason, c.user_id) for c in
                StatusChange.select().order_by(StatusChange.id)] == [
            ("valid", "void", "a test entry by the trainer", office.users["mgr1"]),
            ("void", "valid", "it was a real household", office.users["mgr1"]),
            ("valid", "duplicate", "entered twice", office.users["mgr1"])]
        assert Submission.select().count() == 4
        assert Answer.select().count() == answers_before
    assert [json.loads(e.detail)["new"] for e in audit("status")] == ["void", "valid", "duplicate"]
    page = manager.get(f"/admin/responses/{sub}")
    assert "entered twice" in page.text and "status-duplicate" in page.text


def test_a_status_change_needs_a_reason(office):
    manager, sub = office.client("mgr1"), office.subs["g1"]
    before = office.snapshot()
    page = set_status(manager, sub, "void", reason="")
    assert (page.status_code, page.headers["Location"]) == (302, f"/admin/responses/{sub}")
    assert "Please give a reason." in manager.get(page.headers["Location"]).text
    assert office.snapshot() == before


def test_an_unknown_status_is_404(office):
    manager = office.client("mgr1")
    before = office.snapshot()
    assert set_status(manager, office.subs["g1"], "deleted").status_code == 404
    assert office.snapshot() == before


def test_voided_responses_leave_the_office_counts(office):
    admin = office.client("admin")

    def count():
        rows = admin.get("/admin/").text.split("<tr>")
        kitchen = next(row for row in rows if 'href="/admin/forms/kitchen/' in row)
        return re.search(r'class="num">(\d+)<', kitchen).group(1)
    assert count() == "4"
    set_status(admin, office.subs["none"], "void")
    assert count() == "3"

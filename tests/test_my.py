"""/my: a household opens its own submission with its receipt code and the last four digits of
its phone number (or the check code beside a receipt without one), sees its answers in full and
the office's follow-up, and asks for a correction, a deletion or a sign-up's withdrawal. Wrong
codes and wrong digits look alike; the limits per address and per receipt hold; every view and
request is audited with the receipt, never the answers.
"""
from __future__ import annotations

import json
import re
import shutil

import pytest
from itsdangerous import TimestampSigner

from service.storage.db import db
from service.storage.models import AuditEvent, Submission
from service.storage.follow_up_models import FollowUp

from .conftest import TEST_FORMS, Visitor, hidden, login, make_app, receipt

MEETING = """
id: meeting
version: 1
title: {zh: 活动报名, en: Event sign-up}
follow_up:
  due_working_days: 2
  sign_up: {session_question: session}
sections:
  - title: {zh: 报名, en: Sign-up}
    questions:
      - name: session
        type: select_one
        label: {zh: 场次, en: Session}
        required: true
        choices:
          - {value: am, label: {zh: 上午场, en: Morning}}
          - {value: pm, label: {zh: 下午场, en: Afternoon}}
      - {name: name, type: text, label: {zh: 姓名, en: Name}, required: true, pii: true}
      - {name: phone, type: phone, label: {zh: 手机号码, en: Mobile phone}, required: true, pii: true}
"""
APPLY = """
id: apply
version: 1
title: {zh: 示范单位申报, en: Application}
follow_up:
  due_working_days: 20
  steps:
    - {name: submitted, label: {zh: 已申报, en: Submitted}}
    - {name: reviewed, role: manager, final: true, label: {zh: 审核通过, en: Reviewed}}
sections:
  - title: {zh: 申报, en: Application}
    questions:
      - {name: unit, type: text, label: {zh: 单位名称, en: Unit}, required: true}
      - {name: phone, type: phone, label: {zh: 联系电话, en: Phone}, required: true}
"""
KITCHEN = {"consent": "y", "name": "张三", "employed": "no", "why": "照顾老人",
           "members-0-mname": "李四", "members-0-age": "30", "members-1-mname": "王小五",
           "members-1-age": "8", "tags": ["a", "b"], "phone": "13812345678"}


def forms_dir(tmp_path):
    forms = tmp_path / "forms"
    forms.mkdir()
    shutil.copy(TEST_FORMS / "kitchen.yaml", forms)
    (forms / "meeting.yaml").write_text(MEETING, encoding="utf-8")
    (forms / "apply.yaml").write_text(APPLY, encoding="utf-8")
    return forms


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path, forms_dir(tmp_path), RECEIPT_CHECK_KEY="test-check-key",
                    MY_LIMIT_IP=8, MY_LIMIT_RECEIPT=3)


def submit(client, path="/f/kitchen", answers=None) -> str:
    page = Visitor(client).submit(path, KITCHEN if answers is None else answers)
    assert page.status_code == 200, page.text
    return page.text


def sign_in(client, code, digits):
    token = hidden(client.get("/my").text, "csrf_token")
    return client.post("/my", data={"csrf_token": token, "receipt": code, "digits": digits})


def opened(client, code, digits):
    response = sign_in(client, code, digits)
    assert response.status_code == 302 and response.headers["Location"] == "/my/answers", \
        response.text
    return client.get("/my/answers")


def without_token(html: str) -> str:
    """A sign-in page as compared between two answers: its CSRF token and the typed code aside."""
    html = re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", html)
    return re.sub(r'id="receipt" name="receipt" value="[^"]*"', "", html)


def make_app_context(client):
    return client.application.app_context()


def events(action):
    with db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id))


def requests_of(code):
    with db.connection_context():
        return list(FollowUp.select().join(Submission, on=FollowUp.submission == Submission.id)
                    .where(Submission.receipt == code, FollowUp.kind.in_(
                        ["correction", "deletion", "withdrawal"])).order_by(FollowUp.id))


def test_the_receipt_and_the_phone_digits_open_the_answers_in_full(client):
    code = receipt(submit(client))
    page = opened(client, code, "5678")
    assert page.status_code == 200
    text = page.text
    for shown in ("张三", "照顾老人", "李四", "王小五", "13812345678", "否", "A、B"):
        assert shown in text, shown            # its own: names and phone unmasked
    assert 'data-q="mname" data-item="1"' in text   # repeat items as on the form
    assert code in text and "Cache-Control" not in text
    english = client.get("/my/answers?lang=en").text
    assert "Ask for a correction" in english and "No" in english


@pytest.mark.parametrize("typed", ["{lower}", "{spaced}", "{bare}", "{wide}"])
def test_a_receipt_code_is_read_as_people_type_it(client, typed):
    code = receipt(submit(client))
    variants = {"lower": code.lower(), "spaced": " " + code.replace("-", " ") + " ",
                "bare": code.replace("-", ""),
                "wide": "".join("－" if c == "-" else chr(ord(c) + 0xFEE0) for c in code)}
    digits = "５６７８" if typed == "{wide}" else "5678"
    assert sign_in(client, variants[typed[1:-1]], digits).status_code == 302


def test_a_wrong_code_and_wrong_digits_get_the_same_answer(client):
    code = receipt(submit(client))
    other = "2222-2222" if code != "2222-2222" else "3333-3333"
    wrong_digits = sign_in(client, code, "0000")
    wrong_code = sign_in(client, other, "5678")
    assert wrong_digits.status_code == wrong_code.status_code == 400
    assert without_token(wrong_digits.text) == without_token(wrong_code.text)
    assert "do not open a submission" in wrong_code.text or "不能打开" in wrong_code.text
    assert client.get("/my/answers").status_code == 302      # nothing opened
    assert "doorstep_my" not in (wrong_digits.headers.get("Set-Cookie") or "")


def test_without_a_phone_number_the_check_code_beside_the_receipt_opens_it(client):
    page = submit(client, answers={k: v for k, v in KITCHEN.items() if k != "phone"})
    code, check = receipt(page), re.search(r'id="check">(\d{4})<', page).group(1)
    assert sign_in(client, code, check).status_code == 302
    assert "13812345678" not in client.get("/my/answers").text
    # with a phone number there is no check code, and the check code does not open it
    with_phone = submit(client)
    assert 'id="check"' not in with_phone
    from service.collect.my_access import check_code
    with make_app_context(client):
        assert sign_in(client, receipt(with_phone), check_code(receipt(with_phone))) \
            .status_code == 400


def test_a_receipt_is_locked_after_too_many_wrong_digits_whoever_asks(app):
    first, second = app.test_client(), app.test_client()
    code = receipt(submit(first))
    assert [sign_in(first, code, "0000").status_code for _ in range(3)] == [400] * 3
    # from another address and with the right digits: locked all the same
    second.environ_base["REMOTE_ADDR"] = "10.0.0.2"
    locked = sign_in(second, code, "5678")
    assert locked.status_code == 429 and 'id="problem"' in locked.text
    # a code nobody holds is locked the same way: a lock does not tell a receipt exists
    unknown = "2345-6789" if code != "2345-6789" else "3456-789A"
    third = app.test_client()
    third.environ_base["REMOTE_ADDR"] = "10.0.0.3"
    statuses = [sign_in(third, unknown, "0000").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    assert without_token(locked.text) == without_token(sign_in(third, unknown, "0000").text)


def test_a_right_answer_clears_its_receipts_count(app):
    client = app.test_client()
    code = receipt(submit(client))
    sign_in(client, code, "0000")
    sign_in(client, code, "0001")
    assert sign_in(client, code, "5678").status_code == 302
    assert [sign_in(client, code, "0000").status_code for _ in range(3)] == [400] * 3


def test_an_address_is_limited_across_receipts(app):
    client = app.test_client()
    codes = [f"{c}{c}{c}{c}-{c}{c}{c}{c}" for c in "23456789AB"]
    statuses = [sign_in(client, code, "1234").status_code for code in codes[:9]]
    assert statuses == [400] * 8 + [429]
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert sign_in(elsewhere, codes[9], "1234").status_code == 400


def test_malformed_input_is_told_and_never_an_error(client):
    for code, digits in [("", ""), ("ABCD", "12"), ("ABCD-EFG0", "1234"),
                         ("x" * 5000, "1" * 900), ("ABCD-EFGH\x00", "12\x0034"),
                         ("<script>", "١٢٣٤"), ("IIII-OOOO", "1234")]:
        answer = sign_in(client, code, digits)
        assert answer.status_code == 400, (code, answer.status_code)
        if "\x00" in code + digits:    # a control character: every page refuses it (errors.py)
            assert "无法读取的字符" in answer.text
        else:
            assert 'class="error"' in answer.text


def test_the_session_ends_after_its_minutes_and_on_sign_out(client, monkeypatch):
    code = receipt(submit(client))
    now = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now(self) - 16 * 60)
    sign_in(client, code, "5678")
    monkeypatch.setattr(TimestampSigner, "get_timestamp", now)
    assert client.get("/my/answers").headers["Location"] == "/my"
    page = opened(client, code, "5678")
    token = hidden(page.text, "csrf_token")
    out = client.post("/my/sign-out", data={"csrf_token": token})
    assert out.status_code == 302 and "doorstep_my=;" in out.headers["Set-Cookie"]
    assert client.get("/my/answers").status_code == 302
    client.set_cookie("doorstep_my", "eyJzIjoxLCJyIjoiQUJDRC1FRkdIIn0.forged.sig", path="/my")
    assert client.get("/my/answers").status_code == 302


def test_a_correction_request_lands_once_as_a_follow_up_with_its_due_date(client):
    code = receipt(submit(client))
    page = opened(client, code, "5678")
    token = hidden(page.text, "csrf_token")
    ask = {"csrf_token": token, "text": "电话号码应为13900000000"}
    first = client.post("/my/correction", data=ask)
    again = client.post("/my/correction", data=ask)     # a double tap
    assert first.status_code == again.status_code == 302
    [made] = requests_of(code)
    assert made.request_text == ask["text"] and made.state == "new"
    from service.office import clock
    from service.records import working_days
    with make_app_context(client):    # 15 working days from the office's day it was asked
        assert made.due_on == working_days.due(
            clock.current().localise(made.opened_at).date(), 15)
    shown = client.get("/my/answers").text
    assert "13900000000" in shown and made.due_on.isoformat() in shown
    assert client.post("/my/correction", data={"csrf_token": token, "text": "另一处：年龄"}) \
        .status_code == 302
    assert len(requests_of(code)) == 2
    requested = events("my_requested")
    assert [json.loads(e.detail)["new"] for e in requested] == [True, False, True]
    assert all(e.user_id is None and e.username == "resident" for e in requested)
    assert all("1390000" not in e.detail and "张三" not in e.detail for e in requested)


def test_a_correction_needs_words_within_the_limit_and_a_token(client):
    code = receipt(submit(client))
    token = hidden(opened(client, code, "5678").text, "csrf_token")
    assert client.post("/my/correction", data={"csrf_token": token, "text": "  "}) \
        .status_code == 400
    assert client.post("/my/correction", data={"csrf_token": token, "text": "长" * 2001}) \
        .status_code == 400
    assert client.post("/my/correction", data={"text": "没有令牌"}).status_code == 400
    assert requests_of(code) == []


def test_a_deletion_is_asked_after_a_confirmation_then_shown_as_deleted(client):
    code = receipt(submit(client))
    opened(client, code, "5678")
    confirm = client.get("/my/deletion")
    assert confirm.status_code == 200 and code in confirm.text
    token = hidden(confirm.text, "csrf_token")
    for _ in range(2):
        assert client.post("/my/deletion", data={"csrf_token": token}).status_code == 302
    [asked] = requests_of(code)
    assert asked.kind == "deletion"
    assert 'id="delete"' not in client.get("/my/answers").text    # already with the office
    # the office approves: the answers are erased, and /my says when and nothing else
    from service.records.erasure import erase_submission
    with make_app_context(client):
        with db.connection_context():
            erase_submission(Submission.get(Submission.receipt == code), by=None,
                             reason="resident request")
    page = client.get("/my/answers").text
    assert 'id="erased"' in page and "张三" not in page and 'id="correction"' not in page
    assert client.post("/my/correction", data={"csrf_token": token, "text": "x"}) \
        .status_code == 302
    assert len(requests_of(code)) == 1
    # and later, with any four digits (the phone number is gone with the answers)
    other = client.application.test_client()
    assert 'id="erased"' in opened(other, code, "0000").text


def test_a_sign_up_is_withdrawn_at_once(client):
    answers = {"session": "am", "name": "赵六", "phone": "13700001111"}
    code = receipt(submit(client, "/f/meeting", answers))
    page = opened(client, code, "1111").text
    assert 'id="withdraw"' in page and 'data-kind="sign_up"' in page
    confirm = client.get("/my/withdrawal")
    token = hidden(confirm.text, "csrf_token")
    assert client.post("/my/withdrawal", data={"csrf_token": token}).status_code == 302
    assert client.post("/my/withdrawal", data={"csrf_token": token}).status_code == 302
    [withdrawal] = requests_of(code)
    assert withdrawal.kind == "withdrawal"
    with db.connection_context():
        sign_up = FollowUp.get(FollowUp.kind == "sign_up")
    assert sign_up.decision == "withdrawn"
    assert 'id="withdraw"' not in client.get("/my/answers").text
    # a submission that is no sign-up offers no withdrawal
    kitchen = receipt(submit(client))
    assert 'id="withdraw"' not in opened(client, kitchen, "5678").text
    assert client.get("/my/withdrawal").status_code == 302


def test_views_and_sign_ins_are_audited_as_the_resident_even_beside_an_office_sign_in(
        client, fast_hashing):
    from service.office import areas, auth
    from service.storage.models import User
    with make_app_context(client), db.connection_context():
        User.create(username="admin", role="admin", area=areas.create("JD", "街道"),
                    password_hash=auth.hash_password("pw-123456789"))
    assert login(client, "admin", "pw-123456789").status_code == 302
    code = receipt(submit(client))
    opened(client, code, "5678")
    for action in ("my_signed_in", "my_viewed"):
        [event] = events(action)
        detail = json.loads(event.detail)
        assert event.user_id is None and event.username == "resident", action
        assert detail["receipt"] == code and event.target.startswith("submission:")
        assert "张三" not in event.detail and "5678" not in event.detail


def test_the_thanks_page_names_my_submission(client):
    page = submit(client)
    assert 'href="/my"' in page
    assert 'href="/my"' in client.get("/").text


def test_the_phones_outbox_gets_the_check_code_of_a_receipt_without_a_phone(client):
    """The outbox's post (X-Doorstep-Outbox) is answered in JSON; the phone shows what it gets."""
    visitor = Visitor(client)
    without = visitor.submit("/f/kitchen", {k: v for k, v in KITCHEN.items() if k != "phone"},
                             headers={"X-Doorstep-Outbox": "1", "Accept": "application/json"})
    sent = without.get_json()
    assert sign_in(client, sent["receipt"], sent["check"]).status_code == 302
    with_phone = visitor.submit("/f/kitchen", KITCHEN, headers={
        "X-Doorstep-Outbox": "1", "Accept": "application/json"}).get_json()
    assert "check" not in with_phone and with_phone["receipt"]


def test_an_applicant_sees_the_review_step_of_its_application(client):
    code = receipt(submit(client, "/f/apply", {"unit": "东湖社区", "phone": "13600002222"}))
    page = opened(client, code, "2222").text
    assert 'data-kind="application"' in page and "审核环节：已申报" in page
    assert "Review step: Submitted" in client.get("/my/answers?lang=en").text


def test_odd_requests_get_a_page_never_an_error(client):
    code = receipt(submit(client))
    opened(client, code, "5678")
    token = hidden(client.get("/my/deletion").text, "csrf_token")
    too_long = client.post("/my/deletion", data={"csrf_token": token, "text": "删" * 2001})
    assert too_long.status_code == 400 and 'class="error"' in too_long.text
    assert client.get("/my/correction").status_code == 405
    assert client.get("/my/elsewhere").status_code == 404
    assert client.post("/my/sign-out").status_code == 400      # no token, no sign-out
    assert client.get("/my/answers").status_code == 200
    assert requests_of(code) == []

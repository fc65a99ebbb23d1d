"""A round's report upwards (reports/round_report.py, admin/round_report.py), on
tests/forms/ledger.yaml (`needs` is marked `report: true`) with the office fixture (JD > SQ1 > G1,
JD > SQ2; admin, mgr1 of SQ1, mgr2 of SQ2, sv1 a surveyor in SQ1).

What it rests on: the figures are a count of the round's target households by their current
answers; the previous round's figures are what that round kept when it closed; a closed round's
report is read from what it kept and never moves; and no output holds an identifying answer.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import re
from collections import Counter

import pytest
import python_calamine

from service.formspec import FormError, load_dir, parse
from service.office import clock
from service.records import ledger, rounds
from service.reports import coverage, round_report
from service.reports.round_report import Report, count, figures_json, previous_of
from service.storage.db import db, write_transaction
from service.storage.models import Area, AuditEvent, Household, RoundHousehold, SurveyRound

from .conftest import DEMO_FORMS, csrf_token
from .test_households_office import FIRST, book  # noqa: F401  (book: a fixture)

PII = ("幸福路", "东湖路", "西山路", "张三", "李四", "11010519491231002X")


def inside(app, work):
    """`work()` in a request context of `app` with a connection of its own."""
    with app.test_request_context(), db.connection_context():
        return work()


def new_round(book, area="JD", days=(-1, 30), name="2026年第一轮", **kw) -> int:
    def make():
        today = clock.today()
        with write_transaction():
            return rounds.create(name, book.app.extensions["doorstep.catalog"].get("ledger"),
                                 Area.get(Area.code == area), today + dt.timedelta(days=days[0]),
                                 today + dt.timedelta(days=days[1]), **kw).id
    return inside(book.app, make)


def close(book, round_id) -> None:
    def work():
        r = SurveyRound.get_by_id(round_id)
        with write_transaction():
            rounds.close(r, None, coverage.freeze(r))
    inside(book.app, work)


def report_of(book, round_id) -> Report:
    def work():
        r = SurveyRound.get_by_id(round_id)
        return Report.of(r, book.app.extensions["doorstep.catalog"].get(r.form_id))
    return inside(book.app, work)


def households(book, seed=5, n=14):
    """`n` households in SQ1, G1 and SQ2 with varied needs and sizes, one of them closed."""
    rng = random.Random(seed)
    made = []
    for i in range(n):
        needs = rng.choice([["job"], ["training"], ["job", "training"], None])
        answers = dict(FIRST, address=f"幸福路 {i}号", head_name=f"李四{i}", head_id=None,
                       size=rng.randint(1, 6), needs=needs)
        made.append(book.visit({k: v for k, v in answers.items() if v is not None},
                               rng.choice(["SQ1", "G1", "SQ2"])))
    with book.app.app_context(), db.connection_context(), write_transaction():
        ledger.set_status(Household.get_by_id(made[0].id), "closed")
    return made


def recount(book, round_id, question, area=None):
    """(target, answered, households per value) from the members' current answers."""
    def work():
        members = (RoundHousehold.select(RoundHousehold, Household, Area)
                   .join(Household).switch(RoundHousehold).join(Area)
                   .where((RoundHousehold.round == round_id) & (RoundHousehold.state != "left")))
        if area is not None:
            path = Area.get(Area.code == area).path
            members = [m for m in members if m.area.path.startswith(path)]
        target, answered, values, total = 0, 0, Counter(), 0
        for m in members:
            target += 1
            answer = json.loads(m.household.current).get(question)
            if answer in (None, "", []):
                continue
            answered += 1
            for v in answer if isinstance(answer, list) else [answer]:
                values[str(v)] += 1
                total += v if isinstance(v, int) else 0
        return target, answered, values, total
    return inside(book.app, work)


def lines_of(report, area_code, question_name, kind="area"):
    root = report.figures.root()
    for k, area, now, before in report.parts(root):
        if k == kind and area.code == area_code:
            question = next(q for q in report.questions if q["name"] == question_name)
            return now, {(line.word, line.label.zh if line.label else ""): line
                         for line in report.lines(question, now, before)}
    raise AssertionError(f"no part {kind} {area_code}")


def test_the_figures_are_a_count_of_the_households_current_answers(book):
    households(book)
    r = new_round(book, "JD", report_questions=json.dumps(["needs", "size"]))
    report = report_of(book, r)
    assert [q["name"] for q in report.questions] == ["size", "needs"]   # in form order
    for kind, code, area in (("total", "JD", None), ("area", "SQ1", "SQ1"),
                             ("area", "SQ2", "SQ2")):
        target, answered, values, _total = recount(book, r, "needs", area)
        now, lines = lines_of(report, code, "needs", kind)
        assert now.target == target
        for value, label in (("job", "就业"), ("training", "培训")):
            line = lines[("choice", label)]
            assert line.n == values[value]
            assert line.percent == round(100.0 * values[value] / answered, 1)
            assert line.prev_n is None and line.change is None       # no previous round
        assert lines[("answered", "")].n == answered
        assert lines[("no_answer", "")].n == target - answered
        target, answered, _values, total = recount(book, r, "size", area)
        _now, lines = lines_of(report, code, "size", kind)
        assert (lines[("answered", "")].n, lines[("total", "")].n) == (answered, total)
        assert lines[("mean", "")].n == round(total / answered, 2)
    # the parts below JD add up to JD; the closed household is not in the target
    parts = report.parts(report.figures.root())
    assert sum(now.target for k, _a, now, _b in parts if k != "total") == parts[0][2].target
    assert parts[0][2].target == 13
    # drilling down: SQ1 as a whole, then G1 and SQ1's own households
    sq1 = next(a for a in report.figures.areas.values() if a.code == "SQ1")
    below = report.parts(sq1)
    assert [(k, a.code) for k, a, _n, _b in below] == [("total", "SQ1"), ("area", "G1"),
                                                       ("own", "SQ1")]
    assert below[1][2].target + below[2][2].target == below[0][2].target
    # without its own choice, the round reports the form's `report: true` questions
    assert [q["name"] for q in report_of(book, new_round(book, "SQ1", name="第二轮")).questions] \
        == ["needs"]


def test_beside_the_previous_round_with_the_change(book):
    made = households(book)
    first = new_round(book, "JD", days=(-60, -40), name="上半年")
    other_area = new_round(book, "SQ1", days=(-60, -45), name="东湖")
    close(book, first)
    close(book, other_area)
    before = report_of(book, first)
    _now, kept = lines_of(before, "JD", "needs", "total")
    with book.app.app_context(), db.connection_context(), write_transaction():
        for h in made[1:6]:                 # five households now need training only
            ledger.correct(Household.get_by_id(h.id), "needs", ["training"], None)
    second = new_round(book, "JD", days=(-1, 30), name="下半年")
    report = report_of(book, second)
    assert report.previous["id"] == first and report.previous["name"] == "上半年"
    _now, lines = lines_of(report, "JD", "needs", "total")
    _t, answered, values, _s = recount(book, second, "needs")
    for label, value in (("就业", "job"), ("培训", "training")):
        line = lines[("choice", label)]
        assert (line.n, line.prev_n) == (values[value], kept[("choice", label)].n)
        assert line.change == line.n - line.prev_n
        assert line.prev_percent == kept[("choice", label)].percent
        assert line.change_points == round(line.percent - line.prev_percent, 1)
    assert lines[("choice", "培训")].change > 0
    # the rule: closed, same form and area, ended before this one started (else before it ended)
    def rule(round_id):
        return inside(book.app, lambda: getattr(previous_of(SurveyRound.get_by_id(round_id)),
                                                "id", None))
    later = new_round(book, "JD", days=(-30, -20), name="中间一轮")
    assert rule(second) == first                     # `later` is still open
    close(book, later)
    assert rule(second) == later and rule(first) is None
    overlapping = new_round(book, "JD", days=(-25, 40), name="交叉一轮")
    assert rule(overlapping) == first and rule(new_round(book, "SQ1")) == other_area


def without_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token"[^>]*>', "", html)


def test_a_closed_rounds_report_does_not_move(book, monkeypatch):
    made = households(book)
    r = new_round(book, "JD", report_questions=json.dumps(["needs", "size"]))
    client = book.client("admin")
    close(book, r)
    page = without_tokens(client.get(f"/admin/rounds/{r}/report").text)
    download = client.get(f"/admin/rounds/{r}/report.csv").data
    kept = report_of(book, r)
    # later visits, corrections, a new household, a renamed area, a round closed in between
    book.visit(dict(FIRST, address="东湖路 99号", head_id=None, needs=["training"]), "G1")
    book.visit(dict(FIRST, address=made[3].address, head_id=None, needs=["job"], size=9),
               code=made[3].code, base=made[3].version)
    with book.app.app_context(), db.connection_context(), write_transaction():
        for h in made[1:8]:
            ledger.correct(Household.get_by_id(h.id), "needs", ["training"], None)
            ledger.correct(Household.get_by_id(h.id), "size", 6, None)
        Area.update(name="改名社区").where(Area.code == "SQ1").execute()
    close(book, new_round(book, "JD", days=(-90, -80), name="更早一轮"))
    monkeypatch.setattr(round_report, "count", None)     # a closed round is never counted
    again = report_of(book, r)
    assert again.previous is None and again.made_on == kept.made_on
    assert again.counts == kept.counts and again.questions == kept.questions
    assert client.get(f"/admin/rounds/{r}/report.csv").data == download
    assert without_tokens(client.get(f"/admin/rounds/{r}/report").text) == page
    assert "改名社区" not in page and "东湖社区" in page
    monkeypatch.undo()
    # ... while an open round over the same households counts them as they are now
    live = report_of(book, new_round(book, "JD", name="现在"))
    assert live.counts != kept.counts
    assert live.previous["name"] == "更早一轮"      # r has not ended before `live` started


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())       # Excel on Chinese Windows reads UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def events(app, action):
    return inside(app, lambda: [json.loads(e.detail) for e in AuditEvent.select().where(
        AuditEvent.action == action).order_by(AuditEvent.id)])


def test_downloads_hold_figures_only_and_the_same_in_both_formats(book):
    households(book)
    first = new_round(book, "JD", days=(-60, -40), name="上半年")
    close(book, first)
    r = new_round(book, "JD", report_questions=json.dumps(["needs", "size", "income"]))
    client = book.client("admin")
    answer = client.get(f"/admin/rounds/{r}/report.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = read_csv(answer.data)
    header = rows.index(["Area code", "Area", "Question", "Answer", "This round",
                         "This round, %", "Previous round", "Previous round, %", "Change",
                         "Change, percentage points"])
    assert rows[0] == ["幸福街道: 2026年第一轮"] and rows[2][0] == "Figures as of"
    table = rows[header + 1:]
    assert {r[0] for r in table} == {"JD", "SQ1", "SQ2"}
    job = next(r for r in table if r[0] == "JD" and r[2] == "Needs" and r[3] == "Job")
    _t, answered, values, _s = recount(book, r, "needs")
    assert (int(job[4]), float(job[5])) == (values["job"], round(100 * values["job"] / answered, 1))
    assert job[6] != "" and job[8] != ""                            # beside the previous round
    text = answer.data.decode("utf-8-sig")
    with client.get(f"/admin/rounds/{r}/report.xlsx") as xlsx:
        assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
        data = xlsx.data
    cells = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)) \
        .get_sheet_by_index(0).to_python()
    sheet = [[c for c in row] for row in cells[header + 1:]]
    assert len(sheet) == len(table)
    for got, want in zip(sheet, table):
        assert [str(c) for c in got[:4]] == want[:4]
        assert [float(c) if c != "" else "" for c in got[4:]] == \
               [float(c) if c != "" else "" for c in want[4:]]
    page = client.get(f"/admin/rounds/{r}/report").text
    frozen = inside(book.app, lambda: json.dumps(figures_json(SurveyRound.get_by_id(r)),
                                                  ensure_ascii=False))
    for output in (text, page, frozen, str(cells)):
        for identifying in PII:
            assert identifying not in output
    assert [(e["format"], e.get("complete", True)) for e in
            events(book.app, "round_report_export")] == [("csv", True), ("xlsx", True)]
    # a drill-down download is of that area and its own areas only
    rows = read_csv(client.get(f"/admin/rounds/{r}/report.csv?area=SQ1").data)
    assert {r[0] for r in rows[header + 1:]} == {"SQ1", "G1"}
    assert client.get(f"/admin/rounds/{r}/report.csv?area=NOWHERE").status_code == 404
    assert client.get(f"/admin/rounds/{r}/report.pdf").status_code == 404


def status(client, path) -> int:
    with client.get(path) as answer:        # (an XLSX is a file: closed once read)
        return answer.status_code


def test_pages_for_every_role_and_scope(book):
    households(book, n=4)
    jd, sq1 = new_round(book, "JD"), new_round(book, "SQ1", name="东湖轮")
    sq2 = new_round(book, "SQ2", name="西山轮")
    expect = {"admin": (200, 200, 200), "mgr1": (200, 200, 404), "mgr2": (200, 404, 200),
              "sv1": (404, 404, 404)}             # the managers: their part of JD's round
    for name, codes in expect.items():
        client = book.client(name)
        for suffix in ("", ".csv", ".xlsx"):
            assert tuple(status(client, f"/admin/rounds/{i}/report{suffix}")
                         for i in (jd, sq1, sq2)) == codes, (name, suffix)
    admin = book.client("admin")
    assert admin.get("/admin/rounds/99999/report").status_code == 404
    page = admin.get(f"/admin/rounds/{jd}/report")
    assert f'href="/admin/rounds/{jd}/report?area=SQ1"' in page.text     # SQ1 has G1 below
    assert admin.get(f"/admin/rounds/{sq1}/report?area=SQ2").status_code == 404   # not below
    assert book.client().get(f"/admin/rounds/{sq1}/report").status_code == 302   # sign in


def test_a_community_office_reports_its_part_of_the_streets_round(book):
    """SQ1's office (mgr1) on the street's round: SQ1 and below, the same figures as the
    street's own drill-down to SQ1, under SQ1's name; the questions stay the street's choice."""
    households(book)
    r = new_round(book, "JD")
    mgr1, admin = book.client("mgr1"), book.client("admin")
    page = mgr1.get(f"/admin/rounds/{r}/report").text
    assert re.findall(r'<section class="report-part" id="area-([^"]+)"', page) == [
        "SQ1-total", "G1-area", "SQ1-own"]
    assert "东湖社区" in page and "西山社区" not in page and "幸福街道" not in page
    assert "Questions in the report" not in page
    for area, code in (("G1", 200), ("SQ1", 200), ("SQ2", 404), ("JD", 404), ("NOWHERE", 404)):
        for suffix in ("", ".csv", ".xlsx"):
            assert status(mgr1, f"/admin/rounds/{r}/report{suffix}?area={area}") == code, \
                (area, suffix)
    mine = read_csv(mgr1.get(f"/admin/rounds/{r}/report.csv").data)
    street = read_csv(admin.get(f"/admin/rounds/{r}/report.csv?area=SQ1").data)
    assert mine[0] == ["东湖社区: 2026年第一轮"] and mine[1:] == street[1:]
    assert {row[0] for row in mine[6:]} == {"SQ1", "G1"}
    assert [e["area"] for e in events(book.app, "round_report_export")[-2:]] == ["SQ1", "SQ1"]
    answer = mgr1.post(f"/admin/rounds/{r}/report/questions", data={
        "questions": ["size"], "csrf_token": csrf_token(mgr1)})
    assert answer.status_code == 404
    assert inside(book.app, lambda: SurveyRound.get_by_id(r).report_questions) is None
    assert events(book.app, "round_report_questions") == []
    assert mgr1.get(f"/admin/rounds/{r}/report.csv").status_code == 200   # still its part
    assert status(book.client("sv1"), f"/admin/rounds/{r}/report") == 404


def test_choosing_the_questions_while_the_round_is_open(book):
    households(book, n=4)
    r = new_round(book, "SQ1")
    client = book.client("mgr1")
    page = client.get(f"/admin/rounds/{r}/report").text
    assert re.search(r'<input[^>]*checked[^>]*value="needs"|<input[^>]*value="needs"[^>]*checked',
                     page)
    assert 'value="head_name"' not in page and 'value="health"' not in page   # pii, text
    url = f"/admin/rounds/{r}/report/questions"

    def stored():
        return inside(book.app, lambda: SurveyRound.get_by_id(r).report_questions)
    assert client.post(url, data={"questions": ["size"]}).status_code == 400   # no CSRF token
    assert stored() is None
    token = csrf_token(client)
    for refused in ([], ["head_name"], ["health"]):
        client.post(url, data={"questions": refused, "csrf_token": token})
        assert stored() is None
    answer = client.post(url, data={"questions": ["income", "needs"], "csrf_token": token})
    assert answer.status_code == 302
    assert json.loads(stored()) == ["needs", "income"]                  # in form order
    assert [q["name"] for q in report_of(book, r).questions] == ["needs", "income"]
    client.post(url, data={"questions": ["needs"], "csrf_token": token})
    assert stored() is None             # the form's own choice: follows the form from now on
    assert [e["questions"] for e in events(book.app, "round_report_questions")] == \
        [["needs", "income"], None]
    other = book.client("mgr2")                 # SQ2's manager: not their round
    assert other.post(url, data={"questions": ["size"], "csrf_token": csrf_token(other)}) \
        .status_code == 404
    close(book, r)
    assert "Questions in the report" not in client.get(f"/admin/rounds/{r}/report").text
    client.post(url, data={"questions": ["size"], "csrf_token": token})
    assert stored() is None and len(events(book.app, "round_report_questions")) == 2


def test_chinese_by_default(book):
    households(book, n=3)
    r = new_round(book, "SQ1")
    client = book.client("admin")
    client.delete_cookie("lang")
    page = client.get(f"/admin/rounds/{r}/report").text
    assert "信息报告" in page and "上轮" in page and "需求" in page and "就业" in page
    rows = read_csv(client.get(f"/admin/rounds/{r}/report.csv").data)
    assert rows[5][:4] == ["区域代码", "所属区域", "问题", "答案"]
    assert any(row[2:4] == ["需求", "就业"] for row in rows)


LEDGER = {"id": "l", "version": 1, "ledger": True, "title": "台帐", "sections": [{"questions": [
    {"name": "address", "type": "text", "label": "住址", "required": True, "pii": True}]}]}


def with_question(question, ledger=True):
    data = json.loads(json.dumps(LEDGER))
    data["ledger"] = ledger
    data["sections"][0]["questions"].append(question)
    return data


@pytest.mark.parametrize("question, ledger, message", [
    ({"name": "phone", "type": "phone", "label": "电话", "pii": True, "report": True}, True,
     "question 'phone': report: true is not allowed on a pii question"),
    ({"name": "kind", "type": "select_one", "label": "类型", "pii": True, "report": True,
      "choices": [{"value": "a", "label": "甲"}]}, True,
     "question 'kind': report: true is not allowed on a pii question"),
    ({"name": "note", "type": "text", "label": "备注", "report": True}, True,
     "question 'note': report: true needs a question answered by choices or numbers"),
    ({"name": "size", "type": "integer", "label": "人数", "report": True}, False,
     "question 'size': report: true is only for a ledger form"),
    ({"name": "members", "type": "repeat", "label": "成员", "questions": [
        {"name": "age", "type": "integer", "label": "年龄", "report": True}]}, True,
     "question 'age': report: true is only for a top-level question"),
    ({"name": "size", "type": "integer", "label": "人数", "report": "yes"}, True,
     "question 'size': report must be true or false"),
])
def test_the_loader_refuses_report_where_it_cannot_count(question, ledger, message):
    with pytest.raises(FormError) as refused:
        parse(with_question(question, ledger), where="l.yaml")
    assert any(p.startswith(f"l.yaml: {message}") for p in refused.value.problems), \
        refused.value.problems


def test_what_may_be_reported(book):
    spec = parse(with_question({"name": "size", "type": "integer", "label": "人数",
                                "report": True}), where="l.yaml")
    assert [(q.name, q.report) for q in spec.report_candidates()] == [("size", True)]
    household = load_dir(DEMO_FORMS)["household"]
    candidates = household.report_candidates()
    assert not any(q.pii for q in candidates)
    assert all(q.qtype.stats in ("choices", "numbers") for q in candidates)
    assert [q.name for q in candidates if q.report] == [
        "assistance", "employment", "training_wishes", "support_wanted"]
    assert inside(book.app, lambda: count(SurveyRound(id=0), []).target) == Counter()

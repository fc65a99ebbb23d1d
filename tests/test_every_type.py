"""Every registered question type, walked through the whole path: its definition, the form page,
a posted sample answer, the stored rows, the tally, the dashboard, the CSV export and the phone's
check. The walk iterates the registry (service/formspec/types), so a type that misses a part
fails here instead of half-existing.
"""
from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import random
import re
import subprocess

import pytest
import yaml

from service.formspec import types
from service.storage.db import db
from service.storage.models import Answer, Submission, Tally, User

from .ci import node
from .conftest import ROOT, Visitor, login, make_app, receipt

ANSWERED = [name for name in types.names()
            if types.get(name).answers and not types.get(name).group]
RNG_SEED = 11


def definition(kind: str) -> dict:
    """A form with one required question `a` of the type (a note cannot be required)."""
    entry = types.get(kind)
    question = {"name": "a", "type": kind, "label": {"zh": "问题", "en": "Question"},
                **entry.example()}
    if entry.answers:
        question["required"] = True
    return {"id": f"every-{kind.replace('_', '-')}", "version": 1, "title": "每种类型",
            "sections": [{"questions": [question]}]}


@pytest.fixture
def walk(tmp_path, fast_hashing, request):
    """An app holding the type's form, and an admin to read the dashboard and export."""
    kind = request.param
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "every.yaml").write_text(yaml.safe_dump(definition(kind), allow_unicode=True),
                                      encoding="utf-8")
    app = make_app(tmp_path / "db", forms)
    from service.office import auth
    with app.app_context():
        User.create(username="admin", role="admin", password_hash=auth.hash_password("x" * 12))
    spec = next(iter(app.extensions["doorstep.catalog"]))
    return app, spec, kind


def rules_on(page: str, name: str) -> tuple[dict, bool]:
    found = re.search(rf'data-q="{name}"([^>]*?)data-rules="([^"]*)"', page)
    assert found, f"no data-rules for {name}"
    return json.loads(html.unescape(found.group(2))), "data-required" in found.group(1)


def phone_says(cases: list[dict]) -> list:
    """static/checks.js's problem() for each case, run in node."""
    script = ("const c = require(process.argv[1]);"
              "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(cases.map(k => c.problem(k.rules, k.values, k.required,"
              " k.now))));")
    done = subprocess.run([node(), "-e", script, str(ROOT / "static" / "checks.js")],
                          input=json.dumps(cases), capture_output=True, text=True, timeout=30,
                          check=True)
    return json.loads(done.stdout)


def export_cells(client, spec, q) -> dict:
    body = client.get(f"/admin/forms/{spec.id}/export.csv").data.decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(body)))
    assert len(rows) == 1
    return dict(zip(header, rows[0]))


@pytest.mark.parametrize("walk", ANSWERED, indirect=True)
def test_every_answering_type_walks_the_whole_path(walk):
    app, spec, kind = walk
    entry, q = types.get(kind), spec.question("a")
    today = app.extensions["doorstep.today"]()
    sample = entry.sample(q, random.Random(RNG_SEED), today)
    posted = entry.posted(sample)
    visitor = Visitor(app.test_client())
    path = f"/f/{spec.id}?lang=en"

    # the form page renders the type's input, with the rules the phone checks
    page, _token, _uuid = visitor.open(path)
    rules, required = rules_on(page.text, "a")
    assert rules["type"] == kind and required
    assert re.search(r'<(input|textarea|select)[^>]*name="a"', page.text)

    # the sample answer is stored, as rows of its values
    reply = visitor.submit(path, {"a": posted})
    assert reply.status_code == 200 and receipt(reply.text), reply.text
    with app.app_context():
        sub = Submission.get()
        rows = list(Answer.select(Answer.value, Answer.number).where(Answer.submission == sub)
                    .order_by(Answer.id).tuples())
        tally = {(t.question, t.value): t.n for t in Tally.select().where(Tally.question == "a")}
    assert [value for value, _n in rows] == [str(v) for v in entry.row_values(sample)]
    assert [n for _v, n in rows] == [float(v) if entry.numeric else None
                                     for v in entry.row_values(sample)]

    # the tally counts it as answered, and its values unless it is free text
    counted = {value: 1 for value in entry.tally_values(q, sample)}
    assert tally == {("a", ""): 1, **{("a", v): n for v, n in counted.items()}}
    assert bool(counted) != entry.text_like

    # the dashboard shows the statistic of the type's kind
    office = app.test_client()
    office.set_cookie("lang", "en")
    assert login(office, "admin", "x" * 12).status_code == 302
    board = office.get(f"/admin/forms/{spec.id}").text
    block = re.search(r'<section class="card question" id="q-a">(.*?)</section>', board, re.S)
    assert block, board
    shown = block.group(1)
    expected = {"choices": lambda: q.choice_label(str(entry.row_values(sample)[0]), "en"),
                "numbers": lambda: "Mean",
                "months": lambda: sample[:7],
                "hours": lambda: f"{sample[:2]}:00",
                "texts": lambda: html.escape(str(sample)).replace("&#x27;", "&#39;")}
    assert expected[entry.stats]() in shown, shown

    # the CSV export holds the type's cells
    cells = export_cells(office, spec, q)
    keys = entry.cell_keys(q)
    headers = [f"a/{choice}" if choice is not None else "a" for _name, choice in keys]
    assert [cells[h] for h in headers] == [str(c) for c in entry.cell_values(q, sample)]

    # the phone accepts the sample and refuses what the server refuses
    now = today.isoformat()
    bad = entry.bad(q)
    cases = [{"rules": rules, "values": posted, "required": True, "now": now},
             {"rules": rules, "values": [], "required": True, "now": now}]
    if bad is not None:
        cases.append({"rules": rules, "values": bad, "required": True, "now": now})
        refused = visitor.submit(path, {"a": bad})
        assert refused.status_code == 400
    said = phone_says(cases)
    assert said[0] is None and said[1] == ["required", {}]
    if bad is not None:
        assert said[2] is not None, f"the phone lets {bad} through"


@pytest.mark.parametrize("kind", types.names())
def test_every_type_has_its_templates_and_its_phone_check(kind):
    entry = types.get(kind)
    collect = ROOT / "templates" / "collect" / "types" / f"{entry.template}.html"
    assert entry.group or collect.is_file(), collect
    if entry.answers and not entry.group:
        assert (ROOT / "templates" / "admin" / "types" / f"{entry.template}.html").is_file()
    checks = (ROOT / "static" / "checks.js").read_text(encoding="utf-8")
    if entry.bad(None if entry.group or not entry.answers else _question(kind)) is not None:
        assert f"case '{kind}'" in checks


def _question(kind):
    from service.formspec import parse
    return parse(definition(kind)).question("a")


def test_an_unknown_type_is_an_error_never_a_default():
    with pytest.raises(types.UnknownType):
        types.get("email")


@pytest.mark.parametrize("walk", ["note"], indirect=True)
def test_a_note_is_shown_and_stores_nothing(walk):
    app, spec, _kind = walk
    visitor = Visitor(app.test_client())
    page, _t, _u = visitor.open(f"/f/{spec.id}?lang=en")
    assert '<p class="note">Question</p>' in page.text and 'data-rules' not in page.text
    reply = visitor.submit(f"/f/{spec.id}?lang=en", {"a": "ignored"})
    assert reply.status_code == 200
    with app.app_context():
        assert Answer.select().count() == 0


@pytest.mark.parametrize("walk", ["repeat"], indirect=True)
def test_a_repeat_group_walks_its_items(walk):
    app, spec, _kind = walk
    q = spec.question("a")
    sample = q.qtype.sample(q, random.Random(RNG_SEED), dt.date.today())
    visitor = Visitor(app.test_client())
    page, _t, _u = visitor.open(f"/f/{spec.id}?lang=en")
    assert 'data-repeat' in page.text and 'name="a-0-member"' in page.text
    reply = visitor.submit(f"/f/{spec.id}?lang=en", {"a-0-member": sample[0]["member"]})
    assert reply.status_code == 200, reply.text
    with app.app_context():
        assert list(Answer.select(Answer.question, Answer.item, Answer.value).tuples()) == [
            ("member", 0, sample[0]["member"])]
        tally = {(t.question, t.value): t.n for t in Tally.select().where(Tally.question != "")}
    assert tally == {("a", ""): 1, ("a", "1"): 1, ("member", ""): 1}
    office = app.test_client()
    office.set_cookie("lang", "en")
    assert login(office, "admin", "x" * 12).status_code == 302
    assert "1 in all, in 1 responses" in office.get(f"/admin/forms/{spec.id}").text
    assert "a" not in export_cells(office, spec, q)


RATING = {"type": "rating", "min": 1, "max": 5}
TIME = {"type": "time", "min": "08:00", "max": "18:30"}
# (rules, posted, the server's message key), the phone's parity for the new types
PARITY = [
    (RATING, ["1"], None), (RATING, ["5"], None), (RATING, ["0"], "range"), (RATING, ["6"], "range"),
    (RATING, ["2.5"], "integer"), (RATING, ["x"], "integer"),
    (TIME, ["08:00"], None), (TIME, ["8:15"], None), (TIME, ["18:30"], None),
    (TIME, ["18:31"], "time_before"), (TIME, ["07:59"], "time_after"), (TIME, ["24:00"], "time"),
    (TIME, ["12:60"], "time"), (TIME, ["noon"], "time"), (TIME, ["09:30:00"], None),
]


def test_the_phone_checks_rating_and_time_as_the_server_does(tmp_path):
    form = {"id": "parity", "version": 1, "title": "对照", "sections": [{"questions": [
        {"name": "r", "type": "rating", "label": "评分"},
        {"name": "t", "type": "time", "label": "时间", "min": "08:00", "max": "18:30"}]}]}
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "parity.yaml").write_text(yaml.safe_dump(form, allow_unicode=True), encoding="utf-8")
    app = make_app(tmp_path / "db", forms)
    visitor = Visitor(app.test_client())
    page = visitor.open("/f/parity?lang=en")[0].text
    assert rules_on(page, "r")[0] == RATING and rules_on(page, "t")[0] == TIME
    strings = json.loads(re.search(r'id="doorstep-strings">(.*?)</script>', page, re.S).group(1))
    phone = phone_says([{"rules": r, "values": v, "required": False, "now": "2026-01-01"}
                        for r, v, _key in PARITY])
    for (rules, values, key), said in zip(PARITY, phone):
        name = "r" if rules is RATING else "t"
        reply = visitor.submit("/f/parity?lang=en", {name: values},
                               headers={"X-Doorstep-Outbox": "1"})
        server = (reply.get_json().get("errors", {}).get(name) or [None])[0] \
            if reply.status_code == 400 else None
        assert (said and said[0]) == key, (values, said)
        if key is None:
            assert server is None, (values, server)
        else:
            expected = re.sub(r"%\((\w+)\)s", lambda m: str(said[1][m.group(1)]), strings[key])
            assert server == expected, (values, server)
    with app.app_context():
        stored = {v for (v,) in Answer.select(Answer.value).where(Answer.question == "t").tuples()}
    assert stored == {"08:00", "08:15", "18:30", "09:30"}
    db.close()

"""The server's half of the phone in the field: what the service worker, the manifest and the
outbox ask of it, the same checks on both sides, and a form page light enough for a slow network.

A queued submission is the page's own form post, sent later with a fresh CSRF token; the server
answers it in JSON. The browser's half is tests/browser/test_offline_browser.py.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import re
import struct
import subprocess
import threading
import uuid
from pathlib import Path

import itsdangerous
import pytest

from service.collect.my_access import check_code
from service.storage.db import db
from service.storage.models import Answer, Submission

from .ci import acorn, node
from .conftest import DEMO_FORMS, ROOT, hidden, make_app, receipt

OUTBOX = {"X-Doorstep-Outbox": "1"}
CHROMIUM_ENCODINGS = {"Accept-Encoding": "gzip, deflate, br, zstd"}
SCRIPTS = sorted((ROOT / "static").glob("*.js"))
# tests/forms/conditions.yaml: `employed` decides whether `why` (required) is asked
FORM = "/f/conditions?lang=en"
RETIRED = {"employed": "no", "why": "退休", "since": "1999-01-01", "age": "70", "pension": "yes"}


@pytest.fixture
def stored(app):
    """The rows the server stored, read in an app context of their own.

    Not the `database` fixture: its app context would be shared by every test-client request made
    from this thread, and with it flask's `g`, where flask-wtf keeps the request's CSRF token.
    """
    def rows(model):
        with app.app_context():
            db.connect(reuse_if_open=True)
            try:
                return list(model.select())
            finally:
                db.close()
    return lambda model: Rows(rows(model))


class Rows(list):
    def count(self):
        return len(self)

    def get(self):
        assert len(self) == 1, self
        return self[0]


def get(client, url, **kw):
    """A GET whose file body is read and closed (static files are streamed)."""
    with client.get(url, **kw) as reply:
        reply.get_data()
        return reply


def fresh_token(client) -> str:
    reply = client.get("/outbox/token")
    assert reply.status_code == 200
    return reply.get_json()["csrf_token"]


def send(client, answers: dict, submission_uuid: str, path: str = FORM, token: str | None = None):
    """What the outbox does: a fresh token for this session, then the page's post, JSON back."""
    data = {**answers, "submission_uuid": submission_uuid,
            "csrf_token": token if token is not None else fresh_token(client)}
    return client.post(path, data=data, headers=OUTBOX)


# The service worker and the manifest

def test_the_service_worker_is_served_from_the_root_and_always_revalidated(client):
    worker = client.get("/sw.js")
    assert worker.status_code == 200
    assert worker.mimetype == "text/javascript"
    assert worker.headers["Service-Worker-Allowed"] == "/"
    assert worker.headers["Cache-Control"] == "no-cache"
    assets = json.loads(re.search(r"var ASSETS = (\[.*?\]);", worker.text).group(1))
    version = re.search(r"var VERSION = '(\w+)';", worker.text).group(1)
    assert {a.split("?")[0] for a in assets} >= {
        "/static/style.css", "/static/form.js", "/static/checks.js", "/static/outbox.js",
        "/static/offline.js", "/static/visits.js", "/static/icons/icon-192.png"}
    for asset in assets:
        assert asset.endswith(f"?v={version}")
        assert get(client, asset).status_code == 200, asset


def test_the_form_page_loads_the_versions_the_worker_keeps(client):
    page = client.get(FORM).text
    worker = client.get("/sw.js").text
    for script in re.findall(r'<script src="([^"]+)"', page):
        assert f'"{script}"' in worker


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_manifest_opens_the_form_it_was_added_from(client):
    reply = client.get("/manifest.webmanifest?start=/f/conditions")
    assert reply.mimetype == "application/manifest+json"
    manifest = json.loads(reply.data)
    assert manifest["start_url"] == "/f/conditions"
    assert manifest["scope"] == "/" and manifest["display"] == "standalone"
    sizes = {}
    for icon in manifest["icons"]:
        image = get(client, icon["src"])
        assert image.status_code == 200 and image.mimetype == icon["type"]
        if icon["type"] == "image/png":
            width, height = png_size(image.data)
            sizes[icon["sizes"]] = f"{width}x{height}"
    assert sizes == {"192x192": "192x192", "512x512": "512x512"}


@pytest.mark.parametrize("start", ["//evil.example/f/x", "https://evil.example/", "/admin",
                                   "/f/..\\admin", "/f/../admin", "/f/a/b", ""])
def test_the_manifest_never_sends_the_icon_elsewhere(client, start):
    manifest = client.get(f"/manifest.webmanifest?start={start}").get_json(force=True)
    assert manifest["start_url"] == "/"


def test_the_form_page_asks_for_the_manifest_of_its_own_path(client):
    page = client.get("/f/conditions").text
    assert 'href="/manifest.webmanifest?start=/f/conditions"' in page


# The outbox's fresh token: CSRF protection stays on

def test_the_token_is_for_this_session_only_and_never_kept(client):
    reply = client.get("/outbox/token")
    assert reply.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in reply.headers   # no other site can read it
    assert reply.get_json()["csrf_token"]


def test_a_queued_post_with_a_fresh_token_is_stored_and_answered_with_its_receipt(client, stored):
    submission_uuid = str(uuid.uuid4())
    reply = send(client, {"employed": "yes", "age": "61"}, submission_uuid)
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    body = reply.get_json()
    row = stored(Submission).get()
    with client.application.app_context():   # no phone number: /my's check code beside it
        check = check_code(row.receipt)
    assert body == {"receipt": row.receipt, "submission_uuid": submission_uuid,
                    "form": "conditions", "check": check}
    assert {(a.question, a.value) for a in stored(Answer)} == {("employed", "yes"), ("age", "61")}


def test_a_page_token_expired_while_queued_is_refused_and_a_fresh_one_goes_through(
        client, stored, monkeypatch):
    """The page was opened two days ago (WTF_CSRF_TIME_LIMIT is one day); its token is stale, but
    the token fetched right before sending proves the same session."""
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp",
                        lambda self: real(self) - 2 * 24 * 3600)
    stale = hidden(client.get(FORM).text, "csrf_token")
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", real)
    submission_uuid = str(uuid.uuid4())

    refused = send(client, {"employed": "yes"}, submission_uuid, token=stale)
    assert refused.status_code == 400
    assert list(refused.get_json()["errors"]) == ["csrf_token"]
    assert stored(Submission).count() == 0

    assert send(client, {"employed": "yes"}, submission_uuid).status_code == 200
    assert stored(Submission).count() == 1


def test_a_post_without_a_token_or_with_another_phones_token_is_refused(app, client, stored):
    other = app.test_client()
    theirs = fresh_token(other)
    for token in ("", theirs):
        reply = send(client, {"employed": "yes"}, str(uuid.uuid4()), token=token)
        assert reply.status_code == 400
        assert "csrf_token" in reply.get_json()["errors"]
    assert stored(Submission).count() == 0


# JSON for the outbox; the page's HTML for everyone else

def test_sending_the_same_submission_again_answers_the_same_receipt(client, stored):
    submission_uuid = str(uuid.uuid4())
    first = send(client, {"employed": "yes"}, submission_uuid).get_json()
    again = send(client, {"employed": "no", "why": "changed meanwhile"}, submission_uuid)
    assert again.status_code == 200
    assert again.get_json() == first
    assert stored(Submission).count() == 1


def test_refused_answers_come_back_as_errors_by_wire_name_with_their_labels(client, stored):
    reply = send(client, {"employed": "no", "kids-0-kage": "abc", "kids-3-kage": "10"},
                 str(uuid.uuid4()))
    assert reply.status_code == 400
    body = reply.get_json()
    assert body["errors"] == {"why": ["Please answer this question."],
                              "kids-0-kage": ["Enter a whole number, e.g. 3."],
                              "kids-3-school": ["Please answer this question."]}
    assert set(body["labels"]) == set(body["errors"])
    assert body["message"]
    assert stored(Submission).count() == 0


def test_without_the_outbox_header_a_post_still_gets_the_thank_you_page(visitor, stored):
    page = visitor.submit(FORM, {"employed": "yes"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert receipt(page.text) == stored(Submission).get().receipt


def test_a_retired_form_answers_not_found(client, stored):
    reply = send(client, {"employed": "yes"}, str(uuid.uuid4()), path="/f/retired")
    assert reply.status_code == 404
    assert stored(Submission).count() == 0


def test_one_queued_submission_replayed_five_times_at_once_is_stored_once(app, stored):
    """Five phones' worth of retries of one entry (its own session each), all at the same moment."""
    submission_uuid = str(uuid.uuid4())
    clients = [app.test_client() for _ in range(5)]
    tokens = [fresh_token(c) for c in clients]
    start = threading.Barrier(5)
    replies: list = [None] * 5

    def replay(i):
        start.wait()
        replies[i] = send(clients[i], RETIRED, submission_uuid, token=tokens[i])

    threads = [threading.Thread(target=replay, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in replies] == [200] * 5, [r.get_json() for r in replies]
    assert len({r.get_json()["receipt"] for r in replies}) == 1
    assert stored(Submission).count() == 1
    assert stored(Answer).count() == len(RETIRED)


# The same checks on the phone as on the server

CHECKS_FORM = {
    "id": "checks", "version": 1, "title": "检查",
    "sections": [{"questions": [
        {"name": "req", "type": "text", "label": "必填", "required": True},
        {"name": "t", "type": "text", "label": "短", "max_length": 5},
        {"name": "n", "type": "integer", "label": "人数", "min": 1, "max": 20},
        {"name": "lo", "type": "integer", "label": "下限", "min": 0},
        {"name": "hi", "type": "integer", "label": "上限", "max": 10},
        {"name": "d", "type": "decimal", "label": "收入", "min": 0, "max": 9999.5},
        {"name": "day", "type": "date", "label": "日期", "min": "2000-01-01", "max": "today"},
        {"name": "ph", "type": "phone", "label": "电话"},
        {"name": "idn", "type": "id_number", "label": "身份证"},
        {"name": "tags", "type": "select_multiple", "label": "标签", "min_selected": 2,
         "max_selected": 3, "choices": [{"value": v, "label": v} for v in "abcde"]},
        {"name": "kids", "type": "repeat", "label": "孩子", "min_items": 1, "max_items": 2,
         "questions": [{"name": "kage", "type": "integer", "label": "年龄", "min": 0}]},
    ]}],
}
ID_OK = "11010519491231002X"
TODAY = dt.date.today()

# (question, values posted under its name): each answered alone, checked by both sides
CASES = [
    ("req", []), ("req", ["  "]), ("req", ["有"]),
    ("t", ["abcde"]), ("t", ["abcdef"]), ("t", ["  abc  "]), ("t", ["五个汉字呀"]),
    ("n", ["3"]), ("n", ["0"]), ("n", ["21"]), ("n", ["20"]), ("n", ["2.5"]), ("n", ["abc"]),
    ("n", ["+7"]), ("n", [" 8 "]), ("n", ["1e3"]), ("n", ["-0"]),
    ("lo", ["-1"]), ("lo", ["0"]), ("hi", ["11"]), ("hi", ["-5"]),
    ("d", ["2.5"]), ("d", ["9999.5"]), ("d", ["9999.51"]), ("d", ["-0.01"]), ("d", ["abc"]),
    ("d", ["1e3"]), ("d", [".5"]), ("d", ["NaN"]), ("d", ["Infinity"]), ("d", ["1,5"]),
    ("day", ["1999-12-31"]), ("day", ["2000-01-01"]), ("day", [TODAY.isoformat()]),
    ("day", [(TODAY + dt.timedelta(days=1)).isoformat()]), ("day", ["2021-02-30"]),
    ("day", ["yesterday"]), ("day", ["2024-2-29"]),
    ("ph", ["13812345678"]), ("ph", ["138 1234 5678"]), ("ph", ["+86 138-1234-5678"]),
    ("ph", ["008613812345678"]), ("ph", ["12812345678"]), ("ph", ["1381234567"]),
    ("ph", ["010-12345678"]),
    ("idn", [ID_OK]), ("idn", [ID_OK.lower()]), ("idn", [" 110105 19491231 002X "]),
    ("idn", [ID_OK[:-1]]), ("idn", ["110105194912310021"]), ("idn", ["110105194902300028"]),
    ("idn", ["110105" + (TODAY + dt.timedelta(days=400)).strftime("%Y%m%d") + "0011"]),
    ("idn", ["1101051949123100XX"]),
    ("tags", ["a"]), ("tags", ["a", "b"]), ("tags", ["a", "b", "c", "d"]), ("tags", []),
]
ITEM_CASES = [0, 1, 2, 3]   # how many kids are posted


@pytest.fixture(scope="module")
def checks_app(tmp_path_factory):
    import yaml
    forms = tmp_path_factory.mktemp("forms")
    (forms / "checks.yaml").write_text(yaml.safe_dump(CHECKS_FORM, allow_unicode=True))
    return make_app(tmp_path_factory.mktemp("db"), forms)


@pytest.fixture(scope="module")
def checks_page(checks_app):
    """The English page: each question's data-rules and the sentences the phone shows."""
    page = checks_app.test_client().get("/f/checks?lang=en").text
    rules = {name: (json.loads(html.unescape(r)), "data-required" in attrs)
             for name, attrs, r in re.findall(
                 r'data-q="(\w+)"([^>]*?)data-rules="([^"]*)"', page)}
    strings = json.loads(re.search(
        r'<script type="application/json" id="doorstep-strings">(.*?)</script>', page, re.S)
        .group(1))
    return rules, strings


def phone_says(cases: list[dict], strings: dict) -> list[str | None]:
    """static/checks.js's message for each case, run in node."""
    script = ("const c = require(process.argv[1]);"
              "const {cases, strings} = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(cases.map(k => { const p = k.items === undefined ?"
              " c.problem(k.rules, k.values, k.required, k.now) :"
              " c.itemsProblem(k.items, k.min, k.max); return p && c.message(strings, p); })));")
    done = subprocess.run([node(), "-e", script, str(ROOT / "static" / "checks.js")],
                          input=json.dumps({"cases": cases, "strings": strings}),
                          capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


def server_says(client, answers: dict) -> dict[str, list[str]]:
    reply = send(client, answers, str(uuid.uuid4()), path="/f/checks?lang=en")
    return reply.get_json().get("errors", {}) if reply.status_code == 400 else {}


def test_the_phone_checks_answers_exactly_as_the_server_does(checks_app, checks_page):
    rules, strings = checks_page
    today = checks_app.extensions["doorstep.today"]().isoformat()
    client = checks_app.test_client()
    phone_cases, server = [], []
    for name, values in CASES:
        answers = {"kids-0-kage": "1", name: values}
        if name != "req":
            answers["req"] = "有"
        server.append((server_says(client, answers).get(name) or [None])[0])
        rule, required = rules[name]
        phone_cases.append({"rules": rule, "values": values, "required": required, "now": today})
    for n in ITEM_CASES:
        answers = {"req": "有", **{f"kids-{i}-kage": "1" for i in range(n)}}
        server.append((server_says(client, answers).get("kids") or [None])[0])
        phone_cases.append({"items": n, "min": 1, "max": 2})
    phone = phone_says(phone_cases, strings)
    labels = [f"{n}={v}" for n, v in CASES] + [f"{n} kids" for n in ITEM_CASES]
    assert list(zip(labels, phone)) == list(zip(labels, server))
    assert sum(1 for s in server if s) >= 30   # the table does reach the refusals


# Every script runs on old Android browsers

def test_every_script_parses_as_es2017():
    """No syntax newer than ES2017 (object spread, `?.`, `??`, optional catch binding...), by the
    acorn pinned in package-lock.json (node_modules, from `npm ci`)."""
    es2017 = acorn() + ["--ecma2017", "--silent"]
    assert SCRIPTS
    for script in SCRIPTS:       # one at a time: acorn parses several files into one program
        done = subprocess.run(es2017 + [str(script)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"
    newer = subprocess.run(es2017, input="var copy = {...page};", capture_output=True, text=True,
                           timeout=60)
    assert newer.returncode != 0, "the check would not notice ES2018 syntax"


# The page weight budget: under 30 KB as served, nothing from elsewhere

BUDGET = 30_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("demo"), DEMO_FORMS)


@pytest.mark.parametrize("form_id", sorted(p.stem for p in DEMO_FORMS.glob("*.yaml")))
def test_each_form_page_stays_within_its_weight_budget(demo, form_id):
    client = demo.test_client()
    page = client.get(f"/f/{form_id}", headers=CHROMIUM_ENCODINGS)
    assert page.headers["Content-Encoding"] in ("br", "gzip", "zstd", "deflate")
    text = client.get(f"/f/{form_id}").text
    loads = re.findall(r'<script[^>]* src="([^"]+)"', text) + \
        re.findall(r'<link rel="stylesheet" href="([^"]+)"', text)
    weight = len(page.data) + sum(
        len(get(client, url, headers=CHROMIUM_ENCODINGS).data) for url in loads)
    assert weight < BUDGET, f"{form_id}: {weight} bytes"
    for url in re.findall(r'(?:src|href)="([^"]*)"', text):
        assert url.startswith(("/", "?")) and not url.startswith("//"), url


def test_office_pages_are_not_compressed(client):
    """They echo what a user typed next to a CSRF token: compressing them would invite BREACH."""
    login = client.get("/admin/login", headers=CHROMIUM_ENCODINGS)
    assert login.status_code == 200
    assert "Content-Encoding" not in login.headers


# The phone's sentences are in Chinese for a Chinese page

def test_every_sentence_of_the_phone_has_its_chinese(client):
    page = client.get("/f/conditions?lang=zh").text
    strings = json.loads(re.search(
        r'id="doorstep-strings">(.*?)</script>', page, re.S).group(1))
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert [k for k, text in strings.items() if not cjk.search(text)] == []
    for english in ("Outbox", "Send now", "Continue it", "Start afresh", "Start the next one",
                    "An unfinished form is saved on this phone:"):
        assert english not in page


def test_the_scripts_are_what_the_page_loads(client):
    page = client.get(FORM).text
    loaded = {Path(s.split("?")[0]).name for s in re.findall(r'<script src="([^"]+)"', page)}
    # visits.js: a household's visit page's own, on top of these (tests/test_visits.py);
    # admin.js the office's pages', thanks.js the thank-you page's, api-docs.js the API's docs
    assert loaded == {p.name for p in SCRIPTS} - {"sw.js", "visits.js", "admin.js", "thanks.js",
                                                  "api-docs.js"}


# What the outbox makes of each answer

OUTCOMES = [
    (200, {"receipt": "ABCD-EFGH"}, "sent"),
    (400, {"errors": {"why": ["Please answer this question."]}}, "rejected"),
    (400, {"errors": {"csrf_token": ["The CSRF token has expired."]}}, "retry"),
    (404, None, "rejected"),        # the form was retired
    (410, None, "rejected"),        # the link was closed
    (413, None, "rejected"),
    (429, None, "retry"),
    (500, None, "retry"),
    (502, None, "retry"),           # a proxy in front of a server that is down
    (200, None, "retry"),           # a Wi-Fi login page answering in the server's place
]


def test_the_outbox_keeps_refusals_and_retries_everything_else():
    script = ("const {DoorstepOutbox} = require(process.argv[1]);"
              "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(cases.map(([status, data]) => DoorstepOutbox.outcome("
              "{ok: status >= 200 && status < 300, status}, data).status)));")
    done = subprocess.run([node(), "-e", script, str(ROOT / "static" / "outbox.js")],
                          input=json.dumps([[s, d] for s, d, _ in OUTCOMES]), capture_output=True,
                          text=True, timeout=30, check=True)
    assert json.loads(done.stdout) == [expected for _s, _d, expected in OUTCOMES]


def test_retries_wait_longer_each_time_up_to_five_minutes():
    script = ("const {DoorstepOutbox} = require(process.argv[1]);"
              "console.log(JSON.stringify([1, 2, 3, 4, 8, 20].map(n => DoorstepOutbox.backoff(n))));")
    done = subprocess.run([node(), "-e", script, str(ROOT / "static" / "outbox.js")],
                          capture_output=True, text=True, timeout=30, check=True)
    waits = [ms / 1000 for ms in json.loads(done.stdout)]
    for wait, nominal in zip(waits, [2, 4, 8, 16, 256, 300]):
        assert 0.8 * nominal <= wait <= 1.2 * nominal   # ±20 %, so phones spread out

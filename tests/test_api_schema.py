"""The API against its own OpenAPI document: schemathesis generates requests from the document the
LIVE server (gunicorn, two workers) serves, with an admin token over stored submissions, and
checks every answer: no 5xx, each status, media type, header and body as the document says, bad
input refused, no operation open without a token, no undeclared method answered. Bounded: at most
25 examples per operation, one seed.

`positive_data_acceptance` is left out on purpose: a request can match the schema and still be
refused with a 422, since a form's own rules (required questions, bounds, `show_if`, consent) live
in its definition, not in the API's schema; the 422's shape is checked like every other answer.
A request line over gunicorn's 4 KB is refused by gunicorn itself (414, documented on every
operation), which counts as refusing bad input.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from uuid import uuid4

import pytest

from . import live
from .api_support import bearer
from .conftest import TEST_FORMS, database_url_for

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = """
[generation]
max-examples = 25
database = "none"

# refused as it must be, by gunicorn (414: a request line over 4 KB) or by Doorstep
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "414", "415", "422", "428",
                     "429"]

[parameters]
"path.form_id" = {{ dictionary = "forms", probability = 0.8 }}
"path.ref" = {{ dictionary = "receipts", probability = 0.8 }}

[dictionaries]
forms = {{ values = ["kitchen", "ledger", "survey"] }}
receipts = {{ values = {receipts} }}
"""


def post(base: str, secret: str, form_id: str, answers: dict) -> str:
    body = {"submission_uuid": str(uuid4()), "consent": True, "answers": answers}
    request = urllib.request.Request(
        f"{base}/api/v1/forms/{form_id}/submissions", json.dumps(body).encode(), method="POST",
        headers={**bearer(secret), "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201
        return json.loads(answer.read())["receipt"]


def test_the_document_is_openapi_3_1_generated_from_the_views(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    operations = {(path, method): op for path, methods in document["paths"].items()
                  for method, op in methods.items()}
    assert {("/api/v1/forms", "get"), ("/api/v1/forms/{form_id}", "get"),
            ("/api/v1/forms/{form_id}/submissions", "post")} <= set(operations)
    submit = operations[("/api/v1/forms/{form_id}/submissions", "post")]
    assert submit["operationId"] == "submit" and document["security"] == [{"token": []}]
    assert set(submit["responses"]) >= {"200", "201", "401", "404", "409", "410", "415", "422",
                                        "429"}
    for op in operations.values():
        for status, answer in op["responses"].items():
            if status.startswith(("4", "5")) and "content" in answer:
                assert list(answer["content"]) == ["application/problem+json"], (op, status)
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    assert "openapi.json" not in json.dumps(document["paths"])    # the description is public


def test_the_docs_page_is_served_from_the_box_without_inline_script(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.text
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources)          # nothing off-site
    assert "<script>" not in html and " style=" not in html and "onclick" not in html
    for source in sources:
        with client.get(source) as asset:
            assert asset.status_code == 200, source
            if source.endswith(".js"):
                assert asset.mimetype in ("application/javascript", "text/javascript")
    assert client.get("/api/v1/docs/ui/index.html").status_code == 404  # only the files it uses


@pytest.mark.slow
def test_every_answer_conforms_to_the_generated_document(tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url_for(tmp_path),
           "FORMS_DIR": str(TEST_FORMS), "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
           "API_RATE_LIMIT": "100000"}
    live.doorstep_init(env)
    made = subprocess.run([str(live.BIN / "doorstep"), "tokens", "create", "--name", "fuzzer",
                           "--role", "admin"], cwd=live.ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    secret = made.stdout.strip().splitlines()[-1]
    with live.served(env, tmp_path / "gunicorn.log", "-w", "2") as base:
        receipts = [post(base, secret, "kitchen", {
            "name": f"张{i}", "employed": "no" if i % 2 else "yes", "why": "病假", "n": i + 1,
            "members": [{"mname": "李四", "age": 30 + i}], "tags": ["a"]}) for i in range(3)]
        receipts.append(post(base, secret, "ledger", {"address": "东湖路1号", "size": 2}))
        (tmp_path / "schemathesis.toml").write_text(
            CONFIG.format(receipts=json.dumps(receipts)), encoding="utf-8")
        run = subprocess.run(
            [str(SCHEMATHESIS), "--config-file", str(tmp_path / "schemathesis.toml"), "run",
             f"{base}/api/v1/openapi.json", "-H", f"Authorization: Bearer {secret}",
             "--checks", "all", "--exclude-checks", "positive_data_acceptance",
             "--seed", "17", "--workers", "1", "--no-color", "--warnings", "off"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        log = (tmp_path / "gunicorn.log").read_text()
    (tmp_path / "schemathesis.txt").write_text(run.stdout + run.stderr, encoding="utf-8")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Traceback" not in log, log[-4000:]

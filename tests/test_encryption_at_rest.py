"""Identifiers encrypted at rest (issue #16; service/storage/sealed_fields.py): households entered
through the public form, a surveyor's visit pages and the office's import, then corrected, leave
none of their names, phone numbers, ID numbers or addresses in the database's bytes, in any
encoding (the SQLite file and its WAL, or a `pg_dump`); the office still reads them as before
(reveal, exports with identifiers, the ledger) and finds households by their keyed hashes.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from service.records import ledger
from service.storage import sealing
from service.storage.db import db
from service.storage.models import Answer, Household, HouseholdChange, Submission

from .conftest import TEST_FORMS, csrf_token, hidden, make_app, receipt
from .databases import POSTGRES, PG_URL

HOMES = """
id: homes
version: 1
ledger: true
title: {zh: 住户登记, en: Homes}
sections:
  - title: {zh: 户主, en: Household}
    questions:
      - {name: address, type: text, label: {zh: 住址, en: Address}, required: true, pii: true}
      - {name: head_name, type: text, label: {zh: 户主姓名, en: Head}, pii: true}
      - {name: head_phone, type: phone, label: {zh: 电话, en: Phone}, pii: true}
      - {name: head_id, type: id_number, label: {zh: 身份证号, en: ID number}, pii: true}
      - {name: size, type: integer, label: {zh: 家庭人口, en: Household size}, min: 1, max: 20}
      - name: members
        type: repeat
        label: {zh: 家庭成员, en: Members}
        questions:
          - {name: mname, type: text, label: {zh: 姓名, en: Name}, pii: true}
          - {name: age, type: integer, label: {zh: 年龄, en: Age}, min: 0, max: 120}
"""


def id_number(body: str) -> str:
    """An 18-digit resident ID with its MOD 11-2 check digit."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body, weights))
    return body + "10X98765432"[total % 11]


# what each write path stores: names, phones and ID numbers nobody else in the data has
PUBLIC = {"address": "梧桐巷 71号 2单元", "head_name": "欧阳明远", "head_phone": "13912345671",
          "head_id": id_number("11010519610203123"), "size": "2",
          "members-0-mname": "欧阳小雨", "members-0-age": "9"}
VISIT = {"address": "银杏路 72号", "head_name": "司马青岚", "head_phone": "13712345672",
         "head_id": id_number("31010419750607234"), "size": "1"}
NEW_PHONE = "13612345673"
IMPORTED = [("SQ1", "香樟街 73号", "诸葛若兰", "13512345674"),
            ("G1", "香樟街 74号", "上官云飞", "13412345675")]
CORRECTED_NAME = "欧阳明辉"
SECRETS = ([PUBLIC[k] for k in ("address", "head_name", "head_phone", "head_id",
                                 "members-0-mname")]
           + [VISIT[k] for k in ("address", "head_name", "head_phone", "head_id")]
           + [NEW_PHONE, CORRECTED_NAME] + [v for row in IMPORTED for v in row[1:]])


@pytest.fixture
def app(tmp_path):
    """The test forms and `homes`, a ledger form with every kind of identifier."""
    forms = tmp_path / "forms"
    shutil.copytree(TEST_FORMS, forms)
    (forms / "homes.yaml").write_text(HOMES, encoding="utf-8")
    return make_app(tmp_path, forms_dir=forms)


def post_page(client, path, answers):
    html = client.get(path).text
    data = {"csrf_token": hidden(html, "csrf_token"),
            "submission_uuid": hidden(html, "submission_uuid")}
    for name in ("household", "base_version"):
        if hidden(html, name) is not None:
            data[name] = hidden(html, name)
    return client.post(path, data={**data, **answers})


def import_csv(client, rows) -> int:
    out = io.StringIO()
    csv.writer(out).writerows([["area_code", "address", "head_name", "head_phone"], *rows])
    return client.post("/admin/households/import", data={
        "csrf_token": csrf_token(client), "form_id": "homes",
        "file": (io.BytesIO(out.getvalue().encode("utf-8-sig")), "homes.csv")},
        content_type="multipart/form-data").status_code


@pytest.fixture
def entered(office):
    return enter(office)


def enter(office) -> dict:
    """Households of `homes` through every write path: the public form, a surveyor's first visit
    and revisit (a new phone), the office's import, and a correction of a name."""
    public = office.client()
    page = post_page(public, "/f/homes", PUBLIC)
    assert page.status_code == 200 and receipt(page.text), page.text
    surveyor = office.client("sv1")
    assert post_page(surveyor, "/visit/new/homes", VISIT).status_code == 200
    with office.app.app_context(), db.connection_context():
        visited = Household.get(Household.address_key == ledger.address_key(VISIT["address"]))
        first = Submission.get(Submission.receipt == receipt(page.text))
    again = post_page(surveyor, f"/visit/{visited.code}", dict(VISIT, head_phone=NEW_PHONE))
    assert again.status_code == 200, again.text
    admin = office.client("admin")
    assert import_csv(admin, IMPORTED) == 200
    corrected = admin.post(f"/admin/responses/{first.id}/correct/head_name", data={
        "value": CORRECTED_NAME, "reason": "spelt wrong", "csrf_token": csrf_token(admin)})
    assert corrected.status_code == 302
    return {"first": first.id, "visited": visited.code}


def encodings(secret: str) -> set[bytes]:
    """`secret` as bytes in every form a database or a driver might keep it: UTF-8, UTF-16 and
    GB18030, JSON's \\uXXXX escapes, and base64 (standard and URL-safe) at each byte alignment."""
    found = {secret.encode(e) for e in ("utf-8", "utf-16-le", "utf-16-be", "gb18030")}
    found.add(json.dumps(secret).strip('"').encode("ascii"))
    raw = secret.encode("utf-8")
    for offset in range(3):
        part = raw[offset:]
        whole = len(part) // 3 * 3          # the characters that do not depend on what follows
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            if whole >= 6:
                found.add(encode(part[:whole]))
    return found


def leaks(data: bytes) -> list[str]:
    return sorted({s for s in SECRETS for form in encodings(s) if form in data})


def database_bytes(app) -> bytes:
    """The SQLite file and its WAL as they lie on disk, or a `pg_dump` of the test's schema."""
    url = app.config["DATABASE_URL"]
    if not POSTGRES:
        path = Path(url[len("sqlite:///"):])
        wal = Path(f"{path}-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    options = dict(parse_qsl(urlsplit(url).query))["options"]
    schema = options.split("search_path=", 1)[1]
    return subprocess.run(["pg_dump", "--schema", schema, "--data-only", PG_URL],
                          check=True, capture_output=True).stdout


def test_no_identifier_lies_in_the_database_in_any_encoding(office, entered):
    assert leaks("".join(SECRETS).encode("utf-8")) == sorted(set(SECRETS))   # the search works
    with office.app.app_context(), db.connection_context():
        assert Household.select().where(Household.form_id == "homes").count() == 4
        assert Answer.select().where(Answer.question == "head_name").count() == 3
    assert leaks(database_bytes(office.app)) == []


def test_the_office_reads_them_as_before(office, entered):
    admin = office.client("admin")
    page = admin.get(f"/admin/responses/{entered['first']}").text
    assert CORRECTED_NAME not in page and "欧*" in page                  # masked
    revealed = admin.post(f"/admin/responses/{entered['first']}",
                          data={"csrf_token": csrf_token(admin)}).text
    assert CORRECTED_NAME in revealed and PUBLIC["head_id"] in revealed   # an audited reveal
    with admin.get("/admin/forms/homes/export.csv?pii=1") as download:
        body = download.data.decode("utf-8-sig")
    for value in (CORRECTED_NAME, PUBLIC["head_phone"], VISIT["head_id"], NEW_PHONE):
        assert value in body
    with admin.get("/admin/forms/homes/export.zip?pii=1") as download:
        assert download.status_code == 200
    with admin.get("/admin/households/export.csv?form=homes&pii=1") as download:
        ledger_rows = download.data.decode("utf-8-sig")
    for value in (CORRECTED_NAME, NEW_PHONE, IMPORTED[0][2], IMPORTED[1][1]):
        assert value in ledger_rows
    with admin.get("/admin/households/export.csv?form=homes&pii=1&history=1") as download:
        history = download.data.decode("utf-8-sig")
    assert VISIT["head_phone"] in history and NEW_PHONE in history
    house = admin.post(f"/admin/households/{entered['visited']}",
                       data={"csrf_token": csrf_token(admin)}).text
    assert VISIT["address"] in house and NEW_PHONE in house
    with office.app.app_context(), db.connection_context():
        old, new = (HouseholdChange.select(HouseholdChange.old_value, HouseholdChange.new_value)
                    .join(Household).where((HouseholdChange.question == "head_phone") &
                                           (Household.code == entered["visited"]))
                    .order_by(HouseholdChange.id.desc()).tuples().first())
    assert (json.loads(old), json.loads(new)) == (VISIT["head_phone"], NEW_PHONE)


def test_a_surveyor_finds_households_by_phone_id_number_or_part_of_an_address(office, entered):
    surveyor = office.client("sv1")

    def found(text):
        page = surveyor.get("/visit", query_string={"q": text}).text
        return len(page.split('data-code="')) - 1
    assert found(NEW_PHONE) == 1 and found(VISIT["head_phone"]) == 0     # the current one
    assert found(VISIT["head_id"].lower()) == 1
    assert found("银杏路72号") == 1 and found("香樟街") == 2
    assert found("梧桐") == 0           # the public form's household is in no area of theirs
    assert found("13000000000") == 0


def test_a_registration_at_a_known_address_or_id_number_is_flagged_by_their_hashes(office,
                                                                                     entered):
    surveyor = office.client("sv1")
    again = dict(VISIT, address="银杏路72号。", head_name="另一位")
    assert post_page(surveyor, "/visit/new/homes", again).status_code == 200
    with office.app.app_context(), db.connection_context():
        newest = Household.select().order_by(Household.id.desc()).first()
        assert newest.duplicate_of.code == entered["visited"]
        assert newest.id_key == sealing.lookup_hash("id_number", VISIT["head_id"])
        assert newest.phone_key == sealing.lookup_hash("phone", VISIT["head_phone"])


def test_an_upgrade_seals_what_was_stored_before_encryption(office, monkeypatch):
    """The sealing schema step on a database written before encryption (here: by this code with sealing
    switched off): every identifier sealed where it lies, the look-ups rewritten as keyed hashes,
    and the office reads everything as before."""
    from service.storage import schema

    with monkeypatch.context() as before_encryption:
        before_encryption.setattr(sealing, "seal", lambda text: text)
        before_encryption.setattr(sealing, "lookup_hash", lambda kind, value: (
            sealing.NORMALISE[kind](value) or None) if value is not None else None)
        entered = enter(office)
    assert leaks(database_bytes(office.app))          # plain, as before encryption
    with office.app.app_context(), db.connection_context():
        sealing_step = next(s.version for s in schema.STEPS
                            if s.apply.__name__ == "_sealed_identifiers")
        schema.SchemaVersion.delete().where(schema.SchemaVersion.version >= sealing_step).execute()
        (schema.SchemaVersion.insert(version=sealing_step - 1, description="before")
         .on_conflict_ignore().execute())
        assert schema.upgrade() == list(range(sealing_step, schema.latest() + 1))
        if not POSTGRES:
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        visited = Household.get(Household.code == entered["visited"])
        assert visited.address_key == ledger.address_key(VISIT["address"])
        assert visited.phone_key == sealing.lookup_hash("phone", NEW_PHONE)
        assert json.loads(visited.current)["head_phone"] == NEW_PHONE
    assert leaks(database_bytes(office.app)) == []
    admin = office.client("admin")
    revealed = admin.post(f"/admin/responses/{entered['first']}",
                          data={"csrf_token": csrf_token(admin)}).text
    assert CORRECTED_NAME in revealed and PUBLIC["head_id"] in revealed
    assert len(office.client("sv1").get("/visit?q=香樟街").text.split('data-code="')) == 3

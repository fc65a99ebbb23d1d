"""Erasing a submission's answers everywhere they are kept (service/records/erasure.py), on the
kitchen form (the office fixture) and the ledger form (households and rounds).

After an erasure no table holds any of the erased answers (every column of every table is read,
as stored and as its sealed values open with the app's keys, in any encoding the code writes), nor
does an export made afterwards; the tallies equal a recount
of what remains, an open round's counts follow while a closed round's report does not move, and
the submission row stays with its receipt and the moment it was erased.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from service.records import cells, erasure, household_index, rounds
from service.storage import sealed_fields, sealing
from service.storage.db import db
from service.storage.models import (
    AuditEvent, Answer, Correction, Household, HouseholdAnswer, HouseholdChange, HouseholdConflict,
    RoundHousehold, Submission, SurveyRound, User,
)

from .conftest import POSTGRES, csrf_token
from .test_households_office import FIRST, book  # noqa: F401  (book: a fixture)
from .test_round_report import close, inside, new_round, report_of, without_tokens
from .test_tally import recount, tallies


def id_number(body: str) -> str:
    """A resident ID number with its MOD 11-2 check digit (GB 11643)."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


SECRET = {"name": "欧阳丹青", "employed": "no", "why": "照顾老人甲", "n": 2,
          "members": [{"mname": "司马乙丙", "age": 71}], "phone": "13987654321",
          "idn": id_number("11010519630417321"), "story": "秘密故事丁"}
CORRECTED = "更正后的故事戊"


def holding(values) -> list[tuple[str, str]]:
    """(table, value) for every value found in any column of any table, read raw: as stored and
    as its sealed values open (whole or inside a document, with the app's keys), each as written
    and as JSON with non-ASCII escaped (the other way JSON can carry it)."""
    open_ = sealed_fields.opener()
    found = []
    for table in db.get_tables():
        stored = "\n".join("\t".join("" if c is None else str(c) for c in row) for row in
                           db.execute_sql(f'SELECT * FROM "{table}"').fetchall())
        text = stored + "\n" + sealing.SEALED.sub(lambda m: open_(m.group(0)), stored)
        found += [(table, v) for v in values if spelled_in(v, text)]
    return found


def spelled_in(value: str, text: str) -> bool:
    return value in text or json.dumps(value)[1:-1] in text


SEALED_BYTES = re.compile(sealing.SEALED.pattern.encode("ascii"))


def opened_in(data: bytes) -> str:
    """Every sealed value found anywhere in `data` (a database file, a backup), opened with the
    app's keys. A leftover that no longer opens (cut short in a free page) reveals nothing."""
    found = []
    for match in SEALED_BYTES.finditer(data):
        try:
            found.append(sealing.unseal(match.group(0).decode("ascii")))
        except (sealing.SealingError, ValueError):     # (ValueError: base64 cut short)
            pass
    return "\n".join(found)


def held_in(values, data: bytes) -> list[str]:
    """The values `data` holds, as bytes stored plain or inside a sealed value it holds."""
    opened = opened_in(data)
    return [v for v in values if v.encode() in data or spelled_in(v, opened)]


def erase(app, submission_id, username="admin", reason="resident request") -> bool:
    with app.app_context(), db.connection_context():
        by = User.get(User.username == username) if username else None
        return erasure.erase_submission(Submission.get_by_id(submission_id), by=by, reason=reason)


def texts(answers) -> list[str]:
    """The text values of an answers document (numbers and choice codes are shared by many)."""
    found = []
    for value in answers.values():
        if isinstance(value, list):
            found += [t for item in value if isinstance(item, dict) for t in texts(item)]
        elif isinstance(value, str) and not value.isascii() or value == SECRET["phone"] or \
                value == SECRET["idn"]:
            found.append(value)
    return found


def test_an_erased_response_leaves_no_answer_in_any_table_or_export(office):
    app = office.app
    sub = office.store("secret", answers=SECRET, area="SQ1", channel="surveyor", surveyor="sv1")
    admin = office.client("admin")
    corrected = admin.post(f"/admin/responses/{sub.id}/correct/story", data={
        "value": CORRECTED, "reason": "typo", "csrf_token": csrf_token(admin)})
    assert corrected.status_code == 302
    erased = texts(SECRET) + [CORRECTED]
    with app.app_context(), db.connection_context():
        assert {v for _t, v in holding(erased)} == set(erased)    # the scan finds them first
        before = {t: n for t, n in tallies().items() if t[6] != ""}
    assert erase(app, sub.id)
    with app.app_context(), db.connection_context():
        assert holding(erased) == []
        kept = Submission.get_by_id(sub.id)
        assert (kept.receipt, kept.status, kept.answers) == (office.receipts["secret"], "valid",
                                                             "{}")
        assert kept.erased_at is not None and kept.cells is not None and "丁" not in kept.cells
        assert not Answer.select().where(Answer.submission == sub.id).exists()
        # the correction stays (who, when, why); its values and its audit entry's are gone
        fixed = Correction.get(Correction.submission == sub.id)
        assert (fixed.reason, fixed.old_value, fixed.new_value) == ("typo", "null", "null")
        said = json.loads(AuditEvent.get(AuditEvent.action == "correction").detail)
        assert (said["question"], said["old"], said["new"]) == ("story", "erased", "erased")
        # one audit entry for the erasure, with no answer in it
        entry = AuditEvent.get(AuditEvent.action == erasure.ERASED)
        assert entry.username == "admin" and entry.target == f"submission:{sub.id}"
        assert json.loads(entry.detail)["receipt"] == kept.receipt
        # the live figures: the tally equals a recount of what remains, and moved by the difference
        kept_tallies = tallies()
        assert recount(app) == kept_tallies
        assert sum(n for k, n in kept_tallies.items() if k[6] == "") == 4     # the fixture's four
        assert {t: n for t, n in kept_tallies.items() if t[6] != ""} != before
    # an export made afterwards: none of it, nor the erased response's row
    body = admin.get("/admin/forms/kitchen/export.csv?pii=1&status=all").data.decode("utf-8-sig")
    assert not [v for v in erased if v in body] and office.receipts["secret"] not in body
    assert office.receipts["sq1"] in body
    # its page and the dashboard still open; nothing more to correct; erasing again changes nothing
    page = admin.get(f"/admin/responses/{sub.id}")
    assert page.status_code == 200 and office.receipts["secret"] in page.text
    assert not [v for v in erased if v in page.text]
    assert admin.get("/admin/forms/kitchen").status_code == 200
    assert admin.get(f"/admin/responses/{sub.id}/correct/story").status_code == 404
    assert not erase(app, sub.id)
    with app.app_context(), db.connection_context():
        assert AuditEvent.select().where(AuditEvent.action == erasure.ERASED).count() == 1


def test_a_void_response_erased_and_restored_counts_nowhere(office):
    """Status changes after an erasure move no figure: it counts nowhere, valid or not."""
    app = office.app
    sub = office.store("secret", answers=SECRET, area="SQ2")
    voider = office.client("admin")
    assert erase(app, sub.id, username=None)
    for status in ("void", "valid"):
        voider.post(f"/admin/responses/{sub.id}/status/{status}",
                    data={"reason": "checked", "csrf_token": csrf_token(voider)})
    with app.app_context(), db.connection_context():
        assert Submission.get_by_id(sub.id).status == "valid"
        assert recount(app) == tallies()
        assert sum(n for k, n in tallies().items() if k[6] == "") == 4
        assert AuditEvent.get(AuditEvent.action == erasure.ERASED).username == "cli"


# --- a ledger visit ----------------------------------------------------------------------------

HEAD = {"address": "独特路 77号 3单元", "head_name": "诸葛青云", "head_id": id_number("11010519580101123")}


def visit_ids(book, household) -> list[int]:
    return inside(book.app, lambda: [s.id for s in Submission.select(Submission.id).where(
        Submission.household == household.id).order_by(Submission.id)])


def household_state(book, household_id):
    def read():
        h = Household.get_by_id(household_id)
        spec = book.app.extensions["doorstep.catalog"].get("ledger")
        index = sorted(HouseholdAnswer.select(HouseholdAnswer.household, HouseholdAnswer.question,
                                              HouseholdAnswer.value)
                       .where(HouseholdAnswer.household == household_id).tuples())
        history = list(HouseholdChange.select(HouseholdChange.question, HouseholdChange.old_value,
                                              HouseholdChange.new_value)
                       .where(HouseholdChange.household == household_id)
                       .order_by(HouseholdChange.version, HouseholdChange.id).tuples())
        return h, json.loads(h.current), index, household_index.answer_rows(
            spec, household_id, json.loads(h.current)), cells.columns(spec, json.loads(h.current)), \
            history
    return inside(book.app, read)


def test_an_erased_visit_leaves_its_household_as_the_other_visits_made_it(book):
    closed = new_round(book, "JD", days=(-1, 30), name="已报送")
    first = book.visit(dict(FIRST, **HEAD, size=4, needs=["job"]), "G1", surveyor="sv1")
    later = dict(visit_date="2026-03-09", address="另一路 5号", size=5, needs=["training"])
    book.visit(later, code=first.code, base=first.version)
    close(book, closed)
    reported = report_of(book, closed)
    client = book.client("admin")
    page = without_tokens(client.get(f"/admin/rounds/{closed}/report").text)
    live = new_round(book, "JD", name="本季度")
    registration, revisit = visit_ids(book, first)
    assert erase(book.app, registration)
    household, now, index, expected_index, expected_cells, history = household_state(book, first.id)
    # what the revisit said stands; what only the registration said is gone
    assert now == later and household.address == "另一路 5号" and household.id_key is None
    assert index == expected_index
    assert {k: getattr(household, k) for k in expected_cells} == expected_cells
    # the remaining history is chained again: no row says "changed from" an erased value
    olds = {}
    for question, old, new in history:
        assert old == olds.get(question, "null")
        olds[question] = new
    with book.app.app_context(), db.connection_context():
        assert holding(list(HEAD.values())) == []
        # a chained-again row of an identifier question is stored sealed, as the ledger writes it
        stored = db.execute_sql('SELECT "question", "old_value", "new_value" FROM '
                                f'"{HouseholdChange._meta.table_name}" WHERE "household_id" = '
                                f"{first.id} AND \"question\" = 'address'").fetchall()
        assert stored and all(sealing.is_sealed(old) and sealing.is_sealed(new)
                              for _q, old, new in stored)
        assert recount(book.app) == tallies()
        # the open round still counts the household as done (the revisit is in its dates) ...
        r = SurveyRound.get_by_id(live)
        assert rounds.kept_counts(r) == rounds.expected_counts(r)
        member = RoundHousehold.get((RoundHousehold.round == live) &
                                    (RoundHousehold.household == first.id))
        assert member.state == rounds.standing(r, first.id).state == "done"
    # ... and the closed round's report is what was reported
    again = report_of(book, closed)
    assert again.counts == reported.counts and again.made_on == reported.made_on
    assert without_tokens(client.get(f"/admin/rounds/{closed}/report").text) == page
    assert erase(book.app, revisit)
    with book.app.app_context(), db.connection_context():
        r = SurveyRound.get_by_id(live)
        member = RoundHousehold.get((RoundHousehold.round == live) &
                                    (RoundHousehold.household == first.id))
        # no visit of it remains: the open round counts it as not visited
        assert member.state == rounds.standing(r, first.id).state == "not_yet"
        assert rounds.kept_counts(r) == rounds.expected_counts(r)
    assert report_of(book, closed).counts == reported.counts


def test_a_household_whose_only_visit_is_erased_stays_with_no_answers(book):
    first = book.visit(dict(FIRST, **HEAD), "SQ1")
    (registration,) = visit_ids(book, first)
    assert erase(book.app, registration)
    household, now, index, _expected, _cells, history = household_state(book, first.id)
    assert now == {} and index == [] and history == []
    assert (household.address, household.address_key, household.status) == ("", "", "active")
    assert household.code == first.code and household.visits == 1
    with book.app.app_context(), db.connection_context():
        assert holding(list(HEAD.values())) == []
    # its code still opens a visit, which fills it in again
    again = book.visit(dict(FIRST, address="独特路 78号"), code=first.code, base=household.version)
    assert household_state(book, again.id)[1]["address"] == "独特路 78号"


def test_an_office_correction_carried_to_the_household_is_erased_with_its_visit(book):
    first = book.visit(dict(FIRST, **HEAD), "SQ1")
    (registration,) = visit_ids(book, first)
    client = book.client("admin")
    fixed = client.post(f"/admin/responses/{registration}/correct/head_name", data={
        "value": "诸葛青峰", "reason": "typo", "csrf_token": csrf_token(client)})
    assert fixed.status_code == 302
    assert household_state(book, first.id)[1]["head_name"] == "诸葛青峰"
    assert erase(book.app, registration)
    assert household_state(book, first.id)[5] == []
    with book.app.app_context(), db.connection_context():
        assert holding(list(HEAD.values()) + ["诸葛青峰"]) == []


def test_a_conflict_and_its_resolution_forget_the_erased_value(book):
    """Two offline revisits clash on the income; the office keeps the first's (98765, audited
    with its value). Erasing that revisit: the conflict and the audit entry no longer hold it, and
    the household's income is the registration's again."""
    first = book.visit(dict(FIRST, **HEAD), "SQ1")
    book.visit(dict(FIRST, **HEAD, income=98765), "SQ1", code=first.code, base=1)
    book.visit(dict(FIRST, **HEAD, income=2800), "SQ1", code=first.code, base=1)
    client = book.client("mgr1")
    with book.app.app_context(), db.connection_context():
        clash = HouseholdConflict.get(HouseholdConflict.household == first.id)
    done = client.post(f"/admin/households/{first.code}/conflicts/{clash.id}",
                       data={"choice": "kept", "csrf_token": csrf_token(client)})
    assert done.status_code == 302
    _registration, kept_one, _other = visit_ids(book, first)
    assert erase(book.app, kept_one)
    with book.app.app_context(), db.connection_context():
        clash = HouseholdConflict.get_by_id(clash.id)
        assert "98765" not in clash.kept_value + (clash.chosen or "") + clash.visit_value
        said = json.loads(AuditEvent.get(AuditEvent.action == "household_resolve").detail)
        assert (said["question"], said["choice"], said["value"]) == ("income", "kept", "erased")
        assert json.loads(Household.get_by_id(first.id).current)["income"] == FIRST["income"]
        # the history read through the model: sealed rows open, so a sealed 98765 would show
        assert not [row for row in HouseholdChange.select(HouseholdChange.old_value,
                                                          HouseholdChange.new_value).tuples()
                    if "98765" in "".join(row)]


@pytest.mark.parametrize("username", ["admin", None])
def test_erasure_is_one_transaction(office, monkeypatch, username):
    """A failure half-way leaves the response as it was."""
    app = office.app
    sub = office.store("secret", answers=SECRET, area="SQ1")
    with app.app_context(), db.connection_context():
        before = tallies()
    monkeypatch.setattr(erasure.audit, "record", lambda *a, **k: 1 / 0)    # its last step
    with pytest.raises(ZeroDivisionError):
        erase(app, sub.id, username=username)
    with app.app_context(), db.connection_context():
        kept = Submission.get_by_id(sub.id)
        assert kept.erased_at is None and json.loads(kept.answers) == SECRET
        assert Answer.select().where(Answer.submission == sub.id).count() > 5
        assert tallies() == before


@pytest.mark.skipif(POSTGRES, reason="SQLite's own file")
def test_the_sqlite_file_keeps_no_erased_answer_in_its_free_space(office):
    sub = office.store("secret", answers=SECRET, area="SQ1")
    path = Path(office.app.config["DATABASE_URL"][len("sqlite:///"):])
    erased = texts(SECRET)

    def file_holds() -> list[str]:
        with office.app.app_context():
            with db.connection_context():
                db.execute_sql("PRAGMA secure_delete = 0")    # as a build without it would have it
                db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return held_in(erased, path.read_bytes())
    assert file_holds() == erased          # the search finds them when there, plain or sealed
    assert erase(office.app, sub.id)
    assert file_holds() == []


def test_the_moment_it_was_erased_is_kept(office):
    sub = office.store("secret", answers=SECRET)
    start = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=1)
    assert erase(office.app, sub.id)
    with office.app.app_context(), db.connection_context():
        assert Submission.get_by_id(sub.id).erased_at >= start

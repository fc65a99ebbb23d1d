"""`doorstep rounds create|list|assign|close`: rounds from the command line, on the office fixture
(JD > SQ1 > G1, JD > SQ2; sv1 is a surveyor in SQ1) with tests/forms/ledger.yaml."""
from __future__ import annotations

import json

import pytest

from service.storage.db import db
from service.storage.models import AuditEvent, RoundHousehold, SurveyRound

from .conftest import command_on
from .test_households_office import FIRST, book  # noqa: F401  (book: a fixture)


@pytest.fixture
def rounds_cli(book, cli, tmp_path):
    """`doorstep rounds …` on the book's database: (exit code, stdout, stderr)."""
    return command_on(book.app, cli, tmp_path, "rounds")


def members(round_id):
    with db.connection_context():
        return {m.household_id: m for m in RoundHousehold.select().where(
            RoundHousehold.round == round_id)}


def test_create_list_assign_and_close(book, rounds_cli):
    first = book.visit(FIRST, "SQ1")
    below = book.visit(dict(FIRST, address="东湖路 8号", head_id=None), "G1")
    book.visit(dict(FIRST, address="西山路 1号", head_id=None), "SQ2")
    code, said, err = rounds_cli("create", "--form", "ledger", "--area", "SQ1", "--name",
                                 "2026年春季走访", "--start", "2026-01-01", "--end", "2099-12-31")
    assert code == 0, err
    with db.connection_context():
        r = SurveyRound.get()
    assert said == f"round {r.id} created: 2026年春季走访, 2 household(s)\n"
    assert set(members(r.id)) == {first.id, below.id}
    code, said, _err = rounds_cli("list")
    assert said.split("\t")[:4] == [str(r.id), "2026年春季走访", "ledger", "SQ1"]
    assert said.rstrip().endswith("open\t2/2 (100.0%)")
    # by area, then by a list of codes (as typed: lower case, no dash), then unassigned
    assert rounds_cli("assign", str(r.id), "--surveyor", "sv1", "--area", "G1")[1] == \
        "1 household(s) assigned to sv1\n"
    assert members(r.id)[below.id].assigned_to_id == book.users["sv1"]
    typed = first.code.replace("-", "").lower()
    assert rounds_cli("assign", str(r.id), "--surveyor", "sv1", "--households", typed)[0] == 0
    assert members(r.id)[first.id].assigned_to_id == book.users["sv1"]
    assert rounds_cli("assign", str(r.id), "--unassign", "--area", "SQ1")[1] == \
        "2 household(s) unassigned\n"
    code, said, _err = rounds_cli("close", str(r.id))
    assert (code, said) == (0, f"round {r.id} closed: 2 of 2 household(s) done\n")
    with db.connection_context():
        assert json.loads(SurveyRound.get_by_id(r.id).frozen)["rows"]
        actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert actions[-5:] == ["round_create", "round_assign", "round_assign", "round_assign",
                            "round_close"]


@pytest.mark.parametrize("args, message", [
    (("create", "--form", "kitchen", "--area", "SQ1", "--name", "x", "--start", "2026-01-01",
      "--end", "2026-02-01"), "that form is not a ledger form"),
    (("create", "--form", "nope", "--area", "SQ1", "--name", "x", "--start", "2026-01-01",
      "--end", "2026-02-01"), "no form 'nope' in FORMS_DIR"),
    (("create", "--form", "ledger", "--area", "NOWHERE", "--name", "x", "--start",
      "2026-01-01", "--end", "2026-02-01"), "no area with code 'NOWHERE'"),
    (("create", "--form", "ledger", "--area", "SQ1", "--name", " ", "--start", "2026-01-01",
      "--end", "2026-02-01"), "the round needs a name"),
    (("create", "--form", "ledger", "--area", "SQ1", "--name", "x", "--start", "2026-03-01",
      "--end", "2026-02-01"), "the end date is before the start date"),
    (("assign", "999", "--surveyor", "sv1", "--area", "G1"), "no round 999"),
])
def test_bad_input_is_refused_with_a_reason_and_stores_nothing(book, rounds_cli, args, message):
    code, _said, err = rounds_cli(*args)
    assert code != 0 and message in err
    with db.connection_context():
        assert SurveyRound.select().count() == 0


def test_an_assignment_outside_the_surveyors_area_changes_nothing(book, rounds_cli):
    inside = book.visit(FIRST, "SQ1")
    other = book.visit(dict(FIRST, address="西山路 1号", head_id=None), "SQ2")
    assert rounds_cli("create", "--form", "ledger", "--area", "JD", "--name", "全街道",
                      "--start", "2026-01-01", "--end", "2099-12-31")[0] == 0
    with db.connection_context():
        r = SurveyRound.get()
    code, _said, err = rounds_cli("assign", str(r.id), "--surveyor", "sv1", "--households",
                                  f"{inside.code},{other.code}")
    assert code == 1 and "outside the surveyor's area" in err
    code, _said, err = rounds_cli("assign", str(r.id), "--surveyor", "sv1", "--households",
                                  "ZZZZ-ZZZZ")
    assert code == 1 and "unknown household code(s): ZZZZ-ZZZZ" in err
    assert {m.assigned_to_id for m in members(r.id).values()} == {None}

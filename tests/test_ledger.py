"""The household ledger's rules (service/records/ledger.py), on tests/forms/ledger.yaml.

A first visit registers a household; a revisit names it and the version its page was prefilled
from. Answers apply question by question, newest first; a question changed on both sides is a
conflict the office resolves; nothing a visit said is lost, since every visit is stored whole.
"""
from __future__ import annotations

import json
import uuid

import pytest

from service.records import ledger, submissions
from service.records.submissions import Attribution, Visit
from service.storage.db import db
from service.storage.models import Household, HouseholdChange, Submission, User

FIRST = {"visit_date": "2026-03-01", "address": "幸福路 3号楼 2单元 101", "head_name": "张三",
         "size": 3, "needs": ["job"], "income": 2000, "health": "良好"}


@pytest.fixture
def book(app):
    """The ledger form in an app context, with a helper that stores one visit."""
    with app.app_context(), db.connection_context():
        spec = app.extensions["doorstep.catalog"].get("ledger")
        app.extensions["doorstep.catalog"].ensure_published(spec)

        def visit(answers, household=None, base=None, sensitive=True, area=None):
            stored, _created = submissions.store(
                spec, str(uuid.uuid4()), answers, sensitive_consent=sensitive,
                attribution=Attribution(area_id=area),
                visit=Visit(household.code if household else None, base))
            return stored
        visit.spec = spec
        yield visit


def fresh(household) -> Household:
    return Household.get_by_id(household.id)


def now_of(household) -> dict:
    return json.loads(fresh(household).current)


def test_a_first_visit_registers_a_household_with_a_code_read_aloud(book):
    first = book(FIRST)
    household = first.household
    assert household is not None and household.form_id == "ledger"
    assert len(household.code) == 9 and household.code[4] == "-"
    assert set(household.code.replace("-", "")) <= set("23456789ABCDEFGHJKLMNPQRSTUVWXYZ")
    kept = fresh(household)
    assert (kept.version, kept.visits, kept.status) == (1, 1, "active")
    assert json.loads(kept.current) == FIRST
    assert kept.address == FIRST["address"]
    assert kept.address_key == ledger.address_key("幸福路3号楼2单元101")   # a keyed hash
    assert kept.last_visit_at == first.received_at
    # every answered question's first value is in the history, with the visit that gave it
    history = {c.question: (json.loads(c.old_value), json.loads(c.new_value), c.submission_id)
               for c in HouseholdChange.select().where(HouseholdChange.household == household)}
    assert history == {name: (None, value, first.id) for name, value in FIRST.items()}


def test_a_revisit_keeps_the_household_current_and_its_history(book):
    household = book(FIRST).household
    second = book(dict(FIRST, visit_date="2026-06-01", income=3500, needs=["job", "training"]),
                  household, base=1)
    kept = fresh(household)
    assert (kept.version, kept.visits) == (2, 2)
    assert now_of(household)["income"] == 3500 and now_of(household)["needs"] == ["job", "training"]
    changed = {(c.question, c.old_value, c.new_value) for c in
               HouseholdChange.select().where((HouseholdChange.household == household) &
                                              (HouseholdChange.submission == second))}
    assert changed == {("visit_date", '"2026-03-01"', '"2026-06-01"'),
                       ("income", "2000", "3500"), ("needs", '["job"]', '["job", "training"]')}
    assert Submission.get_by_id(second.id).base_version == 1


def test_the_revisit_page_starts_from_the_current_answers_but_asks_some_afresh(book):
    household = fresh(book(FIRST).household)
    with_consent = ledger.prefill(book.spec, household, sensitive_ok=True)
    assert "visit_date" not in with_consent                 # prefill: false
    assert with_consent["health"] == "良好" and with_consent["income"] == 2000
    assert "health" not in ledger.prefill(book.spec, household, sensitive_ok=False)


def test_a_revisit_without_the_sensitive_consent_leaves_sensitive_answers_alone(book):
    household = book(FIRST).household
    without = {k: v for k, v in FIRST.items() if k != "health"}
    book(dict(without, income=2500), household, base=1, sensitive=False)
    assert now_of(household)["health"] == "良好" and now_of(household)["income"] == 2500


def test_two_offline_revisits_apply_question_by_question_and_clash_only_where_both_changed(book):
    household = book(FIRST).household
    # both surveyors opened version 1 without signal; A's visit arrives first
    book(dict(FIRST, income=3000, size=4), household, base=1)
    late = book(dict(FIRST, income=2800, needs=["training"]), household, base=1)
    now = now_of(household)
    assert now["size"] == 4                # only A changed it: A's value
    assert now["needs"] == ["training"]    # only B changed it: B's value
    assert now["income"] == 3000           # both changed it: the newer stays, and a conflict
    (clash,) = ledger.open_conflicts(household)
    assert (clash.question, json.loads(clash.kept_value), json.loads(clash.visit_value),
            clash.submission_id) == ("income", 3000, 2800, late.id)
    # B's visit is stored whole all the same
    assert json.loads(Submission.get_by_id(late.id).answers)["income"] == 2800


def test_the_office_resolves_a_conflict_and_that_is_a_change_of_its_own(book, app):
    household = book(FIRST).household
    book(dict(FIRST, income=3000), household, base=1)
    book(dict(FIRST, income=2800), household, base=1)
    (clash,) = ledger.open_conflicts(household)
    office = User.create(username="mgr", role="manager", password_hash="x")
    with db.atomic():
        ledger.resolve(clash, 2800, office)
    assert now_of(household)["income"] == 2800
    assert not list(ledger.open_conflicts(household))
    last = HouseholdChange.select().order_by(HouseholdChange.id.desc()).first()
    assert (last.question, last.source, last.user_id, last.version) == \
        ("income", "resolve", office.id, fresh(household).version)


def test_a_visit_that_kept_what_it_was_shown_does_not_undo_a_newer_change(book):
    household = book(FIRST).household
    book(dict(FIRST, income=3000), household, base=1)
    book(dict(FIRST, size=5), household, base=1)        # income as shown at version 1
    assert now_of(household)["income"] == 3000 and now_of(household)["size"] == 5
    assert not list(ledger.open_conflicts(household))


def test_a_retried_revisit_is_applied_once(book):
    household = book(FIRST).household
    the_uuid = str(uuid.uuid4())
    for _ in range(2):
        submissions.store(book.spec, the_uuid, dict(FIRST, income=4000),
                          visit=Visit(household.code, 1), sensitive_consent=True)
    assert (fresh(household).version, fresh(household).visits) == (2, 2)


@pytest.mark.parametrize("status", ["closed", "moved_out"])
def test_a_closed_or_moved_out_household_refuses_a_visit_and_nothing_is_stored(book, status):
    household = book(FIRST).household
    ledger.set_status(household, status)
    before = Submission.select().count()
    with pytest.raises(ledger.LedgerError) as refused:
        book(dict(FIRST, income=1), household, base=1)
    assert refused.value.reason == "closed"
    assert Submission.select().count() == before and fresh(household).version == 1


def test_an_unknown_household_or_version_is_refused(book):
    household = book(FIRST).household
    with pytest.raises(ledger.LedgerError) as refused:
        submissions.store(book.spec, str(uuid.uuid4()), FIRST, visit=Visit("ZZZZ-ZZZZ", 1))
    assert refused.value.reason == "unknown"
    with pytest.raises(ledger.LedgerError) as refused:
        book(FIRST, household, base=7)
    assert refused.value.reason == "version"


def test_the_same_address_in_the_same_area_or_the_same_id_number_is_a_possible_duplicate(
        book, app):
    from service.office import areas
    sq1, sq2 = areas.create("SQ1", "东湖社区"), areas.create("SQ2", "西湖社区")
    first = book(FIRST, area=sq1.id).household
    again = book(dict(FIRST, address="幸福路3号楼2单元101。", head_name="张三丰"), area=sq1.id)
    elsewhere = book(FIRST, area=sq2.id)
    same_id = book(dict(FIRST, address="别处", head_id="11010519491231002X"), area=sq2.id)
    by_id = book(dict(FIRST, address="又一处", head_id="11010519491231002X"), area=sq2.id)
    assert fresh(again.household).duplicate_of_id == first.id
    assert fresh(elsewhere.household).duplicate_of_id is None      # another area's address
    assert fresh(same_id.household).duplicate_of_id is None
    assert fresh(by_id.household).duplicate_of_id == same_id.household_id


def test_merging_keeps_both_histories_and_the_merged_code_leads_to_the_household_kept(book, app):
    kept = book(dict(FIRST, income=2000)).household
    duplicate = book({"address": FIRST["address"], "head_name": "张三", "health": "需要轮椅"})
    office = User.create(username="mgr", role="manager", password_hash="x")
    with db.atomic():
        ledger.merge(fresh(duplicate.household), fresh(kept), office)
    gone = fresh(duplicate.household)
    assert (gone.status, gone.merged_into_id, gone.duplicate_of_id) == ("merged", kept.id, None)
    assert ledger.find(gone.code.lower().replace("-", "")).id == kept.id
    now = now_of(kept)
    assert now["income"] == 2000 and now["health"] == "良好"     # the kept household's own answers
    assert HouseholdChange.select().where(HouseholdChange.household == gone).count() == 3
    # a visit to the merged code goes to the household it was merged into
    later = book(dict(FIRST, income=5000), gone, base=fresh(kept).version)
    assert later.household_id == kept.id and now_of(kept)["income"] == 5000


def test_the_office_corrects_a_households_answer(book):
    household = book(FIRST).household
    office = User.create(username="mgr", role="manager", password_hash="x")
    with db.atomic():
        assert ledger.correct(fresh(household), "size", 6, office)
        assert not ledger.correct(fresh(household), "size", 6, office)     # no change, no version
    assert now_of(household)["size"] == 6 and fresh(household).version == 2


def test_a_self_report_changes_only_what_it_answers(book):
    household = book(FIRST).household
    submissions.store(book.spec, str(uuid.uuid4()), {"address": FIRST["address"], "size": 5},
                      attribution=Attribution(channel="self"),
                      visit=Visit(household.code, None, partial=True))
    now = now_of(household)
    assert now["size"] == 5 and now["income"] == 2000 and now["health"] == "良好"


def test_a_visit_without_a_form_counts_as_a_visit_once_and_moved_out_moves_the_household(book):
    from service.storage.models import VisitOutcome, utcnow
    household = book(FIRST).household
    the_uuid = str(uuid.uuid4())
    for _ in range(2):     # a retry stores nothing new
        with db.atomic():
            made, _created = ledger.record_outcome(household.id, the_uuid, "not_home",
                                                   received_at=utcnow(), day="2026-06-01")
    assert VisitOutcome.select().count() == 1 and fresh(household).visits == 2
    with db.atomic():
        ledger.record_outcome(household.id, str(uuid.uuid4()), "moved_out",
                              received_at=utcnow(), day="2026-06-02")
    assert fresh(household).status == "moved_out" and fresh(household).visits == 3
    with pytest.raises(ledger.LedgerError), db.atomic():
        ledger.record_outcome(household.id, str(uuid.uuid4()), "no_change",
                              received_at=utcnow(), day="2026-06-03")


def test_a_revisit_left_blank_on_a_sensitive_question_does_not_clear_it(book):
    """The revisit page never shows sensitive answers: blank there means not asked again."""
    household = book(FIRST).household
    without = {k: v for k, v in FIRST.items() if k != "health"}
    book(without, household, base=1, sensitive=True)
    assert now_of(household)["health"] == "良好"
    book(dict(without, health="需要轮椅"), household, base=1, sensitive=True)
    assert now_of(household)["health"] == "需要轮椅"


def test_correcting_a_visits_answer_corrects_the_household_where_that_visit_set_it(book):
    household = book(FIRST).household
    second = book(dict(FIRST, size=4), household, base=1)
    office = User.create(username="mgr", role="manager", password_hash="x")
    spec = book.spec
    first_visit = Submission.select().where(Submission.household == household).order_by(
        Submission.id).first()
    # the first visit's income is still the household's: the correction carries over
    submissions.correct(spec, first_visit, spec.question("income"), None, 2100, "核实", office)
    # its size was replaced by the second visit's since: the household keeps 4
    submissions.correct(spec, first_visit, spec.question("size"), None, 2, "核实", office)
    now = now_of(household)
    assert now["income"] == 2100 and now["size"] == 4
    last = HouseholdChange.select().order_by(HouseholdChange.id.desc()).first()
    assert (last.question, last.source, last.user_id) == ("income", "correction", office.id)
    submissions.correct(spec, second, spec.question("size"), None, 6, "核实", office)
    assert now_of(household)["size"] == 6

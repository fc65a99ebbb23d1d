"""Retention (service/records/retention.py, `doorstep purge`): a form's `retention_days` say how long
its answers are kept; a purge erases those of older submissions by office-local days, in batches,
prints counts per form and writes one audit entry; `--dry-run` counts only.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
from uuid import uuid4

import pytest

from service.formspec import FormError, load_file, parse
from service.records import retention, submissions
from service.storage.db import db
from service.storage.models import AuditEvent, Submission

from .conftest import DEMO_FORMS, KITCHEN_ANSWERS, TEST_FORMS, make_app, use_database_of
from .test_tally import recount, tallies

KEPT_DAYS = 30
AS_OF = dt.date(2026, 4, 30)      # kitchen submissions made before 2026-04-01 (Beijing) expire


@pytest.fixture
def app(tmp_path):
    """The kitchen form kept KEPT_DAYS, the survey form kept for ever."""
    forms = tmp_path / "forms"
    forms.mkdir()
    text = (TEST_FORMS / "kitchen.yaml").read_text(encoding="utf-8")
    (forms / "kitchen.yaml").write_text(text.replace("version: 1\n", f"version: 1\nretention_days: "
                                                     f"{KEPT_DAYS}\n"), encoding="utf-8")
    shutil.copy(TEST_FORMS / "survey.yaml", forms / "survey.yaml")
    made = make_app(tmp_path, forms)
    made.config["FORMS_DIR"] = str(forms)
    return made


def store_at(app, form_id, moment: dt.datetime, answers, monkeypatch) -> int:
    monkeypatch.setattr(submissions, "utcnow", lambda: moment)
    with app.app_context(), db.connection_context():
        spec = app.extensions["doorstep.catalog"].get(form_id)
        app.extensions["doorstep.catalog"].ensure_published(spec)
        return submissions.store(spec, str(uuid4()), answers)[0].id


@pytest.fixture
def stored(app, monkeypatch):
    """Kitchen submissions on each side of the office-local day boundary, and survey ones."""
    survey = app.extensions["doorstep.catalog"].get("survey")
    survey_answers = {q.name: "x" for q in survey.questions() if q.type == "text"}
    moments = {   # naive UTC; Beijing is UTC+8
        "old": dt.datetime(2026, 1, 5, 2, 0),
        "last_day_expired": dt.datetime(2026, 3, 31, 15, 30),   # 23:30 on 31 March in Beijing
        "first_day_kept": dt.datetime(2026, 3, 31, 16, 10),     # 00:10 on 1 April in Beijing
        "recent": dt.datetime(2026, 4, 29, 9, 0),
    }
    made = {key: store_at(app, "kitchen", at, KITCHEN_ANSWERS, monkeypatch)
            for key, at in moments.items()}
    made["survey"] = store_at(app, "survey", moments["old"], survey_answers, monkeypatch)
    monkeypatch.undo()
    return made


def purge(app, cli, tmp_path, *args):
    env = {"DATABASE_URL": app.config["DATABASE_URL"], "FORMS_DIR": app.config["FORMS_DIR"],
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance")}
    try:
        done = cli("purge", *args, env=env)
        return done.exit_code, done.stdout
    finally:
        use_database_of(app)


def erased(app) -> set[int]:
    with app.app_context(), db.connection_context():
        return {s.id for s in Submission.select().where(Submission.erased_at.is_null(False))}


def purges(app) -> list[dict]:
    with app.app_context(), db.connection_context():
        return [json.loads(e.detail) for e in AuditEvent.select().where(
            AuditEvent.action == "purge").order_by(AuditEvent.id)]


def test_a_dry_run_counts_what_a_purge_would_erase_and_changes_nothing(app, stored, cli,
                                                                         tmp_path):
    code, out = purge(app, cli, tmp_path, "--as-of", AS_OF.isoformat(), "--dry-run")
    assert code == 0
    assert "kitchen: would erase 2 submission(s) made before 2026-04-01" in out
    assert "survey" not in out
    assert erased(app) == set() and purges(app) == []


def test_a_purge_erases_what_has_expired_by_office_days_and_logs_the_run_once(app, stored, cli,
                                                                             tmp_path):
    code, out = purge(app, cli, tmp_path, "--as-of", AS_OF.isoformat())
    assert code == 0 and "kitchen: erased 2 submission(s) made before 2026-04-01" in out
    assert erased(app) == {stored["old"], stored["last_day_expired"]}
    (run,) = purges(app)
    assert run == {"as_of": "2026-04-30", "dry_run": False, "erased": {"kitchen": 2},
                   "kept_from": {"kitchen": "2026-04-01"}}
    with app.app_context(), db.connection_context():
        assert recount(app) == tallies()
        assert not AuditEvent.select().where(AuditEvent.action == "erasure").exists()
        assert json.loads(Submission.get_by_id(stored["old"]).answers) == {}
        assert json.loads(Submission.get_by_id(stored["first_day_kept"]).answers) == \
            KITCHEN_ANSWERS
    # a day later the next day's submission goes too; nothing is erased twice
    code, out = purge(app, cli, tmp_path, "--as-of", "2026-05-01")
    assert "kitchen: erased 1 submission(s) made before 2026-04-02" in out
    assert erased(app) == {stored["old"], stored["last_day_expired"], stored["first_day_kept"]}
    assert [r["erased"] for r in purges(app)] == [{"kitchen": 2}, {"kitchen": 1}]


def test_a_purge_goes_batch_by_batch(app, monkeypatch):
    ids = [store_at(app, "kitchen", dt.datetime(2026, 2, 1, 0, i), KITCHEN_ANSWERS, monkeypatch)
           for i in range(5)]
    monkeypatch.undo()
    with app.app_context(), db.connection_context():
        run = retention.purge(app.extensions["doorstep.catalog"], AS_OF, batch=2)
        assert run.counts == {"kitchen": 5} and run.total == 5
        assert recount(app) == tallies()
    assert erased(app) == set(ids)


def test_without_a_date_a_purge_goes_by_the_office_today(app, stored, cli, tmp_path):
    code, out = purge(app, cli, tmp_path)
    assert code == 0 and "kitchen: erased 4 submission(s)" in out    # all older than 30 days


@pytest.mark.parametrize("value", [0, -5, 36501, "3 years", True, 1.5])
def test_the_loader_refuses_a_retention_that_is_not_a_number_of_days(value):
    definition = {"id": "f", "version": 1, "title": "t", "retention_days": value,
                  "sections": [{"title": "s", "questions": [
                      {"name": "a", "type": "text", "label": "a"}]}]}
    with pytest.raises(FormError) as refused:
        parse(definition)
    assert any("retention_days" in line and "from 1 to 36500" in line
               for line in refused.value.problems)


def test_the_demo_forms_keep_what_their_notices_promise():
    assert {name: load_file(DEMO_FORMS / f"{name}.yaml").retention_days
            for name in ("household", "signup", "suggestion")} == {
        "household": 1096, "signup": 396, "suggestion": 396}

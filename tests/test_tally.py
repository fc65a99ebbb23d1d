"""The running tallies behind the dashboard are exactly what a full recount gives.

Every write path (store, correct, set_status) adjusts `Tally` in its own transaction;
`tally.rebuild` recounts from the stored answers. After any mix of writes the two must agree row
for row, or the dashboard would drift from the data a little with every correction.
"""
from __future__ import annotations

import datetime as dt
import random
from uuid import uuid4

from argon2 import PasswordHasher
from peewee import fn

from bench.synthetic import answers_for, value_for
from service.reports import aggregate
from service.office import areas
from service.records import answers as stored_answers, cells, submissions, tally
from service.storage.db import db
from service.storage.models import Submission, Tally, User

TODAY = dt.date(2026, 3, 1)
CHANNELS = ("web", "self", "surveyor")


def tallies() -> dict:
    """Tally as {key: n}, summed per key, without the rows that went back to zero."""
    key = [getattr(Tally, k) for k in tally.KEY]
    rows = Tally.select(*key, fn.SUM(Tally.n)).group_by(*key).tuples()
    return {tuple(row[:-1]): int(row[-1]) for row in rows if row[-1]}


def recount(app, form_id=None) -> dict:
    tally.rebuild(app.extensions["doorstep.catalog"], form_id)
    return tallies()


def test_random_stores_corrections_and_status_changes_keep_tallies_exact(demo_app, clock):
    """Synthetic households over five days, areas, channels and surveyors; corrections of any
    question (members' too, some cleared) and status changes back and forth, in a seeded order."""
    app, rng = demo_app, random.Random(20260301)
    spec = app.extensions["doorstep.catalog"].get("household")
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("x" * 12)
    with app.app_context(), db.connection_context():
        app.extensions["doorstep.catalog"].ensure_published(spec)
        street = areas.create("JD", "幸福街道")
        places = [None, street.id] + [areas.create(f"SQ{i}", f"社区{i}", street).id
                                      for i in range(3)]
        admin = User.create(username="admin", role="admin", password_hash=cheap)
        people = [None] + [User.create(username=f"sv{i}", role="surveyor", password_hash=cheap,
                                       area=places[2 + i]).id for i in range(3)]
        stored, done = [], {"store": 0, "correct": 0, "status": 0}
        for _ in range(90):
            action = "store" if len(stored) < 5 else rng.choices(
                ("store", "correct", "status"), weights=(5, 3, 2))[0]
            if action == "store":
                clock(dt.datetime(2026, 3, 1) + dt.timedelta(minutes=rng.randrange(5 * 24 * 60)))
                submission, _ = submissions.store(
                    spec, str(uuid4()), answers_for(spec, rng, TODAY), sensitive_consent=True,
                    attribution=submissions.Attribution(
                        channel=rng.choice(CHANNELS), area_id=rng.choice(places),
                        surveyor_id=rng.choice(people)))
                stored.append(submission.id)
            elif action == "correct":
                submission = Submission[rng.choice(stored)]
                current = stored_answers.current_answers(spec, submission)
                q = rng.choice([q for q in spec.all_questions()
                                if q.answerable and q.type != "repeat"])
                parent, item = spec.parent_of(q.name), None
                if parent is not None:
                    item = rng.randrange(len(current[parent.name]))
                value = None if rng.random() < 0.2 else value_for(q, rng, TODAY)
                submissions.correct(spec, submission, q, item, value, "checked", admin)
            else:
                submission = Submission[rng.choice(stored)]
                submissions.set_status(submission, rng.choice(submissions.STATUSES), "checked",
                                       admin)
            done[action] += 1
        assert min(done.values()) >= 15, done       # the mix really mixed
        assert Submission.select().where(Submission.status != "valid").count() > 5

        running = tallies()
        assert min(running.values()) > 0            # no count ever went below zero
        assert recount(app) == running
        for submission in Submission.select():
            current = stored_answers.current_answers(spec, submission)
            # corrections cleared what they hid; the export's kept cells are the current answers
            assert list(stored_answers.now_hidden(spec, current, True)) == []
            assert (submission.cells, submission.pii_cells, submission.cells_formula) == \
                tuple(cells.encode(spec, current).values())


def test_a_blank_repeat_item_is_counted_as_the_stored_answers_show_it(app):
    """A member added and left blank has no answer rows; the running tallies, the recount and the
    raw counts must all treat it the same way (here: not as a member)."""
    spec = app.extensions["doorstep.catalog"].get("survey")
    with app.app_context(), db.connection_context():
        app.extensions["doorstep.catalog"].ensure_published(spec)
        for members in ([{}], [{"age": 30}, {}], [{}, {"age": 8}], []):
            submissions.store(spec, str(uuid4()), {"size": 2, "members": members})
        running = tallies()
        admin = User.create(username="admin", role="admin", password_hash="-")
        filters = aggregate.Filters()
        raw = aggregate.RawSource(spec, admin, filters).values()
        assert aggregate.TallySource(spec, admin, filters).values() == raw
        assert recount(app) == running


def test_a_correction_that_fills_or_empties_a_repeat_item_changes_the_item_counts(app):
    """Filling in a blank member makes it a member; clearing a member's only answer unmakes it."""
    spec = app.extensions["doorstep.catalog"].get("survey")
    age = spec.question("age")
    with app.app_context(), db.connection_context():
        app.extensions["doorstep.catalog"].ensure_published(spec)
        admin = User.create(username="admin", role="admin", password_hash="-")
        filled, _ = submissions.store(spec, str(uuid4()), {"members": [{}, {"age": 8}]})
        emptied, _ = submissions.store(spec, str(uuid4()), {"members": [{"age": 30}]})
        submissions.correct(spec, filled, age, 0, 40, "the father was missed", admin)
        submissions.correct(spec, emptied, age, 0, None, "not a member", admin)
        running = tallies()
        members = {v: n for (*_, q, v), n in running.items() if q == "members"}
        assert members == {"": 1, "2": 1}        # one household, with two members
        assert recount(app) == running


def test_a_double_click_on_void_counts_the_change_once(app):
    """Two requests that both read the submission as valid before either marks it void (a
    double click served by two workers) must take it out of the figures once, not twice."""
    spec = app.extensions["doorstep.catalog"].get("survey")
    with app.app_context(), db.connection_context():
        app.extensions["doorstep.catalog"].ensure_published(spec)
        admin = User.create(username="admin", role="admin", password_hash="-")
        for n in (1, 2):
            done, _ = submissions.store(spec, str(uuid4()), {"housing": "own", "size": n})
        first, second = Submission[done.id], Submission[done.id]
        submissions.set_status(first, "void", "twice", admin)
        submissions.set_status(second, "void", "twice", admin)
        running = tallies()
        assert sum(n for k, n in running.items() if k[-2:] == ("", "")) == 1
        assert recount(app) == running
        submissions.set_status(first, "valid", "restored", admin)   # `first` is stale now too
        submissions.set_status(second, "valid", "restored", admin)
        assert recount(app) == tallies()


def test_rebuilding_one_form_leaves_the_other_forms_tallies_alone(app):
    kitchen, survey = (app.extensions["doorstep.catalog"].get(f) for f in ("kitchen", "survey"))
    with app.app_context(), db.connection_context():
        for spec, answers in ((kitchen, {"name": "张三", "employed": "yes", "n": 2}),
                              (survey, {"housing": "own", "size": 3})):
            app.extensions["doorstep.catalog"].ensure_published(spec)
            submissions.store(spec, str(uuid4()), answers)
        exact = tallies()
        Tally.update(n=Tally.n + 5).execute()           # both forms' counts drifted
        drifted = tallies()
        after = recount(app, "survey")

        def of(form_id, counts):
            return {k: n for k, n in counts.items() if k[0] == form_id}
        assert of("survey", after) == of("survey", exact)        # recounted
        assert of("kitchen", exact) and of("kitchen", after) == of("kitchen", drifted)  # untouched
        assert of("kitchen", after) != of("kitchen", exact)

"""A one-value answer sent twice in one post (`a=1&a=2`) is ambiguous: the whole post is refused
with 400 in the user's language and nothing of it is stored, for every question type whose answer
is one value (walked from the registry, so a new type cannot be forgotten), in a repeat's item,
on a household's visit page, an outcome tap and the outbox's replay; a select_multiple still takes
many."""
from __future__ import annotations

import datetime as dt
import random

import pytest

from service.formspec import types
from service.storage.db import db
from service.storage.models import Submission, VisitOutcome

from .conftest import Visitor, hidden
from .test_every_type import ANSWERED, RNG_SEED, walk  # noqa: F401  (the fixture)
from .test_visits import FIRST, OUTBOX, open_page, outcome_form, post_page, registered, sv1  # noqa: F401,E501

ONE_VALUE = [kind for kind in ANSWERED if not types.get(kind).multiple]
MANY = [kind for kind in ANSWERED if types.get(kind).multiple]
SAID = "was sent more than once in one post"


def submissions(app) -> int:
    with app.app_context(), db.connection_context():
        return Submission.select().count()


def two_answers(entry, q) -> list[str]:
    """Two valid posted values of the type (different ones where the type has several)."""
    today = dt.date.today()
    values = {entry.posted(entry.sample(q, random.Random(seed), today))[0]
              for seed in range(RNG_SEED, RNG_SEED + 20)}
    chosen = sorted(values)[:2]
    return chosen if len(chosen) == 2 else chosen * 2


def test_the_registry_has_both_kinds():
    assert "select_one" in ONE_VALUE and "text" in ONE_VALUE and MANY == ["select_multiple"]


@pytest.mark.parametrize("walk", ONE_VALUE, indirect=True)
def test_a_one_value_answer_sent_twice_is_refused_and_nothing_stored(walk):
    app, spec, kind = walk
    q = spec.question("a")
    visitor = Visitor(app.test_client())
    sent = two_answers(q.qtype, q)
    page = visitor.submit(f"/f/{spec.id}?lang=en", {"a": sent})
    assert page.status_code == 400 and SAID in page.text, kind
    outbox = visitor.submit(f"/f/{spec.id}", {"a": sent}, headers=OUTBOX)
    assert outbox.status_code == 400 and SAID in outbox.json["errors"]["a"][0]
    chinese = visitor.submit(f"/f/{spec.id}?lang=zh", {"a": sent})
    assert chinese.status_code == 400 and "重复" in chinese.text
    assert submissions(app) == 0
    assert visitor.submit(f"/f/{spec.id}", {"a": sent[0]}).status_code == 200   # once: fine


@pytest.mark.parametrize("walk", MANY, indirect=True)
def test_a_many_value_answer_still_takes_many(walk):
    app, spec, kind = walk
    q = spec.question("a")
    values = [c.value for c in q.choices][:2]
    assert Visitor(app.test_client()).submit(f"/f/{spec.id}", {"a": values}).status_code == 200
    assert submissions(app) == 1


def test_an_items_answer_sent_twice_is_refused(app, visitor):
    page = visitor.submit("/f/kitchen?lang=en", {
        "consent": "y", "name": "张三", "employed": "yes", "members-0-mname": "李四",
        "members-0-age": ["30", "8"]})
    assert page.status_code == 400 and SAID in page.text
    assert submissions(app) == 0


@pytest.mark.parametrize("twice", [{"size": ["3", "4"]}, {"household": None},
                                   {"base_version": None}, {"submission_uuid": None}])
def test_a_visit_with_a_field_sent_twice_is_refused(app, sv1, registered, twice):  # noqa: F811
    path = f"/visit/{registered}"
    html = open_page(sv1, path)
    key, values = next(iter(twice.items()))
    values = values or [hidden(html, key), hidden(html, key)]
    before = submissions(app)
    reply = post_page(sv1, path, {**FIRST, key: values}, html=html, headers=OUTBOX)
    assert reply.status_code == 400 and SAID in reply.json["errors"][key][0]
    assert submissions(app) == before


def test_an_outcome_sent_twice_is_refused(app, sv1, registered):  # noqa: F811
    action, data = outcome_form(open_page(sv1, f"/visit/{registered}"), "not_home")
    reply = sv1.post(action, data={**data, "outcome": ["not_home", "refused"]}, headers=OUTBOX)
    assert reply.status_code == 400
    with app.app_context(), db.connection_context():
        assert VisitOutcome.select().count() == 0

"""Synthetic but valid answers for any form definition (benchmarks and tests).

Values respect each question's type, bounds and choices, and `show_if` is evaluated exactly as the
server does, so what is generated is what a real submission could hold.
"""
from __future__ import annotations

import datetime as dt
import random

from service.formspec.conditions import evaluate
from service.formspec.model import FormSpec, Question

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"


def _id_number(rng: random.Random) -> str:
    from service.formspec.validators import ID_CHECK, ID_WEIGHTS
    born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 70))
    body = f"{rng.choice(['110105', '350102', '440106'])}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS)) % 11]


def value_for(q: Question, rng: random.Random, today: dt.date):
    if q.type == "select_one":
        return rng.choice(q.choices).value
    if q.type == "select_multiple":
        low = q.min_selected or 1
        high = min(len(q.choices), q.max_selected or len(q.choices))
        picked = rng.sample(q.choices, rng.randint(low, max(low, high)))
        order = [c.value for c in q.choices]
        return sorted((c.value for c in picked), key=order.index)
    if q.type == "integer":
        low = q.min if q.min is not None else 0
        high = q.max if q.max is not None else low + 100
        return rng.randint(int(low), int(min(high, low + 100)))
    if q.type == "decimal":
        low = float(q.min) if q.min is not None else 0.0
        high = float(q.max) if q.max is not None else low + 200
        return f"{rng.uniform(low, min(high, low + 200)):.1f}"
    if q.type == "date":
        return (today - dt.timedelta(days=rng.randrange(0, 300))).isoformat()
    if q.type == "phone":
        return f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
    if q.type == "id_number":
        return _id_number(rng)
    if q.type in ("text", "textarea"):
        return rng.choice(SURNAMES) + rng.choice(GIVEN) + ("" if q.type == "text" else "希望得到帮助")
    return None


def answers_for(spec: FormSpec, rng: random.Random, today: dt.date | None = None,
                sensitive: bool = True, fill: float = 0.9) -> dict:
    """One valid answers document; optional questions are answered with probability `fill`."""
    today = today or dt.date.today()
    answers: dict = {}

    def shown(q, lookup):
        if q.sensitive and not sensitive:
            return False
        return q.show_if is None or evaluate(q.show_if, lookup)

    for q in spec.questions():
        if not q.answerable or not shown(q, answers.get):
            continue
        if q.type == "repeat":
            items = []
            for _ in range(rng.randint(max(1, q.min_items), min(q.max_items or 6, 6))):
                item: dict = {}
                lookup = lambda n, item=item: item[n] if n in item else answers.get(n)  # noqa
                for child in q.questions:
                    if child.answerable and shown(child, lookup) and \
                            (child.required or rng.random() < fill):
                        item[child.name] = value_for(child, rng, today)
                items.append(item)
            answers[q.name] = items
        elif q.required or rng.random() < fill:
            answers[q.name] = value_for(q, rng, today)
    return answers

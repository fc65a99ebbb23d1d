"""Synthetic but valid answers for any form definition (benchmarks and tests).

Values respect each question's type, bounds and choices, and `show_if` is evaluated exactly as the
server does, so what is generated is what a real submission could hold.
"""
from __future__ import annotations

import datetime as dt
import random

from service.formspec.conditions import evaluate
from service.formspec.model import FormSpec, Question
from service.formspec.types.text import Text as FreeText

#: Free text a household may really type, that a CSV must quote (quotes, commas, line ends) or
#: neutralise (a spreadsheet would run it as a formula): the export benchmark meets them too.
AWKWARD = ('他说"楼道灯坏了"', "3号楼, 2单元, 501", "第一行\n第二行", "=SUM(A1)",
           "+86 138 1234 5678", "-5 apples", "@home", "Ground floor, \"B\"\n=1+1")


def value_for(q: Question, rng: random.Random, today: dt.date):
    """A valid answer to `q`, as its type's registry entry makes one."""
    return q.qtype.sample(q, rng, today)


def _awkward(q: Question, rng: random.Random):
    text = rng.choice(AWKWARD)
    if not q.qtype.multiline:      # a one-line input cannot hold a line end
        text = text.replace("\n", " ")
    return text[:q.max_length]


def answers_for(spec: FormSpec, rng: random.Random, today: dt.date | None = None,
                sensitive: bool = True, fill: float = 0.9, awkward: float = 0.05) -> dict:
    """One valid answers document; optional questions are answered with probability `fill`.
    With probability `awkward`, the household's free-text answers are text a CSV must quote or
    neutralise (AWKWARD)."""
    today = today or dt.date.today()
    answers: dict = {}
    odd = awkward and rng.random() < awkward

    def value(q):
        if odd and isinstance(q.qtype, FreeText):
            return _awkward(q, rng)
        return value_for(q, rng, today)

    def shown(q, lookup):
        if q.sensitive and not sensitive:
            return False
        return q.show_if is None or evaluate(q.show_if, lookup)

    for q in spec.questions():
        if not q.answerable or not shown(q, answers.get):
            continue
        if q.is_group:
            items = []
            for _ in range(rng.randint(max(1, q.min_items), min(q.max_items or 6, 6))):
                item: dict = {}
                lookup = lambda n, item=item: item[n] if n in item else answers.get(n)  # noqa
                for child in q.questions:
                    if child.answerable and shown(child, lookup) and \
                            (child.required or rng.random() < fill):
                        item[child.name] = value(child)
                items.append(item)
            answers[q.name] = items
        elif q.required or rng.random() < fill:
            answers[q.name] = value(q)
    return answers

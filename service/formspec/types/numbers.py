"""Numeric types: integer, decimal, rating (a 1–N scale of radio buttons)."""
from __future__ import annotations

from decimal import Decimal

from wtforms import fields

from service.formspec import declare, validators as v
from service.formspec.types.base import QuestionType


class Number(QuestionType):
    """Shared by the numeric types: stored rows carry `number`, statistics are numbers."""

    keys = frozenset({"min", "max", "constraint_message"})
    numeric = True
    condition_kind = "number"
    stats = "numbers"
    integer = True

    def declare(self, check, ctx, data, kw):
        kw["min"] = declare.number(check, ctx, data, "min", self.integer)
        kw["max"] = declare.number(check, ctx, data, "max", self.integer)
        if kw["min"] is not None and kw["max"] is not None and kw["min"] > kw["max"]:
            check.problem(ctx, "min is larger than max")
        declare.constraint_message(check, ctx, data, kw, ("min", "max"))


class Integer(Number):
    name = "integer"

    def field(self, q):
        return fields.IntegerField(validators=[v.Presence(q.required), v.integer_text,
                                               v.Range(q.min, q.max, q.constraint_message)])

    def typed(self, q, text):
        return int(text)

    def sample(self, q, rng, today):
        low = q.min if q.min is not None else 0
        high = q.max if q.max is not None else low + 100
        return rng.randint(int(low), int(min(high, low + 100)))

    def bad(self, q):
        return ["2.5"]


class DecimalNumber(Number):
    name = "decimal"
    integer = False

    def field(self, q):
        return fields.DecimalField(validators=[v.Presence(q.required), v.finite_decimal,
                                               v.Range(q.min, q.max, q.constraint_message)])

    def clean(self, q, data):
        return None if data is None or data == "" else str(data)

    def field_data(self, q, stored):
        return None if stored is None or stored == "" else Decimal(str(stored))

    def sample(self, q, rng, today):
        low = float(q.min) if q.min is not None else 0.0
        high = float(q.max) if q.max is not None else low + 200
        return f"{rng.uniform(low, min(high, low + 200)):.1f}"

    def bad(self, q):
        return ["abc"]


class Rating(Integer):
    """A 1–`max` scale (5 unless declared, 2 to 10), one radio button per value."""

    name = "rating"
    keys = frozenset({"max"})

    def declare(self, check, ctx, data, kw):
        kw["min"] = 1
        kw["max"] = declare.whole(check, ctx, data, "max", 5, minimum=2)
        if kw["max"] > 10:
            check.problem(ctx, "max must be a whole number from 2 to 10")
            kw["max"] = 10

    def scale(self, q):
        return list(range(1, q.max + 1))

    def sample(self, q, rng, today):
        return rng.randint(1, q.max)

    def bad(self, q):
        return [str(q.max + 1)]

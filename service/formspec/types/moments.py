"""Types for a moment: date (YYYY-MM-DD, counted per month), time (HH:MM, counted per hour)."""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from wtforms import fields

from service.formspec import declare, validators as v
from service.formspec.types.base import QuestionType


def _today():
    from service.office import clock
    return clock.today()


class Date(QuestionType):
    name = "date"
    keys = frozenset({"min", "max", "constraint_message"})
    condition_kind = "date"
    stats = "months"

    def declare(self, check, ctx, data, kw):
        kw["min"] = declare.date_bound(check, ctx, data, "min")
        kw["max"] = declare.date_bound(check, ctx, data, "max")
        declare.constraint_message(check, ctx, data, kw, ("min", "max"))

    def field(self, q):
        return fields.DateField(format="%Y-%m-%d", validators=[
            v.Presence(q.required), v.DateRange(q.min, q.max, today=_today,
                                                         message=q.constraint_message)])

    def clean(self, q, data):
        return None if data is None or data == "" else data.isoformat()

    def field_data(self, q, stored):
        return None if stored is None or stored == "" else dt.date.fromisoformat(stored)

    def bucket(self, text):
        return text[:7]          # the dashboard shows dates per month

    def sample(self, q, rng, today):
        return (today - dt.timedelta(days=rng.randrange(0, 300))).isoformat()

    def bad(self, q):
        return ["2021-02-30"]


class Time(QuestionType):
    """A time of day, stored as "HH:MM" (which orders as text)."""

    name = "time"
    keys = frozenset({"min", "max", "constraint_message"})
    stats = "hours"
    messages = {"time": _l("Enter a time as HH:MM, e.g. 09:30."),
                "time_after": _l("Enter a time at or after %(time)s."),
                "time_before": _l("Enter a time at or before %(time)s.")}

    def declare(self, check, ctx, data, kw):
        kw["min"] = declare.time_bound(check, ctx, data, "min")
        kw["max"] = declare.time_bound(check, ctx, data, "max")
        if kw["min"] and kw["max"] and kw["min"] > kw["max"]:
            check.problem(ctx, "min is later than max")
        declare.constraint_message(check, ctx, data, kw, ("min", "max"))

    def field(self, q):
        return fields.StringField(validators=[
            v.Presence(q.required), v.TimeRange(q.min, q.max, q.constraint_message)])

    def clean(self, q, data):
        return declare.time_text(data) if data else None

    def bucket(self, text):
        return text[:2]          # the dashboard shows times per hour

    def sample(self, q, rng, today):
        low = int(q.min[:2]) * 60 + int(q.min[3:]) if q.min else 0
        high = int(q.max[:2]) * 60 + int(q.max[3:]) if q.max else 24 * 60 - 1
        minutes = rng.randint(low, high)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    def bad(self, q):
        return ["25:00"]

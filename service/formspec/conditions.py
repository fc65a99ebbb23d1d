"""Evaluating `show_if` conditions on the server.

static/form.js holds the same rules for the browser; tests/test_conditions.py runs one table of cases
through both, so the two cannot drift apart. Rules, for both sides:
- an unanswered or hidden question has no value; only `answered: false` and `not_equals` are true then;
- `equals`/`in` on a select_multiple is true when any chosen value matches;
- numbers compare as numbers, dates as ISO text (which orders like dates), everything else as text.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from .model import Condition


def _norm(value, kind):
    """One answer value in the comparable form of its kind (None when there is none)."""
    if value is None or value == "" or value == []:
        return None
    if kind == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if kind == "multi":
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    if isinstance(value, Decimal):
        return str(value)
    return value if isinstance(value, (str, list)) else str(value)


def evaluate(cond: Condition, lookup) -> bool:
    """True when `cond` holds; `lookup(name)` gives a question's current value (or None)."""
    if cond.op == "all":
        return all(evaluate(c, lookup) for c in cond.conditions)
    if cond.op == "any":
        return any(evaluate(c, lookup) for c in cond.conditions)
    value = _norm(lookup(cond.question), cond.kind)
    if cond.op == "answered":
        return (value is not None) == cond.value
    if cond.op in ("equals", "not_equals", "in"):
        wanted = cond.value if cond.op == "in" else [cond.value]
        got = value if isinstance(value, list) else ([] if value is None else [value])
        hit = any(g == w for g in got for w in wanted)
        return not hit if cond.op == "not_equals" else hit
    if value is None:
        return False
    if cond.op == "gt":
        return value > cond.value
    if cond.op == "lt":
        return value < cond.value
    raise ValueError(f"unknown condition op {cond.op!r}")

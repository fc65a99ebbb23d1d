"""`show_if` conditions: checking them when a form is loaded, and evaluating them on the server.

static/form.js holds the same rules for the browser; tests/test_conditions.py runs one table of cases
through both, so the two cannot drift apart. Rules, for both sides:
- an unanswered or hidden question has no value; only `answered: false` and `not_equals` are true then
  (and `not` of any other condition, which is simply its opposite);
- `equals`/`in` on a select_multiple is true when any chosen value matches;
- numbers compare as numbers, dates as ISO text (which orders like dates), everything else as text;
  `gt`, `lt`, `gte`, `lte` only take numbers and dates.
"""
from __future__ import annotations

import datetime as dt
import operator
from decimal import Decimal

from service.formspec.model import Condition

LEAF_OPS = ("equals", "not_equals", "in", "gt", "lt", "gte", "lte", "answered")
#: The ordering comparisons, on numbers and dates only.
ORDER_OPS = {"gt": operator.gt, "lt": operator.lt, "gte": operator.ge, "lte": operator.le}
#: YAML 1.1 reads a bare yes/no/on/off as a boolean, the commonest slip in a form definition.
QUOTE_HINT = "put quotes around yes/no/on/off, which YAML reads as true/false"


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
    if cond.op == "not":
        return not evaluate(cond.conditions[0], lookup)
    value = _norm(lookup(cond.question), cond.kind)
    if cond.op == "answered":
        return (value is not None) == cond.value
    if cond.op in ("equals", "not_equals", "in"):
        wanted = cond.value if cond.op == "in" else [cond.value]
        got = value if isinstance(value, list) else ([] if value is None else [value])
        hit = any(g == w for g in got for w in wanted)
        return not hit if cond.op == "not_equals" else hit
    if cond.op in ORDER_OPS:
        return value is not None and ORDER_OPS[cond.op](value, cond.value)
    raise ValueError(f"unknown condition op {cond.op!r}")


def is_shown(q, lookup, sensitive_ok: bool) -> bool:
    """Whether the public form shows (and so validates and stores) question `q`: not when it is
    sensitive and the household declined that consent, nor when its `show_if` does not hold.
    The form (wtf.py), corrections and the response page all ask here."""
    if q.sensitive and not sensitive_ok:
        return False
    return q.show_if is None or evaluate(q.show_if, lookup)


def parse_condition(check, ctx, data, seen, scope) -> Condition | None:
    """Validate one show_if condition; the questions it names must already have been defined."""
    if not isinstance(data, dict):
        check.problem(ctx, "show_if must be a mapping such as {question: employed, equals: 'no'}")
        return None
    for node in ("all", "any"):
        if node in data:
            if set(data) != {node}:
                check.problem(ctx, f"show_if '{node}' must stand alone in its mapping")
            parts = data[node]
            if not isinstance(parts, list) or not parts:
                check.problem(ctx, f"show_if '{node}' must hold a non-empty list of conditions")
                return None
            subs = [parse_condition(check, ctx, part, seen, scope) for part in parts]
            if any(s is None for s in subs):
                return None
            return Condition(op=node, conditions=tuple(subs))
    if "not" in data:
        return _parse_not(check, ctx, data, seen, scope)
    target = data.get("question")
    ops = [k for k in data if k in LEAF_OPS]
    extra = set(data) - {"question", *LEAF_OPS}
    if extra:
        check.problem(ctx, f"show_if has unknown key(s) {sorted(extra)}")
    if not isinstance(target, str):
        check.problem(ctx, "show_if needs a 'question' to look at")
        return None
    if len(ops) != 1:
        check.problem(ctx, f"show_if needs exactly one of {', '.join(LEAF_OPS)}")
        return None
    op = ops[0]
    if target not in seen:
        check.problem(ctx, f"show_if names question '{target}', which does not exist or comes later")
        return None
    ref, ref_scope = seen[target]
    if ref_scope is not None and (scope is None or scope.name != ref_scope):
        check.problem(ctx, f"show_if names '{target}', which belongs to repeat group "
                           f"'{ref_scope}' and cannot be seen from here")
        return None
    kind = ref.qtype.condition_kind
    if kind is None:
        # a repeat group can only be asked whether it has items; a note has nothing to compare
        if not (ref.is_group and op == "answered"):
            check.problem(ctx, f"show_if cannot compare the {ref.type} '{target}'")
            return None
        kind = "text"
    value = data[op]
    if op == "answered":
        if not isinstance(value, bool):
            check.problem(ctx, "show_if answered must be true or false")
            return None
    elif op in ORDER_OPS:
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                check.problem(ctx, f"show_if {op} on '{target}' needs a number")
                return None
        elif kind == "date":
            # kept as YYYY-MM-DD, the text both sides compare with ('20000101' would not order)
            try:
                value = dt.date.fromisoformat(
                    value.isoformat() if isinstance(value, dt.date) else str(value)).isoformat()
            except ValueError:
                check.problem(ctx, f"show_if {op} on '{target}' needs a date YYYY-MM-DD")
                return None
        else:
            check.problem(ctx, f"show_if {op} only works on number and date questions, "
                               f"not on '{target}'")
            return None
    else:
        values = value if op == "in" else [value]
        if op == "in" and (not isinstance(value, list) or not value):
            check.problem(ctx, "show_if 'in' needs a non-empty list")
            return None
        if any(isinstance(v, (dict, list)) or v is None for v in values):
            check.problem(ctx, f"show_if {op} needs plain values")
            return None
        if any(isinstance(v, bool) for v in values):
            check.problem(ctx, f"show_if {op} was read as true/false: {QUOTE_HINT}")
            return None
        if kind == "number":
            try:
                values = [float(v) for v in values]
            except (TypeError, ValueError):
                check.problem(ctx, f"show_if {op} on '{target}' needs numbers")
                return None
        else:
            values = [v.isoformat() if isinstance(v, dt.date) else str(v) for v in values]
        if ref.choices:
            known = {c.value for c in ref.choices}
            for v in values:
                if v not in known:
                    check.problem(ctx, f"show_if compares '{target}' with '{v}', "
                                       "which is not one of its choices")
        value = tuple(values) if op == "in" else values[0]
    return Condition(op=op, question=target, value=value, kind=kind)


def _parse_not(check, ctx, data, seen, scope) -> Condition | None:
    """`not: <condition>`: the opposite of exactly one condition (a leaf, all, any or another not)."""
    if set(data) != {"not"}:
        check.problem(ctx, "show_if 'not' must stand alone in its mapping")
    part = data["not"]
    if isinstance(part, list) and part:
        check.problem(ctx, f"show_if 'not' takes one condition, not a list of {len(part)}: negate "
                           "several with not: {any: [...]} (none holds) or not: {all: [...]}")
        return None
    if not isinstance(part, dict):
        check.problem(ctx, "show_if 'not' needs one condition, such as "
                           "not: {question: employed, equals: 'no'}")
        return None
    sub = parse_condition(check, ctx, part, seen, scope)
    return None if sub is None else Condition(op="not", conditions=(sub,))

"""Reading the values of a form definition (texts, whole numbers, bounds, choices), each problem
reported through the loader's checker. The loader and the question types (types/) share them."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from service.formspec.conditions import QUOTE_HINT
from service.formspec.model import Choice, Text
from service.formspec.validators import TIME_RE


def unknown_keys(check, ctx, data, allowed):
    for key in data:
        if key not in allowed:
            check.problem(ctx, f"unknown key '{key}'")


def text(check, ctx, value, required=False) -> Text | None:
    if value is None or value == "":
        if required:
            check.problem("", f"{ctx} is missing")
        return None
    if isinstance(value, str):
        return Text(zh=value, en=value)
    if isinstance(value, dict):
        extra = set(value) - {"zh", "en"}
        if extra:
            check.problem("", f"{ctx} has unknown language(s) {sorted(extra)}; use zh and en")
        zh, en = value.get("zh"), value.get("en", "")
        if not isinstance(zh, str) or not zh.strip():
            check.problem("", f"{ctx} needs Chinese text (zh)")
            zh = en if isinstance(en, str) else ""
        for lang_code, words in (("zh", zh), ("en", en)):
            if isinstance(words, bool):
                check.problem("", f"{ctx}: {lang_code} was read as {str(words).lower()}: {QUOTE_HINT}")
        if not isinstance(en, str):
            if not isinstance(en, bool):
                check.problem("", f"{ctx}: en must be text")
            en = ""
        return Text(zh=zh, en=en)
    check.problem("", f"{ctx} must be text or a mapping of zh/en text")
    return None


def constraint_message(check, ctx, data, kw, bounds=()) -> None:
    """The question's own message for its bounds check. `bounds`: the keys of which one must be
    declared for the message to be ever said (none: the type always has a bound)."""
    if "constraint_message" not in data:
        return
    kw["constraint_message"] = text(check, f"{ctx} constraint_message", data["constraint_message"],
                                    required=True)
    if bounds and all(kw.get(key) is None for key in bounds):
        check.problem(ctx, f"constraint_message explains a bound: declare {' or '.join(bounds)}")


def whole(check, ctx, data, key, default, minimum):
    """A whole number from `minimum` (or `default` when the key is absent)."""
    value = data.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        check.problem(ctx, f"{key} must be a whole number from {minimum}")
        return default
    return value


def number(check, ctx, data, key, integer: bool):
    if key not in data:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        check.problem(ctx, f"{key} must be a number")
        return None
    try:
        parsed = Decimal(str(value))
    except InvalidOperation:
        check.problem(ctx, f"{key} must be a number")
        return None
    if integer:
        if parsed != parsed.to_integral_value():
            check.problem(ctx, f"{key} must be a whole number for an integer question")
        return int(parsed)
    return parsed


def date_bound(check, ctx, data, key):
    if key not in data:
        return None
    value = data[key]
    if value == "today":
        return "today"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    check.problem(ctx, f"{key} must be a date as YYYY-MM-DD or 'today'")
    return None


def time_text(value) -> str | None:
    """A time of day as stored ("HH:MM"), or None when `value` is not one."""
    found = TIME_RE.match(value.strip()) if isinstance(value, str) else None
    return f"{int(found.group(1)):02d}:{found.group(2)}" if found else None


def time_bound(check, ctx, data, key):
    if key not in data:
        return None
    bound = time_text(data[key])
    if bound is None:
        # YAML 1.1 reads a bare 08:30 as a number (sexagesimal): it must be quoted
        check.problem(ctx, f"{key} must be a time as 'HH:MM', in quotes")
    return bound


def choices(check, ctx, items) -> tuple[Choice, ...]:
    if not isinstance(items, list) or not items:
        check.problem(ctx, "choices must be a non-empty list of {value, label}")
        return ()
    out, values = [], set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "value" not in item:
            check.problem(ctx, f"choice {i + 1} must be a mapping with value and label")
            continue
        unknown_keys(check, f"{ctx} choice {i + 1}", item, {"value", "label"})
        value = item["value"]
        if isinstance(value, bool):
            check.problem(ctx, f"choice {i + 1} value was read as {str(value).lower()}: {QUOTE_HINT}")
            continue
        if not isinstance(value, (str, int)) or str(value) == "":
            check.problem(ctx, f"choice {i + 1} value must be text or a whole number")
            continue
        value = str(value)
        if value in values:
            check.problem(ctx, f"duplicate choice value '{value}'")
        values.add(value)
        label = text(check, f"{ctx} choice '{value}' label", item.get("label"), required=True)
        out.append(Choice(value=value, label=label or Text(value)))
    return tuple(out)

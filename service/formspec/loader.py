"""Reading form definitions (YAML or their stored JSON) into validated `FormSpec` objects.

Validation collects every problem instead of stopping at the first, and each message names the file,
the question and what is wrong, so `doorstep forms check` can be used like a linter.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

from service.formspec.conditions import QUOTE_HINT, parse_condition
from service.formspec.model import (
    CHOICE_TYPES, NUMERIC_TYPES, QUESTION_TYPES, Choice, Consent, FormSpec, Question,
    Section, Text,
)

# libyaml's loader when present (several times faster); same safe subset of YAML
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: Names the wire format reserves for itself; a question may not take them.
RESERVED = frozenset({"csrf_token", "submission_uuid", "consent", "sensitive_consent", "lang"})

KEYS = {
    "common": {"name", "type", "label", "hint", "required", "pii", "sensitive", "show_if"},
    "text": {"max_length"},
    "textarea": {"max_length"},
    "integer": {"min", "max"},
    "decimal": {"min", "max"},
    "select_one": {"choices"},
    "select_multiple": {"choices", "min_selected", "max_selected"},
    "date": {"min", "max"},
    "phone": set(),
    "id_number": set(),
    "note": set(),
    "repeat": {"questions", "min_items", "max_items"},
}


class FormError(Exception):
    """One or more definitions are invalid; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Checker:
    def __init__(self, where: str):
        self.where = where
        self.problems: list[str] = []

    def problem(self, context: str, message: str) -> None:
        self.problems.append(f"{self.where}: {context}: {message}" if context else
                             f"{self.where}: {message}")


def load_dir(directory: str | Path) -> dict[str, FormSpec]:
    """Load every `*.yaml`/`*.yml` file of a directory; raise FormError listing all problems."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FormError([f"{directory}: forms directory does not exist"])
    specs: dict[str, FormSpec] = {}
    problems: list[str] = []
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    for path in files:
        try:
            spec = load_file(path)
        except FormError as exc:
            problems.extend(exc.problems)
            continue
        if spec.id in specs:
            problems.append(f"{path.name}: form id '{spec.id}' is already used by another file")
            continue
        specs[spec.id] = spec
    if problems:
        raise FormError(problems)
    return specs


def load_file(path: str | Path) -> FormSpec:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except (OSError, UnicodeDecodeError) as exc:
        raise FormError([f"{path.name}: cannot read: {exc}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        raise FormError([f"{path.name}: not valid YAML{line}: {getattr(exc, 'problem', exc)}"]) from None
    return parse(data, where=path.name)


def parse(data, where: str = "<form>") -> FormSpec:
    """Validate one definition (already parsed from YAML/JSON) and build its model."""
    check = _Checker(where)
    if not isinstance(data, dict):
        check.problem("", "a form definition must be a mapping with id, version, title and sections")
        raise FormError(check.problems)
    _unknown_keys(check, "", data, {"id", "version", "title", "description", "consent",
                                      "sensitive_consent", "sections"})
    form_id = data.get("id")
    if not isinstance(form_id, str) or not ID_RE.match(form_id):
        check.problem("", f"id {form_id!r} must be lower-case letters, digits, '-' or '_'")
        form_id = str(form_id)
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        check.problem("", f"version {version!r} must be a whole number from 1")
        version = 1
    title = _text(check, "title", data.get("title"), required=True)
    description = _text(check, "description", data.get("description")) or Text("")
    consent = _consent(check, "consent", data.get("consent"))
    sensitive_consent = _consent(check, "sensitive_consent", data.get("sensitive_consent"))

    sections_data = data.get("sections")
    if not isinstance(sections_data, list) or not sections_data:
        check.problem("", "sections must be a non-empty list")
        sections_data = []
    # questions defined so far, in form order, with the repeat group each belongs to (or None)
    seen: dict[str, tuple[Question, str | None]] = {}
    sections = []
    for i, sdata in enumerate(sections_data):
        ctx = f"section {i + 1}"
        if not isinstance(sdata, dict):
            check.problem(ctx, "must be a mapping with a title and questions")
            continue
        _unknown_keys(check, ctx, sdata, {"name", "title", "questions"})
        name = str(sdata.get("name") or f"section{i + 1}")
        questions = _questions(check, ctx, sdata.get("questions"), seen, scope=None)
        sections.append(Section(name=name, title=_text(check, f"{ctx} title", sdata.get("title"))
                                or Text(""), questions=tuple(questions)))

    spec = FormSpec(id=form_id, version=version, title=title or Text(""), description=description,
                    sections=tuple(sections), consent=consent, sensitive_consent=sensitive_consent,
                    source=data)
    if spec.has_sensitive and spec.sensitive_consent is None:
        check.problem("", "the form has sensitive questions but no sensitive_consent block")
    if check.problems:
        raise FormError(check.problems)
    return spec


def _unknown_keys(check, ctx, data, allowed):
    for key in data:
        if key not in allowed:
            check.problem(ctx, f"unknown key '{key}'")


def _text(check, ctx, value, required=False) -> Text | None:
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
        for lang_code, text in (("zh", zh), ("en", en)):
            if isinstance(text, bool):
                check.problem("", f"{ctx}: {lang_code} was read as {str(text).lower()}: {QUOTE_HINT}")
        if not isinstance(en, str):
            if not isinstance(en, bool):
                check.problem("", f"{ctx}: en must be text")
            en = ""
        return Text(zh=zh, en=en)
    check.problem("", f"{ctx} must be text or a mapping of zh/en text")
    return None


def _consent(check, ctx, value) -> Consent | None:
    if value is None:
        return None
    if not isinstance(value, dict) or "text" not in value:
        check.problem("", f"{ctx} must be a mapping with text (and optionally label)")
        return None
    _unknown_keys(check, ctx, value, {"text", "label"})
    text = _text(check, f"{ctx} text", value.get("text"), required=True) or Text("")
    label = _text(check, f"{ctx} label", value.get("label")) or (
        Text("我已阅读并同意", "I have read and agree") if ctx == "consent"
        else Text("我同意回答以下敏感问题", "I agree to answer the sensitive questions below"))
    return Consent(text=text, label=label)


def _questions(check, ctx, items, seen, scope: Question | None) -> list[Question]:
    if not isinstance(items, list) or not items:
        check.problem(ctx, "questions must be a non-empty list")
        return []
    out = []
    for i, qdata in enumerate(items):
        q = _question(check, f"{ctx} question {i + 1}", qdata, seen, scope)
        if q is not None:
            out.append(q)
    return out


def _question(check, ctx, data, seen, scope) -> Question | None:
    if not isinstance(data, dict):
        check.problem(ctx, "must be a mapping with name, type and label")
        return None
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        check.problem(ctx, f"name {name!r} must start with a lower-case letter and hold only "
                           "a-z, 0-9 and '_'")
        return None
    ctx = f"question '{name}'"
    if name in RESERVED:
        check.problem(ctx, "this name is reserved by Doorstep; choose another")
    qtype = data.get("type")
    if qtype not in QUESTION_TYPES:
        check.problem(ctx, f"unknown type {qtype!r} (known: {', '.join(sorted(QUESTION_TYPES))})")
        return None
    _unknown_keys(check, ctx, data, KEYS["common"] | KEYS[qtype])
    if name in seen:
        check.problem(ctx, "duplicate name (names must be unique in the whole form)")
    if scope is not None and qtype == "repeat":
        check.problem(ctx, "a repeat group cannot hold another repeat group")

    label = _text(check, f"{ctx} label", data.get("label"), required=True) or Text(name)
    hint = _text(check, f"{ctx} hint", data.get("hint"))
    flags = {}
    for flag in ("required", "pii", "sensitive"):
        value = data.get(flag, False)
        if not isinstance(value, bool):
            check.problem(ctx, f"{flag} must be true or false")
            value = False
        flags[flag] = value
    if qtype == "note" and flags["required"]:
        check.problem(ctx, "a note cannot be required")
    show_if = None
    if "show_if" in data:
        show_if = parse_condition(check, ctx, data["show_if"], seen, scope)

    kwargs = dict(name=name, type=qtype, label=label, hint=hint, show_if=show_if, **flags)
    if qtype in ("text", "textarea"):
        default = 200 if qtype == "text" else 2000
        kwargs["max_length"] = _int(check, ctx, data, "max_length", default, minimum=1)
    elif qtype in NUMERIC_TYPES:
        kwargs["min"] = _number(check, ctx, data, "min", qtype)
        kwargs["max"] = _number(check, ctx, data, "max", qtype)
        if kwargs["min"] is not None and kwargs["max"] is not None and kwargs["min"] > kwargs["max"]:
            check.problem(ctx, "min is larger than max")
    elif qtype == "date":
        kwargs["min"] = _date_bound(check, ctx, data, "min")
        kwargs["max"] = _date_bound(check, ctx, data, "max")
    elif qtype in CHOICE_TYPES:
        kwargs["choices"] = _choices(check, ctx, data.get("choices"))
        if qtype == "select_multiple":
            n = len(kwargs["choices"])
            kwargs["min_selected"] = _int(check, ctx, data, "min_selected", None, minimum=0)
            kwargs["max_selected"] = _int(check, ctx, data, "max_selected", None, minimum=1)
            lo, hi = kwargs["min_selected"], kwargs["max_selected"]
            if lo is not None and hi is not None and lo > hi:
                check.problem(ctx, "min_selected is larger than max_selected")
            if lo is not None and n and lo > n:
                check.problem(ctx, "min_selected is larger than the number of choices")
    elif qtype == "repeat":
        kwargs["min_items"] = _int(check, ctx, data, "min_items", 0, minimum=0)
        kwargs["max_items"] = _int(check, ctx, data, "max_items", 50, minimum=1)
        if kwargs["min_items"] > kwargs["max_items"]:
            check.problem(ctx, "min_items is larger than max_items")
        placeholder = Question(name=name, type=qtype, label=label)
        seen[name] = (placeholder, None)
        kwargs["questions"] = tuple(_questions(check, ctx, data.get("questions"), seen,
                                               scope=placeholder))
    question = Question(**kwargs)
    seen[name] = (question, scope.name if scope is not None else None)
    return question


def _int(check, ctx, data, key, default, minimum):
    value = data.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        check.problem(ctx, f"{key} must be a whole number from {minimum}")
        return default
    return value


def _number(check, ctx, data, key, qtype):
    if key not in data:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        check.problem(ctx, f"{key} must be a number")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        check.problem(ctx, f"{key} must be a number")
        return None
    if qtype == "integer":
        if number != number.to_integral_value():
            check.problem(ctx, f"{key} must be a whole number for an integer question")
        return int(number)
    return number


def _date_bound(check, ctx, data, key):
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


def _choices(check, ctx, items) -> tuple[Choice, ...]:
    if not isinstance(items, list) or not items:
        check.problem(ctx, "choices must be a non-empty list of {value, label}")
        return ()
    out, values = [], set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "value" not in item:
            check.problem(ctx, f"choice {i + 1} must be a mapping with value and label")
            continue
        _unknown_keys(check, f"{ctx} choice {i + 1}", item, {"value", "label"})
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
        label = _text(check, f"{ctx} choice '{value}' label", item.get("label"), required=True)
        out.append(Choice(value=value, label=label or Text(value)))
    return tuple(out)

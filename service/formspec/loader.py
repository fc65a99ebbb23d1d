"""Reading form definitions (YAML or their stored JSON) into validated `FormSpec` objects.

Validation collects every problem instead of stopping at the first, and each message names the file,
the question and what is wrong, so `doorstep forms check` can be used like a linter.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from service.formspec import follow_up, types
from service.formspec.conditions import parse_condition
from service.formspec.declare import text as _text, unknown_keys as _unknown_keys
from service.formspec.model import REPORT_STATS, Consent, FormSpec, Question, Section, Text

# libyaml's loader when present (several times faster); same safe subset of YAML
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: Names the wire format reserves for itself; a question may not take them.
RESERVED = frozenset({"csrf_token", "submission_uuid", "consent", "sensitive_consent", "lang",
                      "household", "base_version", "outcome"})
#: A ledger form's question that holds the household's address.
LEDGER_ADDRESS = "address"
#: Question keys the loader checks itself, against the question's place and the form (`report`).
FORM_LEVEL_KEYS = frozenset({"report"})

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
                                      "sensitive_consent", "sections", "ledger",
                                      "retention_days", "follow_up"})
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
    ledger = data.get("ledger", False)
    if not isinstance(ledger, bool):
        check.problem("", "ledger must be true or false")
        ledger = False
    retention_days = _retention(check, data.get("retention_days"))

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
                    ledger=ledger, retention_days=retention_days, source=data)
    if spec.has_sensitive and spec.sensitive_consent is None:
        check.problem("", "the form has sensitive questions but no sensitive_consent block")
    address = spec.question(LEDGER_ADDRESS)
    if ledger and (address is None or spec.parent_of(LEDGER_ADDRESS) is not None
                   or not address.qtype.text_like or not address.required):
        check.problem("", f"a ledger form needs a required top-level text question named "
                          f"'{LEDGER_ADDRESS}': it finds the household again and spots duplicates")
    _check_report(check, spec)
    rule = follow_up.parse(check, data.get("follow_up"), spec)
    if rule is not None:
        spec = dataclasses.replace(spec, follow_up=rule)
    if check.problems:
        raise FormError(check.problems)
    return spec


#: The longest retention a form may declare (100 years): a larger number is a typo.
MAX_RETENTION_DAYS = 36500


def _retention(check, value) -> int | None:
    """`retention_days`: how many days after its submission a response's answers are erased
    (`doorstep purge`); absent: kept until the office erases them."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or \
            not 1 <= value <= MAX_RETENTION_DAYS:
        check.problem("", f"retention_days {value!r} must be a whole number of days from 1 to "
                          f"{MAX_RETENTION_DAYS}")
        return None
    return value


def _check_report(check, spec: FormSpec) -> None:
    """`report: true` only where a round's report can count households and show figures only
    (the same rule as FormSpec.report_candidates, each refusal said precisely)."""
    for q in spec.all_questions():
        if not q.report:
            continue
        ctx = f"question '{q.name}'"
        if q.pii:
            check.problem(ctx, "report: true is not allowed on a pii question: the round report "
                               "holds figures only, never what identifies a person")
        elif not spec.ledger:
            check.problem(ctx, "report: true is only for a ledger form (ledger: true): the round "
                               "report counts households")
        elif spec.parent_of(q.name) is not None or q.is_group:
            check.problem(ctx, "report: true is only for a top-level question: the round report "
                               "counts households, not a repeat group's items")
        elif not q.answerable or q.qtype.stats not in REPORT_STATS:
            counted = ", ".join(n for n in types.names() if types.get(n).stats in REPORT_STATS)
            check.problem(ctx, f"report: true needs a question answered by choices or numbers "
                               f"({counted}), not {q.type}")


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
    if qtype not in types.REGISTRY:
        check.problem(ctx, f"unknown type {qtype!r} (known: {', '.join(types.names())})")
        return None
    kind = types.get(qtype)
    _unknown_keys(check, ctx, data, types.COMMON_KEYS | FORM_LEVEL_KEYS | kind.keys)
    if name in seen:
        check.problem(ctx, "duplicate name (names must be unique in the whole form)")
    if scope is not None and kind.group:
        check.problem(ctx, "a repeat group cannot hold another repeat group")

    label = _text(check, f"{ctx} label", data.get("label"), required=True) or Text(name)
    hint = _text(check, f"{ctx} hint", data.get("hint"))
    flags = {}
    for flag, default in (("required", False), ("pii", False), ("sensitive", False),
                          ("prefill", True), ("report", False)):
        value = data.get(flag, default)
        if not isinstance(value, bool):
            check.problem(ctx, f"{flag} must be true or false")
            value = default
        flags[flag] = value
    show_if = None
    if "show_if" in data:
        show_if = parse_condition(check, ctx, data["show_if"], seen, scope)

    kwargs = dict(name=name, type=qtype, label=label, hint=hint, show_if=show_if, **flags)
    kind.declare(check, ctx, data, kwargs)      # the type's own keys
    if kind.group:
        placeholder = Question(name=name, type=qtype, label=label)
        seen[name] = (placeholder, None)
        kwargs["questions"] = tuple(_questions(check, ctx, data.get("questions"), seen,
                                               scope=placeholder))
    question = Question(**kwargs)
    seen[name] = (question, scope.name if scope is not None else None)
    return question

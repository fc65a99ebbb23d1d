"""A form in words, for the office before it publishes one: its sections and questions (type,
required, identifying or sensitive), each `show_if` said as a sentence in the reader's language,
and which questions a new version adds or drops against the version served."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from service.formspec.model import Condition, FormSpec, Question


@dataclass(frozen=True)
class Line:
    """One question as the summary lists it (a repeat group's children indented under it)."""

    q: Question
    label: str
    shown_when: str          # "" when always shown
    depth: int = 0


def _value(spec: FormSpec, name: str, value, lang: str) -> str:
    q = spec.question(name)
    if isinstance(value, (list, tuple)):
        return "、".join(_value(spec, name, v, lang) for v in value) if lang == "zh" else \
            ", ".join(_value(spec, name, v, lang) for v in value)
    return q.choice_label(str(value), lang) if q is not None and q.choices else str(value)


def _label(spec: FormSpec, name: str, lang: str) -> str:
    q = spec.question(name)
    return (q.label.get(lang) or name) if q is not None else name


#: an ordering comparison as the reader writes it
SIGNS = {"gt": ">", "lt": "<", "gte": "≥", "lte": "≤"}


def words(spec: FormSpec, cond: Condition, lang: str) -> str:
    """A `show_if` condition as a phrase: 就业状况 is 失业, age ≥ 60 and …"""
    if cond.op in ("all", "any"):
        joiner = _(" and ") if cond.op == "all" else _(" or ")
        parts = [words(spec, c, lang) for c in cond.conditions]
        return joiner.join(f"({p})" if c.op in ("all", "any") else p
                           for p, c in zip(parts, cond.conditions))
    if cond.op == "not":
        return _("not (%(condition)s)", condition=words(spec, cond.conditions[0], lang))
    q, v = _label(spec, cond.question, lang), _value(spec, cond.question, cond.value, lang)
    if cond.op == "answered":
        return _("%(question)s is answered", question=q) if cond.value else \
            _("%(question)s is not answered", question=q)
    if cond.op in SIGNS:
        return f"{q} {SIGNS[cond.op]} {v}"
    if cond.kind == "multi":
        return {"equals": _("%(question)s includes %(value)s"),
                "not_equals": _("%(question)s does not include %(value)s"),
                "in": _("%(question)s includes one of %(value)s")}[cond.op] % {
                    "question": q, "value": v}
    return {"equals": _("%(question)s is %(value)s"),
            "not_equals": _("%(question)s is not %(value)s"),
            "in": _("%(question)s is one of %(value)s")}[cond.op] % {"question": q, "value": v}


def lines(spec: FormSpec, lang: str) -> list[tuple[str, list[Line]]]:
    """(section title, its questions) in form order."""
    out = []
    for section in spec.sections:
        rows = []
        for q in section.questions:
            for child, depth in [(q, 0), *((c, 1) for c in q.questions)]:
                rows.append(Line(child, child.label.get(lang) or child.name,
                                 words(spec, child.show_if, lang) if child.show_if else "", depth))
        out.append((section.title.get(lang) or section.name, rows))
    return out


@dataclass(frozen=True)
class Changes:
    added: list[str]
    removed: list[str]


def changes(draft: FormSpec, served: FormSpec | None, lang: str) -> Changes | None:
    """The questions the draft adds and drops against the served version (None: nothing served)."""
    if served is None:
        return None
    old = {q.name: q for q in served.all_questions()}
    new = {q.name: q for q in draft.all_questions()}
    return Changes(added=[q.label.get(lang) or n for n, q in new.items() if n not in old],
                   removed=[q.label.get(lang) or n for n, q in old.items() if n not in new])

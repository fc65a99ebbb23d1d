"""A submission's answers as its household reads them on /my: in full (they are its own), in the
page's language, by section, repeat items as on the form; unanswered questions left out."""
from __future__ import annotations

from dataclasses import dataclass

from service.formspec import FormSpec, Question


@dataclass(frozen=True)
class Shown:
    q: Question
    text: str = ""                                  # a question's answer, as words
    items: tuple[tuple["Shown", ...], ...] = ()     # a repeat group's items


def _words(q: Question, value, lang: str) -> str:
    values = value if isinstance(value, list) else [value]
    return ("、" if lang == "zh" else ", ").join(q.qtype.label(q, v, lang) for v in values)


def _answered(value) -> bool:
    return value not in (None, "", [])


def _shown(questions, answers: dict, lang: str) -> tuple[Shown, ...]:
    return tuple(Shown(q, _words(q, answers[q.name], lang)) for q in questions
                 if q.answerable and not q.is_group and _answered(answers.get(q.name)))


def sections_of(spec: FormSpec | None, answers: dict, lang: str) -> list[tuple]:
    """[(section, [Shown, …]), …] for the sections with at least one answer."""
    if spec is None:
        return []
    sections = []
    for section in spec.sections:
        entries = []
        for q in section.questions:
            if q.is_group:
                items = tuple(_shown(q.questions, item, lang)
                              for item in answers.get(q.name) or [] if isinstance(item, dict))
                if any(items):
                    entries.append(Shown(q, items=items))
            else:
                entries += _shown((q,), answers, lang)
        if entries:
            sections.append((section, entries))
    return sections

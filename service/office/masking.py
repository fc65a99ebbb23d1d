"""Masking identifiers for lists and screens: the one place that decides how a value is hidden."""
from __future__ import annotations

from service.formspec.model import Question


def mask(q: Question, value) -> str:
    """`value` as shown to someone who has not revealed it (e.g. 张*, 138****5678)."""
    if value is None or value == "":
        return ""
    text = ", ".join(value) if isinstance(value, list) else str(value)
    return q.qtype.mask(text)      # each type hides its own way (a phone keeps its ends)


def masked_answers(spec, answers: dict) -> dict:
    """An answers document with every `pii` answer masked, inside repeat items too (the JSON API
    returns documents; a question the version does not have is dropped, as it cannot be told
    apart from an identifier)."""
    out = {}
    for name, value in answers.items():
        q = spec.question(name)
        if q is None:
            continue
        if q.is_group:
            out[name] = [masked_answers(spec, item) for item in value or []]
        else:
            out[name] = mask(q, value) if q.pii else value
    return out

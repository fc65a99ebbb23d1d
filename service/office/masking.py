"""Masking identifiers for lists and screens: the one place that decides how a value is hidden."""
from __future__ import annotations

from service.formspec.model import Question


def mask(q: Question, value) -> str:
    """`value` as shown to someone who has not revealed it (e.g. 张*, 138****5678)."""
    if value is None or value == "":
        return ""
    text = ", ".join(value) if isinstance(value, list) else str(value)
    return q.qtype.mask(text)      # each type hides its own way (a phone keeps its ends)

"""Masking identifiers for lists and screens: the one place that decides how a value is hidden."""
from __future__ import annotations

from service.formspec.model import Question


def mask(q: Question, value) -> str:
    """`value` as shown to someone who has not revealed it (e.g. 张*, 138****5678)."""
    if value is None or value == "":
        return ""
    text = ", ".join(value) if isinstance(value, list) else str(value)
    if q.type == "phone" and len(text) >= 7:
        return text[:3] + "*" * (len(text) - 7) + text[-4:]
    if q.type == "id_number" and len(text) >= 8:
        return text[:4] + "*" * (len(text) - 8) + text[-4:]
    if len(text) <= 1:
        return "*"
    if len(text) <= 4:             # a name: keep the family name
        return text[0] + "*" * (len(text) - 1)
    keep = max(2, len(text) // 4)  # an address: keep the start, hide the rest
    return text[:keep] + "*" * 4

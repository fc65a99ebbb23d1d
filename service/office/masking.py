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
    apart from an identifier). A page of the API masks a thousand: the form's plan is made once."""
    plan = spec.__dict__.get("_mask_plan")
    if plan is None:
        plan = {q.name: ({c.name: c if c.pii else None for c in q.questions} if q.is_group
                         else q if q.pii else None) for q in spec.questions()}
        object.__setattr__(spec, "_mask_plan", plan)      # the spec is immutable: kept with it
    out = {}
    for name, value in answers.items():
        if name not in plan:
            continue
        how = plan[name]
        if isinstance(how, dict):
            out[name] = [_masked_item(how, item) for item in value or []]
        else:
            out[name] = value if how is None else mask(how, value)
    return out


def _masked_item(plan: dict, item: dict) -> dict:
    return {name: value if plan[name] is None else mask(plan[name], value)
            for name, value in item.items() if name in plan}

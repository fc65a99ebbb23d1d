"""Types answered by choosing among declared codes: select_one, select_multiple."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import fields
from wtforms.fields.choices import SelectChoice

from service.formspec import declare, validators as v
from service.formspec.types.base import QuestionType

#: Said when a post names a choice the form does not offer (e.g. a page opened before the form
#: changed). WTForms' own zh catalogue leaves its select_multiple message untranslated (fuzzy).
NOT_A_CHOICE = _l("Choose from the options shown.")


class SelectOne(QuestionType):
    name = "select_one"
    keys = frozenset({"choices"})
    stats = "choices"
    filterable = True

    def declare(self, check, ctx, data, kw):
        kw["choices"] = declare.choices(check, ctx, data.get("choices"))

    def field(self, q):
        return fields.SelectField(choices=[SelectChoice(c.value) for c in q.choices],
                                  invalid_choice_message=NOT_A_CHOICE,
                                  validators=[v.Presence(q.required)])

    def columns(self, q, name, labels, lang):
        if not labels:
            return super().columns(q, name, labels, lang)
        return [(name, lambda a: q.choice_label(a[q.name], lang) if q.name in a else "", False)]

    def relabel(self, q, labels):
        return lambda code: labels.get(code, code)

    def label(self, q, value, lang):
        return q.choice_label(str(value), lang)

    def sample(self, q, rng, today):
        return rng.choice(q.choices).value

    def example(self):
        return {"choices": [{"value": "a", "label": {"zh": "甲", "en": "Alpha"}},
                            {"value": "b", "label": {"zh": "乙", "en": "Beta"}}]}


class SelectMultiple(SelectOne):
    name = "select_multiple"
    keys = frozenset({"choices", "min_selected", "max_selected", "constraint_message"})
    multiple = True
    condition_kind = "multi"

    def declare(self, check, ctx, data, kw):
        super().declare(check, ctx, data, kw)
        n = len(kw["choices"])
        lo = kw["min_selected"] = declare.whole(check, ctx, data, "min_selected", None, minimum=0)
        hi = kw["max_selected"] = declare.whole(check, ctx, data, "max_selected", None, minimum=1)
        if lo is not None and hi is not None and lo > hi:
            check.problem(ctx, "min_selected is larger than max_selected")
        if lo is not None and n and lo > n:
            check.problem(ctx, "min_selected is larger than the number of choices")
        declare.constraint_message(check, ctx, data, kw, ("min_selected", "max_selected"))

    def field(self, q):
        return fields.SelectMultipleField(
            choices=[SelectChoice(c.value) for c in q.choices], invalid_choice_message=NOT_A_CHOICE,
            validators=[v.Presence(q.required), v.Selected(q.min_selected, q.max_selected,
                                                           q.constraint_message)])

    def clean(self, q, data):
        chosen = set(data or [])
        return [c.value for c in q.choices if c.value in chosen] or None

    def cell_keys(self, q):
        """A 0/1 cell per choice, then the chosen codes joined by ";"."""
        return [(q.name, c.value) for c in q.choices] + [(q.name, None)]

    def cell_values(self, q, value):
        chosen = value or []
        return [int(c.value in chosen) for c in q.choices] + [";".join(chosen)]

    def columns(self, q, name, labels, lang):
        cols = []
        for c in q.choices:
            header = f"{name}: {c.label.get(lang)}" if labels else f"{q.name}/{c.value}"
            cols.append((header, lambda a, v=c.value: int(v in (a.get(q.name) or [])), True))

        def joined(a):
            chosen = a.get(q.name) or []
            return ";".join(q.choice_label(v, lang) if labels else v for v in chosen)
        return cols + [(name, joined, False)]

    def relabel(self, q, labels):
        return lambda joined: ";".join(
            labels.get(code, code) for code in joined.split(";")) if joined else ""

    def sample(self, q, rng, today):
        low = q.min_selected or 1
        high = min(len(q.choices), q.max_selected or len(q.choices))
        picked = rng.sample(q.choices, rng.randint(low, max(low, high)))
        order = [c.value for c in q.choices]
        return sorted((c.value for c in picked), key=order.index)

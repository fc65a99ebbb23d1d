"""What the form template needs: each question with its input name, posted value and errors."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from flask import request

from service.formspec import types
from service.formspec.model import FormSpec, Question
from service.office import clock


@dataclass
class Slot:
    """One question as placed on the page (top level, or inside one repeat item)."""

    q: Question
    name: str                      # the wire name: `age` or `members-0-age`
    values: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    show_if: str = ""              # the condition as JSON for static/form.js

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""


@dataclass
class Group:
    q: Question
    items: list[tuple[str, list[Slot]]]   # (index, slots)
    template: list[Slot]                  # one item with "__i__" for the index
    errors: list[str]


def _slot(q, name, form_field, posted):
    errors = [str(e) for e in form_field.errors] if form_field is not None else []
    values = posted.getlist(name)
    if form_field is not None and form_field.raw_data:
        # WTForms renumbers repeat items 0..n-1 (members-0, members-5 -> members-0, members-1):
        # the field keeps what was posted under its original name
        values = list(form_field.raw_data)
    return Slot(q=q, name=name, values=values, errors=errors,
                show_if=json.dumps(q.show_if.as_json(), ensure_ascii=False) if q.show_if else "")


def page_context(spec: FormSpec, form) -> dict:
    posted = request.form if request.method == "POST" else _Empty()
    sections = []
    for section in spec.sections:
        entries = []
        for q in section.questions:
            if q.is_group:
                field_list = form[q.name]
                items = []
                for entry in field_list.entries:
                    index = entry.name.rsplit("-", 1)[1]
                    items.append((index, [
                        _slot(c, f"{q.name}-{index}-{c.name}",
                              entry.form[c.name] if c.answerable else None, posted)
                        for c in q.questions]))
                template = [_slot(c, f"{q.name}-__i__-{c.name}", None, _Empty())
                            for c in q.questions]
                entries.append(Group(q=q, items=items, template=template,
                                     errors=form.group_errors.get(q.name, [])))
            else:
                entries.append(_slot(q, q.name, form[q.name] if q.answerable else None, posted))
        sections.append((section, entries))
    # the sensitive consent stands right before the first top-level question that is (or holds)
    # a sensitive question, so a household meets it just when it matters
    first_sensitive = next((q.name for q in spec.questions()
                            if q.sensitive or any(c.sensitive for c in q.questions)), None)
    today = clock.today().isoformat()
    return {"spec": spec, "form": form, "sections": sections, "posted": posted,
            "first_sensitive": first_sensitive, "today": today,
            "type_strings": types.page_strings()}


class _Empty:
    def getlist(self, name):
        return []

    def get(self, name, default=None):
        return default

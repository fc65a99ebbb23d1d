"""Types that shape the form rather than ask: note (text to read), repeat (a group of items)."""
from __future__ import annotations


from service.formspec import declare
from service.formspec.types.base import QuestionType


class Note(QuestionType):
    name = "note"
    answers = False
    condition_kind = None

    def declare(self, check, ctx, data, kw):
        if kw["required"]:
            check.problem(ctx, "a note cannot be required")

    def sample(self, q, rng, today):
        return None


class Repeat(QuestionType):
    """Items of the same questions (e.g. one per household member); the loader reads the
    children, the submission keeps a list of answers documents."""

    name = "repeat"
    keys = frozenset({"questions", "min_items", "max_items"})
    group = True
    condition_kind = None      # only `answered` (the loader allows it)

    def declare(self, check, ctx, data, kw):
        kw["min_items"] = declare.whole(check, ctx, data, "min_items", 0, minimum=0)
        kw["max_items"] = declare.whole(check, ctx, data, "max_items", 50, minimum=1)
        if kw["min_items"] > kw["max_items"]:
            check.problem(ctx, "min_items is larger than max_items")

    def field(self, q):
        from service.formspec.wtf import item_field
        return item_field(q)

    def cell_keys(self, q):
        return []          # a group's items are a table of their own

    def cell_values(self, q, value):
        return []

    def sample(self, q, rng, today):
        items = []
        for _ in range(max(1, q.min_items)):
            items.append({c.name: c.qtype.sample(c, rng, today) for c in q.questions
                          if c.answerable})
        return items

    def example(self):
        return {"min_items": 1, "questions": [
            {"name": "member", "type": "text", "label": "成员", "required": True}]}

    def posted(self, value):
        raise TypeError("a repeat group is posted as its items' questions")

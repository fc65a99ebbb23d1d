"""The registry of question types: one entry per type, asked by everything that depends on a type.

Each entry (a `QuestionType` subclass, see base.py) knows its declaration keys and how they are
checked, whether it holds an answer or items, its condition kind, its WTForms field and how a
posted value is cleaned and corrected, its answer rows and tally values, its export cells and
columns, its dashboard statistics, its mask, its phone rules, its labels and a sample answer.

A new type is: an entry here, its input templates (templates/collect/types/<name>.html and
templates/admin/types/<name>.html) and its branch in static/checks.js; tests/test_every_type.py
walks every registered type through the whole path.
"""
from __future__ import annotations

from service.formspec.types.base import STATS_KINDS, QuestionType
from service.formspec.types.choices import SelectMultiple, SelectOne
from service.formspec.types.moments import Date, Time
from service.formspec.types.numbers import DecimalNumber, Integer, Rating
from service.formspec.types.structure import Note, Repeat
from service.formspec.types.text import IdNumber, Phone, Text, Textarea

#: Declaration keys every question may have.
COMMON_KEYS = frozenset({"name", "type", "label", "hint", "required", "pii", "sensitive",
                         "show_if", "prefill"})

REGISTRY: dict[str, QuestionType] = {}


class UnknownType(KeyError):
    """A question type no entry is registered for: never a silent default."""


def register(kind: type[QuestionType]) -> type[QuestionType]:
    entry = kind()
    if not entry.name or entry.name in REGISTRY:
        raise ValueError(f"question type {entry.name!r} is unnamed or registered twice")
    if entry.stats not in STATS_KINDS:
        raise ValueError(f"question type {entry.name!r}: unknown statistics {entry.stats!r}")
    REGISTRY[entry.name] = entry
    return kind


def get(name: str) -> QuestionType:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownType(f"unknown question type {name!r}") from None


def names() -> list[str]:
    return sorted(REGISTRY)


def page_strings() -> dict[str, str]:
    """The sentences the types' own checks show on the phone, in the page's language (added to
    the page's strings, see collect/offline.page_strings)."""
    return {key: str(text) for entry in REGISTRY.values() for key, text in entry.messages.items()}


for _kind in (Text, Textarea, Integer, DecimalNumber, Rating, SelectOne, SelectMultiple, Date,
              Time, Phone, IdNumber, Note, Repeat):
    register(_kind)

__all__ = ["COMMON_KEYS", "QuestionType", "REGISTRY", "UnknownType", "get", "names", "register"]

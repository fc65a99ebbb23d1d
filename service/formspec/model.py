"""The in-memory model of a form definition: immutable, already validated, bilingual.

Everything else (WTForms classes, answer rows, CSV columns, aggregates, the browser's show/hide)
is derived from these objects, so no other module ever reads YAML or re-derives a rule.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

LANGUAGES = ("zh", "en")
#: The statistics (a type's `stats`) a round's report counts: households per choice, or the
#: households answering, the total and the mean of a number.
REPORT_STATS = ("choices", "numbers")


@dataclass(frozen=True)
class Text:
    """A piece of text in each language; English falls back to Chinese when a form has none."""

    zh: str
    en: str = ""

    def get(self, lang: str) -> str:
        if lang == "en" and self.en:
            return self.en
        return self.zh

    def as_dict(self) -> dict:
        return {"zh": self.zh, "en": self.en} if self.en else {"zh": self.zh}


@dataclass(frozen=True)
class Choice:
    value: str
    label: Text


@dataclass(frozen=True)
class Condition:
    """A declarative `show_if` condition.

    `op` is one of equals, not_equals, in, gt, lt, gte, lte, answered (a leaf naming `question`), or
    all / any / not (a node holding `conditions`; exactly one for not). `kind` is filled in at load
    time from the named question's type (number, date, multi or text) so the server and the browser
    compare values the same way.
    """

    op: str
    question: str | None = None
    value: Any = None
    kind: str = "text"
    conditions: tuple[Condition, ...] = ()

    def as_json(self) -> dict:
        """The shape the browser's evaluator reads (static/form.js)."""
        if self.op in ("all", "any", "not"):
            return {"op": self.op, "conditions": [c.as_json() for c in self.conditions]}
        return {"op": self.op, "q": self.question, "v": self.value, "kind": self.kind}

    def questions(self) -> Iterator[str]:
        if self.question:
            yield self.question
        for c in self.conditions:
            yield from c.questions()


@dataclass(frozen=True)
class Question:
    name: str
    type: str
    label: Text
    hint: Text | None = None
    required: bool = False
    pii: bool = False
    sensitive: bool = False
    prefill: bool = True       # a ledger revisit shows the household's current answer (not: asked fresh)
    report: bool = False       # counted in a round's report upwards (reports/round_report.py)
    show_if: Condition | None = None
    choices: tuple[Choice, ...] = ()
    min: Any = None
    max: Any = None
    min_selected: int | None = None
    max_selected: int | None = None
    max_length: int | None = None
    #: said instead of the built-in message when this question's own bounds check fails (range,
    #: length, count of choices); never for `required` nor for a malformed answer
    constraint_message: Text | None = None
    min_items: int = 0
    max_items: int | None = None
    questions: tuple[Question, ...] = ()  # for repeat groups

    @property
    def qtype(self):
        """The registry's entry for this question's type (service/formspec/types), looked up once
        per question: a submission asks it a few hundred times."""
        entry = self.__dict__.get("_qtype")
        if entry is None:
            from service.formspec.types import get    # the registry reads the model: import late
            entry = get(self.type)
            object.__setattr__(self, "_qtype", entry)
        return entry

    @property
    def answerable(self) -> bool:
        return self.qtype.answers

    @property
    def is_group(self) -> bool:
        return self.qtype.group

    def choice_label(self, value: str, lang: str) -> str:
        for c in self.choices:
            if c.value == value:
                return c.label.get(lang)
        return value

    def children(self) -> tuple[Question, ...]:
        return self.questions


@dataclass(frozen=True)
class Section:
    name: str
    title: Text
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Consent:
    text: Text
    label: Text


@dataclass(frozen=True)
class SignUp:
    """A sign-up's follow-up: the office confirms each with a session, one of the options of
    `session_question`; rosters are per session, and per option of `event_question` if given."""

    session_question: str
    event_question: str | None = None


@dataclass(frozen=True)
class ReviewStep:
    """A step of an application's review: who may move an application to it (`role`; none for
    the first, where every application starts), from which steps (`after`), and whether it ends
    the review (`final`: the follow-up closes)."""

    name: str
    label: Text
    role: str | None = None
    after: tuple[str, ...] = ()
    final: bool = False


@dataclass(frozen=True)
class FollowUpRule:
    """What a form's `follow_up` declares: each submission opens a follow-up due in
    `due_working_days`; a sign-up or an application when `sign_up` or `steps` is given."""

    due_working_days: int = 15
    sign_up: SignUp | None = None
    steps: tuple[ReviewStep, ...] = ()

    @property
    def kind(self) -> str:
        return "sign_up" if self.sign_up else "application" if self.steps else "follow_up"

    def step(self, name: str) -> ReviewStep | None:
        return next((s for s in self.steps if s.name == name), None)


@dataclass(frozen=True)
class FormSpec:
    id: str
    version: int
    title: Text
    description: Text
    sections: tuple[Section, ...]
    consent: Consent | None = None
    sensitive_consent: Consent | None = None
    ledger: bool = False       # a household form: each submission is a visit to one household
    follow_up: FollowUpRule | None = None   # each submission opens a follow-up for the office
    retention_days: int | None = None   # answers erased this long after submission (purge.py)
    source: dict = field(default_factory=dict, compare=False, repr=False)

    def questions(self) -> Iterator[Question]:
        """Top-level questions in form order (repeat groups included, their children not)."""
        for section in self.sections:
            yield from section.questions

    def all_questions(self) -> Iterator[Question]:
        """Every question in form order, each repeat group followed by its children."""
        for q in self.questions():
            yield q
            yield from q.questions

    def question(self, name: str) -> Question | None:
        return self._index.get(name)

    @property
    def _index(self) -> dict[str, Question]:
        index = self.__dict__.get("_index_cache")
        if index is None:
            index = {q.name: q for q in self.all_questions()}
            object.__setattr__(self, "_index_cache", index)
        return index

    @property
    def has_sensitive(self) -> bool:
        return any(q.sensitive for q in self.all_questions())

    def report_candidates(self) -> list[Question]:
        """The questions a round's report may count: a ledger form's top-level answers by choices
        or numbers that do not identify a person (the loader refuses `report: true` elsewhere)."""
        if not self.ledger:
            return []
        return [q for q in self.questions() if q.answerable and not q.is_group and not q.pii
                and q.qtype.stats in REPORT_STATS]

    def parent_of(self, name: str) -> Question | None:
        """The repeat group holding question `name`, or None for a top-level question."""
        parents = self.__dict__.get("_parent_cache")
        if parents is None:
            parents = {c.name: q for q in self.questions() for c in q.questions}
            object.__setattr__(self, "_parent_cache", parents)
        return parents.get(name)

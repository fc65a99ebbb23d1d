"""What every question type knows, with the behaviour most types share; each type overrides only
where it differs (see the package docstring for the list)."""
from __future__ import annotations

import datetime as dt
import random

from service.formspec import validators as v

#: Dashboard statistics: counts per choice, numbers (summary and histogram), counts per bucket
#: (a date's month, a time's hour), "answered" with the latest answers, or none.
STATS_KINDS = ("choices", "numbers", "months", "hours", "texts", "none")


class QuestionType:
    """One question type. Instances are registered by `name` (see `register`)."""

    name: str = ""
    #: declaration keys besides the common ones (name, type, label, hint, required, ...)
    keys: frozenset = frozenset()
    answers = True          # holds an answer of its own (a note does not)
    group = False           # holds items of other questions (repeat)
    multiple = False        # an answer is a list of codes, posted as the name repeated
    numeric = False         # `Answer.number` is filled; a numeric export column
    text_like = False       # tallied only as "answered": a count per distinct text is the data
    #: how `show_if` compares its answers: number, date, multi or text; None: not comparable
    condition_kind: str | None = "text"
    stats = "none"          # one of STATS_KINDS, for aggregate.py and dashboard.html
    filterable = False      # the dashboard may filter by one of its answers (codes)
    integer = False         # numbers statistics: the histogram bins whole numbers
    #: the sentences its branch of static/checks.js may show: key → msgid (lazy), as the
    #: server's validators say them
    messages: dict = {}

    @property
    def template(self) -> str:
        """The input's template: templates/collect/types/<name>.html (and admin/types/)."""
        return self.name

    # --- declaration ---------------------------------------------------------------------
    def declare(self, check, ctx, data: dict, kw: dict) -> None:
        """Read and check the type's own keys of a declaration into `kw` (Question's fields);
        the common keys are already in it."""

    # --- the form: field, posted value, correction -----------------------------------------
    def field(self, q):
        """The unbound WTForms field (label set by wtf.field_for)."""
        raise NotImplementedError(self.name)

    def clean(self, q, data):
        """A valid field's data → the stored answer (JSON-friendly), None when unanswered."""
        if data is None or data == "":
            return None
        if isinstance(data, str):
            return data.strip() or None
        return data

    def field_data(self, q, stored):
        """A stored answer → its field's data again (corrections pre-fill the field)."""
        return None if stored is None or stored == "" else stored

    def rules(self, q) -> dict:
        """The rules static/checks.js applies on the phone (None values are left out)."""
        return {"type": self.name, "min": q.min, "max": q.max, "len": q.max_length,
                "smin": q.min_selected, "smax": q.max_selected}

    # --- stored rows and counts --------------------------------------------------------------
    def row_values(self, value) -> list:
        """The values of one answer, one `Answer` row each."""
        return value if isinstance(value, list) else [value]

    def typed(self, q, text: str):
        """An `Answer` row's text → the value as stored in the answers document."""
        return text

    def tally_values(self, q, value) -> list[str]:
        """The values counted in the tally besides "answered" (per month, area and channel)."""
        if self.text_like:
            return []
        return [self.bucket(str(v)) for v in self.row_values(value)]

    def bucket(self, text: str) -> str:
        """The value a statistic counts for an answer's text (e.g. a date's month)."""
        return text

    # --- export --------------------------------------------------------------------------
    def cell_keys(self, q) -> list[tuple]:
        """The export cells of a question: (name, choice code or None)."""
        return [(q.name, None)]

    def cell_values(self, q, value) -> list:
        return ["" if value is None else value]

    def columns(self, q, name: str, labels: bool, lang: str) -> list[tuple]:
        """(header, answers → cell, numeric) per export column; `name` is the header."""
        return [(name, lambda a, q=q: a.get(q.name, ""), self.numeric)]

    def relabel(self, q, labels: dict):
        """code → label for the value cell of a labelled export, or None when it holds no codes.
        `labels` maps each choice code to its (checked) label."""
        return None

    # --- office ------------------------------------------------------------------------------
    def label(self, q, value, lang: str) -> str:
        """One value as the office reads it."""
        return str(value)

    def mask(self, text: str) -> str:
        """A value as shown before it is revealed: a name keeps its family name, an address
        its start."""
        if len(text) <= 1:
            return "*"
        if len(text) <= 4:
            return text[0] + "*" * (len(text) - 1)
        keep = max(2, len(text) // 4)
        return text[:keep] + "*" * 4

    def scale(self, q) -> list | None:
        """Every value a numbers statistic shows, or None to bin what was answered."""
        return None

    # --- samples (bench/synthetic.py, tests/test_every_type.py) -----------------------------
    def example(self) -> dict:
        """The keys a smallest valid declaration of the type needs besides name, type, label."""
        return {}

    def sample(self, q, rng: random.Random, today: dt.date):
        """A valid stored answer."""
        raise NotImplementedError(self.name)

    def posted(self, value) -> list[str]:
        """A stored answer as the wire posts it."""
        return [str(v) for v in self.row_values(value)]

    def bad(self, q) -> list[str] | None:
        """Posted values the server and the phone both refuse, or None when the input offers
        no wrong answer (a choice among those shown)."""
        return None


class Textual(QuestionType):
    """Free text of some kind: counted only as answered, the latest answers shown."""

    text_like = True
    stats = "texts"

    def field(self, q):
        return _string([v.Presence(q.required), *self.validators(q)])

    def validators(self, q) -> list:
        return []


def _string(validators):
    from wtforms import fields
    return fields.StringField(validators=validators)

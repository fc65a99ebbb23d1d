"""Building a Flask-WTF form class from a `FormSpec`, and validating only what is shown.

A question hidden by `show_if` (or by a declined sensitive consent) is neither validated nor stored,
exactly as the browser hides and disables it. After `validate()`, `form.answers` holds the cleaned
answers document that `submissions.store` writes.
"""
from __future__ import annotations

import functools
import re
import uuid

from flask import current_app
from babel import support
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import fields
from wtforms.i18n import messages_path
from wtforms.validators import ValidationError

from service.formspec.conditions import is_shown
from service.formspec.model import FormSpec, Question


def item_field(q: Question):
    """The field of a repeat group: a list of item forms, one field per answerable child."""
    item_class = type(f"Item_{q.name}", (_ItemForm,), {
        c.name: field_for(c) for c in q.questions if c.answerable})
    return fields.FieldList(fields.FormField(item_class), min_entries=0)


def field_for(q: Question):
    """The unbound WTForms field of a question. Its label is the question's name: pages show the
    form definition's labels, and a field without one has WTForms translate a made-up label for
    every field of every request."""
    unbound = q.qtype.field(q)   # an unknown type raises: never a silent default
    unbound.kwargs.setdefault("label", q.name)
    return unbound


@functools.lru_cache(maxsize=16)
def _wtforms_messages(locale: str):
    """WTForms' own messages in one language, loaded once per process (Flask-WTF loads the
    catalogue from disk on every request), behind Doorstep's own catalogue: a message both
    translate (a malformed date) reads as the phone's check says it (collect/offline.py)."""
    ours = support.Translations.load(current_app.config["BABEL_TRANSLATION_DIRECTORIES"],
                                     [locale], domain="messages")
    ours.add_fallback(support.Translations.load(messages_path(), [locale], domain="wtforms"))
    return ours


class MessagesMeta:
    def get_translations(self, form):
        if not current_app.config.get("WTF_I18N_ENABLED", True):
            return None
        return _wtforms_messages(str(get_locale()))


def clean_value(q: Question, field):
    """The stored form of a valid answer: JSON-friendly, None when unanswered."""
    return q.qtype.clean(q, field.data)


class _ItemForm(FlaskForm):
    """One item of a repeat group; CSRF is checked once, on the whole form."""

    class Meta(MessagesMeta):
        csrf = False


def _uuid4(form, field):
    try:
        parsed = uuid.UUID(field.data or "")
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != (field.data or "").lower():
        raise ValidationError(_l("This page is out of date; please reload it and try again."))
    field.data = str(parsed)   # one spelling per submission, so the unique index catches a retry


class SurveyForm(FlaskForm):
    """Base class of every generated form; `spec` is set on each subclass."""

    spec: FormSpec
    submission_uuid = fields.HiddenField(label="submission_uuid")

    class Meta(MessagesMeta):
        pass

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers: dict = {}
        self.group_errors: dict[str, list[str]] = {}
        self.hidden: set[str] = set()
        if not self.submission_uuid.data:
            self.submission_uuid.data = str(uuid.uuid4())
        if not self.is_submitted():
            for q in self.spec.questions():
                if q.is_group:
                    for _ in range(q.min_items):
                        self[q.name].append_entry()

    def token_ok(self) -> bool:
        """The CSRF token and submission UUID are valid (checked before a retry is answered)."""
        csrf = self._fields.get("csrf_token")
        return ((csrf is None or csrf.validate(self))
                and self.submission_uuid.validate(self, [_uuid4]))

    def validate(self, extra_validators=None):
        ok = True
        for name in ("csrf_token", "submission_uuid", "consent", "sensitive_consent"):
            if name in self._fields:
                ok = self._fields[name].validate(self, self._meta_validators(name)) and ok
        if self.submission_uuid.errors:
            # a malformed id was never stored: the re-rendered page gets a fresh one, so submitting
            # again works instead of failing the same way forever
            self.submission_uuid.data = str(uuid.uuid4())
        sensitive_ok = bool("sensitive_consent" in self._fields and self.sensitive_consent.data)
        answers: dict = {}
        for q in self.spec.questions():
            if not q.answerable:
                continue
            if not is_shown(q, answers.get, sensitive_ok):
                self.hidden.add(q.name)
                continue
            field = self[q.name]
            if q.is_group:
                items, group_ok = self._validate_items(q, field, answers, sensitive_ok)
                ok = ok and group_ok
                if items:
                    answers[q.name] = items
            elif field.validate(self):
                value = clean_value(q, field)
                if value is not None:
                    answers[q.name] = value
            else:
                ok = False
        self.answers = answers
        return ok

    def _meta_validators(self, name):
        if name == "submission_uuid":
            return [_uuid4]
        if name == "consent":
            return [_agreed]
        return []

    def _validate_items(self, q, field, answers, sensitive_ok):
        ok = True
        items = []
        for i, entry in enumerate(field.entries):
            item: dict = {}
            lookup = lambda name, item=item: item[name] if name in item else answers.get(name)  # noqa: E731
            for child in q.questions:
                if not child.answerable:
                    continue
                if not is_shown(child, lookup, sensitive_ok):
                    self.hidden.add(f"{q.name}-{i}-{child.name}")
                    continue
                sub = entry.form[child.name]
                if sub.validate(entry.form):
                    value = clean_value(child, sub)
                    if value is not None:
                        item[child.name] = value
                else:
                    ok = False
            items.append(item)
        n = len(field.entries)
        if n < q.min_items:
            self.group_errors[q.name] = [str(_l("Add at least %(n)s.", n=q.min_items))]
            ok = False
        elif q.max_items is not None and n > q.max_items:
            self.group_errors[q.name] = [str(_l("Add at most %(n)s.", n=q.max_items))]
            ok = False
        return items, ok


def _agreed(form, field):
    if not field.data:
        raise ValidationError(_l("Please read and agree before answering."))


#: The post's own one-value fields besides the answers (README, "The wire format").
WIRE_SINGLES = frozenset({"csrf_token", "submission_uuid", "consent", "sensitive_consent",
                          "household", "base_version", "outcome"})
_ITEM = re.compile(r"^(?P<group>.+)-(?P<index>\d+)-(?P<name>[^-]+)$")


def posted_twice(formdata, spec: FormSpec | None = None) -> list[str]:
    """The wire names a post repeats although they take one value: an answer of any type but
    those whose answer is a list (`multiple`, i.e. select_multiple), an item's answer, or one of
    the post's own fields. WTForms would quietly take the first; which one was meant is unknown,
    so such a post is refused whole (400) and nothing of it stored."""
    twice = []
    for key in formdata:
        if len(formdata.getlist(key)) < 2:
            continue
        if key in WIRE_SINGLES:
            twice.append(key)
            continue
        q = _question_posted_as(spec, key) if spec is not None else None
        if q is not None and q.answerable and not q.is_group and not q.qtype.multiple:
            twice.append(key)
    return twice


def _question_posted_as(spec: FormSpec, key: str) -> Question | None:
    """The question a wire name answers: `name`, or `<repeat>-<index>-<name>` for an item."""
    item = _ITEM.match(key)
    if item is None:
        q = spec.question(key)
        return None if q is None or spec.parent_of(q.name) is not None else q
    group = spec.question(item.group("group"))
    if group is None or not group.is_group:
        return None
    return next((c for c in group.questions if c.name == item.group("name")), None)


def form_class(spec: FormSpec) -> type[SurveyForm]:
    """The WTForms class of one form version, built once per spec object and kept on it."""
    cached = spec.__dict__.get("_form_class")
    if cached is not None:
        return cached
    attrs = {"spec": spec}
    if spec.consent:
        attrs["consent"] = fields.BooleanField(label="consent",
                                               false_values=("", "n", "no", "false", "0"))
    if spec.sensitive_consent:
        attrs["sensitive_consent"] = fields.BooleanField(
            label="sensitive_consent", false_values=("", "n", "no", "false", "0"))
    for q in spec.questions():
        if q.answerable:
            attrs[q.name] = field_for(q)
    cls = type(f"Form_{spec.id}_{spec.version}", (SurveyForm,), attrs)
    object.__setattr__(spec, "_form_class", cls)
    return cls

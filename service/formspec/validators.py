"""Validators for Doorstep's question types, with messages in the user's language.

Each one checks a field that is known to be shown; hidden questions never reach them (see wtf.py).
"""
from __future__ import annotations

import datetime as dt
import re

from flask_babel import get_locale, lazy_gettext as _l
from wtforms.validators import StopValidation, ValidationError

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
ID_RE = re.compile(r"^\d{17}[\dX]$")
INTEGER_RE = re.compile(r"^[+-]?\d{1,15}$")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def _raw(field) -> str:
    return field.raw_data[0] if field.raw_data else ""


def _empty(field) -> bool:
    if field.type == "SelectMultipleField":
        return not field.data
    return not (field.raw_data and str(field.raw_data[0]).strip())


class Presence:
    """Required questions must be answered; optional ones stop validating when left empty."""

    def __init__(self, required: bool):
        self.required = required
        self.field_flags = {"required": True} if required else {"optional": True}

    def __call__(self, form, field):
        if _empty(field):
            field.errors[:] = []
            if self.required:
                raise StopValidation(_l("Please answer this question."))
            raise StopValidation()


def normalize_phone(value: str) -> str:
    value = re.sub(r"[\s-]", "", value or "")
    if value.startswith("+86"):
        value = value[3:]
    elif value.startswith("0086"):
        value = value[4:]
    return value


def phone(form, field):
    if not PHONE_RE.match(normalize_phone(_raw(field))):
        raise ValidationError(_l("Enter an 11-digit mainland mobile number, e.g. 13812345678."))


def id_number_problem(value: str) -> str | None:
    """Why `value` is not a valid 18-digit resident ID number (GB 11643), or None when it is."""
    if not ID_RE.match(value):
        return "format"
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "date"
    if born > dt.date.today() or born.year < 1880:
        return "date"
    total = sum(int(d) * w for d, w in zip(value[:17], ID_WEIGHTS))
    if ID_CHECK[total % 11] != value[17]:
        return "check"
    return None


def normalize_id_number(value: str) -> str:
    return re.sub(r"\s", "", value or "").upper()


def id_number(form, field):
    problem = id_number_problem(normalize_id_number(_raw(field)))
    if problem == "format":
        raise ValidationError(_l("An ID number has 18 characters: 17 digits, then a digit or X."))
    if problem == "date":
        raise ValidationError(_l("The date of birth in this ID number is not a real date."))
    if problem == "check":
        raise ValidationError(_l("This ID number's check digit is wrong; please check it again."))


def integer_text(form, field):
    if not INTEGER_RE.match(_raw(field).strip()):
        field.errors[:] = []
        raise StopValidation(_l("Enter a whole number, e.g. 3."))


def finite_decimal(form, field):
    if field.data is None or not field.data.is_finite():
        field.errors[:] = []
        raise StopValidation(_l("Enter a number, e.g. 2.5."))


class Bounds:
    """A question's own bounds check. `message` (the question's `constraint_message`, a model
    Text) is said instead of the built-in sentence when the check fails, in the page's language."""

    def __init__(self, low=None, high=None, message=None):
        self.low, self.high, self.message = low, high, message

    def refuse(self, builtin):
        if self.message is not None:
            locale = get_locale()
            builtin = self.message.get(locale.language if locale else "zh")
        raise ValidationError(builtin)


class Range(Bounds):
    """min/max for numbers, with a message that names the bounds."""

    def __call__(self, form, field):
        value = field.data
        if value is None:
            return
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            if self.low is not None and self.high is not None:
                self.refuse(_l("Enter a number from %(low)s to %(high)s.",
                               low=self.low, high=self.high))
            if self.low is not None:
                self.refuse(_l("Enter a number of at least %(low)s.", low=self.low))
            self.refuse(_l("Enter a number of at most %(high)s.", high=self.high))


class DateRange(Bounds):
    """min/max for dates; 'today' is resolved when the answer arrives, in the office's time zone."""

    def __init__(self, low=None, high=None, today=None, message=None):
        super().__init__(low, high, message)
        self.today = today

    def _bound(self, value):
        if value is None:
            return None
        return self.today() if value == "today" else dt.date.fromisoformat(value)

    def __call__(self, form, field):
        value = field.data
        if value is None:
            return
        low, high = self._bound(self.low), self._bound(self.high)
        if low is not None and value < low:
            self.refuse(_l("Enter a date on or after %(date)s.", date=low.isoformat()))
        if high is not None and value > high:
            self.refuse(_l("Enter a date on or before %(date)s.", date=high.isoformat()))


class Selected(Bounds):
    """How many choices of a select_multiple question may be ticked."""

    def __call__(self, form, field):
        n = len(field.data or [])
        if self.low is not None and n < self.low:
            self.refuse(_l("Choose at least %(n)s.", n=self.low))
        if self.high is not None and n > self.high:
            self.refuse(_l("Choose at most %(n)s.", n=self.high))


class MaxLength(Bounds):
    def __init__(self, limit, message=None):
        super().__init__(None, limit, message)

    def __call__(self, form, field):
        if len(_raw(field).strip()) > self.high:
            self.refuse(_l("Keep this under %(n)s characters.", n=self.high))


TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?$")


class TimeRange(Bounds):
    """A time of day as HH:MM (a browser's time input may add :SS), within min/max."""

    def __call__(self, form, field):
        found = TIME_RE.match(_raw(field).strip())
        if not found:
            raise ValidationError(_l("Enter a time as HH:MM, e.g. 09:30."))
        value = f"{int(found.group(1)):02d}:{found.group(2)}"
        if self.low is not None and value < self.low:
            self.refuse(_l("Enter a time at or after %(time)s.", time=self.low))
        if self.high is not None and value > self.high:
            self.refuse(_l("Enter a time at or before %(time)s.", time=self.high))

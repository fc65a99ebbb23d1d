"""XLSForm expressions ↔ Doorstep: `relevant` ↔ `show_if`, `constraint` ↔ a question's bounds.

Only the part of XPath that Doorstep evaluates the same way on the server and on the phone is read;
anything else is refused with a sentence saying what is supported. Both directions live here so
that what the writer (xlsform_out.py) says, the reader (xlsform.py) reads back to the same thing.

`relevant`: `${q} = 'v'`, `!=`, `>`, `<`, `>=`, `<=`, `selected(${q}, 'v')`, `not(...)`, `and`,
`or`, parentheses, `${q} != ''` (answered), `count(${group}) > 0` (a repeat has items); `=` or
`selected` on one question joined by `or` is Doorstep's `in`.
`constraint`: `. >= 0 and . <= 120` (numbers and dates, `today()`), `string-length(.) <= 50`,
`count-selected(.) >= 1 and count-selected(.) <= 3`, and the phone and ID number patterns.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _

#: `regex(., '…')` patterns that are Doorstep's own checks (validators.py); the first is written.
PATTERNS = {
    "phone": ("^1[3-9][0-9]{9}$", r"^1[3-9]\d{9}$"),
    "id_number": ("^[0-9]{17}[0-9Xx]$", r"^\d{17}[\dXx]$", "^[0-9]{17}[0-9X]$", r"^\d{17}[\dX]$"),
}
OPS = {"=": "equals", "!=": "not_equals", ">": "gt", "<": "lt", ">=": "gte", "<=": "lte"}
SYMBOL = {op: symbol for symbol, op in OPS.items()}
FLIPPED = {"=": "=", "!=": "!=", ">": "<", "<": ">", ">=": "<=", "<=": ">="}
_TOKEN = re.compile(r"""\s*(?:
    (?P<ref>\$\{\s*[^}\s]*\s*\})
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<num>-?(?:\d+(?:\.\d*)?|\.\d+))
  | (?P<op>!=|>=|<=|=|>|<)
  | (?P<punct>[(),])
  | (?P<dot>\.)
  | (?P<word>[A-Za-z_][\w:-]*)
  | (?P<other>\S+)
)""", re.X)


class ExprError(ValueError):
    """An expression Doorstep cannot take; `str()` is the sentence for the user."""


@dataclass(frozen=True)
class Literal:
    kind: str        # str, num, date, today
    text: str

    def value(self):
        """The value as a form definition holds it (int, float or text)."""
        if self.kind == "num":
            return float(self.text) if any(c in self.text for c in ".eE") else int(self.text)
        return self.text


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if found is None or found.end() == pos:
            break
        kind = found.lastgroup
        out.append((kind, found.group(kind)))
        pos = found.end()
    return out


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.items = _tokens(text)
        self.pos = 0

    def peek(self, ahead: int = 0):
        i = self.pos + ahead
        return self.items[i] if i < len(self.items) else ("end", "")

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        got_kind, got = self.peek()
        if (kind and got_kind != kind) or (value is not None and got != value):
            self.fail(got)
        self.pos += 1
        return got

    def fail(self, near: str):
        if not near:
            raise ExprError(_("the expression ends too early"))
        if re.fullmatch(r"[A-Za-z_][\w:-]*", near) and self.peek(1)[1] == "(":
            raise ExprError(_("the function %(name)s() is not supported here", name=near))
        raise ExprError(_("cannot read the expression at “%(near)s”", near=near))

    def at_word(self, *words) -> bool:
        kind, value = self.peek()
        return kind == "word" and value in words

    def done(self):
        if self.pos != len(self.items):
            self.fail(self.peek()[1])

    def ref(self) -> str:
        token = self.take("ref")
        return token[2:-1].strip()

    def literal(self) -> Literal:
        kind, value = self.peek()
        if kind == "str":
            self.pos += 1
            return Literal("str", value[1:-1])
        if kind == "num":
            self.pos += 1
            return Literal("num", value)
        if kind == "word" and value in ("date", "today") and self.peek(1)[1] == "(":
            self.pos += 2
            if value == "today":
                self.take("punct", ")")
                return Literal("today", "today")
            text = self.take("str")[1:-1]
            self.take("punct", ")")
            try:
                return Literal("date", dt.date.fromisoformat(text).isoformat())
            except ValueError:
                raise ExprError(_("“%(text)s” is not a date YYYY-MM-DD", text=text)) from None
        self.fail(value)


# --- relevant → show_if ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Node:
    cond: dict
    grouped: bool = False      # written in parentheses of its own
    selected: bool = False     # a bare selected(${q}, 'v')


def relevant_to_show_if(text: str, types: dict[str, str]) -> dict:
    """A `relevant` expression → a show_if mapping; `types` maps each question defined so far to its
    Doorstep type (a `=` on a select_multiple would compare the whole list, and is refused)."""
    reader = _Reader(text)
    if not reader.items:
        raise ExprError(_("the expression is empty"))
    node = _or(reader, types)
    reader.done()
    return node.cond


def _or(reader, types) -> _Node:
    terms = [_and(reader, types)]
    while reader.at_word("or"):
        reader.pos += 1
        terms.append(_and(reader, types))
    if len(terms) == 1:
        return terms[0]
    leaves = [t.cond for t in terms if not t.grouped and "equals" in t.cond]
    if len(leaves) == len(terms) and len({c["question"] for c in leaves}) == 1:
        return _Node({"question": leaves[0]["question"], "in": [c["equals"] for c in leaves]})
    return _Node({"any": [t.cond for t in terms]})


def _and(reader, types) -> _Node:
    terms = [_unary(reader, types)]
    while reader.at_word("and"):
        reader.pos += 1
        terms.append(_unary(reader, types))
    return terms[0] if len(terms) == 1 else _Node({"all": [t.cond for t in terms]})


def _unary(reader, types) -> _Node:
    if reader.at_word("not") and reader.peek(1)[1] == "(":
        reader.pos += 2
        inner = _or(reader, types)
        reader.take("punct", ")")
        if inner.selected:         # not(selected(${q}, 'v')): none chosen is 'v'
            return _Node({"question": inner.cond["question"], "not_equals": inner.cond["equals"]})
        return _Node({"not": inner.cond})
    if reader.peek()[1] == "(":
        reader.pos += 1
        inner = _or(reader, types)
        reader.take("punct", ")")
        return _Node(inner.cond, grouped=True)
    if reader.at_word("selected") and reader.peek(1)[1] == "(":
        reader.pos += 2
        name = _known(reader.ref(), types)
        reader.take("punct", ",")
        value = reader.literal()
        reader.take("punct", ")")
        if types[name] not in ("select_one", "select_multiple"):
            raise ExprError(_("selected() is for choice questions; %(name)s is not one",
                              name=name))
        return _Node({"question": name, "equals": value.value()}, selected=True)
    if reader.at_word("count") and reader.peek(1)[1] == "(":
        reader.pos += 2
        name = _known(reader.ref(), types)
        reader.take("punct", ")")
        op = reader.take("op")
        number = reader.literal()
        if types[name] != "repeat" or (op, number.text) not in ((">", "0"), ("=", "0")):
            raise ExprError(_("count() is only read as count(${group}) > 0 or = 0, "
                              "whether a repeat has items"))
        return _Node({"question": name, "answered": op == ">"})
    if reader.peek()[0] != "ref":
        reader.fail(reader.peek()[1])
    name = _known(reader.ref(), types)
    op = reader.take("op")
    value = reader.literal()
    return _Node(_compare(name, op, value, types[name]))


def _known(name: str, types) -> str:
    if name not in types:
        raise ExprError(_("${%(name)s} is not a question before this one", name=name))
    return name


def _compare(name: str, op: str, value: Literal, qtype: str) -> dict:
    if value.kind == "str" and value.text == "" and op in ("=", "!="):
        return {"question": name, "answered": op == "!="}
    if qtype == "repeat":
        raise ExprError(_("a repeat is compared as count(${%(name)s}) > 0", name=name))
    if qtype == "select_multiple" and op in ("=", "!="):
        raise ExprError(_("${%(name)s} = '…' compares the whole list of choices; use "
                          "selected(${%(name)s}, '…')", name=name))
    if value.kind == "today":
        raise ExprError(_("today() is not supported in relevant"))
    return {"question": name, OPS[op]: value.value()}


# --- show_if → relevant ---------------------------------------------------------------------

def show_if_to_relevant(cond: dict, types: dict[str, str]) -> str:
    """A show_if mapping (as a definition holds it) → the `relevant` expression that reads back to it."""
    return _expr(cond, types, nested=False)


def _expr(cond: dict, types, nested: bool) -> str:
    for node, word in (("all", " and "), ("any", " or ")):
        if node in cond:
            parts = cond[node]
            ones = {p.get("question") for p in parts if "equals" in p}
            # `=` on one question joined by `or` reads as `in`: keep an `any` of them apart
            fold = node == "any" and len(ones) == 1 and all("equals" in p for p in parts)
            text = word.join(f"({_expr(p, types, False)})" if fold else _expr(p, types, True)
                             for p in parts)
            return f"({text})" if nested and len(parts) > 1 else text
    if "not" in cond:
        inner = cond["not"]
        text = _expr(inner, types, False)
        if "equals" in inner and types.get(inner["question"]) in ("select_one", "select_multiple") \
                and text.startswith("selected("):
            text = f"({text})"           # not(selected(…)) reads as not_equals
        return f"not({text})"
    name = cond["question"]
    qtype = types.get(name, "text")
    ref = f"${{{name}}}"
    if "answered" in cond:
        if qtype == "repeat":
            return f"count({ref}) {'>' if cond['answered'] else '='} 0"
        return f"{ref} {'!=' if cond['answered'] else '='} ''"
    if "in" in cond:
        values = cond["in"]
        text = " or ".join(_leaf(ref, "equals", v, qtype) for v in values)
        return f"({text})" if nested and len(values) > 1 else text
    op = next(k for k in cond if k != "question")
    return _leaf(ref, op, cond[op], qtype)


def _leaf(ref: str, op: str, value, qtype: str) -> str:
    literal = literal_text(value, date=qtype == "date")
    if qtype == "select_multiple" and op in ("equals", "not_equals"):
        text = f"selected({ref}, {literal})"
        return text if op == "equals" else f"not({text})"
    return f"{ref} {SYMBOL[op]} {literal}"


def literal_text(value, date: bool = False) -> str:
    """A value as an XPath literal: numbers bare (a float keeps its point), dates as date('…')."""
    if isinstance(value, bool):
        raise ValueError("true/false is not a value an expression compares with")
    if isinstance(value, (int, float, Decimal)):
        return number_text(value)
    if isinstance(value, dt.date):
        value = value.isoformat()
    value = str(value)
    if date and value != "today":
        try:                      # as ODK writes a date (the loader also takes 20000101)
            value = dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
        return f"date({_quoted(value)})"
    return _quoted(value)


def number_text(value) -> str:
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        return text if "." in text else text + ".0"
    return str(value)


def _quoted(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    raise ValueError(f"{text!r} holds both kinds of quote, which XPath cannot write")


# --- constraint ↔ bounds ------------------------------------------------------------------

def constraint_to_keys(text: str) -> dict:
    """A `constraint` → the definition keys it stands for: min, max (a Literal each), max_length,
    min_selected, max_selected, or format (phone / id_number)."""
    reader = _Reader(text)
    if not reader.items:
        raise ExprError(_("the expression is empty"))
    keys: dict = {}
    while True:
        for key, value in _bound(reader):
            if key in keys:
                raise ExprError(_("the constraint sets %(key)s twice", key=key))
            keys[key] = value
        if not reader.at_word("and"):
            break
        reader.pos += 1
    reader.done()
    return keys


def _bound(reader) -> list[tuple]:
    kind, value = reader.peek()
    if kind == "word" and value in ("string-length", "count-selected") and reader.peek(1)[1] == "(":
        reader.pos += 2
        reader.take("dot")
        reader.take("punct", ")")
        op = reader.take("op")
        number = reader.literal()
        if number.kind != "num" or not number.text.isdigit():
            raise ExprError(_("%(function)s() is compared with a whole number", function=value))
        if value == "string-length":
            if op != "<=":
                raise ExprError(_("a length is checked as string-length(.) <= N: Doorstep has a "
                                  "longest length, no shortest"))
            return [("max_length", int(number.text))]
        if op not in (">=", "<="):
            raise ExprError(_("count-selected(.) is compared with >= or <="))
        return [("min_selected" if op == ">=" else "max_selected", int(number.text))]
    if kind == "word" and value == "regex" and reader.peek(1)[1] == "(":
        reader.pos += 2
        reader.take("dot")
        reader.take("punct", ",")
        pattern = reader.literal()
        reader.take("punct", ")")
        for name, patterns in PATTERNS.items():
            if pattern.kind == "str" and pattern.text in patterns:
                return [("format", name)]
        raise ExprError(_("Doorstep has no pattern checks besides the mainland mobile number "
                          "(%(phone)s) and the ID number (%(id)s): use type phone or id_number",
                          phone=PATTERNS["phone"][0], id=PATTERNS["id_number"][0]))
    if kind == "dot":
        reader.pos += 1
        op = reader.take("op")
        bound = reader.literal()
    elif kind in ("num", "str") or (kind == "word" and value in ("date", "today")):
        bound = reader.literal()
        op = FLIPPED[reader.take("op")]
        reader.take("dot")
    else:
        reader.fail(value)
    if op not in (">=", "<="):
        raise ExprError(_("a range is written with >= and <= (Doorstep's bounds include the "
                          "value), such as . >= 0 and . <= 120"))
    if bound.kind == "str":
        try:
            bound = Literal("date", dt.date.fromisoformat(bound.text).isoformat())
        except ValueError:
            raise ExprError(_("“%(text)s” is neither a number nor a date", text=bound.text)) from None
    return [("min" if op == ">=" else "max", bound)]


def keys_to_constraint(qtype: str, data: dict) -> str:
    """The `constraint` for a definition's bounds and checks ('' when it has none)."""
    parts = []
    if qtype in ("integer", "decimal", "date"):
        for key, op in (("min", ">="), ("max", "<=")):
            if data.get(key) is not None:
                bound = data[key]
                text = "today()" if bound == "today" else literal_text(bound, date=qtype == "date")
                parts.append(f". {op} {text}")
    if qtype in ("text", "textarea") and data.get("max_length") is not None:
        parts.append(f"string-length(.) <= {data['max_length']}")
    if qtype == "select_multiple":
        for key, op in (("min_selected", ">="), ("max_selected", "<=")):
            if data.get(key) is not None:
                parts.append(f"count-selected(.) {op} {data[key]}")
    if qtype in PATTERNS:
        parts.append(f"regex(., '{PATTERNS[qtype][0]}')")
    return " and ".join(parts)

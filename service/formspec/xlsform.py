"""Reading an XLSForm workbook (sheets survey, choices, settings) into a Doorstep form definition.

pyxform reads and checks the workbook, so whatever it refuses is refused; this module is the one
adapter from its output to a definition dict, which the loader then validates like any YAML form.
What Doorstep cannot keep (calculations, choice filters, other functions...) is refused, never
dropped: one line per problem, `sheet row N (column): message`, in the caller's locale's language.
The writer is xlsform_out.py; the types, columns and names read are in xlsform_columns.py."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask_babel import gettext as _
from pyxform import aliases
from pyxform.builder import create_survey_element_from_dict
from pyxform.errors import PyXFormError
from pyxform.xls2json import workbook_to_json
from pyxform.xls2json_backends import DefinitionData

from service.formspec import types, xlsform_expr as expr
from service.formspec.xlsform_book import MAX_BYTES, XLSFormError, line, open_book
from service.formspec.xlsform_columns import (
    CHOICE_COLUMNS, FLAGS, OWN_COLUMNS, OWN_TYPES, SETTINGS, SETTINGS_TEXTS, SURVEY_COLUMNS,
    TRANSLATED, TYPES, canonical, lang_of, located, question_names, refusal, section_name,
    structured, text_of, type_refusal, yes,
)
from service.formspec.loader import FormError, parse
from service.formspec.model import FormSpec


@dataclass
class Imported:
    definition: dict
    rows: dict[str, int]                              # question name → its survey row
    notes: list[str] = field(default_factory=list)   # kept nowhere, said once (not refusals)


def load(data: bytes, max_bytes: int = MAX_BYTES) -> tuple[FormSpec, list[str]]:
    """A workbook → the validated form and the notes; XLSFormError with every problem."""
    imported = read(data, max_bytes)
    try:
        return parse(imported.definition, where="xlsform"), imported.notes
    except FormError as exc:
        raise XLSFormError([located(imported.rows, p) for p in exc.problems]) from None


def read(data: bytes, max_bytes: int = MAX_BYTES) -> Imported:
    """A workbook → its definition dict (not validated yet: see `load`)."""
    return _Adapter(open_book(data, max_bytes)).run()


class _Adapter:
    """pyxform's reading of one workbook → a Doorstep definition, every problem collected."""

    def __init__(self, book: DefinitionData):
        self.book = book
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.rows = {"survey": list(enumerate(book.survey or [], start=2)),
                     "choices": list(enumerate(book.choices or [], start=2))}
        self.named = [(n, str(row["name"]).strip()) for n, row in self.rows["survey"]  # (`_row`)
                      if row.get("name") and not str(row.get("type", "")).startswith("end")]
        self.next_named = 0
        self.row_of: dict[str, int] = {}    # question, or "section N" → its row (loader's lines)
        self.types: dict[str, str] = {}     # questions so far → Doorstep type (for relevant)
        self.questions: set[str] = set()

    def problem(self, sheet, row, column, message):
        self.problems.append(line(sheet, row, column, message))

    def run(self) -> Imported:
        book = self.book
        for name in book.sheet_names or []:
            if name.lower() in ("external_choices", "entities", "osm"):
                self.problem(name, 1, None, _("the %(sheet)s sheet is not supported: Doorstep "
                                              "reads survey, choices and settings", sheet=name))
        if not book.survey:
            raise XLSFormError(self.problems + [_("The workbook has no survey sheet.")])
        self._check_columns()
        survey = self._pyxform()
        if survey is None:
            raise XLSFormError(self.problems)
        definition = self._settings()
        self.questions = question_names(survey["children"])
        definition["sections"] = self._sections(survey["children"])
        for n, _name in self.named[self.next_named:]:     # never dropped unsaid
            self.problem("survey", n, None, _("this row was not read into the form"))
        if self.problems:
            raise XLSFormError(self.problems)
        return Imported(definition, self.row_of, self.notes)

    # --- columns and pyxform ------------------------------------------------------------------
    def _check_columns(self):
        for sheet, allowed in (("survey", SURVEY_COLUMNS | OWN_COLUMNS), ("choices", CHOICE_COLUMNS)):
            for n, row in self.rows[sheet]:
                for column in row:
                    base, _sep, lang = (part.strip() for part in column.partition("::"))
                    base = canonical(base) if sheet == "survey" else \
                        aliases.list_header.get(base, base)
                    if base not in allowed:
                        if row.get("type") != "calculate":    # said once, for its type
                            self.problem(sheet, n, column, refusal(column))
                    elif lang and (base not in TRANSLATED or lang_of(lang) is None):
                        self.problem(sheet, n, column, _(
                            "Doorstep's forms are in Chinese and English: use label::中文 (zh) "
                            "and label::English (en) style columns for label, hint and "
                            "constraint_message"))
        settings = (self.book.settings or [{}])[0]
        for key in settings:
            base = key.partition("::")[0].strip()
            if "::" in key and base in SETTINGS_TEXTS:
                self.problem("settings", 2, key, _("a setting has no language columns: write "
                                                   "the English text in %(key)s_en", key=base))
            elif key.strip() not in SETTINGS and aliases.settings_header.get(key.strip()) not in (
                    "title", "id_string"):
                self.problem("settings", 2, key, _("this setting is not supported by Doorstep"))

    def _pyxform(self) -> dict | None:
        """pyxform's reading of the workbook (Doorstep's own types and columns handed over as
        XLSForm has them), or None with its problem reported."""
        survey = []
        for _n, row in self.rows["survey"]:
            row = {k: v for k, v in row.items() if k not in OWN_COLUMNS}
            kind = str(row.get("type", "")).strip()
            if kind in OWN_TYPES:
                row["type"] = OWN_TYPES[kind]
                if kind == "rating" and "parameters" not in row:
                    row["parameters"] = "start=1 end=5 step=1"
            survey.append(row)
        settings = [{k: v for k, v in (self.book.settings or [{}])[0].items()
                     if k in ("form_id", "form_title", "version")}]
        book = DefinitionData(survey=survey, choices=self.book.choices, settings=settings,
                              sheet_names=self.book.sheet_names)
        try:
            found = workbook_to_json(workbook_dict=book, warnings=[])
            create_survey_element_from_dict(found).to_xml(validate=False, warnings=[])
        except Exception as exc:   # noqa: BLE001 - pyxform's checks raise more than PyXFormError
            message = str(exc) if isinstance(exc, PyXFormError) else f"{type(exc).__name__}: {exc}"
            where = re.match(r"\s*\[row\s*:\s*(\d+)\]\s*", message)
            sheet = next((s for s in ("choices", "settings") if f"'{s}' sheet" in message),
                         "survey")
            self.problem(sheet, int(where.group(1)) if where else None, None, _(
                "pyxform: %(message)s", message=message[where.end():] if where else message))
            return None
        return found

    # --- settings -----------------------------------------------------------------------------
    def _settings(self) -> dict:
        s = {k.strip(): v for k, v in (self.book.settings or [{}])[0].items()}
        for alias, key in (("set_form_id", "form_id"), ("set_form_title", "form_title")):
            if alias in s:
                s.setdefault(key, s.pop(alias))
        out: dict = {}
        if not s.get("form_id"):
            self.problem("settings", 2, "form_id", _("the form needs a form_id"))
        out["id"] = s.get("form_id")
        version = str(s.get("version", "")).strip()
        if not version.isdigit():
            self.problem("settings", 2, "version", _("the version must be a whole number from 1"))
        out["version"] = int(version) if version.isdigit() else version
        default = s.get("default_language")
        if default is not None and lang_of(default) != "zh":
            self.problem("settings", 2, "default_language", _(
                "Doorstep shows a form in Chinese first: the default language must be Chinese "
                "(zh)"))
        if "ledger" in s:
            out["ledger"] = self._flag("settings", 2, "ledger", s["ledger"])
        out.update({key: int(days) if str(days).strip().isdigit() else days   # (else: refused)
                    for key, days in s.items() if key == "retention_days"})
        out["title"] = self._settings_text(s, "form_title")
        if out["title"] is None:
            self.problem("settings", 2, "form_title", _("the form needs a form_title"))
        out["description"] = self._settings_text(s, "description")
        for key in ("consent", "sensitive_consent"):
            text = self._settings_text(s, key)
            label = self._settings_text(s, f"{key}_label")
            if text is None and label is not None:
                self.problem("settings", 2, f"{key}_label", _("a label needs its consent text"))
            elif text is not None:
                out[key] = {"text": text} if label is None else {"text": text, "label": label}
        return {k: v for k, v in {**out, **structured(s)}.items() if v is not None}

    @staticmethod
    def _settings_text(s: dict, key: str):
        texts = {lang: s[k] for lang, k in (("zh", key), ("en", f"{key}_en")) if k in s}
        return text_of(texts) if texts else None

    def _flag(self, sheet, n, column, value) -> bool | None:
        flag = yes(value)
        if flag is None:
            self.problem(sheet, n, column, _("write yes or no"))
        return flag

    # --- survey -------------------------------------------------------------------------------
    def _row(self, el) -> int | None:
        """The survey row of pyxform's next element, None for one pyxform adds itself (meta, a
        repeat_count's calculate): elements come in the rows' order."""
        if self.next_named < len(self.named) and self.named[self.next_named][1] == el.get("name"):
            self.next_named += 1
            return self.named[self.next_named - 1][0]
        return None

    def _sections(self, children) -> list[dict]:
        sections: list[dict] = []
        loose = None
        for el in children:
            n = self._row(el)
            if n is None:
                continue
            if el["type"] == "group":
                loose = None
                self.row_of[f"section {len(sections) + 1}"] = n
                sections.append(self._section(el, n, len(sections) + 1))
                continue
            if loose is None:
                loose = {"questions": []}
                sections.append(loose)
                self.row_of[f"section {len(sections)}"] = n
            question = self._question(el, n)
            if question is not None:
                loose["questions"].append(question)
        return sections

    def _section(self, el, n, number) -> dict:
        raw = self.rows["survey"][n - 2][1]
        for column in ("relevant", "required", "constraint", "repeat_count", *OWN_COLUMNS):
            if raw.get(column) is not None:
                self.problem("survey", n, column, _("a group is a section of the form: put this "
                                                    "on its questions"))
        self._appearance(el, n, ("field-list",))
        name = section_name(el["name"], self.questions)
        section: dict = {} if name == f"section{number}" else {"name": name}
        title = text_of(el.get("label"))
        if title is not None:
            section["title"] = title
        section["questions"] = self._children(el, _("a group inside a group: Doorstep's "
                                                    "sections hold questions and repeats"))
        return section

    def _children(self, el, nested_group: str) -> list[dict]:
        """The questions of a group or repeat (a group within is refused with `nested_group`)."""
        questions = []
        for child in el.get("children", []):
            m = self._row(child)
            if m is None:
                continue
            if child["type"] == "group":
                self.problem("survey", m, "type", nested_group)
                self._skip(child)     # its rows are refused with it
                continue
            question = self._question(child, m)
            if question is not None:
                questions.append(question)
        return questions

    def _skip(self, el):
        for child in el.get("children", []):
            self._row(child)
            self._skip(child)

    def _question(self, el, n) -> dict | None:
        raw = self.rows["survey"][n - 2][1]
        self.row_of[el["name"]] = n
        kind = self._type(el, n, raw)
        if kind is None:
            return None
        q: dict = {"name": el["name"], "type": kind}
        for key in ("label", "hint"):
            text = text_of(el.get(key))
            if text is not None:
                q[key] = text
        bind = el.get("bind", {})
        if "required" in bind:
            q["required"] = self._flag("survey", n, "required", bind["required"])
        for flag in FLAGS[1:]:
            if raw.get(flag) is not None:
                q[flag] = self._flag("survey", n, flag, raw[flag])
        if bind.get("relevant"):
            try:
                q["show_if"] = expr.relevant_to_show_if(bind["relevant"], self.types)
            except expr.ExprError as exc:
                self.problem("survey", n, "relevant", str(exc))
        if kind == "repeat":
            self.types[el["name"]] = kind
            self._repeat(el, n, raw, q)
        elif bind.get("constraint"):
            self._constraint(n, bind, q)
        self.types[el["name"]] = q["type"]
        if kind in ("select_one", "select_multiple"):
            q["choices"] = [{"value": c["name"], "label": text_of(c.get("label"))}
                            for c in el.get("choices", [])]
        if kind == "rating":
            self._rating(el, n, raw, q)
        for key in ("min", "max"):
            if raw.get(key) is not None:
                if kind == "time":
                    q[key] = str(raw[key]).strip()
                else:
                    self.problem("survey", n, key, _("only a time question takes min and max "
                                                     "columns; use constraint"))
        if bind.get("jr:constraintMsg"):
            self._message(n, bind, q)
        return q

    def _type(self, el, n, raw) -> str | None:
        """The Doorstep type of a survey row, or None with the refusal reported."""
        written = str(raw.get("type", "")).strip()
        if el["type"] == "repeat":
            return "repeat"
        if written in OWN_TYPES:
            kind = written
        elif el["type"] in TYPES and not re.search(r"from_file|external|or_other", written):
            kind = TYPES[el["type"]]
        else:
            self.problem("survey", n, "type", type_refusal(el["type"], written))
            return None
        allowed = {"text": ("multiline",), "textarea": ("multiline",),
                   "rating": ("rating",)}.get(kind, ())
        appearance = self._appearance(el, n, allowed)
        if kind == "text" and appearance == "multiline":
            kind = "textarea"
        return kind

    def _appearance(self, el, n, allowed) -> str | None:
        appearance = el.get("control", {}).get("appearance")
        if appearance is not None and appearance not in allowed:
            self.problem("survey", n, "appearance", _(
                "the appearance %(appearance)s is not supported here", appearance=appearance))
        return appearance

    def _constraint(self, n, bind, q):
        try:
            keys = expr.constraint_to_keys(bind["constraint"])
        except expr.ExprError as exc:
            self.problem("survey", n, "constraint", str(exc))
            return
        kind = q["type"]
        if keys.get("format") and kind in ("text", keys["format"]):
            q["type"] = kind = keys.pop("format")
        fits = {"integer": ("min", "max"), "decimal": ("min", "max"), "date": ("min", "max"),
                "text": ("max_length",), "textarea": ("max_length",),
                "select_multiple": ("min_selected", "max_selected")}.get(kind, ())
        for key, value in keys.items():
            if key not in fits:
                self.problem("survey", n, "constraint", _(
                    "%(type)s questions have no %(what)s check in Doorstep", what=key, type=kind))
            elif isinstance(value, expr.Literal):
                wanted = ("date", "today") if kind == "date" else ("num",)
                if value.kind not in wanted:
                    self.problem("survey", n, "constraint", _(
                        "%(type)s questions take a range of %(what)s", type=kind,
                        what=_("dates") if kind == "date" else _("numbers")))
                q[key] = value.value()
            else:
                q[key] = value

    def _message(self, n, bind, q):
        """constraint_message → the question's own, said when its bounds check fails (a text
        always has one: its length); a format's check (mobile, ID number) says Doorstep's."""
        kind = q["type"]
        if not (bind.get("constraint") or kind in ("text", "textarea") or "min" in q or "max" in q):
            self.problem("survey", n, "constraint_message", _("a message needs its constraint"))
        elif kind in types.REGISTRY and "constraint_message" in types.get(kind).keys:
            q["constraint_message"] = text_of(bind["jr:constraintMsg"])
        else:
            self.notes.append(line("survey", n, "constraint_message", _(
                "Doorstep says its own message for this check; this one is not kept")))

    def _repeat(self, el, n, raw, q):
        count = raw.get("repeat_count")
        items = {k: raw[k] for k in ("min_items", "max_items") if raw.get(k) is not None}
        if count is not None:
            if items:
                self.problem("survey", n, "repeat_count", _("use repeat_count or min_items and "
                                                            "max_items, not both"))
            items = {"repeat_count": count}
        for key, value in items.items():
            text = str(value).strip()
            if not text.isdigit():
                self.problem("survey", n, key, _("a number of items is a whole number (a "
                                                 "calculation is not supported)"))
            elif key == "repeat_count":        # ODK asks exactly this many
                q["min_items"] = q["max_items"] = int(text)
            else:
                q[key] = int(text)
        q["questions"] = self._children(el, _("a group inside a repeat is not supported"))

    def _rating(self, el, n, raw, q):
        params = el.get("parameters") or {}
        start, end, step = (params.get(k) for k in ("start", "end", "step"))
        written = str(raw.get("type", "")).strip()
        end = end or ("5" if written == "rating" else "10")     # pyxform's range ends at 10
        if (start or "1") != "1" or (step or "1") != "1" or not str(end).isdigit() or \
                (written != "rating" and el.get("control", {}).get("appearance") != "rating"):
            self.problem("survey", n, "parameters", _(
                "a range is read as a rating from 1 to N: parameters start=1 end=N step=1 and "
                "appearance rating"))
            return
        if int(end) != 5:                  # Doorstep's own default scale
            q["max"] = int(end)

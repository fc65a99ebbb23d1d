"""What the XLSForm adapter (xlsform.py) reads: the types, columns and settings Doorstep maps, the
languages of translated columns, and how section and group names correspond (xlsform_out.py
writes by the same rules)."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from pyxform import aliases

from service.formspec.xlsform_book import line

#: The question types Doorstep has that XLSForm spells otherwise (xlsform_out.py writes them so):
#: pyxform is handed the XLSForm type, Doorstep keeps its own.
OWN_TYPES = {"phone": "text", "id_number": "text", "textarea": "text", "rating": "range"}
#: pyxform's types → Doorstep's (the rest are refused)
TYPES = {"text": "text", "string": "text", "integer": "integer", "int": "integer",
         "decimal": "decimal", "date": "date", "time": "time", "note": "note", "range": "rating",
         "select one": "select_one", "select all that apply": "select_multiple"}
#: Survey columns read (label, hint and constraint_message with a language each) and Doorstep's own
TRANSLATED = ("label", "hint", "constraint_message")
SURVEY_COLUMNS = {"type", "name", "label", "hint", "required", "relevant", "constraint",
                  "constraint_message", "appearance", "parameters", "repeat_count"}
FLAGS = ("required", "pii", "sensitive", "prefill", "report")
OWN_COLUMNS = {"pii", "sensitive", "prefill", "report", "min_items", "max_items", "min", "max"}
CHOICE_COLUMNS = {"list_name", "list name", "name", "label"}
#: settings: form_title is the Chinese title, form_title_en the English one (pyxform has no
#: translated title); Doorstep's texts likewise, each with its `_en`.
SETTINGS_TEXTS = ("form_title", "description", "consent", "consent_label", "sensitive_consent",
                  "sensitive_consent_label")
#: Doorstep's settings that are a structure (a form's follow-up), written as JSON in one cell
STRUCTURED = ("follow_up",)
SETTINGS = {"form_id", "version", "default_language", "ledger", "retention_days",
            *STRUCTURED, *SETTINGS_TEXTS, *(f"{key}_en" for key in SETTINGS_TEXTS)}
#: What pyxform's survey column aliases stand for, among the columns read here
ALIASED = {("bind", "relevant"): "relevant", ("bind", "required"): "required",
           ("bind", "constraint"): "constraint", ("bind", "jr:constraintMsg"): "constraint_message",
           ("control", "appearance"): "appearance", ("control", "jr:count"): "repeat_count",
           "label": "label", "name": "name", "type": "type"}
#: A section named like a question is written as a group `<name>_section` (XLSForm names are
#: one namespace; a Doorstep section's name is not a question's): see section_name / group_name.
SECTION_SUFFIX = "_section"


def base_name(name: str) -> str:
    while name.endswith(SECTION_SUFFIX):
        name = name[:-len(SECTION_SUFFIX)]
    return name


def group_name(section: str, questions: set[str]) -> str:
    """The XLSForm group name for a section, kept apart from the question names."""
    return section + SECTION_SUFFIX if base_name(section) in questions else section


def section_name(group: str, questions: set[str]) -> str:
    """The section name a group name stands for (the reverse of `group_name`)."""
    if group.endswith(SECTION_SUFFIX) and base_name(group) in questions:
        return group[:-len(SECTION_SUFFIX)]
    return group


def lang_of(name: str) -> str | None:
    """zh or en for a language column's name (`中文 (zh)`, `English (en)`, `zh-CN`, `中文`),
    else None."""
    found = re.search(r"\(([A-Za-z_-]+)\)\s*$", name)
    code = (found.group(1) if found else name).strip().lower()
    named = {"中文": "zh", "汉语": "zh", "简体中文": "zh", "chinese": "zh", "english": "en",
             "英文": "en", "英语": "en"}
    return named.get(code) or next((lang for lang in ("zh", "en") if code == lang or
                                     code.startswith((lang + "-", lang + "_"))), None)


def structured(settings: dict) -> dict:
    """The structured settings of a workbook's settings row, read from their JSON; a cell that
    is not JSON is passed on as it is, and the loader says what is wrong with it."""
    import json
    out = {}
    for key in STRUCTURED:
        if settings.get(key) not in (None, ""):
            try:
                out[key] = json.loads(str(settings[key]))
            except ValueError:
                out[key] = str(settings[key])
    return out


def structured_cells(source: dict) -> dict:
    """The structured settings of a definition as the cells `structured` reads back."""
    import json
    return {key: json.dumps(source[key], ensure_ascii=False, sort_keys=True)
            for key in STRUCTURED if key in source}


def yes(value) -> bool | None:
    return aliases.yes_no.get(str(value).strip()) if value is not None else None


def canonical(column: str) -> str | None:
    """A survey column's name as read here (pyxform's aliases such as `relevance` included)."""
    if column in SURVEY_COLUMNS or column in OWN_COLUMNS:
        return column
    return ALIASED.get(aliases.survey_header.get(column))


def refusal(column: str) -> str:
    """Why a survey column is refused."""
    if column in ("calculation", "calculate"):
        return _("calculations are not supported")
    if column == "choice_filter":
        return _("filtered choices (choice_filter) are not supported")
    if column in ("default", "trigger", "read_only", "readonly"):
        return _("default answers, triggers and read-only questions are not supported")
    if column in ("image", "big-image", "audio", "video", "media"):
        return _("images, audio and video are not supported")
    return _("this column is not supported by Doorstep")


def type_refusal(pyxform_type: str, written: str) -> str:
    """Why a survey row's type is refused (`written`: as the workbook spells it)."""
    if pyxform_type == "calculate":
        return _("calculations are not supported")
    if re.search(r"from_file|external", written):
        return _("choices from a file or an external sheet are not supported")
    if "or_other" in written:
        return _("or_other is not supported: add an “other” choice and a text question")
    return _("the type %(type)s is not supported (Doorstep's types: %(types)s)",
             type=written, types="text, integer, decimal, date, time, select_one, "
             "select_multiple, note, range (a rating), begin/end group, begin/end "
             "repeat, phone, id_number, textarea, rating")


def question_names(children) -> set[str]:
    """The question names among pyxform's elements (groups' names are not questions')."""
    names = set()
    for el in children:
        if el.get("type") != "group":
            names.add(el.get("name"))
        names |= question_names(el.get("children", []))
    return names


def text_of(value):
    """pyxform's text (plain, or per language) → a definition's text: plain when both languages
    say the same, {zh, en} otherwise, {zh} when there is no English."""
    if value is None or isinstance(value, str):
        return value or None
    zh = en = None
    for name, words in value.items():
        lang = "zh" if name == "default" else lang_of(name)
        if lang == "zh" and zh is None:
            zh = words
        elif lang == "en":
            en = words
    if zh is None and en is None:
        return None
    if zh is not None and en is not None and zh == en:
        return zh
    return {k: v for k, v in (("zh", zh), ("en", en)) if v is not None}


def located(rows: dict[str, int], problem: str) -> str:
    """A loader problem (`xlsform: question 'x': …`, in English) → the same sentence at the row
    of the question it names, else at the settings row."""
    message = problem.removeprefix("xlsform: ")
    found = re.search(r"question '([a-z][a-z0-9_]*)'|(section \d+)", message)
    key = found and (found.group(1) or found.group(2))
    if key in rows:
        return line("survey", rows[key], None, message)
    return line("settings", 2, None, message)

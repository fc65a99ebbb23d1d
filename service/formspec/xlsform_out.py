"""Writing a form definition as an XLSForm workbook (survey, choices, settings).

What ODK and Kobo know is written as XLSForm has it (types, `relevant`, `constraint` and its
`constraint_message`, `repeat_count`, `label::中文 (zh)` / `label::English (en)`), so their tools
take the workbook; what only Doorstep has goes in Doorstep's own columns (pii, sensitive, prefill,
report, min_items, max_items, a time's min and max; settings ledger, retention_days, description
and consents), which they leave alone. Only the keys the
definition declares are written, so xlsform.py reads the workbook back to the same definition.
"""
from __future__ import annotations

import io

import xlsxwriter

from service.formspec.model import FormSpec
from service.formspec.xlsform_columns import group_name, structured_cells
from service.formspec.xlsform_expr import keys_to_constraint, show_if_to_relevant

LANGUAGES = (("zh", "中文 (zh)"), ("en", "English (en)"))
#: Doorstep's type → XLSForm's type, and the appearance that says the rest
TYPES = {"text": ("text", None), "textarea": ("text", "multiline"), "phone": ("text", None),
         "id_number": ("text", None), "integer": ("integer", None),
         "decimal": ("decimal", None), "date": ("date", None), "time": ("time", None),
         "note": ("note", None), "select_one": ("select_one", None),
         "select_multiple": ("select_multiple", None), "rating": ("range", "rating")}
SURVEY = ("type", "name", "label", "hint", "required", "relevant", "constraint",
          "constraint_message", "appearance",
          "parameters", "repeat_count", "min_items", "max_items", "min", "max", "pii",
          "sensitive", "prefill", "report")
ALWAYS = ("type", "name", "label", "hint", "required", "relevant", "constraint")
TRANSLATED = ("label", "hint", "constraint_message")
SETTINGS_TEXTS = ("description", "consent", "consent_label", "sensitive_consent",
                  "sensitive_consent_label")


class NotWritable(ValueError):
    """A definition holds something an XLSForm cannot say (named in the message)."""


def write(spec: FormSpec) -> bytes:
    """The .xlsx bytes of a validated form (its definition as declared: `spec.source`)."""
    source = spec.source
    types = {q.name: q.type for q in spec.all_questions()}
    survey: list[dict] = []
    choices: list[dict] = []
    for i, section in enumerate(source["sections"], start=1):
        row = {"type": "begin group", "appearance": "field-list",
               "name": group_name(section.get("name") or f"section{i}", set(types))}
        _texts(row, "label", section.get("title"))
        survey.append(row)
        for question in section["questions"]:
            _question(question, types, survey, choices)
        survey.append({"type": "end group"})

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    _sheet(book, "survey", _columns(survey, SURVEY, ALWAYS), survey)
    _sheet(book, "choices", ["list_name", "name", *_langs("label")], choices)
    settings = _settings(source)
    _sheet(book, "settings", list(settings), [settings])
    book.close()
    return out.getvalue()


def _question(q: dict, types: dict, survey: list, choices: list) -> None:
    name, kind = q["name"], q["type"]
    row = {"name": name}
    if kind == "repeat":
        row["type"] = "begin repeat"
        low, high = q.get("min_items"), q.get("max_items")
        if low is not None and low == high:
            row["repeat_count"] = low          # ODK asks exactly this many
        else:
            row.update({k: q[k] for k in ("min_items", "max_items") if k in q})
    elif kind in TYPES:
        row["type"], appearance = TYPES[kind]
        if appearance:
            row["appearance"] = appearance
        if kind in ("select_one", "select_multiple"):
            row["type"] = f"{row['type']} {name}"
            for choice in q["choices"]:
                line = {"list_name": name, "name": str(choice["value"])}
                _texts(line, "label", choice.get("label"))
                choices.append(line)
        if kind == "rating":
            row["parameters"] = f"start=1 end={q.get('max', 5)} step=1"
        if kind == "time":
            row.update({k: q[k] for k in ("min", "max") if k in q})
        row["constraint"] = keys_to_constraint(kind, q)
    else:
        raise NotWritable(f"question '{name}': the type {kind} has no XLSForm form yet")
    for key in TRANSLATED:
        _texts(row, key, q.get(key))
    for flag in ("required", "pii", "sensitive", "prefill", "report"):
        if flag in q:
            row[flag] = "yes" if q[flag] else "no"
    if "show_if" in q:
        row["relevant"] = show_if_to_relevant(q["show_if"], types)
    survey.append(row)
    if kind == "repeat":
        for child in q["questions"]:
            _question(child, types, survey, choices)
        survey.append({"type": "end repeat"})


def _settings(source: dict) -> dict:
    settings = {"form_id": source["id"]}
    zh, en = _split(source["title"])
    settings["form_title"] = zh
    if en:
        settings["form_title_en"] = en
    settings["version"] = source["version"]
    settings["default_language"] = LANGUAGES[0][1]
    if "ledger" in source:
        settings["ledger"] = "yes" if source["ledger"] else "no"
    if "retention_days" in source:
        settings["retention_days"] = source["retention_days"]
    settings.update(structured_cells(source))
    texts = {"description": source.get("description")}
    for key in ("consent", "sensitive_consent"):
        block = source.get(key) or {}
        texts[key], texts[f"{key}_label"] = block.get("text"), block.get("label")
    for key in SETTINGS_TEXTS:
        zh, en = _split(texts[key])
        if zh is not None:
            settings[key] = zh
        if en:
            settings[f"{key}_en"] = en
    return settings


def _split(text) -> tuple[str | None, str | None]:
    """A definition's text → (Chinese, English); a plain text is the same in both."""
    if text is None:
        return None, None
    if isinstance(text, dict):
        return text.get("zh"), text.get("en") or None
    return str(text), str(text)


def _texts(row: dict, key: str, text) -> None:
    for (lang, column), words in zip(LANGUAGES, _split(text)):
        if words:
            row[f"{key}::{column}"] = words


def _langs(key: str) -> list[str]:
    return [f"{key}::{column}" for _lang, column in LANGUAGES]


def _columns(rows: list[dict], order, always) -> list[str]:
    used = {key.partition("::")[0] for row in rows for key, value in row.items() if value != ""}
    columns = []
    for key in order:
        if key in used or key in always:
            columns.extend(_langs(key) if key in TRANSLATED else [key])
    return columns


def _sheet(book, name: str, columns: list[str], rows: list[dict]) -> None:
    sheet = book.add_worksheet(name)
    bold = book.add_format({"bold": True})
    sheet.freeze_panes(1, 0)
    for c, column in enumerate(columns):
        sheet.write_string(0, c, column, bold)
        sheet.set_column(c, c, 40 if "::" in column or column == "relevant" else 14)
    for r, row in enumerate(rows, start=1):
        for c, column in enumerate(columns):
            value = row.get(column)
            if value is not None and value != "":
                sheet.write_string(r, c, str(value))

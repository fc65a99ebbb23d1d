"""XLSForm workbooks in and out (service/formspec/xlsform.py, xlsform_out.py): real workbooks written
here with openpyxl, every mapped feature and every refusal (one line each, `sheet row N (column):
message`, in the user's language); every demo and test form round-trips to the same definition and
is accepted by ODK Validate; and `relevant` expressions read from a workbook are evaluated alike by
the server and the phone (static/form.js, in node)."""
from __future__ import annotations

import io
import json
import shutil
import zipfile

import openpyxl
import pytest
import yaml

from service.cli.forms import messages_in
from service.formspec import load_file, parse, xlsform, xlsform_book, xlsform_out
from service.formspec.catalog import _canonical
from service.formspec.conditions import evaluate
from service.formspec.xlsform_expr import relevant_to_show_if, show_if_to_relevant

from .ci import unavailable
from .conftest import DEMO_FORMS, TEST_FORMS
from .test_conditions import evaluated_by_the_phone

ZH, EN = "label::中文 (zh)", "label::English (en)"
SETTINGS = {"form_id": "t", "form_title": "测试", "form_title_en": "Test", "version": "1"}
YES_NO = [{"list_name": "yn", "name": "yes", ZH: "是", EN: "Yes"},
          {"list_name": "yn", "name": "no", ZH: "否", EN: "No"}]


def book(survey: list[dict], choices: list[dict] | None = None, settings: dict | None = None,
         sheets: dict | None = None) -> bytes:
    """An .xlsx written by openpyxl: one sheet per list of row dicts (headers in first use order)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    all_sheets = {"survey": survey, "choices": choices if choices is not None else YES_NO,
                  "settings": [settings if settings is not None else SETTINGS], **(sheets or {})}
    for name, rows in all_sheets.items():
        sheet = wb.create_sheet(name)
        header = list(dict.fromkeys(k for row in rows for k in row))
        sheet.append(header)
        for row in rows:
            sheet.append([row.get(k) for k in header])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def q(kind, name, zh=None, en=None, **columns) -> dict:
    """A survey row: type, name, the two labels (when given) and any other columns."""
    row = {"type": kind, "name": name}
    if zh is not None:
        row[ZH] = zh
    if en is not None:
        row[EN] = en
    return {**row, **{k.replace("__", "::"): v for k, v in columns.items()}}


def problems(data: bytes, lang: str = "en") -> list[str]:
    with messages_in(lang):
        with pytest.raises(xlsform.XLSFormError) as caught:
            xlsform.load(data)
    return caught.value.problems


def definition(data: bytes) -> dict:
    with messages_in("en"):
        return xlsform.read(data).definition


# --- every mapped feature ------------------------------------------------------------------

EVERYTHING = [
    q("begin group", "person", "个人", "About you", appearance="field-list"),
    q("text", "name", "姓名", "Name", pii="yes", required="yes",
      constraint="string-length(.) <= 50", **{"hint::中文 (zh)": "全名", "hint::English (en)":
                                               "Full name"}),
    q("phone", "mobile", "手机", "Mobile", required="true()"),
    q("text", "mobile2", "备用手机", "Other mobile", constraint="regex(., '^1[3-9][0-9]{9}$')",
      constraint_message="手机号不对"),
    q("id_number", "idn", "身份证号", "ID number", pii="TRUE"),
    q("text", "idn2", "证件号", "ID", constraint=r"regex(., '^\d{17}[\dX]$')"),
    q("integer", "age", "年龄", "Age", constraint=". >= 0 and . <= 120",
      **{"constraint_message::中文 (zh)": "0到120"}),
    q("decimal", "income", "收入", "Income", constraint="0 <= . and . <= 9999.5", prefill="no"),
    q("select_one yn", "employed", "就业", "Employed", required="yes", report="no"),
    q("text", "why", "原因", "Why", relevant="${employed} = 'no'", appearance="multiline",
      constraint="string-length(.) <= 500"),
    q("end group", None),
    q("date", "moved", "迁入", "Moved in", constraint=". >= date('2000-01-01') and . <= today()"),
    q("time", "visit_time", "时间", "Time", min="08:30", max="17:00",
      **{"constraint_message::中文 (zh)": "工作时间内", "constraint_message::English (en)":
         "Office hours"}),
    q("select_multiple tags", "tags", "标签", "Tags",
      constraint="count-selected(.) >= 1 and count-selected(.) <= 2", sensitive="yes"),
    q("note", "intro", "以下选填", "Optional from here", relevant="not(selected(${tags}, 'a'))"),
    q("range", "score", "满意度", "Satisfaction", parameters="start=1 end=7 step=1",
      appearance="rating"),
    q("rating", "stars", "星级", "Stars"),
    q("textarea", "story", "情况", "Story", constraint_message="太长了"),
    q("begin repeat", "kids", "子女", "Child", repeat_count="2",
      relevant="${age} >= 18 and (${employed} != 'yes' or ${income} < 1000)"),
    q("integer", "kage", "年龄", "Age"),
    q("text", "school", "学校", "School", relevant="${kage} <= 17"),
    q("end repeat", None),
    q("begin repeat", "pets", "宠物", "Pet", min_items="1", max_items="4"),
    q("text", "pet", "名字", "Name", relevant="${kids} != '' and count(${kids}) > 0"),
    q("end repeat", None),
    q("text", "plain", "同文", "同文",
      relevant="${tags} != '' and (selected(${tags}, 'a') or selected(${tags}, 'b'))"),
]
EVERYTHING_CHOICES = YES_NO + [{"list_name": "tags", "name": v, ZH: v.upper(), EN: v.upper()}
                               for v in "abc"]
EVERYTHING_SETTINGS = {**SETTINGS, "version": "3", "default_language": "中文 (zh)",
                       "description": "说明", "description_en": "About", "consent": "目的",
                       "consent_en": "Purpose", "sensitive_consent": "敏感",
                       "sensitive_consent_label": "我同意", "sensitive_consent_label_en": "I agree"}

EXPECTED = {
    "id": "t", "version": 3, "title": {"zh": "测试", "en": "Test"},
    "description": {"zh": "说明", "en": "About"},
    "consent": {"text": {"zh": "目的", "en": "Purpose"}},
    "sensitive_consent": {"text": {"zh": "敏感"}, "label": {"zh": "我同意", "en": "I agree"}},
    "sections": [
        {"name": "person", "title": {"zh": "个人", "en": "About you"}, "questions": [
            {"name": "name", "type": "text", "label": {"zh": "姓名", "en": "Name"},
             "hint": {"zh": "全名", "en": "Full name"}, "required": True, "pii": True,
             "max_length": 50},
            {"name": "mobile", "type": "phone", "label": {"zh": "手机", "en": "Mobile"},
             "required": True},
            {"name": "mobile2", "type": "phone", "label": {"zh": "备用手机", "en": "Other mobile"}},
            {"name": "idn", "type": "id_number", "label": {"zh": "身份证号", "en": "ID number"},
             "pii": True},
            {"name": "idn2", "type": "id_number", "label": {"zh": "证件号", "en": "ID"}},
            {"name": "age", "type": "integer", "label": {"zh": "年龄", "en": "Age"},
             "min": 0, "max": 120, "constraint_message": {"zh": "0到120"}},
            {"name": "income", "type": "decimal", "label": {"zh": "收入", "en": "Income"},
             "prefill": False, "min": 0, "max": 9999.5},
            {"name": "employed", "type": "select_one", "label": {"zh": "就业", "en": "Employed"},
             "required": True, "report": False, "choices": [
                 {"value": "yes", "label": {"zh": "是", "en": "Yes"}},
                 {"value": "no", "label": {"zh": "否", "en": "No"}}]},
            {"name": "why", "type": "textarea", "label": {"zh": "原因", "en": "Why"},
             "show_if": {"question": "employed", "equals": "no"}, "max_length": 500}]},
        {"questions": [
            {"name": "moved", "type": "date", "label": {"zh": "迁入", "en": "Moved in"},
             "min": "2000-01-01", "max": "today"},
            {"name": "visit_time", "type": "time", "label": {"zh": "时间", "en": "Time"},
             "min": "08:30", "max": "17:00",
             "constraint_message": {"zh": "工作时间内", "en": "Office hours"}},
            {"name": "tags", "type": "select_multiple", "label": {"zh": "标签", "en": "Tags"},
             "sensitive": True, "min_selected": 1, "max_selected": 2, "choices": [
                 {"value": v, "label": v.upper()} for v in "abc"]},
            {"name": "intro", "type": "note", "label": {"zh": "以下选填", "en": "Optional from here"},
             "show_if": {"question": "tags", "not_equals": "a"}},
            {"name": "score", "type": "rating", "label": {"zh": "满意度", "en": "Satisfaction"},
             "max": 7},
            {"name": "stars", "type": "rating", "label": {"zh": "星级", "en": "Stars"}},
            {"name": "story", "type": "textarea", "label": {"zh": "情况", "en": "Story"},
             "constraint_message": "太长了"},
            {"name": "kids", "type": "repeat", "label": {"zh": "子女", "en": "Child"},
             "show_if": {"all": [{"question": "age", "gte": 18}, {"any": [
                 {"question": "employed", "not_equals": "yes"},
                 {"question": "income", "lt": 1000}]}]},
             "min_items": 2, "max_items": 2, "questions": [
                 {"name": "kage", "type": "integer", "label": {"zh": "年龄", "en": "Age"}},
                 {"name": "school", "type": "text", "label": {"zh": "学校", "en": "School"},
                  "show_if": {"question": "kage", "lte": 17}}]},
            {"name": "pets", "type": "repeat", "label": {"zh": "宠物", "en": "Pet"},
             "min_items": 1, "max_items": 4, "questions": [
                 {"name": "pet", "type": "text", "label": {"zh": "名字", "en": "Name"},
                  "show_if": {"all": [{"question": "kids", "answered": True},
                                      {"question": "kids", "answered": True}]}}]},
            {"name": "plain", "type": "text", "label": "同文", "show_if": {"all": [
                {"question": "tags", "answered": True},
                {"question": "tags", "in": ["a", "b"]}]}}]},
    ],
}


def test_every_mapped_feature_is_read_into_the_definition():
    data = book(EVERYTHING, EVERYTHING_CHOICES, EVERYTHING_SETTINGS)
    assert definition(data) == EXPECTED
    with messages_in("en"):
        spec, notes = xlsform.load(data)
    assert spec.question("kids").min_items == 2 and spec.question("school").show_if.op == "lte"
    assert spec.question("age").constraint_message.get("en") == "0到120"
    assert spec.question("story").constraint_message.get("en") == "太长了"
    assert notes == ["survey row 5 (constraint_message): Doorstep says its own message for this "
                     "check; this one is not kept"]


def test_language_columns_may_be_named_by_code_or_name():
    data = book([{"type": "text", "name": "a", "label::中文": "甲", "label::English": "A",
                  "hint::zh-CN": "提示", "hint::en": "Hint"}])
    assert definition(data)["sections"][0]["questions"] == [
        {"name": "a", "type": "text", "label": {"zh": "甲", "en": "A"},
         "hint": {"zh": "提示", "en": "Hint"}}]


def test_a_form_without_language_columns_has_plain_texts_and_loose_questions_a_section():
    data = book([{"type": "text", "name": "a", "label": "甲"},
                 {"type": "integer", "name": "b", "label": "乙", "hint": "说明"}],
                [], {"form_id": "p", "form_title": "简单", "version": "2", "ledger": "no"})
    assert definition(data) == {
        "id": "p", "version": 2, "ledger": False, "title": {"zh": "简单"},
        "sections": [{"questions": [{"name": "a", "type": "text", "label": "甲"},
                                    {"name": "b", "type": "integer", "label": "乙",
                                     "hint": "说明"}]}]}


# --- refusals: one line each, never silently dropped ------------------------------------------

TEXT = q("text", "a", "甲", "A")
REFUSED = {
    "a calculation": (
        [TEXT, q("calculate", "c", calculation="1 + 1")],
        ["survey row 3 (type): calculations are not supported"]),
    "choice_filter": (
        [q("select_one yn", "s", "选", "Pick", choice_filter="name = 'yes'")],
        ["survey row 2 (choice_filter): filtered choices (choice_filter) are not supported"]),
    "pulldata in relevant": (
        [TEXT, q("text", "b", "乙", "B", relevant="pulldata('f', 'x', 'y', ${a}) = 'z'")],
        ["survey row 3 (relevant): the function pulldata() is not supported here"]),
    "an unsupported function in a constraint": (
        [q("integer", "n", "数", "N", constraint=". mod 2 = 0")],
        ["survey row 2 (constraint): cannot read the expression at “mod”"]),
    "choices from a file": (
        [q("select_one_from_file towns.csv", "town", "街道", "Town")],
        ["survey row 2 (type): choices from a file or an external sheet are not supported"]),
    "an external choices sheet": (
        [TEXT], {"sheets": {"external_choices": [{"list_name": "x", "name": "a", "label": "A"}]}},
        ["external_choices row 1: the external_choices sheet is not supported: Doorstep reads "
         "survey, choices and settings"]),
    "an entities sheet": (
        [TEXT], {"sheets": {"entities": [{"list_name": "trees", "label": "${a}"}]}},
        ["entities row 1: the entities sheet is not supported: Doorstep reads survey, choices and "
         "settings"]),
    "a type Doorstep does not have": (
        [q("geopoint", "where", "位置", "Where")],
        ["survey row 2 (type): the type geopoint is not supported (Doorstep's types: text, "
         "integer, decimal, date, time, select_one, select_multiple, note, range (a rating), "
         "begin/end group, begin/end repeat, phone, id_number, textarea, rating)"]),
    "or_other": (
        [q("select_one yn or_other", "s", "选", "Pick")],
        ["survey row 2 (type): or_other is not supported: add an “other” choice and a text "
         "question"]),
    "a default answer and an image": (
        [q("text", "a", "甲", "A", default="x", image="a.png")],
        ["survey row 2 (default): default answers, triggers and read-only questions are not "
         "supported",
         "survey row 2 (image): images, audio and video are not supported"]),
    "a third language": (
        [q("text", "a", "甲", "A", **{"label::Français (fr)": "Un"})],
        ["survey row 2 (label::Français (fr)): Doorstep's forms are in Chinese and English: use "
         "label::中文 (zh) and label::English (en) style columns for label, hint and "
         "constraint_message"]),
    "= on a select_multiple": (
        [q("select_multiple yn", "m", "多选", "Many"),
         q("text", "b", "乙", "B", relevant="${m} = 'yes'")],
        ["survey row 3 (relevant): ${m} = '…' compares the whole list of choices; use "
         "selected(${m}, '…')"]),
    "selected() on a text": (
        [TEXT, q("text", "b", "乙", "B", relevant="selected(${a}, 'x')")],
        ["survey row 3 (relevant): selected() is for choice questions; a is not one"]),
    "a relevant naming a later question": (
        [q("text", "b", "乙", "B", relevant="${a} = 'x'"), TEXT],
        ["survey row 2 (relevant): ${a} is not a question before this one"]),
    "today() in relevant": (
        [q("date", "d", "日", "Day"), q("text", "b", "乙", "B", relevant="${d} < today()")],
        ["survey row 3 (relevant): today() is not supported in relevant"]),
    "a comparison written the other way round": (
        [TEXT, q("text", "b", "乙", "B", relevant="'x' = ${a}")],
        ["survey row 3 (relevant): cannot read the expression at “'x'”"]),
    "an exclusive bound": (
        [q("integer", "n", "数", "N", constraint=". > 0")],
        ["survey row 2 (constraint): a range is written with >= and <= (Doorstep's bounds include "
         "the value), such as . >= 0 and . <= 120"]),
    "a shortest length": (
        [q("text", "a", "甲", "A", constraint="string-length(.) >= 2")],
        ["survey row 2 (constraint): a length is checked as string-length(.) <= N: Doorstep has a "
         "longest length, no shortest"]),
    "a regex of its own": (
        [q("text", "a", "甲", "A", constraint="regex(., '^[a-z]+$')")],
        ["survey row 2 (constraint): Doorstep has no pattern checks besides the mainland mobile "
         "number (^1[3-9][0-9]{9}$) and the ID number (^[0-9]{17}[0-9Xx]$): use type phone or "
         "id_number"]),
    "a range on a text": (
        [q("text", "a", "甲", "A", constraint=". >= 3")],
        ["survey row 2 (constraint): text questions have no min check in Doorstep"]),
    "a date range on a number": (
        [q("integer", "n", "数", "N", constraint=". >= date('2000-01-01')")],
        ["survey row 2 (constraint): integer questions take a range of numbers"]),
    "a constraint_message alone": (
        [q("integer", "n", "数", "N", constraint_message="太大")],
        ["survey row 2 (constraint_message): a message needs its constraint"]),
    "required as a condition": (
        [TEXT, q("text", "b", "乙", "B", required="${a} = 'x'")],
        ["survey row 3 (required): write yes or no"]),
    "a Doorstep flag that is not yes or no": (
        [q("text", "a", "甲", "A", pii="maybe")],
        ["survey row 2 (pii): write yes or no"]),
    "another appearance": (
        [q("select_one yn", "s", "选", "Pick", appearance="minimal")],
        ["survey row 2 (appearance): the appearance minimal is not supported here"]),
    "a range that is not a rating": (
        [q("range", "r", "范围", "Range", parameters="start=0 end=100 step=5")],
        ["survey row 2 (parameters): a range is read as a rating from 1 to N: parameters start=1 "
         "end=N step=1 and appearance rating"]),
    "a group's relevant": (
        [q("begin group", "g", "组", "Group", relevant="1 = 1"), TEXT, q("end group", None)],
        ["survey row 2 (relevant): a group is a section of the form: put this on its questions"]),
    "a group inside a group": (
        [q("begin group", "g", "组", "Group"), q("begin group", "h", "内", "Inner"), TEXT,
         q("end group", None), q("end group", None)],
        ["survey row 3 (type): a group inside a group: Doorstep's sections hold questions and "
         "repeats"]),
    "a calculated repeat_count": (
        [q("integer", "n", "数", "N"), q("begin repeat", "r", "项", "Item", repeat_count="${n}"),
         TEXT, q("end repeat", None)],
        ["survey row 3 (repeat_count): a number of items is a whole number (a calculation is not "
         "supported)"]),
    "a time bound on a number": (
        [q("integer", "n", "数", "N", min="1")],
        ["survey row 2 (min): only a time question takes min and max columns; use constraint"]),
    "a setting Doorstep does not have": (
        [TEXT], {"settings": {**SETTINGS, "instance_name": "concat(${a})", "public_key": "k"}},
        ["settings row 2 (instance_name): this setting is not supported by Doorstep",
         "settings row 2 (public_key): this setting is not supported by Doorstep"]),
    "a translated setting": (
        [TEXT], {"settings": {**SETTINGS, "description::English (en)": "About"}},
        ["settings row 2 (description::English (en)): a setting has no language columns: write "
         "the English text in description_en"]),
    "a version that is not a whole number": (
        [TEXT], {"settings": {**SETTINGS, "version": "2024.1"}},
        ["settings row 2 (version): the version must be a whole number from 1"]),
    "an English default language": (
        [TEXT], {"settings": {**SETTINGS, "default_language": "English (en)"}},
        ["settings row 2 (default_language): Doorstep shows a form in Chinese first: the default "
         "language must be Chinese (zh)"]),
    "no form_id and no title": (
        [TEXT], {"settings": {"version": "1"}},
        ["settings row 2 (form_id): the form needs a form_id",
         "settings row 2 (form_title): the form needs a form_title"]),
    "what pyxform refuses": (
        [TEXT, q("text", "b", "乙", "B", relevant="${zz} = 'x'")],
        ["survey row 3: pyxform: On the 'survey' sheet, the 'relevant' value is invalid. "
         "Reference variables must contain a name from the 'survey' sheet. Could not find the "
         "name 'zz'."]),
    "an empty group, at its row": (
        [TEXT, q("begin group", "g", "组", "Group"), q("end group", None)],
        ["survey row 3: section 2: questions must be a non-empty list"]),
    "what the loader refuses, at the question's row": (
        [TEXT, q("text", "csrf_token", "乙", "B"), q("note", "n", "注", "Note", required="yes")],
        ["survey row 3: question 'csrf_token': this name is reserved by Doorstep; choose another",
         "survey row 4: question 'n': a note cannot be required"]),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_doorstep_cannot_keep_is_refused_one_line_each(case):
    survey, *workbook, expected = REFUSED[case]
    assert problems(book(survey, **(workbook[0] if workbook else {}))) == expected


def test_problems_are_said_in_chinese_by_default():
    data = book([TEXT, q("calculate", "c", calculation="1")], settings={**SETTINGS, "version": "x"})
    assert problems(data, "zh") == ["settings 第 2 行（version）：版本号必须是从 1 起的整数",
                                    "survey 第 3 行（type）：不支持计算（calculation）"]


# --- files that are not a form's workbook --------------------------------------------------

def encrypted() -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(book([TEXT]))).encrypt("secret", out)
    return out.getvalue()


def zipped(files: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


FILES = {
    "text": (b"id: t\nversion: 1\n", "This is not an Excel workbook (.xlsx)."),
    "a Word document": (zipped({"word/document.xml": "<w/>"}), "This is not an Excel workbook (.xlsx)."),
    "a damaged zip": (book([TEXT])[:2000], "The workbook is damaged and cannot be read: open it in "
                                           "Excel or WPS and save it again."),
    "a workbook with a broken part": (
        zipped({"xl/workbook.xml": "<not xml", "[Content_Types].xml": "<x/>"}),
        "The workbook is damaged and cannot be read: open it in Excel or WPS and save it again."),
    "a password": (encrypted(), "The workbook is protected by a password: save a copy without "
                                "the password and upload that."),
    "an old .xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
                    "This is an old Excel 97–2003 workbook (.xls): save it as .xlsx."),
    "too large": (book([TEXT]) + bytes(xlsform_book.MAX_BYTES),
                  "The file is larger than 1024 KB; a form's workbook is far smaller."),
    "a zip bomb": (zipped({"xl/workbook.xml": "x", "xl/big": bytes(xlsform_book.MAX_UNPACKED + 1)}),
                   "The workbook unpacks to more than 32 MB; a form's workbook is far smaller."),
    "no survey sheet": (book([], sheets={}), "The workbook has no survey sheet."),
}


@pytest.mark.parametrize("case", list(FILES))
def test_a_file_that_is_not_a_forms_workbook_gets_one_clear_message(case):
    data, message = FILES[case]
    assert problems(data) == [message]


# --- round trips and ODK ---------------------------------------------------------------------

FORMS = sorted([*DEMO_FORMS.glob("*.yaml"), *TEST_FORMS.glob("*.yaml")])


def java() -> str:
    found = shutil.which("java")
    if not found:
        unavailable("Java is missing: ODK Validate (shipped inside pyxform) needs it")
    return found


@pytest.mark.parametrize("path", [*FORMS, None],
                         ids=[f"{p.parent.name}/{p.name}" for p in FORMS] + ["every feature"])
def test_every_form_round_trips_and_odk_validate_accepts_it(path):
    """Every demo and test form, and the form of every mapped feature above."""
    from pyxform.xls2xform import convert
    spec = load_file(path) if path else parse(EXPECTED, where="every feature")
    data = xlsform_out.write(spec)
    with messages_in("en"):
        back, notes = xlsform.load(data)
    assert _canonical(back) == _canonical(spec)
    assert back == spec and notes == []
    java()
    convert(data, validate=True, warnings=[])      # ODK Validate raises on an invalid form


def test_every_question_type_has_an_xlsform_type():
    """A type added to the registry cannot be left out of the workbooks (nor be written as
    another): the writer knows it, and the reader reads it back."""
    from service.formspec import types
    assert set(types.REGISTRY) == set(xlsform_out.TYPES) | {"repeat"}
    assert set(xlsform.OWN_TYPES) | set(xlsform.TYPES.values()) >= set(xlsform_out.TYPES)


def test_every_show_if_round_trips_through_relevant():
    """The whole show_if table of tests/test_conditions.py, written and read back."""
    from .test_conditions import TABLE
    with messages_in("en"):
        back, _notes = xlsform.load(xlsform_out.write(TABLE))
    for question in TABLE.all_questions():
        again = back.question(question.name)
        expected = question.show_if
        if expected is not None and expected.op == "in" and len(expected.value) == 1:
            # a one-value `in` is written as `=` and read as equals: the same condition
            assert (again.show_if.op, again.show_if.value) == ("equals", expected.value[0])
        else:
            assert again.show_if == expected, question.name


def test_the_yaml_of_a_workbook_loads_to_the_same_form(cli, tmp_path):
    spec = load_file(DEMO_FORMS / "household.yaml")
    result = cli("forms", "convert", "household", "--out", str(tmp_path / "h.xlsx"),
                 env={"FORMS_DIR": str(DEMO_FORMS)})
    assert result.exit_code == 0, result.stderr
    result = cli("forms", "convert", str(tmp_path / "h.xlsx"), "--out", str(tmp_path / "h.yaml"))
    assert result.exit_code == 0, result.stderr
    assert _canonical(load_file(tmp_path / "h.yaml")) == _canonical(spec)
    assert yaml.safe_load((tmp_path / "h.yaml").read_text(encoding="utf-8"))["id"] == "household"


def test_forms_check_takes_a_workbook(cli, tmp_path):
    good, bad = tmp_path / "good.xlsx", tmp_path / "bad.xlsx"
    good.write_bytes(xlsform_out.write(load_file(DEMO_FORMS / "signup.yaml")))
    result = cli("forms", "check", str(good))
    assert (result.exit_code, result.stdout) == (0, "ok: signup v2 (10 questions)\n")
    bad.write_bytes(book([TEXT, q("calculate", "c", calculation="1")]))
    result = cli("forms", "check", str(bad), "--lang", "en")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: bad.xlsx: survey row 3 (type): calculations are not supported",
        "1 problem(s) in bad.xlsx"]
    assert "不支持计算" in cli("forms", "check", str(bad)).stderr
    noted = tmp_path / "noted.xlsx"
    noted.write_bytes(book([q("phone", "n", "数", "N", constraint="regex(., '^1[3-9][0-9]{9}$')",
                              constraint_message="不对")]))
    result = cli("forms", "check", str(noted), "--lang", "en")
    assert (result.exit_code, result.stdout) == (0, "ok: t v1 (1 questions)\n")
    assert result.stderr == ("note: noted.xlsx: survey row 2 (constraint_message): Doorstep says "
                             "its own message for this check; this one is not kept\n")


# --- relevant read from a workbook: the server and the phone agree ---------------------------

SOURCES = [
    q("select_one yn", "employed", "就业", "Employed"),
    q("integer", "age", "年龄", "Age"),
    q("decimal", "income", "收入", "Income"),
    q("select_multiple tags", "tags", "标签", "Tags"),
    q("date", "born", "生日", "Born"),
    q("text", "town", "街道", "Town"),
]
TAGS = [{"list_name": "tags", "name": v, ZH: v, EN: v} for v in "abc"]

# (relevant as an XLSForm author writes it, the answers, shown in ODK Collect?)
RELEVANT = [
    ("${employed} = 'no'", {"employed": "no"}, True),
    ("${employed} = 'no'", {}, False),
    ("${employed} != 'no'", {}, True),
    ("${employed} != 'no'", {"employed": "no"}, False),
    ("selected(${employed}, 'yes')", {"employed": "yes"}, True),
    ("${employed} = 'yes' or ${employed} = 'no'", {"employed": "no"}, True),
    ("${employed} = 'yes' or ${employed} = 'no'", {}, False),
    ("${age} > 9", {"age": "10"}, True),
    ("${age} > 9", {"age": "9"}, False),
    ("${age} > 9", {}, False),
    ("${age} < 18", {}, False),
    ("${age} >= 18", {"age": "18"}, True),
    ("${age} >= 18", {"age": "17"}, False),
    ("${age} <= 5", {"age": "5"}, True),
    ("${age} <= 5", {}, False),
    ("${age} = 3", {"age": "3"}, True),
    ("${income} >= 2.5", {"income": "2.50"}, True),
    ("${income} < 1000", {"income": "999.99"}, True),
    ("${born} < date('2000-01-01')", {"born": "1999-12-31"}, True),
    ("${born} >= '2000-01-01'", {"born": "2000-01-01"}, True),
    ("${born} > date('2000-01-01')", {}, False),
    ("selected(${tags}, 'c')", {"tags": ["a", "c"]}, True),
    ("selected(${tags}, 'b')", {"tags": ["a", "c"]}, False),
    ("not(selected(${tags}, 'a'))", {"tags": ["a", "b"]}, False),
    ("not(selected(${tags}, 'a'))", {"tags": []}, True),
    ("selected(${tags}, 'b') or selected(${tags}, 'c')", {"tags": ["c"]}, True),
    ("${tags} != ''", {"tags": []}, False),
    ("${tags} != ''", {"tags": ["b"]}, True),
    ("${town} != ''", {"town": "东城"}, True),
    ("${town} != ''", {}, False),
    ("${town} = ''", {}, True),
    ("${town} = '东城'", {"town": "西城"}, False),
    ("not(${employed} = 'no')", {}, True),
    ("not(${age} > 59)", {}, True),
    ("not(${age} > 59)", {"age": "60"}, False),
    ("${employed} = 'no' and ${age} > 59", {"employed": "no", "age": "60"}, True),
    ("${employed} = 'no' and ${age} > 59", {"employed": "no"}, False),
    ("${employed} = 'no' or ${age} > 59", {"employed": "yes", "age": "60"}, True),
    ("(${employed} = 'no' or ${age} > 59) and ${town} != ''", {"age": "60"}, False),
    ("(${employed} = 'no' or ${age} > 59) and ${town} != ''", {"age": "60", "town": "x"}, True),
    ("not(${employed} = 'no' and ${age} > 59)", {"employed": "no", "age": "60"}, False),
    ("not(${employed} = 'no' and ${age} > 59)", {}, True),
    ("${town} != '' and (selected(${tags}, 'a') or ${born} < date('2000-01-01'))",
     {"town": "东城", "born": "1990-01-01"}, True),
    ("${town} != '' and (selected(${tags}, 'a') or ${born} < date('2000-01-01'))",
     {"town": "东城", "tags": ["b"]}, False),
    ("not(not(${age} <= 5))", {"age": "5"}, True),
]


@pytest.fixture(scope="module")
def relevant_form():
    survey = SOURCES + [q("text", f"case{i}", "?", "?", relevant=text)
                        for i, (text, _v, _e) in enumerate(RELEVANT)]
    with messages_in("en"):
        spec, _notes = xlsform.load(book(survey, YES_NO + TAGS))
    return spec


@pytest.fixture(scope="module")
def phone_results(relevant_form):
    """Every imported condition evaluated by static/form.js in node, in one process."""
    return evaluated_by_the_phone([
        {"cond": relevant_form.question(f"case{i}").show_if.as_json(), "values": values}
        for i, (_text, values, _expected) in enumerate(RELEVANT)])


@pytest.mark.parametrize("i", range(len(RELEVANT)),
                         ids=[f"{text} {values}" for text, values, _e in RELEVANT])
def test_relevant_from_a_workbook_is_evaluated_alike_on_server_and_phone(i, relevant_form,
                                                                         phone_results):
    _text, values, expected = RELEVANT[i]
    answers = {k: int(v) if k == "age" else v for k, v in values.items()}
    assert evaluate(relevant_form.question(f"case{i}").show_if, answers.get) is expected, "server"
    assert phone_results[i] is expected, "phone"


# --- the expression grammar both ways -------------------------------------------------------

TYPES = {"s": "select_one", "m": "select_multiple", "n": "integer", "d": "date", "t": "text",
         "r": "repeat"}


@pytest.mark.parametrize("show_if, relevant", [
    ({"question": "s", "equals": "a"}, "${s} = 'a'"),
    ({"question": "m", "equals": "a"}, "selected(${m}, 'a')"),
    ({"question": "m", "not_equals": "a"}, "not(selected(${m}, 'a'))"),
    ({"not": {"question": "m", "equals": "a"}}, "not((selected(${m}, 'a')))"),
    ({"question": "s", "in": ["a", "b"]}, "${s} = 'a' or ${s} = 'b'"),
    ({"any": [{"question": "s", "equals": "a"}, {"question": "s", "equals": "b"}]},
     "(${s} = 'a') or (${s} = 'b')"),
    ({"all": [{"question": "n", "gte": 1}, {"all": [{"question": "n", "lte": 2.5},
                                                    {"question": "t", "equals": "it's"}]}]},
     "${n} >= 1 and (${n} <= 2.5 and ${t} = \"it's\")"),
    ({"question": "d", "lt": "2000-01-01"}, "${d} < date('2000-01-01')"),
    ({"question": "r", "answered": False}, "count(${r}) = 0"),
    ({"question": "t", "answered": True}, "${t} != ''"),
    ({"not": {"any": [{"question": "s", "in": ["a", "b"]}, {"question": "n", "equals": 3}]}},
     "not((${s} = 'a' or ${s} = 'b') or ${n} = 3)"),
])
def test_show_if_is_written_as_relevant_and_read_back(show_if, relevant):
    assert show_if_to_relevant(show_if, TYPES) == relevant
    with messages_in("en"):
        assert relevant_to_show_if(relevant, TYPES) == show_if


def test_a_form_read_from_a_workbook_is_a_valid_definition():
    """What `read` returns is what the loader takes, keys and all (no loader problem)."""
    spec = parse(EXPECTED, where="expected")
    assert _canonical(spec) == json.dumps(EXPECTED, ensure_ascii=False, sort_keys=True)

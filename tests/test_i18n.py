"""Chinese by default, English on request: `?lang=` (remembered), else Accept-Language, else
Chinese.

Chinese strings are looked up in the compiled catalogue, so a UI string left untranslated fails here
by name instead of silently showing English to a household.
"""
from __future__ import annotations

import re
from functools import cache

import pytest
from babel.support import Translations
from markupsafe import escape

from .conftest import ROOT, errors, receipt

CJK = re.compile(r"[\u4e00-\u9fff]")
MINIMAL = {"consent": "y", "name": "张三", "employed": "yes", "members-0-mname": "李四"}


@cache
def catalogue() -> Translations:
    return Translations.load(str(ROOT / "translations"), ["zh"])


def zh(msgid: str, **params) -> str:
    """The Chinese of a UI string as it appears in a page (HTML-escaped)."""
    text = catalogue().gettext(msgid)
    assert CJK.search(text), f"no Chinese translation for {msgid!r} (run `make install`)"
    return str(escape(text % params if params else text))


def page_lang(page) -> str:
    return re.search(r'<html lang="([^"]+)"', page.text).group(1)


def test_the_form_list_is_in_chinese_by_default(client):
    page = client.get("/")
    assert page_lang(page) == "zh-CN"
    assert zh("Forms") in page.text
    assert "测试" in page.text and "Test" not in page.text   # the form's own title, in Chinese
    assert 'href="/?lang=en"' in page.text                  # the language switch


def test_the_form_is_in_chinese_by_default(client):
    page = client.get("/f/kitchen")
    assert page_lang(page) == "zh-CN"
    assert zh("Submit") in page.text and zh("Before you start") in page.text
    assert "我已阅读并同意" in page.text          # the consent's default label
    assert "姓名" in page.text and "I have read and agree" not in page.text


def test_lang_en_switches_and_is_remembered(client):
    page = client.get("/f/kitchen?lang=en")
    assert page_lang(page) == "en"
    assert "Submit" in page.text and "I have read and agree" in page.text
    assert "lang=en" in page.headers["Set-Cookie"]

    later = client.get("/")
    assert page_lang(later) == "en" and "Forms" in later.text

    back = client.get("/?lang=zh")
    assert page_lang(back) == "zh-CN"
    assert page_lang(client.get("/f/kitchen")) == "zh-CN"


@pytest.mark.parametrize("accept, lang", [
    ("en-US,en;q=0.9", "en"),
    ("en-GB", "en"),
    ("de-DE, en;q=0.5", "en"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
    ("zh-TW", "zh-CN"),
    ("fr-FR,fr;q=0.9", "zh-CN"),
    ("", "zh-CN"),
])
def test_the_browser_language_decides_when_nothing_was_chosen(client, accept, lang):
    assert page_lang(client.get("/", headers={"Accept-Language": accept})) == lang


def test_a_chosen_language_beats_the_browser_language(client):
    client.get("/?lang=zh")
    assert page_lang(client.get("/", headers={"Accept-Language": "en-US"})) == "zh-CN"


def test_an_unknown_language_falls_back_to_chinese_and_is_not_remembered(client):
    page = client.get("/?lang=fr")
    assert page_lang(page) == "zh-CN"
    assert "Set-Cookie" not in page.headers


def test_errors_of_an_invalid_submission_are_in_chinese_by_default(visitor):
    page = visitor.submit("/f/kitchen", {**MINIMAL, "name": "", "d": "2020/01/01"})
    assert page.status_code == 400
    assert zh("Some answers need attention; they are marked below.") in page.text
    assert errors(page.text) == [zh("Please answer this question."), "不是有效的日期值。"]


def test_errors_of_an_invalid_submission_are_in_english_with_lang_en(visitor):
    page = visitor.submit("/f/kitchen?lang=en", {**MINIMAL, "name": "", "d": "2020/01/01"})
    assert page.status_code == 400
    assert "Some answers need attention; they are marked below." in page.text
    assert errors(page.text) == ["Please answer this question.", "Not a valid date value."]


def test_the_thank_you_page_follows_the_language(visitor):
    page = visitor.submit("/f/kitchen", MINIMAL)
    assert receipt(page.text) and zh("Your receipt code") in page.text
    page = visitor.submit("/f/kitchen?lang=en", MINIMAL)
    assert receipt(page.text) and "Your receipt code" in page.text


def test_error_pages_follow_the_language(client):
    page = client.get("/f/no-such-form")
    assert page.status_code == 404
    assert zh("This page does not exist. Check the link or scan the code again.") in page.text
    page = client.get("/f/no-such-form?lang=en")
    assert "This page does not exist." in page.text

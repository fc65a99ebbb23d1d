"""Chinese by default, English on request: `?lang=` (remembered), else Accept-Language, else
Chinese.

The Chinese a page must show is written out here as a household reads it, not looked up in the
app's own catalogue: a UI string left untranslated, or translated wrongly, fails by its text.
"""
from __future__ import annotations

import json
import re

import pytest

from .conftest import errors, receipt

MINIMAL = {"consent": "y", "name": "张三", "employed": "yes", "members-0-mname": "李四"}


def page_lang(page) -> str:
    return re.search(r'<html lang="([^"]+)"', page.text).group(1)


def test_the_form_list_is_in_chinese_by_default(client):
    page = client.get("/")
    assert page_lang(page) == "zh-CN"
    assert "<h1>表单</h1>" in page.text
    assert "测试" in page.text and "Test" not in page.text   # the form's own title, in Chinese
    assert 'href="/?lang=en"' in page.text                  # the language switch


def test_the_form_is_in_chinese_by_default(client):
    page = client.get("/f/kitchen")
    assert page_lang(page) == "zh-CN"
    assert "提交" in page.text and "填写前请阅读" in page.text
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
    assert "部分回答需要修改，已在下方标出。" in page.text
    assert errors(page.text) == ["请回答此题。", "请输入有效的日期。"]
    # the phone's check says a malformed date as the server does
    strings = re.search(r'<script type="application/json" id="doorstep-strings">(.*?)</script>',
                        visitor.client.get("/f/kitchen").text).group(1)
    assert json.loads(strings)["date"] == "请输入有效的日期。"


def test_errors_of_an_invalid_submission_are_in_english_with_lang_en(visitor):
    page = visitor.submit("/f/kitchen?lang=en", {**MINIMAL, "name": "", "d": "2020/01/01"})
    assert page.status_code == 400
    assert "Some answers need attention; they are marked below." in page.text
    assert errors(page.text) == ["Please answer this question.", "Not a valid date value."]


def test_the_thank_you_page_follows_the_language(visitor):
    page = visitor.submit("/f/kitchen", MINIMAL)
    assert receipt(page.text) and "您的回执码" in page.text
    page = visitor.submit("/f/kitchen?lang=en", MINIMAL)
    assert receipt(page.text) and "Your receipt code" in page.text


def test_error_pages_follow_the_language(client):
    page = client.get("/f/no-such-form")
    assert page.status_code == 404
    assert "页面不存在，请检查链接或重新扫码。" in page.text
    page = client.get("/f/no-such-form?lang=en")
    assert "This page does not exist." in page.text

"""`doorstep forms check` is the linter of form definitions: every problem in every file, one line
each, naming the file, the question and what is wrong; and the service refuses to start on the same
problems, with the same lines, rather than serve a form it cannot validate."""
from __future__ import annotations

import textwrap

import pytest

from service.formspec import FormError

from .conftest import DEMO_FORMS, make_app

HEAD = """\
id: t
version: 1
title: {zh: 测试, en: Test}
"""


def definition(questions: str, head: str = HEAD) -> str:
    """A one-section form holding `questions` (YAML list items, written flush left)."""
    return (head + "sections:\n  - title: {zh: 一, en: One}\n    questions:\n"
            + textwrap.indent(textwrap.dedent(questions), " " * 6))


def check(cli, directory):
    """Run the check on `directory`: (exit code, problem lines, stdout)."""
    result = cli("forms", "check", str(directory))
    problems = [line.removeprefix("error: ") for line in result.stderr.splitlines()
                if line.startswith("error: ")]
    return result.exit_code, problems, result.stdout


CHOICES = "choices: [{value: a, label: {zh: 甲, en: A}}, {value: b, label: {zh: 乙, en: B}}]"

BROKEN = {
    "show_if naming a question that does not exist": (
        definition("""\
            - {name: why, type: text, label: 原因, show_if: {question: reason, equals: x}}
            """),
        ["question 'why': show_if names question 'reason', which does not exist or comes later"]),
    "show_if naming a question that comes later": (
        definition(f"""\
            - {{name: why, type: text, label: 原因, show_if: {{question: employed, equals: a}}}}
            - {{name: employed, type: select_one, label: 就业, {CHOICES}}}
            """),
        ["question 'why': show_if names question 'employed', which does not exist or comes later"]),
    "show_if looking into another repeat group": (
        definition("""\
            - name: members
              type: repeat
              label: 成员
              questions:
                - {name: age, type: integer, label: 年龄}
            - name: pets
              type: repeat
              label: 宠物
              questions:
                - {name: vet, type: text, label: 兽医, show_if: {question: age, lt: 18}}
            """),
        ["question 'vet': show_if names 'age', which belongs to repeat group 'members' and "
         "cannot be seen from here"]),
    "show_if at top level looking into a repeat group": (
        definition("""\
            - name: members
              type: repeat
              label: 成员
              questions:
                - {name: age, type: integer, label: 年龄}
            - {name: school, type: text, label: 学校, show_if: {question: age, lt: 18}}
            """),
        ["question 'school': show_if names 'age', which belongs to repeat group 'members' and "
         "cannot be seen from here"]),
    "a name used twice, once inside a repeat group": (
        definition("""\
            - {name: name, type: text, label: 户主}
            - name: members
              type: repeat
              label: 成员
              questions:
                - {name: name, type: text, label: 姓名}
            """),
        ["question 'name': duplicate name (names must be unique in the whole form)"]),
    "a choice list with a value twice": (
        definition("""\
            - name: colour
              type: select_one
              label: 颜色
              choices:
                - {value: red, label: 红}
                - {value: red, label: 赤}
            """),
        ["question 'colour': duplicate choice value 'red'"]),
    "an unknown type": (
        definition("- {name: mail, type: email, label: 邮箱}\n"),
        ["question 'mail': unknown type 'email' (known: date, decimal, id_number, integer, note, "
         "phone, rating, repeat, select_multiple, select_one, text, textarea, time)"]),
    "an unknown key, and a key of another type": (
        definition("""\
            - {name: age, type: integer, label: 年龄, maximum: 120}
            - {name: city, type: text, label: 城市, choices: []}
            """),
        ["question 'age': unknown key 'maximum'", "question 'city': unknown key 'choices'"]),
    "min larger than max, for numbers, ticks and repeat items": (
        definition(f"""\
            - {{name: age, type: integer, label: 年龄, min: 120, max: 0}}
            - {{name: tags, type: select_multiple, label: 标签, min_selected: 2, max_selected: 1,
                {CHOICES}}}
            - {{name: kids, type: repeat, label: 子女, min_items: 3, max_items: 2,
                questions: [{{name: kid, type: text, label: 姓名}}]}}
            """),
        ["question 'age': min is larger than max",
         "question 'tags': min_selected is larger than max_selected",
         "question 'kids': min_items is larger than max_items"]),
    "a misspelt title key": (
        definition("- {name: a, type: text, label: 甲}\n",
                   head="id: t\nversion: 1\ntitel: {zh: 测试, en: Test}\n"),
        ["unknown key 'titel'", "title is missing"]),
    "sensitive questions without a sensitive_consent block": (
        definition("- {name: ethnicity, type: text, label: 民族, sensitive: true}\n"),
        ["the form has sensitive questions but no sensitive_consent block"]),
    "bare yes/no, which YAML 1.1 reads as booleans": (
        definition("""\
            - name: employed
              type: select_one
              label: 就业
              choices:
                - {value: yes, label: 是}
                - {value: "no", label: {zh: 否, en: No}}
            - {name: why, type: text, label: 原因, show_if: {question: employed, equals: no}}
            """),
        ["question 'employed': choice 1 value was read as true: put quotes around yes/no/on/off, "
         "which YAML reads as true/false",
         "question 'employed' choice 'no' label: en was read as false: put quotes around "
         "yes/no/on/off, which YAML reads as true/false",
         "question 'why': show_if equals was read as true/false: put quotes around yes/no/on/off, "
         "which YAML reads as true/false"]),
    "names the wire format reserves": (
        definition("""\
            - {name: consent, type: text, label: 同意}
            - {name: submission_uuid, type: text, label: 编号}
            """),
        ["question 'consent': this name is reserved by Doorstep; choose another",
         "question 'submission_uuid': this name is reserved by Doorstep; choose another"]),
}


@pytest.mark.parametrize("text, expected", BROKEN.values(), ids=BROKEN.keys())
def test_each_problem_is_one_line_naming_file_and_question(cli, tmp_path, text, expected):
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    code, problems, stdout = check(cli, tmp_path)
    assert code != 0
    assert problems == [f"bad.yaml: {line}" for line in expected]
    assert "ok:" not in stdout


def test_bad_yaml_syntax_names_the_line(cli, tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "id: t\nversion: 1\ntitle: 测试\nsections:\n  - questions:\n"
        "      - name: a\n        type: text\n       label: A\n", encoding="utf-8")
    code, problems, _ = check(cli, tmp_path)
    assert code != 0
    assert len(problems) == 1
    assert problems[0].startswith("bad.yaml: not valid YAML (line 8): ")


def test_problems_of_every_file_are_reported_in_one_run(cli, tmp_path):
    """A reviewer fixes a whole folder in one pass, not one error per run."""
    (tmp_path / "a.yaml").write_text(definition("- {name: a, type: text, label: 甲}\n"),
                                     encoding="utf-8")
    (tmp_path / "b.yml").write_text(definition("- {name: b, type: text, label: 乙}\n"),
                                    encoding="utf-8")
    (tmp_path / "c.yaml").write_text(definition("- {name: c, type: email, label: 丙}\n",
                                                head="id: c\nversion: 0\n"), encoding="utf-8")
    result = cli("forms", "check", str(tmp_path))
    assert result.exit_code != 0
    assert result.stderr.splitlines() == [
        "error: b.yml: form id 't' is already used by another file",
        "error: c.yaml: version 0 must be a whole number from 1",
        "error: c.yaml: title is missing",
        "error: c.yaml: question 'c': unknown type 'email' (known: date, decimal, id_number, "
        "integer, note, phone, rating, repeat, select_multiple, select_one, text, textarea, time)",
        f"4 problem(s) in {tmp_path}",
    ]


def test_a_valid_folder_passes_and_lists_each_form(cli, tmp_path):
    (tmp_path / "one.yaml").write_text(definition("""\
        - {name: a, type: text, label: 甲}
        - {name: note, type: note, label: 说明}
        """), encoding="utf-8")
    (tmp_path / "two.yaml").write_text(definition(
        "- {name: b, type: phone, label: 电话}\n", head=HEAD.replace("id: t", "id: two")),
        encoding="utf-8")
    code, problems, stdout = check(cli, tmp_path)
    assert (code, problems) == (0, [])
    assert stdout.splitlines() == ["ok: t v1 (1 questions)", "ok: two v1 (1 questions)"]


def test_the_shipped_forms_pass_the_check_make_test_runs(cli):
    result = cli("forms", "check", env={"FORMS_DIR": None})
    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.stdout.splitlines()] == [
        "application", "household", "signup", "suggestion"]
    assert cli("forms", "check", str(DEMO_FORMS)).stdout == result.stdout


def test_the_service_refuses_to_start_with_the_same_lines(cli, tmp_path):
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "bad.yaml").write_text(definition(
        "- {name: why, type: text, label: 原因, show_if: {question: reason, answered: true}}\n"
        "- {name: why, type: text, label: 原因}\n"), encoding="utf-8")
    _code, problems, _ = check(cli, forms)
    with pytest.raises(FormError) as refused:
        make_app(tmp_path, forms)
    assert refused.value.problems == problems
    assert problems == [
        "bad.yaml: question 'why': show_if names question 'reason', which does not exist or "
        "comes later",
        "bad.yaml: question 'why': duplicate name (names must be unique in the whole form)",
    ]

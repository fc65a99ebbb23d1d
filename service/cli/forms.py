"""`doorstep forms check` and `doorstep forms convert`: validate form definitions (a directory of
YAML, one YAML file or an XLSForm workbook) and turn one between YAML and XLSForm, without starting
the app (the app refuses to start on a bad form, and the check must still report it)."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import click
import yaml

from service import formspec
from service.cli import main
from service.config import ROOT

LANG = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
                    help="the language of a workbook's problems")


@contextmanager
def messages_in(lang: str):
    """Translated messages (a workbook's problems) outside the app: a bare Flask app carrying
    only Doorstep's catalogues, forced to `lang`."""
    from flask import Flask
    from flask_babel import Babel, force_locale
    app = Flask("doorstep.forms")
    app.config.update(BABEL_DEFAULT_LOCALE="zh",
                      BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "translations"))
    Babel(app)
    with app.app_context(), force_locale(lang):
        yield


@main.group("forms")
def forms_group():
    """Work with the form definitions."""


def _workbook(path: Path, lang: str) -> formspec.FormSpec:
    """An XLSForm workbook's form, or exit with its problems (one line each)."""
    from service.formspec import xlsform
    if not path.is_file():
        _fail([f"{path}: no such file"], path)
    with messages_in(lang):
        try:
            spec, notes = xlsform.load(path.read_bytes())
        except xlsform.XLSFormError as exc:
            for line in exc.problems:
                click.echo(f"error: {path.name}: {line}", err=True)
            click.echo(f"{len(exc.problems)} problem(s) in {path.name}", err=True)
            sys.exit(1)
        for line in notes:
            click.echo(f"note: {path.name}: {line}", err=True)
    return spec


def _fail(lines: list[str], where) -> None:
    for line in lines:
        click.echo(f"error: {line}", err=True)
    click.echo(f"{len(lines)} problem(s) in {where}", err=True)
    sys.exit(1)


@forms_group.command("check", with_appcontext=False)
@click.argument("path", required=False, type=click.Path())
@LANG
def forms_check(path, lang):
    """Validate every form of a directory (FORMS_DIR by default), or one FILE.yaml or FILE.xlsx
    (an XLSForm); one line per problem, non-zero exit on any."""
    path = Path(path or os.environ.get("FORMS_DIR") or ROOT / "forms")
    if path.suffix.lower() == ".xlsx":
        specs = {"": _workbook(path, lang)}
    else:
        try:
            specs = ({"": formspec.load_file(path)} if path.is_file()
                     else formspec.load_dir(path))
        except formspec.FormError as exc:
            _fail(exc.problems, path)
    for spec in specs.values():
        n = sum(1 for q in spec.all_questions() if q.answerable)
        click.echo(f"ok: {spec.id} v{spec.version} ({n} questions)")


@forms_group.command("convert", with_appcontext=False)
@click.argument("source")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="FILE.yaml (from a workbook) or FILE.xlsx (from a form)")
@LANG
def forms_convert(source, out, lang):
    """SOURCE.xlsx → --out F.yaml, or a form (SOURCE.yaml, or a form id in FORMS_DIR) → --out
    F.xlsx (an XLSForm that ODK's and Kobo's tools take and that reads back to the same form)."""
    from service.formspec import xlsform_out
    out = Path(out)
    path = Path(source)
    if path.suffix.lower() == ".xlsx":
        if out.suffix.lower() not in (".yaml", ".yml"):
            _fail([f"a workbook converts to a .yaml file, not {out.name}"], source)
        spec = _workbook(path, lang)
        out.write_text(yaml.safe_dump(spec.source, allow_unicode=True, sort_keys=False,
                                      width=100), encoding="utf-8")
    else:
        if out.suffix.lower() != ".xlsx":
            _fail([f"a form converts to an .xlsx workbook, not {out.name}"], source)
        if not path.is_file():
            path = Path(os.environ.get("FORMS_DIR") or ROOT / "forms") / f"{source}.yaml"
        try:
            spec = formspec.load_file(path)
        except formspec.FormError as exc:
            _fail(exc.problems, source)
        out.write_bytes(xlsform_out.write(spec))
    click.echo(f"wrote {out}: {spec.id} v{spec.version}")

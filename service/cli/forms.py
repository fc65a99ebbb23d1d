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


# --- forms in the database: import, publish, close, reopen -----------------------------------

WORDS = {"new_form": "stored a new form", "new_version": "stored a new version",
         "draft_replaced": "replaced the draft", "unchanged": "unchanged: nothing stored",
         "published": "published", "closed": "closed", "reopened": "reopened",
         "already": "already so: nothing changed"}


def _change(lang: str, action: str, do, **detail):
    """Run one change of the forms (service/formspec/publishing.py) with its audit event, in one
    transaction; a refusal is one line and a non-zero exit, with nothing stored."""
    from flask import current_app
    from flask_babel import force_locale
    from peewee import IntegrityError

    from service.cli import _connect
    from service.formspec import publishing
    from service.office import audit
    from service.storage.db import write_transaction
    _connect()
    catalog = current_app.extensions["doorstep.catalog"]
    with force_locale(lang):
        try:
            with write_transaction():
                outcome = do(catalog)
                if outcome.change not in ("unchanged", "already"):
                    audit.record(action, target=f"form:{outcome.form_id}", user=None,
                                 username="cli", version=outcome.version, change=outcome.change,
                                 state=outcome.state, **detail)
        except publishing.Refused as refused:
            _fail([str(refused)], detail.get("file") or detail.get("form"))
        except IntegrityError:      # the same form changed by another command at that moment
            _fail(["another change to this form was being stored at the same time; nothing was "
                   "stored: run the command again"], detail.get("file") or detail.get("form"))
    catalog.refresh(force=True)
    version = f" v{outcome.version}" if outcome.version is not None else ""
    click.echo(f"{outcome.form_id}{version}: {WORDS[outcome.change]} (form {outcome.state})")
    return outcome


@forms_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--publish", is_flag=True, help="serve it at once (else it is stored as a draft)")
@LANG
def forms_import(path, publish, lang):
    """Store an XLSForm workbook's form in the database: a new form, or the next version of an
    existing one (a draft until published); an unchanged definition stores nothing."""
    from service.formspec import publishing
    path = Path(path)
    spec = _workbook(path, lang)
    _change(lang, "form_imported",
            lambda catalog: publishing.import_spec(catalog, spec, publish=publish),
            file=path.name, publish=publish)


@forms_group.command("publish")
@click.argument("form_id")
@click.option("--version", type=click.IntRange(1), default=None,
              help="the version to serve (default: the newest stored)")
@LANG
def forms_publish(form_id, version, lang):
    """Serve a stored version of a form (every instance, on its next check)."""
    from service.formspec import publishing
    _change(lang, "form_published",
            lambda catalog: publishing.publish(catalog, form_id, version), form=form_id)


@forms_group.command("close")
@click.argument("form_id")
@LANG
def forms_close(form_id, lang):
    """Close a form: its pages and links say so (410); its data stays readable and exportable."""
    from service.formspec import publishing
    _change(lang, "form_closed",
            lambda catalog: publishing.set_closed(catalog, form_id, True), form=form_id)


@forms_group.command("reopen")
@click.argument("form_id")
@LANG
def forms_reopen(form_id, lang):
    """Reopen a closed form."""
    from service.formspec import publishing
    _change(lang, "form_reopened",
            lambda catalog: publishing.set_closed(catalog, form_id, False), form=form_id)

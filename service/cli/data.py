"""`doorstep export`: a form's responses as the office's download makes them."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from service.cli import _connect, _fail, main
from service.office import audit
from service.storage.models import Area


@main.command("export")
@click.argument("form_id")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="FILE.csv, FILE.zip (with repeat groups) or FILE.xlsx")
@click.option("--area", "area_code", default=None)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--labels", is_flag=True, help="choice labels instead of codes")
@click.option("--with-pii", is_flag=True, help="include identifying questions")
@click.option("--no-bom", is_flag=True, help="plain UTF-8 (default: with BOM, for Excel)")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh")
@with_appcontext
def export_command(form_id, out, area_code, since, until, labels, with_pii, no_bom, lang):
    """Export a form's valid responses, as the office's download does (audit-logged)."""
    from flask_babel import force_locale

    from service.office import policy
    from service.reports import aggregate, export, export_files
    _connect()
    spec = current_app.extensions["doorstep.catalog"].get(form_id)
    if spec is None:
        _fail(f"no form '{form_id}'")
    filters = aggregate.Filters(since=since.date() if since else None,
                                until=until.date() if until else None)
    if area_code:
        filters.area = Area.get_or_none(Area.code == area_code)
        if filters.area is None:
            _fail(f"no area with code '{area_code}'")
    opts = export.Options(labels=labels, with_pii=with_pii, lang=lang)
    # the command line is the server's owner: every capability, no area restriction
    job = export.Export(current_app.extensions["doorstep.catalog"], spec, policy.SYSTEM, filters,
                        opts)
    kind = Path(out).suffix.lower()
    if kind not in (".csv", ".zip", ".xlsx"):
        _fail("--out must end in .csv, .zip or .xlsx")
    total = job.count()
    with force_locale(lang), click.progressbar(length=total, label="exporting",
                                               file=sys.stderr) as bar:
        if kind == ".xlsx":
            export_files.write_xlsx(job, out)
            bar.update(total)
        else:
            with open(out, "wb") as fh:
                chunks = export_files.zip_chunks(job, not no_bom) if kind == ".zip" else \
                    export_files.csv_chunks(job.main_rows(), not no_bom)
                seen = 0
                for chunk in chunks:
                    fh.write(chunk)
                    bar.update(job.rows_written - seen)
                    seen = job.rows_written
    audit.record("export", target=f"form:{form_id}", user=None, username="cli",
                 rows=job.rows_written, form=form_id, format=kind[1:], labels=labels,
                 pii=with_pii, filters=filters.as_args())
    if kind == ".csv" and job.groups:
        click.echo("note: repeat groups are not in a single CSV; use --out FILE.zip for them",
                   err=True)
    click.echo(f"{job.rows_written} response(s) written to {out}")


@main.group("households")
def households_group():
    """The ledger's households (台帐): import the office's own, export the current state,
    print door-plate stickers."""


def _ledger_spec(form_id):
    spec = current_app.extensions["doorstep.catalog"].get(form_id)
    if spec is None or not spec.ledger:
        _fail(f"no ledger form '{form_id}'")
    return spec


@households_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--form", "form_id", required=True, help="the ledger form")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh",
              help="the language of the problems reported")
@with_appcontext
def households_import(file, form_id, lang):
    """Load households from FILE.csv or FILE.xlsx (all or nothing; a known address updates)."""
    from flask_babel import force_locale

    from service.office import policy
    from service.records import household_import
    _connect()
    spec = _ledger_spec(form_id)
    name = Path(file).name
    with force_locale(lang):
        try:
            done = household_import.load(spec, name, Path(file).read_bytes(), policy.SYSTEM)
        except household_import.ImportProblems as exc:
            for line in exc.problems:
                click.echo(f"error: {name}: {line}", err=True)
            click.echo("nothing was imported", err=True)
            sys.exit(1)
    audit.record("households_imported", target=f"form:{spec.id}", user=None, username="cli",
                 file=name, created=done.created, updated=done.updated)
    click.echo(f"{done.created} household(s) created, {done.updated} updated, "
               f"{done.unchanged} unchanged")


@households_group.command("export")
@click.option("--form", "form_id", required=True, help="the ledger form")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="FILE.csv or FILE.xlsx")
@click.option("--area", "area_code", default=None, help="only this area and those below it")
@click.option("--history", is_flag=True, help="one row per change instead of per household")
@click.option("--labels", is_flag=True, help="choice labels instead of codes")
@click.option("--with-pii", is_flag=True, help="include identifying questions")
@click.option("--no-bom", is_flag=True, help="plain UTF-8 (default: with BOM, for Excel)")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh")
@with_appcontext
def households_export(form_id, out, area_code, history, labels, with_pii, no_bom, lang):
    """Export a ledger's households (current state) or their history (audit-logged)."""
    from flask_babel import force_locale

    from service.office import policy
    from service.reports import export_files, household_export
    from service.reports.export import Options
    _connect()
    spec = _ledger_spec(form_id)
    area = None
    if area_code:
        area = Area.get_or_none(Area.code == area_code)
        if area is None:
            _fail(f"no area with code '{area_code}'")
    kind = Path(out).suffix.lower()
    if kind not in (".csv", ".xlsx"):
        _fail("--out must end in .csv or .xlsx")
    job = household_export.HouseholdExport(
        spec, policy.SYSTEM, Options(labels=labels, with_pii=with_pii, lang=lang), area)
    with force_locale(lang):
        if kind == ".xlsx":
            household_export.write_xlsx(job, out, history=history)
        else:
            rows = job.history_rows() if history else job.rows()
            with open(out, "wb") as fh:
                for chunk in export_files.csv_chunks(rows, not no_bom):
                    fh.write(chunk)
    audit.record("households_export", target=f"form:{form_id}", user=None, username="cli",
                 rows=job.rows_written, form=form_id, format=kind[1:], history=history,
                 labels=labels, pii=with_pii, area=area_code)
    what = "change(s)" if history else "household(s)"
    click.echo(f"{job.rows_written} {what} written to {out}")


@households_group.command("stickers")
@click.option("--form", "form_id", required=True, help="the ledger form")
@click.option("--area", "area_code", required=True, help="the area (households below it included)")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="a .pdf (or .html) file")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--order", type=click.Choice(["code", "address"]), default="code",
              show_default=True, help="address: by area, then address (not printed)")
@with_appcontext
def households_stickers(form_id, area_code, out, lang, order):
    """Write the door-plate stickers (门牌码) of an area's active households, 24 an A4 page."""
    from service.cli.links import _public_base
    from service.links import door_sheets, sheets
    _connect()
    spec = _ledger_spec(form_id)
    area = Area.get_or_none(Area.code == area_code)
    if area is None:
        _fail(f"no area with code '{area_code}'")
    chosen = door_sheets.in_order(door_sheets.households(spec.id, area, order), order)
    if not chosen:
        _fail(f"no active households of '{form_id}' in {area_code}")
    pdf = not out.lower().endswith((".html", ".htm"))
    if pdf and sheets.cjk_font_missing():
        _fail("no Chinese font is installed: the PDF would show boxes "
              "(apt-get install fonts-noto-cjk)")
    base = _public_base()
    with current_app.test_request_context("/", base_url=base):
        sheet = door_sheets.build(spec, chosen, base, lang=lang)
        page = sheets.html(sheet)
    Path(out).write_bytes(sheets.pdf(page) if pdf else page.encode())
    audit.record("door_stickers", target=f"area:{area.code}", user=None, username="cli",
                 form=spec.id, area=area.code, count=sheet.count, format="pdf" if pdf else "html")
    click.echo(f"{sheet.count} sticker(s) on {len(sheet.pages)} page(s): {out}")

"""A round's report upwards in the office: /admin/rounds/<id>/report (a page printed on A4 for the
street office: the office's name, the round and its period, the date), its downloads report.csv
(UTF-8 with a BOM, for Excel on Chinese Windows) and report.xlsx, each audit-logged, and the
choice of the questions it counts (a CSRF-protected post while the round is open, audit-logged).
The figures are reports/round_report.py's: frozen for a closed round, never recounted. Of a round
over an area above one's own, the page and downloads hold one's part only (policy.round_part), and
its questions are the running office's to choose."""
from __future__ import annotations

import json

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, widgets

from service.admin import bp, downloads
from service.reports.round_coverage import top_of
from service.i18n import current_lang
from service.office import audit, auth, clock, policy
from service.reports import export_files
from service.reports.export import neutralise
from service.reports.round_report import Report, kept_choice, label_of, questions_of
from service.storage.db import write_transaction
from service.storage.models import SurveyRound

#: The summary lines of a question's table, as the office reads them.
WORDS = {"target": _l("Households in the round"), "answered": _l("Answered"),
         "no_answer": _l("No answer"), "total": _l("Sum of the answers"), "mean": _l("Mean")}
COLUMNS = (_l("Area code"), _l("Area"), _l("Question"), _l("Answer"), _l("This round"),
           _l("This round, %"), _l("Previous round"), _l("Previous round, %"), _l("Change"),
           _l("Change, percentage points"))


class QuestionsForm(FlaskForm):
    """Which of the form's report-able questions the round's report counts."""

    questions = SelectMultipleField(
        _l("Questions in the report"), option_widget=widgets.CheckboxInput(),
        widget=widgets.ListWidget(prefix_label=False))


def _spec(r: SurveyRound):
    return current_app.extensions["doorstep.catalog"].get(r.form_id)


def _parent(report: Report, top):
    """The area the page or download is about: `top`, or one below it (?area=CODE)."""
    code = request.args.get("area")
    if not code:
        return top
    found = [a for a in report.figures.areas.values()
             if a.code == code and a.path.startswith(top.path)]
    if not found:
        abort(404)
    return found[0]


def area_title(kind: str, area) -> str:
    if kind == "total":
        return _("%(name)s (total)", name=area.name)
    if kind == "own":
        return _("%(name)s (households of the area itself)", name=area.name)
    return area.name


def line_label(line, lang: str) -> str:
    return line.label.get(lang) if line.label is not None else str(WORDS[line.word])


@bp.get("/rounds/<int:round_id>/report")
@policy.requires("rounds.view")
def round_report(round_id):
    me = auth.current_user()
    r = policy.get_round_or_404(me, round_id)
    spec, form = _spec(r), None
    report = Report.of(r, spec)
    top = top_of(report.figures, me)
    parent = _parent(report, top)
    if report.live and spec is not None and policy.can(me, "rounds.manage", r):
        form = QuestionsForm()
        form.questions.choices = [(q.name, q.label.get(current_lang()))
                                  for q in spec.report_candidates()]
        form.questions.data = [q.name for q in questions_of(r, spec)]
    return render_template("admin/round_report.html", round=r, report=report, top=top,
                           parent=parent, parts=report.parts(parent), form=form,
                           today=clock.today(),
                           area_title=area_title, line_label=line_label, label_of=label_of)


@bp.post("/rounds/<int:round_id>/report/questions")
@policy.requires("rounds.manage")
def round_report_questions(round_id):
    """Choose the questions the open round's report counts (those of the form by default)."""
    r = policy.get_round_or_404(auth.current_user(), round_id, "rounds.manage")
    spec, back = _spec(r), redirect(url_for("admin.round_report", round_id=round_id))
    if spec is None:
        abort(404)
    form = QuestionsForm()
    form.questions.choices = [(q.name, q.name) for q in spec.report_candidates()]
    try:
        if not form.validate_on_submit():
            raise ValueError("questions")
        kept = kept_choice(spec, form.questions.data)
    except ValueError:
        flash(_("Please choose at least one question from the list."))
        return back
    with write_transaction():
        changed = SurveyRound.update(report_questions=kept).where(
            (SurveyRound.id == r.id) & (SurveyRound.status == "open")).execute()
        if changed:
            audit.record("round_report_questions", target=f"round:{r.id}", round=r.id,
                         questions=json.loads(kept) if kept else None)
    flash(_("The report counts the questions chosen.") if changed else
          _("This round is closed: its report stays as it was reported."))
    return back


def heading(report: Report, top=None) -> list[list]:
    """What the report is: the office (`top`: the round's area, or the part reported), the
    round, its period, the date, the round beside it."""
    r, previous = report.round, report.previous
    office = (top or report.figures.root()).name
    return [[_("%(office)s: %(round)s", office=office, round=r.name)],
            [_("Round period"), f"{r.starts_on} – {r.ends_on}"],
            [_("Figures as of"), report.made_on],
            [_("Previous round"), f"{previous['name']} ({previous['starts_on']} – "
                                  f"{previous['ends_on']})" if previous else _("No previous round")]]


def table(report: Report, parent, lang: str) -> list[list]:
    """The column headers, then one row per figure: per area, its households in the round and
    each question's lines."""
    rows = [[str(c) for c in COLUMNS]]
    for kind, area, now, before in report.parts(parent):
        where = [area.code, area_title(kind, area)]
        rows.append(where + [str(WORDS["target"]), ""] + _figures(
            report.target_line(now, before)))
        for question in report.questions:
            label = label_of(question, lang)
            for line in report.lines(question, now, before):
                rows.append(where + [label, line_label(line, lang)] + _figures(line))
    return rows


def _figures(line) -> list:
    return [line.n, line.percent, line.prev_n, line.prev_percent, line.change,
            line.change_points]


def _csv_rows(heading_rows, rows):
    for row in [*heading_rows, [], *rows]:
        yield [neutralise(c) if isinstance(c, str) else ("" if c is None else c) for c in row]


def write_xlsx(heading_rows: list[list], rows: list[list], path) -> None:
    """One sheet: the heading, a blank line, the table; figures as numbers."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False,
                                               "strings_to_numbers": False})
    sheet, bold = workbook.add_worksheet("report"), workbook.add_format({"bold": True})
    first = len(heading_rows) + 1
    for i, row in enumerate([*heading_rows, [], *rows]):
        for c, cell in enumerate(row):
            if isinstance(cell, (int, float)):
                sheet.write_number(i, c, cell)
            elif cell is not None and cell != "":
                sheet.write_string(i, c, str(cell), bold if i in (0, first) else None)
    sheet.set_column(1, 3, 22)
    workbook.close()


@bp.get("/rounds/<int:round_id>/report.<ext>")
@policy.requires("rounds.view")
def round_report_download(round_id, ext):
    if ext not in ("csv", "xlsx"):
        abort(404)
    me = auth.current_user()
    r = policy.get_round_or_404(me, round_id)
    report = Report.of(r, _spec(r))
    top = top_of(report.figures, me)
    parent = _parent(report, top)
    heading_rows, rows = heading(report, top), table(report, parent, current_lang())
    name = f"round-{r.id}-report-{parent.code}-{report.made_on}.{ext}"

    def logged(**more):
        audit.record("round_report_export", target=f"round:{r.id}", round=r.id, format=ext,
                     area=parent.code, frozen=not report.live, **more)

    if ext == "xlsx":
        return downloads.xlsx(lambda path: write_xlsx(heading_rows, rows, path), name, logged)
    return downloads.streamed(lambda: export_files.csv_chunks(_csv_rows(heading_rows, rows)),
                              name, "text/csv", lambda finished: logged(complete=finished))

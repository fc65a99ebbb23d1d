"""The office's working calendar (/admin/follow-ups/holidays, capability `holidays.manage`):
public holidays and make-up working days, one a line or pasted from a spreadsheet as CSV
(records/working_days.py). Saving replaces the whole list, all or nothing, audit-logged; a bad
line is said with its number and nothing changes. Due dates already set keep their day."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length

from service.admin import bp
from service.office import audit, auth, policy
from service.records import working_days


class CalendarForm(FlaskForm):
    days = TextAreaField(_l("Holidays and make-up working days"),
                         validators=[Length(max=100_000)])


def _problem_words(problem: str) -> str:
    """A parser's line (English, for the command line) in the user's language."""
    number, _sep, rest = problem.partition(": ")
    line = number.removeprefix("line ")
    if "is not a date" in rest:
        return _("Line %(n)s: not a date (write YYYY-MM-DD).", n=line)
    if "listed twice" in rest:
        return _("Line %(n)s: this day is listed twice.", n=line)
    return _("Line %(n)s: write 'work' for a make-up working day, or nothing for a day off.",
             n=line)


@bp.route("/follow-ups/holidays", methods=["GET", "POST"])
@policy.requires("holidays.manage")
def follow_up_holidays():
    form = CalendarForm()
    problems = []
    if form.validate_on_submit():
        try:
            days = working_days.parse(form.days.data or "")
        except working_days.CalendarError as refused:
            problems = [_problem_words(p) for p in refused.problems]
        else:
            off, worked = working_days.replace(days)
            audit.record("holidays_changed", target="holidays", user=auth.current_user(),
                         days_off=off, days_worked=worked)
            flash(_("The calendar is saved: %(off)s days off, %(worked)s make-up working days.",
                    off=off, worked=worked))
            return redirect(url_for("admin.follow_up_holidays"))
    elif not form.is_submitted():
        form.days.data = working_days.as_text(working_days.stored())
    status = 400 if problems or form.errors else 200
    return render_template("admin/follow_ups/holidays.html", form=form, problems=problems,
                           from_file=not working_days.stored()), status

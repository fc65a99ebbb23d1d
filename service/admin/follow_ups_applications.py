"""Applications under review (/admin/follow-ups/applications): a year's applications of a form
with review steps (示范单位申报), one list per step with the latest reviewer's note, printable on
A4 and downloadable as CSV (UTF-8 with a BOM; audit-logged). The year is the office-local year
an application was made in."""
from __future__ import annotations

import datetime as dt

from flask import current_app, render_template, request
from flask_babel import gettext as _

from service.admin import bp, downloads
from service.admin.follow_ups_rosters import answer_text, chosen_form
from service.i18n import current_lang
from service.office import audit, auth, clock, policy
from service.records import answers as stored
from service.reports import export_files
from service.reports.export import neutralise
from service.storage.follow_up_models import FollowUp, FollowUpNote
from service.storage.models import Submission

#: How many of the form's first questions describe an application in the list (not pii).
SHOWN_QUESTIONS = 3


def _asked(user):
    """The form (?form=, 404 when it has no review steps), the forms offered, the year (?year=,
    this year by default) and its applications by step."""
    spec, found = chosen_form("application")
    year = request.args.get("year", type=int)
    year = year if year and 2000 <= year <= 2100 else clock.today().year
    return spec, found, year, by_step(user, spec, year)


def by_step(user, spec, year: int):
    """[(step, [application…])] in the form's step order, and the questions shown; each
    application: its follow-up, receipt, answers shown, and the latest step's note and date."""
    start = clock.day_start_utc(dt.date(year, 1, 1))
    end = clock.day_start_utc(dt.date(year + 1, 1, 1))
    shown = [q for q in spec.questions() if q.answerable and not q.is_group and not q.pii]
    shown = shown[:SHOWN_QUESTIONS]
    found = list(policy.follow_ups_for(user).where(
        (FollowUp.form_id == spec.id) & (FollowUp.kind == "application") &
        (FollowUp.opened_at >= start) & (FollowUp.opened_at < end))
        .join(Submission, on=(FollowUp.submission == Submission.id))
        .where(Submission.status == "valid").order_by(FollowUp.opened_at, FollowUp.id))
    latest = {}
    if found:
        for n in (FollowUpNote.select().where(
                FollowUpNote.follow_up.in_([f.id for f in found]) &
                (FollowUpNote.action == "step")).order_by(FollowUpNote.at, FollowUpNote.id)):
            latest[n.follow_up_id] = n
    lists = {s.name: [] for s in spec.follow_up.steps}
    catalog = current_app.extensions["doorstep.catalog"]
    for f in found:
        made_with = catalog.version(spec.id, f.submission.form_version) or spec
        answers = stored.current_answers(made_with, f.submission)
        lists.setdefault(f.step, []).append({
            "f": f, "receipt": f.submission.receipt, "note": latest.get(f.id),
            "cells": [answer_text(q, answers.get(q.name)) for q in shown]})
    return [(s, lists[s.name]) for s in spec.follow_up.steps], shown


@bp.get("/follow-ups/applications")
@policy.requires("follow_ups.view")
def follow_up_applications():
    spec, found, year, (steps, shown) = _asked(auth.current_user())
    return render_template("admin/follow_ups/applications.html", spec=spec, forms=found,
                           year=year, steps=steps, shown=shown, today=clock.today(),
                           local_time=clock.local_time)


def _csv_rows(steps, shown, lang: str):
    yield [_("Review step"), _("Receipt"), *[q.label.get(lang) for q in shown], _("Submitted"),
           _("Reviewer's note"), _("Reviewed")]
    for step, items in steps:
        for a in items:
            note = a["note"]
            yield [neutralise(c) for c in (
                step.label.get(lang), a["receipt"], *a["cells"],
                clock.local_time(a["f"].opened_at), note.text if note else "",
                clock.local_time(note.at) if note else "")]


@bp.get("/follow-ups/applications.csv")
@policy.requires("follow_ups.view")
def follow_up_applications_csv():
    user = auth.current_user()
    spec, _found, year, (steps, shown) = _asked(user)
    rows = list(_csv_rows(steps, shown, current_lang()))
    return downloads.streamed(
        lambda: export_files.csv_chunks(iter(rows)), f"applications-{spec.id}-{year}.csv",
        "text/csv", lambda finished: audit.record(
            "applications_export", target=f"form:{spec.id}", user=user, form=spec.id,
            year=year, rows=len(rows) - 1, complete=finished))

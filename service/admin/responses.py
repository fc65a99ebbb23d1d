"""Browsing responses, one response's detail, revealing masked values, corrections and status."""
from __future__ import annotations

import json

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from service.office import audit, auth, clock, policy
from service.records import answers as stored, follow_ups, submissions
from service.formspec.conditions import evaluate
from service.formspec.wtf import clean_value, field_for
from service.i18n import current_lang
from service.office.clock import local_time
from service.office.masking import mask
from service.records.vocabulary import CHANNELS, STATUSES
from service.reports.response_list import ResponseFilters, matching
from service.storage.models import Area, Correction, StatusChange, User
from service.admin import bp
from service.admin.follow_ups import WORDS as follow_up_words
from service.admin.forms import ConfirmForm, ReasonForm

PAGE_SIZE = 25


def _spec_or_404(form_id):
    spec = current_app.extensions["doorstep.catalog"].get(form_id)
    if spec is None:
        abort(404)
    return spec


def _date_arg(name):
    return clock.read_day(request.args.get(name))


def filtered(user, form_id):
    """The user's submissions of one form narrowed by the list's filters; also the filters used
    (a malformed day or an unknown code is left out, as the page offers only valid ones)."""
    f = ResponseFilters()
    code = request.args.get("area", "").strip()
    if code:
        f.area = policy.get_area_or_404(user, code)
    f.since, f.until = _date_arg("since"), _date_arg("until")
    channel, status = request.args.get("channel"), request.args.get("status")
    f.channel = channel if channel in CHANNELS else None
    f.status = status if status in STATUSES else None
    f.surveyor = request.args.get("surveyor", "").strip() or None
    return matching(user, form_id, f), f.as_args()


def _cell(q, answers, revealed=False):
    value = answers.get(q.name)
    if value is None:
        return ""
    if q.pii and not revealed:
        return mask(q, value)
    if isinstance(value, list):
        return ", ".join(_label(q, v) for v in value)
    return _label(q, value)


def _label(q, value):
    return q.qtype.label(q, value, current_lang())


@bp.get("/forms/<form_id>/responses")
@policy.requires("responses.view")
def responses(form_id):
    user = auth.current_user()
    spec = _spec_or_404(form_id)
    query, used = filtered(user, form_id)
    total = query.count()
    page = min(max(1, request.args.get("page", 1, type=int)), 10**6)   # an offset SQL can count
    rows = list(query.paginate(page, PAGE_SIZE))
    columns = [q for q in spec.questions() if q.answerable and not q.is_group][:4]
    areas = {a.id: a for a in Area.select().where(
        Area.id.in_([r.area_id for r in rows if r.area_id]))} if rows else {}
    surveyors = {u.id: u for u in User.select().where(
        User.id.in_([r.surveyor_id for r in rows if r.surveyor_id]))} if rows else {}
    table = []
    for row in rows:
        answers = stored.current_answers(spec, row)
        table.append({"s": row, "at": local_time(row.received_at),
                      "area": areas.get(row.area_id), "surveyor": surveyors.get(row.surveyor_id),
                      "cells": [_cell(q, answers) for q in columns]})
    return render_template(
        "admin/responses.html", spec=spec, table=table, columns=columns, total=total, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), used=used, channels=CHANNELS,
        statuses=STATUSES, areas=list(policy.visible_areas(user)))


def _detail(spec, answers: dict, revealed):
    sections = []
    for section in spec.sections:
        entries = []
        for q in section.questions:
            if not q.answerable:
                continue
            if q.is_group:
                items = [[(c, _cell(c, item, revealed)) for c in q.questions if c.answerable]
                         for item in answers.get(q.name, [])]
                entries.append((q, items))
            else:
                entries.append((q, _cell(q, answers, revealed)))
        sections.append((section, entries))
    return sections


@bp.route("/responses/<int:submission_id>", methods=["GET", "POST"])
@policy.requires("responses.view")
def response(submission_id):
    """One response; a POST (CSRF-protected button) reveals its masked values, and is logged."""
    user = auth.current_user()
    submission = policy.get_submission_or_404(user, submission_id)
    spec = current_app.extensions["doorstep.catalog"].version(submission.form_id,
                                                              submission.form_version)
    if spec is None:
        abort(404)
    revealed = False
    if request.method == "POST":
        if not policy.can(user, "responses.reveal", submission):
            abort(404)
        if ConfirmForm().validate_on_submit():
            revealed = True
            audit.record("reveal", target=f"submission:{submission.id}",
                         form=submission.form_id, receipt=submission.receipt)
        else:
            abort(400)
    answers = stored.current_answers(spec, submission)
    owed = follow_ups.of_submission(submission) if policy.can(user, "follow_ups.view") else []
    return render_template(
        "admin/response.html", follow_ups=owed, follow_up_words=follow_up_words,
        follow_up_notes={f.id: follow_ups.history(f) for f in owed}, spec=spec, s=submission, sections=_detail(spec, answers, revealed),
        revealed=revealed, at=local_time(submission.received_at),
        corrections=list(Correction.select().where(Correction.submission == submission)
                         .order_by(Correction.at)),
        status_changes=list(StatusChange.select().where(StatusChange.submission == submission)
                            .order_by(StatusChange.at)),
        missing=stored.missing_required(spec, answers, submission.sensitive_consent),
        can_reveal=policy.can(user, "responses.reveal", submission),
        can_status=policy.can(user, "responses.status", submission),
        has_pii=any(q.pii for q in spec.all_questions()), reason_form=ReasonForm(),
        local_time=local_time)


def _field_data(q, current):
    """A stored answer as its field's data (dates and decimals are stored as text)."""
    return q.qtype.field_data(q, current)


def _correction_form(q):
    """A one-question form built from the same factory as the public form, plus a reason."""
    class CorrectionForm(FlaskForm):
        value = field_for(q)
        reason = TextAreaField(validators=[
            DataRequired(message=_("Please give a reason.")), Length(max=1000)])
    return CorrectionForm()


@bp.route("/responses/<int:submission_id>/correct/<question>", methods=["GET", "POST"])
@policy.requires("responses.correct")
def correct(submission_id, question):
    user = auth.current_user()
    submission = policy.get_submission_or_404(user, submission_id)
    spec = current_app.extensions["doorstep.catalog"].version(submission.form_id,
                                                              submission.form_version)
    q = spec.question(question) if spec else None
    if q is None or not q.answerable or q.is_group or submission.erased_at is not None:
        abort(404)      # (an erased submission has no answer left to correct: erasure.py)
    parent = spec.parent_of(q.name)
    item = request.args.get("item", type=int) if parent else None
    answers = stored.current_answers(spec, submission)
    if parent is not None:
        items = answers.get(parent.name, [])
        if item is None or not 0 <= item < len(items):
            abort(404)
        current = items[item].get(q.name)
    else:
        current = answers.get(q.name)
    if q.sensitive and not submission.sensitive_consent:
        flash(_("This household did not consent to sensitive questions; nothing can be added."))
        return redirect(url_for("admin.response", submission_id=submission.id))
    scope = items[item] if parent is not None else {}
    if current is None and q.show_if is not None and not evaluate(
            q.show_if, lambda name: scope[name] if name in scope else answers.get(name)):
        # the public form neither asks nor stores it for these answers: no correction adds it
        flash(_("This question is not asked for these answers; correct the answer it depends "
                "on first."))
        return redirect(url_for("admin.response", submission_id=submission.id))
    form = _correction_form(q)
    if form.validate_on_submit():
        new_value = clean_value(q, form.value)
        if q.required and new_value is None:
            form.value.errors.append(_("Please answer this question."))
        else:
            for change in submissions.correct(spec, submission, q, item, new_value,
                                              form.reason.data.strip(), user):
                hidden = spec.question(change.question).pii
                audit.record("correction", target=f"submission:{submission.id}",
                             question=change.question, item=change.item, reason=change.reason,
                             old="***" if hidden else json.loads(change.old_value),
                             new="***" if hidden else json.loads(change.new_value))
            flash(_("The answer is corrected."))
            return redirect(url_for("admin.response", submission_id=submission.id))
    elif request.method == "GET" and not q.pii:
        # an identifier is not pre-filled: that would show it unmasked without a logged reveal
        form.value.process_data(_field_data(q, current))
    status = 400 if form.errors else 200
    return render_template("admin/correct.html", s=submission, spec=spec, q=q, item=item,
                           form=form, current=current), status


@bp.post("/responses/<int:submission_id>/status/<status>")
@policy.requires("responses.status")
def change_status(submission_id, status):
    user = auth.current_user()
    submission = policy.get_submission_or_404(user, submission_id)
    if status not in STATUSES:
        abort(404)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Please give a reason."))
        return redirect(url_for("admin.response", submission_id=submission.id))
    old = submission.status
    if old != status:
        submissions.set_status(submission, status, form.reason.data.strip(), user)
        audit.record("status", target=f"submission:{submission.id}", old=old, new=status,
                     reason=form.reason.data.strip())
        flash(_("The response is marked: %(status)s.", status=status))
    return redirect(url_for("admin.response", submission_id=submission.id))

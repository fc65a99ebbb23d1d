"""Sign-up rosters (/admin/follow-ups/rosters): the confirmed sign-ups of a sign-up form, one list
per event and session, printable on A4 with a column to sign in. Names and phones are masked
(office/masking.py) until a user who may reveal asks, which is audit-logged; a withdrawn or
declined sign-up is on no roster."""
from __future__ import annotations

from flask import abort, current_app, render_template, request

from service.admin import bp
from service.admin.forms import ConfirmForm
from service.i18n import current_lang
from service.office import audit, auth, clock, policy
from service.office.masking import mask
from service.records import answers as stored
from service.storage.follow_up_models import FollowUp
from service.storage.models import Submission

#: The identifying answers a roster shows (a person's name and phone), masked until revealed.
ROSTER_TYPES = ("text", "phone")


def forms_with(kind: str) -> list:
    catalog = current_app.extensions["doorstep.catalog"]
    return [s for s in catalog if s.follow_up and s.follow_up.kind == kind]


def chosen_form(kind: str):
    """The form of ?form= among those with follow-ups of `kind` (the first by default), or 404."""
    found = forms_with(kind)
    wanted = request.args.get("form", "")
    spec = next((s for s in found if s.id == wanted), None) if wanted else \
        (found[0] if found else None)
    if spec is None:
        abort(404)
    return spec, found


def answer_text(q, value) -> str:
    """An answer as the office reads it: choice labels in the user's language."""
    if value is None or value == "":
        return ""
    if isinstance(value, list):
        return ", ".join(q.qtype.label(q, v, current_lang()) for v in value)
    return q.qtype.label(q, value, current_lang())


def roster(user, spec, revealed: bool) -> list[dict]:
    """One entry per event and session: its label and its confirmed sign-ups, in the order they
    were made, each with its receipt and its name and phone (masked unless `revealed`)."""
    rule = spec.follow_up.sign_up
    session_q = spec.question(rule.session_question)
    event_q = spec.question(rule.event_question) if rule.event_question else None
    shown = [q for q in spec.questions() if q.pii and q.type in ROSTER_TYPES]
    catalog = current_app.extensions["doorstep.catalog"]
    groups: dict[tuple, dict] = {}
    query = (policy.follow_ups_for(user)
             .where((FollowUp.form_id == spec.id) & (FollowUp.kind == "sign_up") &
                    (FollowUp.decision == "confirmed"))
             .join(Submission, on=(FollowUp.submission == Submission.id))
             .where(Submission.status == "valid")
             .order_by(FollowUp.opened_at, FollowUp.id))
    for f in query:
        submission = f.submission
        version = catalog.version(submission.form_id, submission.form_version) or spec
        answers = stored.current_answers(version, submission)
        event = answers.get(event_q.name) if event_q else None
        key = (event or "", f.session)
        group = groups.setdefault(key, {
            "event": answer_text(event_q, event) if event_q else "",
            "session": answer_text(session_q, f.session), "key": key, "people": []})
        group["people"].append({
            "receipt": submission.receipt, "follow_up": f.id,
            "cells": [(answers.get(q.name) and (answer_text(q, answers.get(q.name)) if revealed
                                                else mask(q, answers.get(q.name)))) or ""
                      for q in shown]})
    return [groups[k] for k in sorted(groups)], shown


@bp.route("/follow-ups/rosters", methods=["GET", "POST"])
@policy.requires("follow_ups.view")
def follow_up_rosters():
    """GET: the rosters, identifiers masked; POST (a CSRF-protected button, for those who may
    reveal): the same, unmasked to print, and audit-logged."""
    user = auth.current_user()
    spec, found = chosen_form("sign_up")
    revealed = False
    if request.method == "POST":
        if not policy.can(user, "responses.reveal"):
            abort(404)
        if not ConfirmForm().validate_on_submit():
            abort(400)
        revealed = True
    groups, shown = roster(user, spec, revealed)
    if revealed:
        audit.record("roster_reveal", target=f"form:{spec.id}", form=spec.id,
                     people=sum(len(g["people"]) for g in groups))
    return render_template("admin/follow_ups/roster.html", spec=spec, forms=found,
                           groups=groups, shown=shown, revealed=revealed,
                           may_reveal=policy.can(user, "responses.reveal"),
                           today=clock.today())

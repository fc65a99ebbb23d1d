"""The changes the office makes to one follow-up: POST /admin/follow-ups/<id>/<action>, each a
CSRF-protected form on the follow-up's page (follow_ups.py), each one call of
records/follow_up_actions.py (which writes the history and the audit event). A change the
follow-up cannot take is said in the user's language and changes nothing."""
from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _, lazy_gettext as _l

from service.admin import bp
from service.admin.follow_ups import FollowUpForm, spec_of
from service.office import auth, policy
from service.records import follow_up_actions as actions
from service.records.follow_ups import FollowUpError
from service.storage.models import User

#: What the office reads when a change is refused (FollowUpError's codes).
REFUSALS = {
    "closed": _l("This follow-up is closed: nothing more can be changed."),
    "not_sign_up": _l("Only a sign-up is confirmed or declined."),
    "not_application": _l("Only an application has review steps."),
    "not_deletion": _l("Only a request for deletion is approved or refused."),
    "no_session": _l("Please choose the session the sign-up is confirmed for."),
    "bad_session": _l("Please choose one of the form's sessions."),
    "bad_step": _l("The application cannot move to that step from where it stands."),
    "not_your_step": _l("Your role may not take this step."),
    "note_needed": _l("Please write the reviewer's note."),
    "text_needed": _l("Please write the text (at most 2,000 characters)."),
    "bad_assignee": _l("Please choose someone who may deal with this follow-up."),
    "bad_decision": _l("Please choose confirm or decline."),
    "withdrawn": _l("The resident withdrew this sign-up."),
}
assert set(REFUSALS) == set(actions.REASONS)
DONE = {"assign": _l("The follow-up is assigned."), "start": _l("The follow-up is in progress."),
        "note": _l("The note is added."), "reply": _l("The reply is saved."),
        "close": _l("The follow-up is closed."), "decide": _l("The sign-up is decided."),
        "step": _l("The application moved to its next step."),
        "deletion": _l("The request for deletion is decided.")}


def _do(action: str, f, form: FollowUpForm, user):
    text, choice = form.text.data or "", form.choice.data or ""
    if action == "assign":
        name = form.assignee.data or ""
        assignee = User.get_or_none(User.username == name) if name else None
        if name and assignee is None:
            raise FollowUpError("bad_assignee")
        return actions.assign(f, assignee, user)
    if action == "start":
        return actions.start(f, user)
    if action == "note":
        return actions.note(f, text, user)
    if action == "reply":
        return actions.reply(f, text, user)
    if action == "close":
        return actions.close(f, user, text)
    if action == "decide":
        return actions.decide(f, choice, form.session.data or None, _spec(f), user, text)
    if action == "step":
        return actions.take_step(f, choice, text, _spec(f), user)
    if action == "deletion":
        if choice not in ("approve", "refuse"):
            raise FollowUpError("bad_decision")
        return actions.decide_deletion(f, choice == "approve", text, user)
    abort(404)


def _spec(f):
    spec = spec_of(f)
    if spec is None:
        abort(404)
    return spec


@bp.post("/follow-ups/<int:follow_up_id>/<action>")
@policy.requires("follow_ups.manage")
def follow_up_action(follow_up_id, action):
    if action not in DONE:
        abort(404)
    user = auth.current_user()
    f = policy.get_follow_up_or_404(user, follow_up_id, "follow_ups.manage")
    form = FollowUpForm()
    back = redirect(url_for("admin.follow_up_page", follow_up_id=f.id))
    if not form.validate_on_submit():
        flash(_("Please write the text (at most 2,000 characters).") if form.text.errors
              else _("The page had expired; please try again."))
        return back
    try:
        _do(action, f, form, user)
    except FollowUpError as refused:
        flash(str(REFUSALS[refused.reason]))
        return back
    flash(str(DONE[action]))
    return back

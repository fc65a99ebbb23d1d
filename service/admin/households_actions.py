"""What the office changes on a household: a conflict's value, a duplicate merged or dismissed,
its status. Each is a CSRF-protected post, one write transaction and one audit event; a post
without its token, or about a household out of scope, changes nothing."""
from __future__ import annotations

import json

from flask import abort, current_app, flash, redirect, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField
from wtforms.fields.choices import SelectChoice

from service.admin import bp
from service.admin.forms import ConfirmForm, ReasonForm
from service.office import audit, auth, policy
from service.records import ledger
from service.storage.db import is_sqlite, write_transaction
from service.storage.models import Household, HouseholdConflict

#: How household codes are shown (the codes stay in the database, the audit log and exports).
STATUS_WORDS = {"active": _l("Active"), "moved_out": _l("Moved out"), "merged": _l("Merged"),
                "closed": _l("Closed")}
OUTCOME_WORDS = {"not_home": _l("Not at home"), "refused": _l("Refused"), "vacant": _l("Vacant"),
                 "moved_out": _l("Moved out"), "no_change": _l("Checked, no change")}
SOURCE_WORDS = {"visit": _l("Visit"), "correction": _l("Office correction"),
                "import": _l("Import"), "resolve": _l("Conflict resolved"), "merge": _l("Merge")}
#: The statuses the office sets by hand (merging is its own action).
SETTABLE = ("active", "moved_out", "closed")


class ResolveForm(FlaskForm):
    """Which value a conflict keeps: the household's or the late visit's."""

    choice = RadioField(choices=[SelectChoice("kept", "kept"), SelectChoice("visit", "visit")])


class HouseholdStatusForm(ReasonForm):
    status = SelectField(choices=[SelectChoice(s, STATUS_WORDS[s]) for s in SETTABLE])


def _managed(code) -> Household:
    """The household behind `code`, if the user may change it; else 404."""
    user = auth.current_user()
    household = policy.get_household_or_404(user, code)
    if not policy.can(user, "households.manage", household):
        abort(404)
    return household


def _back(household):
    return redirect(url_for("admin.household", code=household.code))


@bp.post("/households/<code>/conflicts/<int:conflict_id>")
@policy.requires("households.manage")
def household_resolve(code, conflict_id):
    household = _managed(code)
    asked = HouseholdConflict.get_or_none((HouseholdConflict.id == conflict_id) &
                                          (HouseholdConflict.household == household.id))
    if asked is None:
        abort(404)
    form = ResolveForm()
    if not form.validate_on_submit():
        flash(_("Please choose the value to keep."))
        return _back(household)
    spec = current_app.extensions["doorstep.catalog"].get(household.form_id)
    q = spec.question(asked.question) if spec is not None else None
    with write_transaction():
        query = HouseholdConflict.select().where(
            (HouseholdConflict.id == asked.id) & HouseholdConflict.resolved_at.is_null())
        conflict = (query if is_sqlite() else query.for_update()).first()
        if conflict is None:     # a second click, or someone else was quicker
            flash(_("This conflict is already resolved."))
            return _back(household)
        chosen = json.loads(conflict.kept_value if form.choice.data == "kept"
                            else conflict.visit_value)
        ledger.resolve(conflict, chosen, auth.current_user())
        audit.record("household_resolve", target=f"household:{household.id}",
                     household=household.code, question=conflict.question,
                     choice=form.choice.data, value="***" if q is None or q.pii else chosen)
    flash(_("The conflict is resolved."))
    return _back(household)


@bp.post("/households/<code>/merge")
@policy.requires("households.manage")
def household_merge(code):
    """Merge a possible duplicate into the household it was flagged against (both in scope)."""
    household = _managed(code)
    if household.duplicate_of_id is None:
        flash(_("This household is not marked as a possible duplicate."))
        return _back(household)
    into = ledger.find(Household.get_by_id(household.duplicate_of_id).code)
    if into is None or not policy.can(auth.current_user(), "households.manage", into):
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if into.id == household.id:
        flash(_("This household is not marked as a possible duplicate."))
        return _back(household)
    with write_transaction():
        ledger.merge(household, into, auth.current_user())
        audit.record("household_merge", target=f"household:{household.id}",
                     household=household.code, into=into.code)
    flash(_("Household %(code)s is merged into %(into)s.", code=household.code, into=into.code))
    return _back(into)


@bp.post("/households/<code>/dismiss")
@policy.requires("households.manage")
def household_dismiss(code):
    """Not a duplicate after all: the flag goes, the household stays as it is."""
    household = _managed(code)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if household.duplicate_of_id is not None:
        with write_transaction():
            ledger.dismiss_duplicate(household)
            audit.record("household_dismiss", target=f"household:{household.id}",
                         household=household.code, was=household.duplicate_of_id)
        flash(_("The possible duplicate is dismissed."))
    return _back(household)


@bp.post("/households/<code>/status")
@policy.requires("households.manage")
def household_status(code):
    household = _managed(code)
    form = HouseholdStatusForm()
    if not form.validate_on_submit():
        flash(_("Please give a reason."))
        return _back(household)
    new, reason = form.status.data, form.reason.data.strip()
    if new != household.status:
        with write_transaction():
            ledger.set_status(household, new)
            audit.record("household_status", target=f"household:{household.id}",
                         household=household.code, old=household.status, new=new,
                         reason=reason)
        flash(_("The household is now: %(status)s.", status=STATUS_WORDS[new]))
    return _back(household)

"""Who may do what, and where: the one place the office, exports, the dashboard and the CLI ask.

Roles map to named capabilities in one table (CAPABILITIES); `can(holder, action, thing)` checks a
capability and, given an Area, Link, Household, SurveyRound, FollowUp, Submission or User, whether that
thing lies in the holder's scope. A holder is anything with `.area` and either `.capabilities` or
a `.role` of the table: a signed-in `User`, `SYSTEM` (the command line, the server's owner), and
the JSON API's tokens, which are `Grant`s of their role and area (`grant_of`). Scope is the holder's area and everything
below it, or everywhere with `areas.all`; a holder without an area and without `areas.all` sees
nothing. Surveyors see only their own responses of the last SURVEYOR_DAYS days. Anything out of
scope is a 404 in the views, so its existence is not revealed.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Protocol

from flask import abort, current_app, has_app_context

from service.office import auth
from service.storage.models import (
    Area, FollowUp, Household, Link, Submission, SurveyRound, User, utcnow,
)

#: Every capability and what it allows; `can()` refuses a name not listed here (a typo is an error).
ACTIONS = {
    "responses.view": "open the responses pages: one's own responses of the last few days",
    "responses.view_area": "... every response of one's scope, not only one's own recent ones",
    "responses.correct": "correct an answer of a response one can see",
    "responses.reveal": "unmask identifying answers (each reveal is audit-logged)",
    "responses.status": "mark a response void or duplicate, or restore it",
    "dashboard.view": "a form's figures",
    "export": "download responses",
    "export.pii": "download identifying answers too",
    "links.manage": "QR links and their printed sheets",
    "users.manage": "create, disable and reset accounts one could assign the role of",
    "users.assign.admin": "give an account the admin role",
    "users.assign.manager": "give an account the manager role",
    "users.assign.surveyor": "give an account the surveyor role",
    "areas.manage": "create and rename areas",
    "areas.all": "every area, the top of the tree and what belongs to no area",
    "audit.view": "the audit log",
    "households.view": "the ledger's households in the office, their history and visits",
    "households.visit": "open a household's visit page on the phone (prefilled answers)",
    "households.manage": "resolve conflicts, merge duplicates, change a household's status or "
                         "answers",
    "households.import": "load the office's own ledger (CSV or Excel) into the households",
    "rounds.view": "survey rounds of one's areas, and one's part of a round over an area above: "
                   "coverage and not-yet lists",
    "forms.manage": "upload a form's workbook (XLSForm), preview, publish, close and reopen forms "
                    "(managers only when MANAGERS_MAY_PUBLISH_FORMS is set)",
    "rounds.manage": "create rounds, assign their households (in a round over an area above: "
                     "those of one's part) to surveyors, close them",
    "follow_ups.view": "the follow-ups of one's areas: the queue and its export, sign-up rosters, "
                       "the yearly applications (identifiers masked)",
    "follow_ups.manage": "assign, start, note, answer and close follow-ups; confirm or decline "
                         "sign-ups, take the review steps of one's role, decide residents' "
                         "requests",
    "holidays.manage": "the office's working calendar: public holidays and make-up working days",
    "tokens.manage": "create, list and revoke the JSON API's tokens",
}
EVERYTHING = frozenset(ACTIONS)

#: Roles (the strings stored in User.role) and what each may do.
CAPABILITIES: dict[str, frozenset[str]] = {
    "admin": EVERYTHING,
    "manager": EVERYTHING - {"areas.all", "audit.view", "users.assign.admin",
                             "users.assign.manager", "forms.manage", "holidays.manage",
                             "tokens.manage"},
    "surveyor": frozenset({"responses.view", "responses.correct", "households.visit"}),
}
assert set(CAPABILITIES) == set(auth.ROLES) and all(c <= EVERYTHING for c in CAPABILITIES.values())


class Holder(Protocol):
    """What `can()` needs of whoever asks: an area (or None), and a role or capabilities."""

    area: Area | None


@dataclass(frozen=True)
class Grant:
    """A holder that is not a signed-in person: the command line, and next an API token."""

    name: str
    capabilities: frozenset[str]
    area: Area | None = None


#: The command line: the server's owner, with every capability and no area restriction.
SYSTEM = Grant("system", EVERYTHING)


def grant_of(name: str, role: str, area: Area | None) -> Grant:
    """A holder with exactly the capabilities of `role` in `area`: an API token (api/auth.py)."""
    return Grant(name, capabilities_of(_Role(role)), area)


@dataclass(frozen=True)
class _Role:
    role: str
    area: Area | None = None


def capabilities_of(holder: Holder | None) -> frozenset[str]:
    if holder is None:
        return frozenset()
    own = getattr(holder, "capabilities", None)
    if own is not None:
        return frozenset(own)
    role = getattr(holder, "role", None)
    held = CAPABILITIES.get(role, frozenset())
    if role == "manager" and has_app_context() and \
            current_app.config.get("MANAGERS_MAY_PUBLISH_FORMS"):
        held = held | {"forms.manage"}     # an office may let its managers publish forms too
    return held


def can(holder: Holder | None, action: str, thing=None) -> bool:
    """Whether `holder` may do `action`, and to `thing` when given (it must lie in their scope).

    An Area, Link, Household or SurveyRound is in scope when its area is; a Submission when
    `submissions_for` lists it; a User when `manageable_users` does (their area is in scope and
    their role one the holder could assign). A round over an area above the holder's own (one the
    street office runs for its communities) may be viewed too, for their part of it only
    (`round_part`); anything else done to it (closing it, its report's questions) stays with the
    office whose scope holds its area.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown capability {action!r}")
    if action not in capabilities_of(holder):
        return False
    if thing is None:
        return True
    if isinstance(thing, Area):
        return sees_area(holder, thing)
    if isinstance(thing, SurveyRound) and action == "rounds.view":
        return round_part(holder, thing) is not None
    if isinstance(thing, (Link, Household, SurveyRound, FollowUp)):
        return sees_area(holder, thing.area)
    if isinstance(thing, Submission):
        return submissions_for(holder).where(Submission.id == thing.id).exists()
    if isinstance(thing, User):
        return manageable_users(holder).where(User.id == thing.id).exists()
    raise TypeError(f"no scope rule for {type(thing).__name__}")


def requires(action: str):
    """Guard a view: signed in (auth.login_required), then `action`, else 404 (not 403): a page
    the user may not use does not reveal that it exists."""
    if action not in ACTIONS:
        raise ValueError(f"unknown capability {action!r}")

    def decorator(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            if not can(auth.current_user(), action):
                abort(404)
            return view(*args, **kwargs)
        checked.capability = action     # carried to the view: tests list what guards each page
        return auth.login_required()(checked)
    return decorator


def roles_assignable(holder: Holder) -> tuple[str, ...]:
    return tuple(role for role in auth.ROLES if can(holder, f"users.assign.{role}"))


def needs_area(role: str) -> bool:
    """An account of this role without an area would see nothing: it must belong to one."""
    return "areas.all" not in CAPABILITIES.get(role, frozenset())


# Scope: the one place that computes which areas a holder reaches.

class _Everywhere:
    def __repr__(self):
        return "EVERYWHERE"


EVERYWHERE = _Everywhere()


def scope_root(holder: Holder | None):
    """Where a holder's scope starts: EVERYWHERE, their area, or None (no area: nothing)."""
    if can(holder, "areas.all"):
        return EVERYWHERE
    return getattr(holder, "area", None) if holder is not None else None


def area_ids_under(area: Area):
    """A subquery of the ids of `area` and all its descendants."""
    return Area.select(Area.id).where(Area.path.startswith(area.path))


def _no_areas():
    return Area.select(Area.id).where(Area.id.is_null())


def sees_area(holder: Holder | None, area: Area | None) -> bool:
    """Whether `area` (None: belonging to no area) lies in the holder's scope."""
    root = scope_root(holder)
    if root is EVERYWHERE:
        return True
    return root is not None and area is not None and area.path.startswith(root.path)


def area_scope(holder: Holder | None, within: Area | None = None):
    """A subquery of the area ids the holder reaches (narrowed to `within` and below when given),
    or None for no restriction at all (everywhere, including what has no area)."""
    if within is not None:
        return area_ids_under(within) if sees_area(holder, within) else _no_areas()
    root = scope_root(holder)
    if root is EVERYWHERE:
        return None
    return _no_areas() if root is None else area_ids_under(root)


# Scoped queries: views list and fetch only through these.

def visible_areas(holder: Holder):
    scope = area_scope(holder)
    query = Area.select().order_by(Area.path)
    return query if scope is None else query.where(Area.id.in_(scope))


def get_area_or_404(holder: Holder, code: str) -> Area:
    area = Area.get_or_none(Area.code == code)
    if area is None or not sees_area(holder, area):
        abort(404)
    return area


def submissions_for(holder: Holder, form_id: str | None = None):
    """Submissions the holder may see (every status), newest first."""
    query = Submission.select()
    if form_id is not None:
        query = query.where(Submission.form_id == form_id)
    held = capabilities_of(holder)
    if "responses.view_area" in held:
        scope = area_scope(holder)
        if scope is not None:
            query = query.where(Submission.area.in_(scope))
    elif "responses.view" in held and isinstance(holder, User):
        days = current_app.config.get("SURVEYOR_DAYS", 3)
        query = query.where((Submission.surveyor == holder) &
                            (Submission.received_at >= utcnow() - dt.timedelta(days=days)))
    else:
        return query.where(Submission.id.is_null())
    return query.order_by(Submission.received_at.desc(), Submission.id.desc())


def _one_or_404(query):
    """The first row of a scoped query, or 404: out of scope looks the same as missing."""
    found = query.first()
    if found is None:
        abort(404)
    return found


def _in_scope(holder: Holder, query, area_field, *needs: str):
    """`query` narrowed to the rows whose `area_field` lies in the holder's scope, for a holder
    with one of the capabilities `needs`; no rows for anyone else."""
    if not capabilities_of(holder) & set(needs):
        return query.where(area_field.model.id.is_null())
    scope = area_scope(holder)
    return query if scope is None else query.where(area_field.in_(scope))


def get_submission_or_404(holder: Holder, submission_id: int) -> Submission:
    return _one_or_404(submissions_for(holder).where(Submission.id == submission_id))


def manageable_users(holder: Holder):
    """Everyone for an everywhere holder; else accounts of a role the holder could assign, in
    their scope (a manager: the surveyors of their area and below)."""
    query = User.select().order_by(User.username)
    if not can(holder, "users.manage"):
        return query.where(User.id.is_null())
    scope = area_scope(holder)
    if scope is None:
        return query
    return query.where(User.role.in_(list(roles_assignable(holder))) & User.area.in_(scope))


def get_user_or_404(holder: Holder, user_id: int) -> User:
    return _one_or_404(manageable_users(holder).where(User.id == user_id))


def links_for(holder: Holder):
    """QR links the holder may see and manage: those of the areas in their scope."""
    return _in_scope(holder, Link.select(), Link.area, "links.manage")


def get_link_or_404(holder: Holder, link_id: int) -> Link:
    return _one_or_404(links_for(holder).where(Link.id == link_id))


def households_for(holder: Holder, form_id: str | None = None):
    """Households of the areas in the holder's scope, for the office's ledger or the phone's
    visit list (`households.view` or `households.visit`)."""
    query = Household.select()
    if form_id is not None:
        query = query.where(Household.form_id == form_id)
    return _in_scope(holder, query, Household.area, "households.view", "households.visit")


def get_household_or_404(holder: Holder, code: str) -> Household:
    """A household by its code (a merged one's leads to where it went), in scope, or 404."""
    from service.records import ledger
    found = ledger.find(code)
    if found is None or not households_for(holder).where(Household.id == found.id).exists():
        abort(404)
    return found


def follow_ups_for(holder: Holder):
    """Follow-ups of the areas in the holder's scope (`follow_ups.view`); those of no area are
    the everywhere holders' only."""
    return _in_scope(holder, FollowUp.select(), FollowUp.area, "follow_ups.view")


def get_follow_up_or_404(holder: Holder, follow_up_id: int, action: str = "follow_ups.view"):
    found = _one_or_404(follow_ups_for(holder).where(FollowUp.id == follow_up_id))
    if not can(holder, action, found):
        abort(404)
    return found


def covers(holder: Holder | None, r: SurveyRound) -> bool:
    """Whether round `r` is over an area strictly above the holder's own: an office above runs
    it, and it reaches into the holder's scope without being theirs."""
    root = scope_root(holder)
    if root is EVERYWHERE or root is None:
        return False
    return root.path != r.area.path and root.path.startswith(r.area.path)


def round_part(holder: Holder | None, r: SurveyRound) -> Area | None:
    """Where the holder's share of round `r` starts: the round's own area when it lies in their
    scope (the whole round), their own area when the round covers it (their part: its figures,
    not-yet lists and assignments stop there), or None (not theirs at all)."""
    if "rounds.view" not in capabilities_of(holder):
        return None
    if sees_area(holder, r.area):
        return r.area
    return holder.area if covers(holder, r) else None


def rounds_for(holder: Holder):
    """Survey rounds the holder may view (`rounds.view`): those whose area lies in their scope,
    and those over an area above their own, of which they see their part (`round_part`)."""
    query = SurveyRound.select()
    if "rounds.view" not in capabilities_of(holder):
        return query.where(SurveyRound.id.is_null())
    scope = area_scope(holder)
    if scope is None:
        return query
    root = scope_root(holder)
    above = [int(i) for i in root.path.strip("/").split("/") if i][:-1] if root else []
    inside = SurveyRound.area.in_(scope)
    return query.where(inside | SurveyRound.area.in_(above) if above else inside)


def get_round_or_404(holder: Holder, round_id: int, action: str = "rounds.view") -> SurveyRound:
    """A round the holder may view and also do `action` to (rounds.manage: only a round whose area
    lies in their scope), or 404."""
    found = _one_or_404(rounds_for(holder).where(SurveyRound.id == round_id))
    if not can(holder, action, found):
        abort(404)
    return found

"""Who may see what: the one place that scopes areas, submissions and users to a signed-in user.

- admin: everything, all areas (and submissions with no area);
- manager: their area and everything below it;
- surveyor: their own submissions of the last SURVEYOR_DAYS days.
Views never filter on their own: they ask here, and get 404 for anything out of scope.
"""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app

from service.storage.models import Area, Link, Submission, User, utcnow


def area_ids_under(area: Area):
    """A subquery of the ids of `area` and all its descendants."""
    return Area.select(Area.id).where(Area.path.startswith(area.path))


def visible_areas(user: User):
    query = Area.select().order_by(Area.path)
    if user.role == "admin":
        return query
    if user.area is None:
        return query.where(Area.id.is_null())
    return query.where(Area.path.startswith(user.area.path))


def can_see_area(user: User, area: Area) -> bool:
    if user.role == "admin":
        return True
    return user.area is not None and area.path.startswith(user.area.path)


def get_area_or_404(user: User, code: str) -> Area:
    area = Area.get_or_none(Area.code == code)
    if area is None or not can_see_area(user, area):
        abort(404)
    return area


def submissions_for(user: User, form_id: str | None = None):
    """Submissions the user may see (every status), newest first."""
    query = Submission.select()
    if form_id is not None:
        query = query.where(Submission.form_id == form_id)
    if user.role == "manager":
        if user.area is None:
            return query.where(Submission.id.is_null())
        query = query.where(Submission.area.in_(area_ids_under(user.area)))
    elif user.role == "surveyor":
        days = current_app.config.get("SURVEYOR_DAYS", 3)
        query = query.where((Submission.surveyor == user) &
                            (Submission.received_at >= utcnow() - dt.timedelta(days=days)))
    elif user.role != "admin":
        return query.where(Submission.id.is_null())
    return query.order_by(Submission.received_at.desc(), Submission.id.desc())


def get_submission_or_404(user: User, submission_id: int) -> Submission:
    found = submissions_for(user).where(Submission.id == submission_id).first()
    if found is None:
        abort(404)
    return found


def manageable_users(user: User):
    """Admins manage everyone; managers the surveyors of their area and below."""
    query = User.select().order_by(User.username)
    if user.role == "admin":
        return query
    if user.role == "manager" and user.area is not None:
        return query.where((User.role == "surveyor") &
                           User.area.in_(area_ids_under(user.area)))
    return query.where(User.id.is_null())


def get_user_or_404(user: User, user_id: int) -> User:
    found = manageable_users(user).where(User.id == user_id).first()
    if found is None:
        abort(404)
    return found


def can_reveal(user: User) -> bool:
    """Who may unmask pii values (each reveal is audit-logged)."""
    return user.role in ("admin", "manager")


def can_change_status(user: User) -> bool:
    return user.role in ("admin", "manager")


def roles_assignable(user: User) -> tuple[str, ...]:
    return ("admin", "manager", "surveyor") if user.role == "admin" else ("surveyor",)


def links_for(user: User):
    """QR links the user may see and manage: admins all, managers those of their area and below."""
    query = Link.select()
    if user.role == "admin":
        return query
    if user.role == "manager" and user.area is not None:
        return query.where(Link.area.in_(area_ids_under(user.area)))
    return query.where(Link.id.is_null())


def get_link_or_404(user: User, link_id: int) -> Link:
    found = links_for(user).where(Link.id == link_id).first()
    if found is None:
        abort(404)
    return found

"""Browsing the audit log (admins only)."""
from __future__ import annotations

import datetime as dt

from flask import render_template, request

from service.office import clock, policy
from service.storage.models import AuditEvent
from service.admin import bp
from service.office.clock import day_start_utc, local_time

PAGE_SIZE = 50


@bp.get("/audit")
@policy.requires("audit.view")
def audit_page():
    query = AuditEvent.select().order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    action = request.args.get("action", "").strip()
    who = request.args.get("user", "").strip()
    if action:
        query = query.where(AuditEvent.action == action)
    if who:
        query = query.where(AuditEvent.username == who)
    for name, op in (("since", "ge"), ("until", "lt")):
        day = clock.read_day(request.args.get(name))
        if day is None:
            continue
        if op == "ge":
            query = query.where(AuditEvent.at >= day_start_utc(day))
        else:
            query = query.where(AuditEvent.at < day_start_utc(day + dt.timedelta(days=1)))
    page = min(max(1, request.args.get("page", 1, type=int)), 10**6)   # an offset SQL can count
    total = query.count()
    actions = [a for (a,) in AuditEvent.select(AuditEvent.action).distinct().order_by(
        AuditEvent.action).tuples()]
    return render_template("admin/audit.html", events=list(query.paginate(page, PAGE_SIZE)),
                           total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)),
                           actions=actions, local_time=local_time)

"""The append-only audit log: one call per event, from the views that do the thing."""
from __future__ import annotations

import json

from flask import has_request_context

from service.office.auth import client_ip, current_user
from service.storage.models import AuditEvent, User


def record(action: str, target: str = "", user: User | None = None, username: str = "",
           resident: bool = False, **detail) -> AuditEvent:
    """Write one event. `user` defaults to whoever is signed in; CLI events pass their own; a
    household's own through /my (`resident`) has no office user, whoever is signed in."""
    if user is None and has_request_context() and not resident:
        user = current_user()
    return AuditEvent.create(
        user=user, username=username or (user.username if user else ""),
        ip=client_ip() if has_request_context() else "cli", action=action, target=target,
        detail=json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True))

"""The office side (/admin): sign-in, responses, corrections, people and areas, the audit log."""
from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from service.admin import audit_log, dashboard, exports, links, people, responses, sessions  # noqa: E402,F401
from service.admin import households, households_actions  # noqa: E402,F401
from service.admin import households_data  # noqa: E402,F401
from service.admin import households_stickers  # noqa: E402,F401
from service.admin import rounds, rounds_actions  # noqa: E402,F401
from service.admin import form_files, form_publishing, round_report  # noqa: E402,F401
from service.admin import follow_ups, follow_ups_actions  # noqa: E402,F401
from service.admin import follow_ups_applications, follow_ups_holidays  # noqa: E402,F401
from service.admin import follow_ups_rosters  # noqa: E402,F401
from service.admin import tokens  # noqa: E402,F401

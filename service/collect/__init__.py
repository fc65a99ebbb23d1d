"""The public side: the list of forms, a form page, submission and the thank-you page."""
from flask import Blueprint

bp = Blueprint("collect", __name__)

from service.collect import offline, routes, visit  # noqa: E402,F401  (routes attach themselves to bp)
from service.collect import my  # noqa: E402  (/my: a household's own submission)

bp.register_blueprint(my.bp)

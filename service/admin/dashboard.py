"""The dashboard of one form (/admin/forms/<form_id>) and the filters it shares with exports."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, render_template, request

from service.office import auth, clock, policy
from service.reports import aggregate, charts, dashboard_figures
from service.storage.models import User
from service.admin import bp
from service.records.vocabulary import CHANNELS


def spec_or_404(form_id):
    spec = current_app.extensions["doorstep.catalog"].get(form_id)
    if spec is None:
        abort(404)
    return spec


def _date(name, end=False):
    """A day (YYYY-MM-DD), or a month (YYYY-MM: its first day, or its last with `end`).

    The dashboard offers months, as offices report by month and the tally keeps answers per
    month; a day range that cuts a month still works, counted from the raw answers.
    """
    text = request.args.get(name, "").strip()
    if (day := clock.read_day(text)) is not None:
        return day
    try:
        first = clock.read_day(dt.datetime.strptime(text, "%Y-%m").date().isoformat())
    except ValueError:
        return None
    if first is None:
        return None
    if not end:
        return first
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def parse_filters(user: User, spec) -> aggregate.Filters:
    """The dashboard/export filters from the query string; anything out of scope is a 404."""
    args = request.args
    f = aggregate.Filters(since=_date("since"), until=_date("until", end=True))
    if args.get("area"):
        f.area = policy.get_area_or_404(user, args["area"].strip())
    if args.get("channel") in CHANNELS:
        f.channel = args["channel"]
    if args.get("surveyor"):
        found = User.get_or_none(User.username == args["surveyor"].strip())
        if found is None or not policy.sees_area(user, found.area):
            abort(404)
        f.surveyor = found
    version = args.get("version", type=int)
    if version:
        f.version = version
    q = spec.question(args.get("q", ""))
    if q is not None and q.choices and args.get("v") in {c.value for c in q.choices}:
        f.answer = (q.name, args["v"])
    return f


@bp.get("/forms/<form_id>")
@policy.requires("dashboard.view")
def dashboard(form_id):
    user = auth.current_user()
    spec = spec_or_404(form_id)
    filters = parse_filters(user, spec)
    # the same figures as the JSON API's (reports/dashboard_figures.py)
    figures = dashboard_figures.compute(spec, user, filters, request.args.get("view", "visits"))
    board, texts, view = figures.board, figures.texts, figures.view
    filter_questions = [q for q in spec.all_questions() if q.qtype.filterable]
    return render_template(
        "admin/dashboard.html", spec=spec, board=board, filters=filters, args=filters.as_args(),
        texts=texts, charts=charts, channels=CHANNELS, areas=list(policy.visible_areas(user)),
        filter_questions=filter_questions, view=view,
        surveyors=list(policy.manageable_users(user).where(User.role == "surveyor")))

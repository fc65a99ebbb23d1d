"""A form's dashboard figures for one holder and filter: what the dashboard page shows and what
the JSON API returns, computed once here so both give the same numbers.

`compute` picks the visits view (aggregate.build, the tally or the raw answers) or a ledger
form's households as they stand now (household_stats.build), stops raw counting after
DASHBOARD_SECONDS (None then: the caller says the filter is too fine), and masks the latest text
answers of `pii` questions. `as_json` is the same figures as plain data: codes, not labels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from service.formspec import FormSpec
from service.office.masking import mask
from service.reports import aggregate, household_stats
from service.reports.question_stats import QuestionStats
from service.storage.db import TimeLimitExceeded, time_limit

VIEWS = ("visits", "households")


@dataclass
class Figures:
    view: str                                  # visits | households (a ledger form's)
    board: aggregate.Dashboard | None          # None: counting took over DASHBOARD_SECONDS
    texts: dict = field(default_factory=dict)  # question → latest answers (masked when pii)


def compute(spec: FormSpec, holder, filters: aggregate.Filters, view: str = "visits") -> Figures:
    view = "households" if spec.ledger and view == "households" else "visits"
    try:
        # finer filters count raw answers, which can take minutes at a million submissions:
        # stop and say so rather than outlive the worker's timeout
        with time_limit(current_app.config["DASHBOARD_SECONDS"]):
            if view == "households":
                board, texts = household_stats.build(spec, holder, filters), {}
            else:
                board = aggregate.build(spec, holder, filters)
                texts = aggregate.latest_texts(spec, holder, filters)
    except TimeLimitExceeded:
        return Figures(view, None)
    for q in spec.all_questions():
        if q.pii and q.name in texts:
            texts[q.name] = [mask(q, v) for v in texts[q.name]]
    return Figures(view, board, texts)


def as_json(spec: FormSpec, figures: Figures, filters: aggregate.Filters) -> dict:
    board = figures.board
    return {
        "form": spec.id, "view": figures.view, "filters": filters.as_args(),
        "total": board.total, "raw": board.raw,
        "by_area": [{"area": a.code if a is not None else None,
                     "name": a.name if a is not None else None, "count": n,
                     "has_children": deeper} for a, n, deeper in board.by_area],
        "by_day": [{"day": day, "count": n} for day, n in board.by_day],
        "by_channel": [{"channel": c, "count": n} for c, n in board.by_channel],
        "by_surveyor": [{"surveyor": u.username if u is not None else None, "count": n}
                        for u, n in board.by_surveyor],
        "questions": [_question(s, figures.texts) for s in board.questions],
    }


def _question(s: QuestionStats, texts: dict) -> dict:
    out = {"name": s.q.name, "type": s.q.type, "kind": s.kind, "base": s.base,
           "answered": s.answered, "no_answer": s.no_answer}
    if s.choices:
        out["choices"] = [{"value": c.value, "count": n, "percent": p} for c, n, p in s.choices]
    if s.numbers is not None:
        out["numbers"] = s.numbers
    if s.histogram:
        out["histogram"] = [{"label": label, "count": n} for label, n in s.histogram]
    if s.months:
        out["months"] = [{"month": m, "count": n} for m, n in s.months]
    if s.hours:
        out["hours"] = [{"hour": h, "count": n} for h, n in s.hours]
    if s.q.name in texts:
        out["latest"] = texts[s.q.name]
    if s.q.is_group:
        out["items"] = s.items
        out["sizes"] = [{"items": k, "count": n} for k, n in s.sizes]
        out["children"] = [_question(c, texts) for c in s.children]
    return out

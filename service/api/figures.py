"""A form's dashboard figures over the API (`GET /api/v1/forms/<id>/figures`): the numbers the
dashboard page shows for the same filters, from the same code (the page's own `parse_filters`,
reports/dashboard_figures.compute), as data: codes, not labels.

Figures hold no identifying answer (the latest text answers of a `pii` question are masked as
on the page), so nothing here is audited. A filter too fine to count within DASHBOARD_SECONDS is
a 422 problem that says to narrow it, where the page says the same in words.
"""
from __future__ import annotations

from typing import Literal

from flask import current_app
from flask_babel import gettext as _
from pydantic import BaseModel, Field

from service.admin.dashboard import parse_filters
from service.api import auth, bp, ok, operation, problems, query
from service.api.problems import Problem
from service.api.responses import text
from service.records.vocabulary import CHANNELS
from service.reports import dashboard_figures

#: A day (YYYY-MM-DD) or a month (YYYY-MM), of the years an office's data can hold
DAY_OR_MONTH = r"^(19|20)\d\d-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$"


class FiguresQuery(BaseModel):
    area: str | None = text("An area's code: it and below")
    since: str | None = Field(None, pattern=DAY_OR_MONTH,
                              description="From this office-local day (YYYY-MM-DD) or month "
                                          "(YYYY-MM: its first day)")
    until: str | None = Field(None, pattern=DAY_OR_MONTH,
                              description="To this day, or month (its last day), included")
    channel: Literal[CHANNELS] | None = None
    surveyor: str | None = text("A surveyor's username")
    version: int | None = Field(None, ge=1, le=1_000_000, description="The form version answered")
    q: str | None = text("With `v`: only responses whose answer to question `q` is the choice "
                         "`v`")
    v: str | None = text("A choice's code", max_length=200)
    view: Literal[dashboard_figures.VIEWS] = Field(
        "visits", description="visits (every response); households: a ledger form's households "
                              "as they stand now")


class AreaCount(BaseModel):
    area: str | None = Field(description="An area one level down (its whole subtree), or the "
                                         "area asked for itself (those not below it); null: "
                                         "responses with no area")
    name: str | None
    count: int
    has_children: bool = Field(description="Ask again with `area` for its parts")


class DayCount(BaseModel):
    day: str
    count: int


class ChannelCount(BaseModel):
    channel: str
    count: int


class SurveyorCount(BaseModel):
    surveyor: str | None = Field(description="The username; null: no surveyor")
    count: int


class ChoiceCount(BaseModel):
    value: str
    count: int
    percent: float = Field(description="Of `base`")


class Numbers(BaseModel):
    count: int
    mean: float
    median: float
    min: float
    max: float


class LabelCount(BaseModel):
    label: str
    count: int


class MonthCount(BaseModel):
    month: str
    count: int


class HourCount(BaseModel):
    hour: str
    count: int


class SizeCount(BaseModel):
    items: int = Field(description="Items in a response's repeat group")
    count: int = Field(description="Responses with that many")


class QuestionFigures(BaseModel):
    name: str
    type: str
    kind: str = Field(description="The statistics its type shows: choices, numbers, months, "
                                  "hours, texts")
    base: int = Field(description="Responses (or repeat items) the figures are out of")
    answered: int
    no_answer: int
    choices: list[ChoiceCount] | None = None
    numbers: Numbers | None = None
    histogram: list[LabelCount] | None = None
    months: list[MonthCount] | None = None
    hours: list[HourCount] | None = None
    latest: list[str] | None = Field(None, description="The latest text answers (masked when "
                                                       "identifying)")
    items: int | None = Field(None, description="A repeat group's items in all")
    sizes: list[SizeCount] | None = None
    children: list["QuestionFigures"] | None = None


class FormFigures(BaseModel):
    form: str
    view: Literal[dashboard_figures.VIEWS]
    filters: dict[str, str] = Field(description="The filters applied")
    total: int = Field(description="Valid responses (households, in the households view)")
    raw: bool = Field(description="Counted answer by answer (filters finer than the monthly "
                                  "totals): the same figures, slower")
    by_area: list[AreaCount]
    by_day: list[DayCount]
    by_channel: list[ChannelCount]
    by_surveyor: list[SurveyorCount]
    questions: list[QuestionFigures]


@bp.get("/forms/<form_id>/figures")
@operation("dashboard.view", resp=ok(FormFigures, HTTP_422=Problem), tags=["figures"],
           query=FiguresQuery)
def get_form_figures(form_id):
    """The dashboard's figures for the form and filters, within the token's areas."""
    holder = auth.holder()
    spec = current_app.extensions["doorstep.catalog"].get(form_id)
    if spec is None:
        problems.abort(404)
    filters = parse_filters(holder, spec)      # the page's own reading of the same parameters
    figures = dashboard_figures.compute(spec, holder, filters, query().view)
    if figures.board is None:
        problems.abort(422, _("Counting these filters answer by answer takes too long for this "
                              "many responses. Choose whole months, an area or fewer filters."),
                       type="figures-too-slow")
    return FormFigures.model_validate(dashboard_figures.as_json(spec, figures, filters))

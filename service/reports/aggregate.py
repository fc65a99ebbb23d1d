"""The dashboard's figures: totals per area, day, channel and surveyor, and per-question breakdowns.

Counts come from `Tally` (pre-aggregated, see tally.py), so a million submissions cost a sum over a
few hundred thousand small rows instead of a scan of tens of millions of answers. Filtering by one
question's answer cannot be pre-aggregated; that case counts the raw rows (`RawSource`), slower but
with the same results, because both sources feed the same code below.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass

from peewee import fn

from service.office import policy
from service.formspec.model import FormSpec
from service.storage.models import SHORT_ANSWER, Answer, Area, Submission, Tally, User
from service.reports.question_stats import QuestionStats, question_stats  # noqa: F401 (tests)


@dataclass
class Filters:
    area: Area | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    channel: str | None = None
    surveyor: User | None = None
    version: int | None = None
    answer: tuple[str, str] | None = None     # (question, value): only submissions with it

    def as_args(self) -> dict:
        """The filters as query parameters (for links and for the export URLs)."""
        args = {}
        if self.area is not None:
            args["area"] = self.area.code
        if self.since:
            args["since"] = self.since.isoformat()
        if self.until:
            args["until"] = self.until.isoformat()
        if self.channel:
            args["channel"] = self.channel
        if self.surveyor is not None:
            args["surveyor"] = self.surveyor.username
        if self.version:
            args["version"] = str(self.version)
        if self.answer:
            args["q"], args["v"] = self.answer
        return args


def _area_scope(user: User, filters: Filters):
    """Area ids to restrict to, or None for no restriction (everywhere, without an area filter):
    the policy's scope, so a manager without an area counts nothing."""
    return policy.area_scope(user, filters.area)


def answers_tallied(filters: Filters) -> bool:
    """Whether answer counts can come from the tally, which keeps them per month, area and
    channel only."""
    if filters.answer or filters.surveyor is not None:
        return False
    if filters.since and filters.since.day != 1:
        return False
    return not (filters.until and (filters.until + dt.timedelta(days=1)).day != 1)


class TallySource:
    """Figures from the pre-aggregated counts (answers only when `answers_tallied`)."""

    def __init__(self, spec: FormSpec, user: User, filters: Filters):
        cond = Tally.form_id == spec.id
        areas = _area_scope(user, filters)
        if areas is not None:
            cond &= Tally.area_id.in_(areas)
        if filters.version:
            cond &= Tally.form_version == filters.version
        months = cond     # answer rows: `day` holds the month, YYYY-MM
        if filters.since:
            cond &= Tally.day >= filters.since.isoformat()
            months &= Tally.day >= filters.since.isoformat()[:7]
        if filters.until:
            cond &= Tally.day <= filters.until.isoformat()
            months &= Tally.day <= filters.until.isoformat()[:7]
        if filters.channel:
            cond &= Tally.channel == filters.channel
            months &= Tally.channel == filters.channel
        if filters.surveyor is not None:
            cond &= Tally.surveyor_id == filters.surveyor.id
        self.cond, self.month_cond = cond, months

    def by(self, dim: str) -> Counter:
        column = getattr(Tally, dim)
        rows = (Tally.select(column, fn.SUM(Tally.n))
                .where(self.cond & (Tally.question == "")).group_by(column).tuples())
        return Counter({key: int(n) for key, n in rows if n})

    def values(self) -> Counter:
        rows = (Tally.select(Tally.question, Tally.value, fn.SUM(Tally.n))
                .where(self.month_cond & (Tally.question != ""))
                .group_by(Tally.question, Tally.value).tuples())
        return Counter({(q, v): int(n) for q, v, n in rows if n})


def submission_condition(spec: FormSpec, user: User, filters: Filters, statuses=("valid",)):
    """The WHERE clause on Submission for a user's scope and the filters (exports use it too)."""
    cond = (Submission.form_id == spec.id) & Submission.erased_at.is_null()   # (erasure.py)
    if statuses:
        cond &= Submission.status.in_(list(statuses))
    areas = _area_scope(user, filters)
    if areas is not None:
        cond &= Submission.area.in_(areas)
    if filters.since:
        cond &= Submission.day >= filters.since.isoformat()
    if filters.until:
        cond &= Submission.day <= filters.until.isoformat()
    if filters.channel:
        cond &= Submission.channel == filters.channel
    if filters.surveyor is not None:
        cond &= Submission.surveyor == filters.surveyor
    if filters.version:
        cond &= Submission.form_version == filters.version
    if filters.answer:
        question, value = filters.answer
        cond &= Submission.id.in_(Answer.select(Answer.submission).where(
            (Answer.form_id == spec.id) & (Answer.question == question) &
            (Answer.value == value) & SHORT_ANSWER))      # the value index's own condition
    return cond


class RawSource:
    """Figures counted from submissions and answers (used when filtering by an answer)."""

    DIMS = {"area_id": Submission.area, "day": Submission.day, "channel": Submission.channel,
            "surveyor_id": Submission.surveyor}

    def __init__(self, spec: FormSpec, user: User, filters: Filters):
        self.spec = spec
        self.ids = Submission.select(Submission.id).where(submission_condition(spec, user, filters))

    def by(self, dim: str) -> Counter:
        column = self.DIMS[dim]
        rows = (Submission.select(column, fn.COUNT(Submission.id))
                .where(Submission.id.in_(self.ids)).group_by(column).tuples())
        return Counter({(key or 0) if dim in ("area_id", "surveyor_id") else key: n
                        for key, n in rows})

    def values(self) -> Counter:
        spec = self.spec
        counts: Counter = Counter()
        in_scope = Answer.submission.in_(self.ids)
        asked = [q for q in spec.all_questions() if q.answerable and not q.is_group]
        # a `pii` answer is sealed (a value per row): counted only as answered, like free text
        valued = [q.name for q in asked if not (q.qtype.text_like or q.pii)]
        several = [q.name for q in asked if q.qtype.multiple]
        text = [q.name for q in asked if (q.qtype.text_like or q.pii) and not q.qtype.multiple]
        if valued:
            rows = (Answer.select(Answer.question, Answer.value, fn.COUNT(Answer.id))
                    .where(in_scope & Answer.question.in_(valued))
                    .group_by(Answer.question, Answer.value).tuples())
            counts.update({(q, v): n for q, v, n in rows})
        # "answered": submissions (top level) or items (inside repeats) with an answer. Every
        # answer is one row, so a count of rows, except a select_multiple's (a row per choice):
        # distinct submission and item. (Each pass over the rows costs seconds at a million.)
        single = set(valued) - set(several)
        for (q, _v), n in list(counts.items()):
            if q in single:
                counts[(q, "")] += n
        if text:
            rows = (Answer.select(Answer.question, fn.COUNT(Answer.id))
                    .where(in_scope & Answer.question.in_(text)).group_by(Answer.question).tuples())
            counts.update({(q, ""): n for q, n in rows})
        if several:
            # (64-bit: ids past 21,474 would overflow PostgreSQL's integer)
            unit = Answer.submission.cast("BIGINT") * 100000 + fn.COALESCE(Answer.item, 0)
            rows = (Answer.select(Answer.question, fn.COUNT(unit.distinct()))
                    .where(in_scope & Answer.question.in_(several))
                    .group_by(Answer.question).tuples())
            counts.update({(q, ""): n for q, n in rows})
        for group in (q for q in spec.questions() if q.is_group):
            children = [c.name for c in group.questions]
            per_sub = (Answer.select(Answer.submission, fn.COUNT(Answer.item.distinct()).alias("k"))
                       .where(in_scope & Answer.question.in_(children))
                       .group_by(Answer.submission))
            rows = (Answer.select(per_sub.c.k, fn.COUNT(per_sub.c.submission_id))
                    .from_(per_sub).group_by(per_sub.c.k).tuples())
            for k, n in rows:
                counts[(group.name, str(k))] += n
                counts[(group.name, "")] += n
        return counts


@dataclass
class Dashboard:
    total: int
    by_area: list            # (area or None, count, has_children)
    by_day: list             # (YYYY-MM-DD, count)
    by_channel: list         # (channel, count)
    by_surveyor: list        # (user or None, count)
    questions: list          # QuestionStats in form order
    raw: bool                # counted from raw rows (answer filter) rather than tallies


def build(spec: FormSpec, user: User, filters: Filters) -> Dashboard:
    source = RawSource(spec, user, filters) if filters.answer else TallySource(spec, user, filters)
    per_area = source.by("area_id")
    total = sum(per_area.values())
    per_day = source.by("day")
    answers = source if answers_tallied(filters) else RawSource(spec, user, filters)
    counts = answers.values()

    return Dashboard(
        total=total, by_area=areas_below(user, filters, per_area), by_day=_days(per_day, filters),
        by_channel=sorted(source.by("channel").items(), key=lambda kv: -kv[1]),
        by_surveyor=_surveyors(source.by("surveyor_id")),
        questions=questions_of(spec, counts, total), raw=not answers_tallied(filters))


def questions_of(spec: FormSpec, counts: Counter, total: int) -> list:
    """Each answerable question's statistics from (question, value) counts (tally keys) out of
    `total` submissions (or households); a repeat group's children out of its items."""
    questions = []
    for q in spec.questions():
        if not q.answerable:
            continue
        if q.is_group:
            stats = QuestionStats(q=q, base=total, answered=counts.get((q.name, ""), 0))
            sizes = sorted(((int(v), n) for (name, v), n in counts.items()
                            if name == q.name and v), key=lambda kv: kv[0])
            stats.sizes = sizes
            stats.items = sum(k * n for k, n in sizes)
            stats.children = [question_stats(c, counts, stats.items)
                              for c in q.questions if c.answerable]
            questions.append(stats)
        else:
            questions.append(question_stats(q, counts, total))
    return questions


def areas_below(user, filters, per_area: Counter) -> list:
    """Counts rolled up to the children of the current area (drill-down one level at a time)."""
    root = policy.scope_root(user)
    if root is None:
        return []           # no area in scope: not even the tree's top is shown
    anchor = filters.area or (None if root is policy.EVERYWHERE else root)
    if anchor is None:
        children = list(Area.select().where(Area.parent.is_null()).order_by(Area.code))
    else:
        children = list(Area.select().where(Area.parent == anchor).order_by(Area.code))
    if not children:
        return [(anchor, sum(per_area.values()), False)] if anchor is not None else \
            [(None, per_area.get(0, 0), False)]
    paths = {a.id: a.path for a in Area.select(Area.id, Area.path).where(
        Area.id.in_([k for k in per_area if k]))} if per_area else {}
    has_children = {a.parent_id for a in Area.select(Area.parent).where(
        Area.parent.in_([c.id for c in children]))}
    rolled: Counter = Counter()
    for area_id, n in per_area.items():
        path = paths.get(area_id, "")
        for child in children:
            if path.startswith(child.path):
                rolled[child.id] += n
                break
        else:
            rolled[None] += n    # the anchor itself, or no area
    out = [(c, rolled.get(c.id, 0), c.id in has_children) for c in children]
    if rolled.get(None):
        out.append((anchor, rolled[None], False))
    return out


def _days(per_day: Counter, filters: Filters) -> list:
    days = [d for d in per_day if d]
    if not days and not (filters.since and filters.until):
        return []
    first = filters.since or dt.date.fromisoformat(min(days))
    last = filters.until or dt.date.fromisoformat(max(days))
    if (last - first).days > 366:        # keep the chart readable: the latest year
        first = last - dt.timedelta(days=366)
    out, day = [], first
    while day <= last:
        out.append((day.isoformat(), per_day.get(day.isoformat(), 0)))
        day += dt.timedelta(days=1)
    return out


def _surveyors(per_surveyor: Counter) -> list:
    users = {u.id: u for u in User.select().where(User.id.in_([k for k in per_surveyor if k]))}
    rows = [(users.get(k), n) for k, n in per_surveyor.items()]
    return sorted(rows, key=lambda row: -row[1])


def latest_texts(spec: FormSpec, user: User, filters: Filters, per_question: int = 5) -> dict:
    """The latest few answers of each text-like question, from the newest matching submissions."""
    names = [q.name for q in spec.all_questions() if q.qtype.text_like]
    if not names:
        return {}
    newest = [sid for (sid,) in RawSource(spec, user, filters).ids
              .order_by(Submission.id.desc()).limit(200).tuples()]
    if not newest:
        return {}
    out: dict = defaultdict(list)
    rows = (Answer.select(Answer.question, Answer.value)
            .where(Answer.submission.in_(newest) & Answer.question.in_(names))
            .order_by(Answer.submission.desc(), Answer.id).tuples())
    for name, value in rows:
        if len(out[name]) < per_question:
            out[name].append(value)
    return dict(out)

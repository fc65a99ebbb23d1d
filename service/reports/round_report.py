"""A round's report upwards (信息报告): the ledger's key figures at the end of the round per area,
beside the previous round's, with the change.

What it counts: the round's target (its members that have not left), by their current answers to
the report's questions (`SurveyRound.report_questions`, or else the form's `report: true` ones).
For a choice, the households choosing each value, as a percentage of the households that answered
the question (a multiple choice adds up past 100; those not answering are a line of their own); for
a number, the households answering, the total and the mean. The counts read only `HouseholdAnswer`
(which holds no pii question) and area names and paths: the report holds figures, never a name, a
phone, an ID number or an address, by construction.

An open round's report is counted when it is asked for. Closing the round freezes the counts, the
questions as they were labelled and the previous round's figures (`figures_json`, stored by
coverage.freeze), and a closed round's report is read from that alone: later visits, corrections
or form changes never move what was reported. The previous round is the latest closed round of the
same form and area that ended before this one started (failing that, before it ended).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable

from peewee import fn

from service.formspec.model import FormSpec, Question, Text
from service.office import clock
from service.reports.coverage import AreaInfo, Figures
from service.storage.models import Area, HouseholdAnswer, RoundHousehold, SurveyRound

#: The frozen report's layout, should a later release read it differently.
FORMAT = 1


# --- which questions --------------------------------------------------------------------------

def questions_of(r: SurveyRound, spec: FormSpec | None) -> list[Question]:
    """The report's questions, in form order: the round's own choice, or the form's
    `report: true` ones; only ever among the questions a report may count."""
    candidates = spec.report_candidates() if spec is not None else []
    if r.report_questions is None:
        return [q for q in candidates if q.report]
    names = set(json.loads(r.report_questions))
    return [q for q in candidates if q.name in names]


def kept_choice(spec: FormSpec, names) -> str | None:
    """What `SurveyRound.report_questions` keeps for the chosen `names`: None when they are the
    form's own (later form changes then apply), else their JSON list. ValueError for none or a
    name the report may not count."""
    candidates = [q.name for q in spec.report_candidates()]
    if not names or set(names) - set(candidates):
        raise ValueError("questions")
    chosen = [name for name in candidates if name in set(names)]
    if chosen == [q.name for q in spec.report_candidates() if q.report]:
        return None
    return json.dumps(chosen)


def describe(questions: list[Question]) -> list[dict]:
    """The questions as the report keeps them: name, kind (choices or numbers), labels."""
    return [{"name": q.name, "kind": q.qtype.stats, "label": q.label.as_dict(),
             "choices": [[c.value, c.label.as_dict()] for c in q.choices]} for q in questions]


def label_of(question: dict, lang: str) -> str:
    """A kept question's label in `lang`."""
    return Text(**question["label"]).get(lang)


# --- counting ---------------------------------------------------------------------------------

@dataclass
class Part:
    """The figures of one area (all below it, or itself alone) of one round."""

    target: int
    answered: Counter       # question -> households answering
    values: Counter         # (question, value) -> households (choices)
    sums: Counter           # question -> total of the answers (numbers)


@dataclass
class Counts:
    """One round's counts by the area each member belongs to (0: none), with those areas' paths
    ("/1/4/9/"), so any part of the tree adds them up."""

    target: Counter
    answered: Counter       # (area, question)
    values: Counter         # (area, question, value)
    sums: Counter           # (area, question)
    paths: dict

    def part(self, inside: Callable[[int], bool]) -> Part:
        return Part(sum(n for a, n in self.target.items() if inside(a)),
                    _add((q, n) for (a, q), n in self.answered.items() if inside(a)),
                    _add(((q, v), n) for (a, q, v), n in self.values.items() if inside(a)),
                    _add((q, n) for (a, q), n in self.sums.items() if inside(a)))

    def under(self, area_id: int) -> Callable[[int], bool]:
        """Whether a member's area is `area_id` or lies below it."""
        return lambda a: f"/{area_id}/" in self.paths.get(a, "")

    def as_json(self) -> dict:
        return {"target": [[a, n] for a, n in sorted(self.target.items())],
                "answered": [[*k, n] for k, n in sorted(self.answered.items())],
                "values": [[*k, n] for k, n in sorted(self.values.items())],
                "sums": [[*k, n] for k, n in sorted(self.sums.items())],
                "paths": {str(a): p for a, p in sorted(self.paths.items())}}

    @classmethod
    def from_json(cls, kept: dict) -> Counts:
        return cls(Counter({a: n for a, n in kept["target"]}),
                   Counter({(a, q): n for a, q, n in kept["answered"]}),
                   Counter({(a, q, v): n for a, q, v, n in kept["values"]}),
                   Counter({(a, q): n for a, q, n in kept["sums"]}),
                   {int(a): p for a, p in kept["paths"].items()})


def _add(pairs) -> Counter:
    out: Counter = Counter()
    for key, n in pairs:
        out[key] += n
    return out


def _plain(number: Decimal):
    """A total as JSON keeps it: a whole number stays whole."""
    return int(number) if number == number.to_integral_value() else float(number)


def count(r: SurveyRound, questions: list[Question]) -> Counts:
    """The round's counts as its members' answers stand now: a few grouped queries over the
    round's members joined to their answer index."""
    members = (RoundHousehold.round == r.id) & (RoundHousehold.state != "left")
    area = fn.COALESCE(RoundHousehold.area, 0)
    target = Counter(dict(RoundHousehold.select(area, fn.COUNT(RoundHousehold.id))
                          .where(members).group_by(area).tuples()))
    kinds = {q.name: q.qtype.stats for q in questions}
    answers = (members & HouseholdAnswer.question.in_(sorted(kinds))) if kinds else None
    answered, values, sums = Counter(), Counter(), Counter()
    if answers is not None:
        join = HouseholdAnswer.household == RoundHousehold.household
        answered.update({(a, q): n for a, q, n in RoundHousehold.select(
            area, HouseholdAnswer.question, fn.COUNT(RoundHousehold.household.distinct()))
            .join(HouseholdAnswer, on=join).where(answers)
            .group_by(area, HouseholdAnswer.question).tuples()})
        totals: dict = {}
        for a, q, value, n in (RoundHousehold.select(
                area, HouseholdAnswer.question, HouseholdAnswer.value, fn.COUNT(RoundHousehold.id))
                .join(HouseholdAnswer, on=join).where(answers)
                .group_by(area, HouseholdAnswer.question, HouseholdAnswer.value).tuples()):
            if kinds[q] == "choices":
                values[(a, q, value)] += n
                continue
            try:
                totals[(a, q)] = totals.get((a, q), Decimal(0)) + Decimal(value) * n
            except InvalidOperation:
                continue                    # not a number (an answer from before a change)
        sums.update({key: _plain(total) for key, total in totals.items()})
    ids = sorted(a for a in target if a)
    paths = dict(Area.select(Area.id, Area.path).where(Area.id.in_(ids)).tuples()) if ids else {}
    return Counts(target, answered, values, sums, paths)


# --- the previous round, and what closing keeps -----------------------------------------------

def previous_of(r: SurveyRound) -> SurveyRound | None:
    """The latest closed round of the same form and area that ended before `r` started, or
    failing that before `r` ended."""
    closed = SurveyRound.select().where(
        (SurveyRound.form_id == r.form_id) & (SurveyRound.area == r.area_id) &
        (SurveyRound.status == "closed") & (SurveyRound.id != r.id))
    latest = (SurveyRound.ends_on.desc(), SurveyRound.id.desc())
    return (closed.where(SurveyRound.ends_on < r.starts_on).order_by(*latest).first() or
            closed.where(SurveyRound.ends_on < r.ends_on).order_by(*latest).first())


def kept_report(r: SurveyRound) -> dict:
    """What closing `r` kept of its report ({} if it closed before reports were kept)."""
    return (json.loads(r.frozen).get("report") or {}) if r.frozen else {}


def figures_json(r: SurveyRound, spec: FormSpec | None = None) -> dict:
    """The report's figures as they stand now: what closing the round freezes."""
    if spec is None:
        from service.records.household_index import spec_for
        spec = spec_for(r.form_id)
    questions = questions_of(r, spec)
    before = previous_of(r)
    previous = None
    if before is not None:
        kept = kept_report(before)
        previous = {"id": before.id, "name": before.name, "starts_on": str(before.starts_on),
                    "ends_on": str(before.ends_on), "counts": kept.get("counts"),
                    "questions": [q["name"] for q in kept.get("questions", [])]}
    return {"format": FORMAT, "made_on": clock.today().isoformat(),
            "questions": describe(questions), "counts": count(r, questions).as_json(),
            "previous": previous}


# --- the report as read -----------------------------------------------------------------------

@dataclass
class Line:
    """One line of a question's table: a choice (`label`) or a summary (`word`: answered,
    no_answer, total, mean, target), this round's figure beside the previous round's."""

    word: str
    label: Text | None
    n: float | int | None
    percent: float | None
    prev_n: float | int | None
    prev_percent: float | None

    @property
    def change(self):
        if self.n is None or self.prev_n is None:
            return None
        return round(self.n - self.prev_n, 2)

    @property
    def change_points(self):
        if self.percent is None or self.prev_percent is None:
            return None
        return round(self.percent - self.prev_percent, 1)


def _percent(n, base) -> float | None:
    return round(100.0 * n / base, 1) if base and n is not None else None


def _mean(total, n):
    return round(total / n, 2) if n else None


@dataclass
class Report:
    """A round's report: frozen if the round is closed, else counted now. `counts` is None for a
    round closed before reports were kept; `previous` None when there is no previous round."""

    round: SurveyRound
    figures: Figures               # the coverage's areas (frozen with a closed round)
    questions: list[dict]
    counts: Counts | None
    previous: dict | None
    previous_counts: Counts | None
    made_on: str

    @classmethod
    def of(cls, r: SurveyRound, spec: FormSpec | None) -> Report:
        kept = kept_report(r) if r.status == "closed" else figures_json(r, spec)
        previous = kept.get("previous")
        kept_before = previous.get("counts") if previous else None
        return cls(r, Figures.of(r), kept.get("questions", []),
                   Counts.from_json(kept["counts"]) if kept.get("counts") else None,
                   previous, Counts.from_json(kept_before) if kept_before else None,
                   kept.get("made_on") or clock.today().isoformat())

    @property
    def live(self) -> bool:
        return self.round.status != "closed"

    def parts(self, parent: AreaInfo) -> list[tuple[str, AreaInfo, Part, Part | None]]:
        """(kind, area, this round's figures, the previous round's) for `parent` as a whole
        ("total"), each area directly below it with households in either round ("area"), and
        the households of `parent` itself when it has areas below as well ("own")."""
        if self.counts is None:
            return []
        whole = parent.id == self.round.area_id     # the round's area: every member
        out = [("total", parent, *self._pair(
            lambda c: (lambda a: True) if whole else c.under(parent.id)))]
        below = [("area", child, *self._pair(lambda c, child=child: c.under(child.id)))
                 for child in self.figures.children(parent)]
        if below:
            below.append(("own", parent, *self._pair(lambda c: (lambda a: a == parent.id))))
        return out + [p for p in below if p[2].target or (p[3] is not None and p[3].target)]

    def _pair(self, inside) -> tuple[Part, Part | None]:
        """This round's and the previous round's figures of the members `inside(counts)` takes
        (each round's areas are placed by its own kept paths)."""
        before = self.previous_counts
        return (self.counts.part(inside(self.counts)),
                before.part(inside(before)) if before is not None else None)

    def lines(self, question: dict, now: Part, before: Part | None) -> list[Line]:
        """The lines of one question for one area: a choice's values, then the households
        answering and not; a number's households answering, total and mean."""
        name = question["name"]
        if before is not None and name not in self.previous.get("questions", []):
            before = None                    # the previous report did not count it
        prior = before or Part(0, Counter(), Counter(), Counter())

        def line(word, label, n, n_before, of=None, of_before=None):
            return Line(word, label, n, _percent(n, of), n_before if before else None,
                        _percent(n_before, of_before) if before else None)
        answered, answered_before = now.answered[name], prior.answered[name]
        summary = [line("answered", None, answered, answered_before, now.target, prior.target)]
        if question["kind"] != "choices":
            return summary + [
                line("total", None, now.sums[name], prior.sums[name]),
                line("mean", None, _mean(now.sums[name], answered),
                     _mean(prior.sums[name], answered_before))]
        labels = {value: Text(**label) for value, label in question["choices"]}
        seen = {v for (q, v) in (*now.values, *prior.values) if q == name} - set(labels)
        return [line("choice", labels.get(value) or Text(value), now.values[(name, value)],
                     prior.values[(name, value)], answered, answered_before)
                for value in [*labels, *sorted(seen)]] + summary + [
            line("no_answer", None, now.target - answered, prior.target - answered_before,
                 now.target, prior.target)]

    def target_line(self, now: Part, before: Part | None) -> Line:
        return Line("target", None, now.target, None,
                    before.target if before is not None else None, None)

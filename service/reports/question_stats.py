"""One question's figures on the dashboard, of the statistics kind its type declares
(service/formspec/types): counts per choice, numbers with a histogram, counts per month or hour,
or only how many answered. aggregate.py counts; this turns the counts into what is shown."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from service.formspec.model import Question


@dataclass
class QuestionStats:
    q: Question
    base: int                          # submissions (or repeat items) the percentages refer to
    answered: int
    choices: list = field(default_factory=list)      # (choice, count, percent)
    numbers: dict | None = None                      # count, mean, median, min, max
    histogram: list = field(default_factory=list)    # (label, count)
    months: list = field(default_factory=list)       # (YYYY-MM, count)
    hours: list = field(default_factory=list)        # (HH, count)
    latest: list = field(default_factory=list)       # text answers, masked when pii
    items: int = 0                                   # repeat groups: items in all
    sizes: list = field(default_factory=list)        # repeat groups: (k items, households)
    children: list = field(default_factory=list)     # repeat groups: their questions' stats

    @property
    def kind(self) -> str:
        """Which statistics the question's type shows (types.base.STATS_KINDS)."""
        return self.q.qtype.stats

    @property
    def no_answer(self) -> int:
        return max(0, self.base - self.answered)


def _percent(n, base):
    return round(100.0 * n / base, 1) if base else 0.0


def _numbers(values: Counter):
    """count, mean, median, min, max of a {number: count} distribution."""
    total = sum(values.values())
    if not total:
        return None
    ordered = sorted(values.items())
    mean = sum(v * n for v, n in ordered) / total

    def nth(k):   # the k-th smallest value, 0-based
        seen = 0
        for v, n in ordered:
            seen += n
            if k < seen:
                return v
        return ordered[-1][0]
    median = nth(total // 2) if total % 2 else (nth(total // 2 - 1) + nth(total // 2)) / 2
    return {"count": total, "mean": mean, "median": median, "min": ordered[0][0],
            "max": ordered[-1][0]}


def _nice_width(span, bins=10):
    raw = span / bins if span else 1
    power = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        if raw <= step * power:
            return step * power
    return 10 * power


def histogram(values: Counter, integer: bool) -> list:
    if not values:
        return []
    low, high = min(values), max(values)
    if integer and high - low <= 12:
        return [(str(int(v)), values.get(v, 0)) for v in range(int(low), int(high) + 1)]
    width = _nice_width(high - low)
    if integer:
        width = max(1, int(width))
    start = math.floor(low / width) * width
    bins: Counter = Counter()
    for v, n in values.items():
        bins[int((v - start) // width)] += n
    out = []
    for i in range(max(bins) + 1):
        lo = start + i * width
        hi = lo + width
        label = (f"{int(lo)}–{int(hi) - 1}" if integer and width > 1 else
                 f"{int(lo)}" if integer else f"{lo:g}–{hi:g}")
        out.append((label, bins.get(i, 0)))
    return out


def question_stats(q: Question, counts: Counter, base: int) -> QuestionStats:
    """One question's statistics, of the kind its type declares (choices, numbers, months,
    hours; free text only counts answers)."""
    stats = QuestionStats(q=q, base=base, answered=counts.get((q.name, ""), 0))
    kind = q.qtype
    if kind.stats == "choices":
        stats.choices = [(c, counts.get((q.name, c.value), 0),
                          _percent(counts.get((q.name, c.value), 0), base)) for c in q.choices]
    elif kind.stats == "numbers":
        values: Counter = Counter()
        for (name, value), n in counts.items():
            if name == q.name and value:
                try:
                    values[float(value)] += n
                except ValueError:
                    continue
        stats.numbers = _numbers(values)
        scale = kind.scale(q)
        stats.histogram = ([(str(v), values.get(v, 0)) for v in scale] if scale and values
                           else histogram(values, kind.integer))
    elif kind.stats in ("months", "hours"):
        buckets: Counter = Counter()
        for (name, value), n in counts.items():
            if name == q.name and value:
                buckets[kind.bucket(value)] += n
        setattr(stats, kind.stats, sorted(buckets.items()))
    return stats

"""Charts drawn on the server as inline SVG: no chart library, nothing loaded from anywhere.

Each chart is decorative next to its figures table (the accessible version), so the SVG carries
role="img" and a short label; the numbers a reader needs are always in the table.
"""
from __future__ import annotations

from markupsafe import Markup, escape

WIDTH = 600


def _short(text: str, limit: int = 16) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bars(rows: list[tuple], label: str) -> Markup:
    """Horizontal bars, one per (label, count, …): suits long Chinese choice labels on a phone."""
    if not rows:
        return Markup("")
    top = max((row[1] for row in rows), default=0) or 1
    row_h, label_w, value_w = 30, 200, 60
    height = row_h * len(rows) + 4
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet">']
    span = WIDTH - label_w - value_w
    for i, (name, n, *_rest) in enumerate(rows):
        y = i * row_h + 2
        w = round(span * n / top, 1)
        parts.append(f'<text x="{label_w - 6}" y="{y + 20}" text-anchor="end">'
                     f'{escape(_short(name))}</text>'
                     f'<rect x="{label_w}" y="{y + 4}" width="{w}" height="{row_h - 8}" rx="2"/>'
                     f'<text x="{label_w + w + 6}" y="{y + 20}">{n}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(rows: list[tuple[str, int]], label: str) -> Markup:
    """Vertical columns (histograms, months)."""
    if not rows:
        return Markup("")
    top = max((n for _, n in rows), default=0) or 1
    height, base = 180, 150
    step = WIDTH / len(rows)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(label)}">']
    for i, (name, n) in enumerate(rows):
        h = round((base - 16) * n / top, 1)
        x = round(i * step + step * 0.12, 1)
        w = round(step * 0.76, 1)
        parts.append(f'<rect x="{x}" y="{base - h}" width="{w}" height="{h}" rx="2"/>')
        if len(rows) <= 16 or i % max(1, len(rows) // 8) == 0:
            parts.append(f'<text x="{x + w / 2}" y="{base + 16}" text-anchor="middle" '
                         f'class="axis">{escape(_short(name, 10))}</text>')
        if n and len(rows) <= 16:
            parts.append(f'<text x="{x + w / 2}" y="{base - h - 4}" text-anchor="middle" '
                         f'class="axis">{n}</text>')
    parts.append(f'<line x1="0" y1="{base}" x2="{WIDTH}" y2="{base}" class="axis-line"/></svg>')
    return Markup("".join(parts))


def line(rows: list[tuple[str, int]], label: str) -> Markup:
    """A line over days; first, middle and last day on the axis, the peak marked. A single day is
    a single point, which a line does not draw: it gets a column instead, its day under it."""
    if not rows:
        return Markup("")
    top = max((n for _, n in rows), default=0) or 1
    height, base, left = 180, 150, 34
    span = WIDTH - left - 10
    step = span / max(1, len(rows) - 1)
    points = " ".join(f"{round(left + i * step, 1)},{round(base - (base - 20) * n / top, 1)}"
                      for i, (_, n) in enumerate(rows))
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(label)}">',
             f'<line x1="{left}" y1="{base}" x2="{WIDTH - 10}" y2="{base}" class="axis-line"/>',
             f'<text x="{left - 4}" y="24" text-anchor="end" class="axis">{top}</text>',
             f'<text x="{left - 4}" y="{base}" text-anchor="end" class="axis">0</text>']
    if len(rows) == 1:
        (day, n), middle, w = rows[0], round(left + span / 2, 1), 40
        h = round((base - 20) * n / top, 1)
        parts.append(f'<rect x="{middle - w / 2}" y="{base - h}" width="{w}" height="{h}" rx="2"/>'
                     f'<text x="{middle}" y="{base + 18}" text-anchor="middle" class="axis">'
                     f'{escape(day)}</text></svg>')
        return Markup("".join(parts))
    parts.append(f'<polyline points="{points}" class="line"/>')
    marks = {0, len(rows) // 2, len(rows) - 1}
    for i in sorted(marks):
        x = round(left + i * step, 1)
        anchor = "start" if i == 0 else "end" if i == len(rows) - 1 else "middle"
        parts.append(f'<text x="{x}" y="{base + 18}" text-anchor="{anchor}" class="axis">'
                     f'{escape(rows[i][0])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

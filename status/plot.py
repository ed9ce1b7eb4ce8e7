"""The day summary's plot, drawn on the server as SVG (no JavaScript, no outside library).

Bars: requests created per hour, the filled part darker; dots joined by a line: the median
time to the first yes of that hour's requests, on the right-hand axis (minutes).
"""

from __future__ import annotations

import math

from markupsafe import Markup

from dispatch.requests.summary import DaySummary

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 56, 36, 40


TICKS = 4


def _nice_max(value: float, minimum: float) -> float:
    """An axis maximum at or above ``value`` whose four ticks are round whole numbers (1, 2, 5 × 10ⁿ apart)."""
    tick = max(value, minimum) / TICKS
    power = 10 ** math.floor(math.log10(tick))
    for step in (1, 2, 5, 10):
        if step * power >= tick:
            return max(1, step * power) * TICKS
    return 10 * power * TICKS


def summary_svg(summary: DaySummary) -> Markup:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / 24
    max_requests = _nice_max(max((h.requests for h in summary.hours), default=0), 4)
    delays = [h.median_first_yes_s / 60 for h in summary.hours if h.median_first_yes_s is not None]
    max_minutes = _nice_max(max(delays, default=0), 20)

    def y_requests(v: float) -> float:
        return TOP + plot_h - v / max_requests * plot_h

    def y_minutes(v: float) -> float:
        return TOP + plot_h - min(v, max_minutes) / max_minutes * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="plot" role="img" '
        f'aria-labelledby="plot-title plot-desc">',
        '<title id="plot-title">Demandes par heure et délai jusqu\'au premier oui</title>',
        f'<desc id="plot-desc">{_count(summary.requests, "demande")}, {_count(summary.filled, "pourvue")}.</desc>',
    ]
    for i in range(TICKS + 1):  # horizontal grid and the two axes' labels
        value = max_requests * i / TICKS
        y = y_requests(value)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{value:g}</text>')
        parts.append(
            f'<text x="{LEFT + plot_w + 6}" y="{y + 4:.1f}" class="axis axis-right">{max_minutes * i / TICKS:g}</text>'
        )
    for hour in summary.hours:
        x = LEFT + hour.hour * slot
        if hour.requests:
            top, filled_top = y_requests(hour.requests), y_requests(hour.filled)
            parts.append(
                f'<rect x="{x + 3:.1f}" y="{top:.1f}" width="{slot - 6:.1f}" '
                f'height="{TOP + plot_h - top:.1f}" class="bar-open"><title>{hour.hour} h : '
                f"{_count(hour.requests, 'demande')}, {_count(hour.filled, 'pourvue')}</title></rect>"
            )
            if hour.filled:
                parts.append(
                    f'<rect x="{x + 3:.1f}" y="{filled_top:.1f}" width="{slot - 6:.1f}" '
                    f'height="{TOP + plot_h - filled_top:.1f}" class="bar-filled"/>'
                )
        if hour.hour % 3 == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{TOP + plot_h + 16}" class="axis" '
                f'text-anchor="middle">{hour.hour} h</text>'
            )
    points = [
        (LEFT + h.hour * slot + slot / 2, y_minutes(h.median_first_yes_s / 60), h)
        for h in summary.hours
        if h.median_first_yes_s is not None
    ]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        parts.append(f'<polyline points="{path}" class="delay-line"/>')
    for x, y, h in points:
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" class="delay-dot"><title>{h.hour} h : premier oui '
            f"en {h.median_first_yes_s / 60:.0f} min (médiane)</title></circle>"
        )
    parts += [
        f'<text x="{LEFT}" y="{TOP - 14}" class="axis">demandes</text>',
        f'<text x="{LEFT + plot_w}" y="{TOP - 14}" class="axis" text-anchor="end">minutes jusqu\'au 1er oui</text>',
        f'<rect x="{LEFT + 120}" y="{HEIGHT - 14}" width="12" height="10" class="bar-filled"/>',
        f'<text x="{LEFT + 136}" y="{HEIGHT - 5}" class="axis">pourvues</text>',
        f'<rect x="{LEFT + 210}" y="{HEIGHT - 14}" width="12" height="10" class="bar-open"/>',
        f'<text x="{LEFT + 226}" y="{HEIGHT - 5}" class="axis">non pourvues</text>',
        f'<circle cx="{LEFT + 330}" cy="{HEIGHT - 9}" r="4" class="delay-dot"/>',
        f'<text x="{LEFT + 340}" y="{HEIGHT - 5}" class="axis">délai médian du 1er oui</text>',
        "</svg>",
    ]
    return Markup("".join(parts))  # noqa: S704 (numbers and fixed French words only)


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h".replace(".", ",")


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f} %"


def _count(number: int, word: str) -> str:
    """``1 demande``, ``2 demandes``, ``0 demande`` (French: the plural starts at 2)."""
    return f"{number} {word}{'s' if number > 1 else ''}"

"""The trade-off plot of a simulated day, as hand-written SVG (no plotting library).

One point per strategy: texts sent to nurses per request (logarithmic x axis) against the
median time to the first yes, with a whisker up to the 90th percentile; a legend gives each
colour's strategy and fill rate. Down and to the left is better.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

from bench.sim_report import DayResult

WIDTH, HEIGHT = 760, 460
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 50, 60
COLOURS = ("#1b6ca8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#2c3e50")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks from the largest one at or below ``low`` to the smallest at or above ``high``."""
    ticks = [
        m * 10**e for e in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1) for m in (1, 2, 5)
    ]
    first = max(t for t in ticks if t <= low * 1.0001)
    last = min(t for t in ticks if t >= high * 0.9999)
    return [t for t in ticks if first <= t <= last]


def svg(results: list[DayResult], title: str) -> str:
    """The plot as an SVG document."""
    plotted = [r for r in results if r.median_first_yes_min is not None and r.texts_per_request > 0]
    ticks = _log_ticks(
        min((r.texts_per_request for r in plotted), default=1.0),
        max((r.texts_per_request for r in plotted), default=10.0),
    )
    if len(ticks) < 2:
        ticks = [ticks[0], ticks[0] * 2]
    x_low, x_high = ticks[0], ticks[-1]
    y_high = _nice_max(max((r.p90_first_yes_min or 0.0 for r in plotted), default=1.0))
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(value: float) -> float:
        return LEFT + width * (math.log10(value) - math.log10(x_low)) / (math.log10(x_high) - math.log10(x_low))

    def y(value: float) -> float:
        return TOP + height * (1.0 - value / y_high)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    for tick in ticks:
        parts.append(f'<line x1="{x(tick):.1f}" y1="{TOP}" x2="{x(tick):.1f}" y2="{TOP + height}" stroke="#eee"/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{TOP + height + 18}" text-anchor="middle">{tick:g}</text>')
    mantissa = round(y_high / 10 ** math.floor(math.log10(y_high)), 1)
    intervals = 6 if mantissa in (1.2, 3.0, 6.0) else 4 if mantissa in (4.0, 8.0) else 5
    for i in range(intervals + 1):
        tick = y_high * i / intervals
        parts.append(f'<line x1="{LEFT}" y1="{y(tick):.1f}" x2="{LEFT + width}" y2="{y(tick):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
    parts += [
        f'<rect x="{LEFT}" y="{TOP}" width="{width}" height="{height}" fill="none" stroke="#444"/>',
        f'<text x="{LEFT + width / 2}" y="{HEIGHT - 18}" text-anchor="middle">'
        "texts to nurses per request (log scale)</text>",
        f'<text transform="translate(18 {TOP + height / 2}) rotate(-90)" text-anchor="middle">'
        "minutes to the first yes (median, whisker to p90)</text>",
    ]
    for index, result in enumerate(plotted):
        colour = COLOURS[index % len(COLOURS)]
        px, py = x(result.texts_per_request), y(result.median_first_yes_min)
        p90 = y(result.p90_first_yes_min or result.median_first_yes_min)
        label = f"{result.strategy}: {100 * result.fill_rate:.1f}% filled"
        legend_y = TOP + 20 + 18 * index
        parts += [
            f'<circle cx="{LEFT + width - 190}" cy="{legend_y - 4}" r="5" fill="{colour}"/>',
            f'<text x="{LEFT + width - 180}" y="{legend_y}">{escape(label)}</text>',
            f'<line x1="{px:.1f}" y1="{py:.1f}" x2="{px:.1f}" y2="{p90:.1f}" stroke="{colour}" stroke-width="2"/>',
            f'<line x1="{px - 5:.1f}" y1="{p90:.1f}" x2="{px + 5:.1f}" y2="{p90:.1f}" '
            f'stroke="{colour}" stroke-width="2"/>',
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" fill="{colour}"/>',
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_svg(results: list[DayResult], path: Path, title: str) -> None:
    path.write_text(svg(results, title), encoding="utf-8")

"""The week's tables and issue 12's verdicts, from :class:`bench.sim_week_report.WeekResult`."""

from __future__ import annotations

from bench.sim_plot import write_svg
from bench.sim_report import table, write_csv
from bench.sim_week_report import WeekResult

# Issue 12's targets for the default policy.
MAX_FIRST_YES_RATIO = 1.2  # same-day median time to the first yes, against broadcast's
MAX_TEXTS_SHARE = 0.35  # same-day texts a request, against broadcast's
MIN_PLANNED_HELD = 0.99  # allowed planned discharges holding a nurse at their start
MAX_GAP_DAYS = 7.0


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} min"


def planned_share(r: WeekResult) -> float | None:
    return r.planned_allowed_before_start / r.planned_allowed if r.planned_allowed else None


MAIN_COLUMNS = (
    ("strategy", 12, lambda r: r.strategy),
    ("fill same-day", 13, lambda r: _percent(r.fill_same_day)),
    ("fill eve/night", 14, lambda r: _percent(r.fill_evening)),
    ("fill planned timed", 18, lambda r: _percent(r.fill_planned_timed)),
    ("fill planned date", 17, lambda r: _percent(r.fill_planned_date)),
    ("median 1st yes", 14, lambda r: _minutes(r.median_first_yes_min)),
    ("p90 1st yes", 11, lambda r: _minutes(r.p90_first_yes_min)),
    (
        "planned held at start (allowed)",
        31,
        lambda r: (
            f"{r.planned_before_start}/{r.planned} ({r.planned_allowed_before_start}/{r.planned_allowed}"
            f" = {_percent(planned_share(r))})"
        ),
    ),
    ("texts/req", 9, lambda r: f"{r.texts_per_request:.1f}"),
    ("texts outside hours", 19, lambda r: str(r.texts_outside_hours)),
    ("unfilled 0 offer, nurse free", 28, lambda r: str(r.unfilled_no_offer_available)),
    ("willing nurse w/o offer", 23, lambda r: f"{r.longest_gap_days:.1f} d"),
)
DETAIL_COLUMNS = (
    ("strategy", 12, lambda r: r.strategy),
    ("requests", 8, lambda r: str(r.requests)),
    ("cancelled", 9, lambda r: str(r.cancelled)),
    ("withdrawn", 9, lambda r: str(r.withdrawals)),
    ("unfilled", 8, lambda r: str(r.unfilled)),
    ("of which 0 offer", 16, lambda r: str(r.unfilled_no_offer)),
    ("0 offer, nurse free, by kind", 45, lambda r: r.no_offer_detail or "-"),
    ("open at end", 11, lambda r: str(r.open_at_end)),
    ("texts outside hours, by kind", 40, lambda r: r.outside_hours_detail or "-"),
    ("alerts outside service hours", 28, lambda r: str(r.alerts_outside_service_hours)),
    ("swept", 5, lambda r: str(r.swept)),
    ("same-day median", 15, lambda r: _minutes(r.same_day_median_min)),
    ("same-day texts/req", 18, lambda r: f"{r.same_day_texts_per_request:.1f}"),
    ("runtime", 8, lambda r: f"{r.runtime_s:.0f} s"),
)


def tables(results: list[WeekResult]) -> str:
    return table(results, MAIN_COLUMNS) + "\n\n" + table(results, DETAIL_COLUMNS)


def verdicts(results: list[WeekResult], policy: str) -> list[str]:
    """Issue 12's targets for the default policy, each MET or MISSED (the day targets need broadcast)."""
    by_name = {r.strategy: r for r in results}
    chosen, lines = by_name.get(policy), []
    if chosen is None:
        return lines

    def line(ok: bool, text: str) -> None:
        lines.append(f"{'MET   ' if ok else 'MISSED'} {policy}: {text}")

    line(
        chosen.unfilled_no_offer_available == 0,
        f"{chosen.unfilled_no_offer_available} requests unfilled without an offer while a zone nurse was free "
        f"(target 0){': ' + chosen.no_offer_detail if chosen.no_offer_detail else ''}",
    )
    share = planned_share(chosen)
    line(
        share is not None and share >= MIN_PLANNED_HELD,
        f"{_percent(share)} of the planned discharges the nurses allowed held a nurse at their start "
        f"({chosen.planned_allowed_before_start}/{chosen.planned_allowed}; target >= {MIN_PLANNED_HELD:.0%})",
    )
    line(
        chosen.texts_outside_hours == 0,
        f"{chosen.texts_outside_hours} texts to nurses outside texting hours, urgent offers and direct answers "
        f"aside (target 0){': ' + chosen.outside_hours_detail if chosen.outside_hours_detail else ''}",
    )
    line(
        chosen.longest_gap_days <= MAX_GAP_DAYS,
        f"a willing nurse went {chosen.longest_gap_days:.1f} days without an offer (nurse "
        f"{chosen.longest_gap_nurse}; target <= {MAX_GAP_DAYS:.0f})",
    )
    broadcast = by_name.get("broadcast")
    if broadcast is not None and broadcast.same_day_median_min and chosen.same_day_median_min is not None:
        ratio = chosen.same_day_median_min / broadcast.same_day_median_min
        line(ratio <= MAX_FIRST_YES_RATIO, f"same-day median to first yes {ratio:.2f}x broadcast's (target <= 1.2x)")
    if broadcast is not None and broadcast.same_day_texts_per_request:
        texts = chosen.same_day_texts_per_request / broadcast.same_day_texts_per_request
        line(texts <= MAX_TEXTS_SHARE, f"same-day texts {100 * texts:.0f}% of broadcast's (target <= 35%)")
    return lines


def write(results: list[WeekResult], out, title: str) -> None:
    """``week.csv`` and ``week.svg`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(results, out / "week.csv")
    write_svg(results, out / "week.svg", title)

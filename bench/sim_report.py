"""What a simulated day is judged on, read back from the database the code wrote (issue 7).

Per strategy: median and 90th percentile of the time from a request's arrival to its first
yes (over the requests that got one), fill rate, texts sent to nurses per request (offers and
notices, each outbox row once), "pourvue" notices per request, the most offers one nurse got
that day, and the Gini coefficient of accepted requests over every nurse of the region.
Printed as a table, written as CSV and as a hand-written SVG plot.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import texts
from models import CareRequest, Message

FILLED = ("accepted", "confirmed")


@dataclass(frozen=True)
class DayResult:
    strategy: str
    requests: int
    filled: int
    unfilled: int
    fill_rate: float
    median_first_yes_min: float | None
    p90_first_yes_min: float | None
    texts_per_request: float
    offers_per_request: float
    pourvue_per_request: float
    max_offers_one_nurse: int
    gini_accepted: float
    runtime_s: float = 0.0


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) by linear interpolation between order statistics; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def gini(values: list[int]) -> float:
    """0 when everyone has the same share, toward 1 when one has everything (0 for no work at all)."""
    total = sum(values)
    if not values or total == 0:
        return 0.0
    ordered = sorted(values)
    n = len(ordered)
    weighted = sum((i + 1) * x for i, x in enumerate(ordered))
    return 2.0 * weighted / (n * total) - (n + 1.0) / n


def measure(session: Session, strategy: str, request_ids: list[int], nurse_count: int, sio_name: str) -> DayResult:
    """The day's figures for these requests. Raises when one is neither filled nor unfilled."""
    rows = session.execute(
        select(
            CareRequest.id,
            CareRequest.reference,
            CareRequest.status,
            CareRequest.created_at,
            CareRequest.accepted_at,
            CareRequest.accepted_nurse_id,
        ).where(CareRequest.id.in_(request_ids))
    ).all()
    if len(rows) != len(request_ids):
        raise AssertionError(f"{len(request_ids) - len(rows)} requests missing from the database")
    stuck = [r.reference for r in rows if r.status not in (*FILLED, "unfilled")]
    if stuck:
        raise AssertionError(f"requests neither filled nor unfilled: {', '.join(stuck[:10])}")
    filled = [r for r in rows if r.status in FILLED]
    waits = [(r.accepted_at - r.created_at).total_seconds() / 60.0 for r in filled]
    references = {r.id: r.reference for r in rows}
    sent = session.execute(
        select(Message.kind, Message.body, Message.request_id, Message.nurse_id).where(
            Message.request_id.in_(request_ids),
            Message.direction == "out",
            Message.status == "sent",
            Message.nurse_id.is_not(None),
        )
    ).all()
    offers = Counter(m.nurse_id for m in sent if m.kind == "offer")
    pourvue = sum(1 for m in sent if m.kind == "notice" and m.body == texts.taken(sio_name, references[m.request_id]))
    accepted = Counter(r.accepted_nurse_id for r in filled)
    n = len(rows)
    return DayResult(
        strategy=strategy,
        requests=n,
        filled=len(filled),
        unfilled=n - len(filled),
        fill_rate=len(filled) / n if n else 0.0,
        median_first_yes_min=percentile(waits, 0.5),
        p90_first_yes_min=percentile(waits, 0.9),
        texts_per_request=len(sent) / n if n else 0.0,
        offers_per_request=sum(offers.values()) / n if n else 0.0,
        pourvue_per_request=pourvue / n if n else 0.0,
        max_offers_one_nurse=max(offers.values(), default=0),
        gini_accepted=gini([*accepted.values(), *[0] * (nurse_count - len(accepted))]),
    )


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


COLUMNS = (
    ("strategy", 16, lambda r: r.strategy),
    ("median 1st yes", 14, lambda r: _minutes(r.median_first_yes_min) + " min"),
    ("p90 1st yes", 12, lambda r: _minutes(r.p90_first_yes_min) + " min"),
    ("fill rate", 9, lambda r: f"{100 * r.fill_rate:.1f}%"),
    ("texts/req", 9, lambda r: f"{r.texts_per_request:.1f}"),
    ("pourvue/req", 11, lambda r: f"{r.pourvue_per_request:.1f}"),
    ("max offers/nurse", 16, lambda r: str(r.max_offers_one_nurse)),
    ("Gini accepted", 13, lambda r: f"{r.gini_accepted:.3f}"),
)


def table(results: list, columns=COLUMNS) -> str:
    """The plain-text table (also valid Markdown): ``columns`` are (title, width, cell of a result)."""
    lines = [
        "| " + " | ".join(name.ljust(width) for name, width, _ in columns) + " |",
        "|" + "|".join("-" * (width + 2) for _, width, _ in columns) + "|",
    ]
    for result in results:
        lines.append("| " + " | ".join(str(cell(result)).ljust(width) for _, width, cell in columns) + " |")
    return "\n".join(lines)


def verdicts(results: list[DayResult]) -> list[str]:
    """Issue 7's targets for the adaptive policy, each MET or MISSED (those whose strategies ran)."""
    by_name = {r.strategy: r for r in results}
    adaptive, lines = by_name.get("adaptive"), []
    if adaptive is None or adaptive.median_first_yes_min is None:
        return lines

    def line(ok: bool, text: str) -> None:
        lines.append(f"{'MET   ' if ok else 'MISSED'} {text}")

    broadcast, fixed = by_name.get("broadcast"), by_name.get("fixed 3,5,10")
    if broadcast is not None and broadcast.median_first_yes_min:
        ratio = adaptive.median_first_yes_min / broadcast.median_first_yes_min
        line(ratio <= 1.2, f"adaptive median time to first yes {ratio:.2f}x broadcast's (target <= 1.2x)")
        gap = 100 * (broadcast.fill_rate - adaptive.fill_rate)
        line(gap <= 1.0, f"adaptive fill rate {-gap:+.1f} points against broadcast (target >= -1)")
        share = adaptive.texts_per_request / broadcast.texts_per_request
        line(share <= 0.35, f"adaptive texts {100 * share:.0f}% of broadcast's (target <= 35%)")
    if fixed is not None and fixed.median_first_yes_min:
        line(
            adaptive.median_first_yes_min < fixed.median_first_yes_min,
            f"adaptive median {adaptive.median_first_yes_min:.1f} min against fixed waves' "
            f"{fixed.median_first_yes_min:.1f} (target: faster)",
        )
        line(
            adaptive.texts_per_request <= fixed.texts_per_request,
            f"adaptive {adaptive.texts_per_request:.1f} texts a request against fixed waves' "
            f"{fixed.texts_per_request:.1f} (target: no more)",
        )
    return lines


def write_csv(results: list, path: Path) -> None:
    """One row per result (a dataclass: a DayResult or a week's result), floats to 4 decimals."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(results[0])] if results else [])
        writer.writeheader()
        for result in results:
            row = asdict(result)
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})

"""The day summary of the status page: requests per hour, fill rate, time to the first yes,
texts per request. Read-only queries over one local day.

Definitions (what a coordinator would count):
- a request belongs to the local day and hour it was created;
- it is *filled* when a nurse said yes (accepted or confirmed now, or accepted at some point
  and since cancelled by the requester);
- the fill rate leaves out requests cancelled before anyone said yes (nothing to fill);
- the time to the first yes runs from creation to the first ``accepted`` event;
- texts are the outbound SMS tied to the request (offers, notices, fallbacks).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.lifecycle import RequestStatus
from models import CareRequest, Event, Message


@dataclass(frozen=True)
class HourStats:
    hour: int
    requests: int
    filled: int
    median_first_yes_s: float | None


@dataclass(frozen=True)
class DaySummary:
    day: date
    hours: list[HourStats]
    requests: int
    filled: int
    cancelled_unfilled: int
    unfilled: int
    waiting: int
    first_yes_s: list[float]
    texts: int

    @property
    def fill_rate(self) -> float | None:
        """Filled share of the requests that could be filled (None on a day without any)."""
        fillable = self.requests - self.cancelled_unfilled
        return self.filled / fillable if fillable else None

    @property
    def median_first_yes_s(self) -> float | None:
        return statistics.median(self.first_yes_s) if self.first_yes_s else None

    @property
    def texts_per_request(self) -> float | None:
        return self.texts / self.requests if self.requests else None


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where the local day starts and ends (23 or 25 hours on DST days)."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def day_summary(session: Session, day: date, tz: ZoneInfo) -> DaySummary:
    """Everything the summary page shows for one local day."""
    start, end = day_bounds(day, tz)
    requests = list(
        session.scalars(select(CareRequest).where(CareRequest.created_at >= start, CareRequest.created_at < end))
    )
    ids = [r.id for r in requests]
    first_yes: dict[int, datetime] = {}
    texts = 0
    if ids:
        first_yes = dict(
            session.execute(
                select(Event.request_id, func.min(Event.at))
                .where(Event.request_id.in_(ids), Event.kind == "accepted")
                .group_by(Event.request_id)
            ).all()
        )
        texts = (
            session.scalar(
                select(func.count()).select_from(Message).where(Message.request_id.in_(ids), Message.direction == "out")
            )
            or 0
        )
    per_hour: dict[int, list[CareRequest]] = {h: [] for h in range(24)}
    for request in requests:
        per_hour[request.created_at.astimezone(tz).hour].append(request)
    delays = {r.id: (first_yes[r.id] - r.created_at).total_seconds() for r in requests if r.id in first_yes}
    hours = []
    for hour, items in per_hour.items():
        hour_delays = [delays[r.id] for r in items if r.id in delays]
        hours.append(
            HourStats(hour, len(items), len(hour_delays), statistics.median(hour_delays) if hour_delays else None)
        )
    return DaySummary(
        day=day,
        hours=hours,
        requests=len(requests),
        filled=len(delays),
        cancelled_unfilled=sum(1 for r in requests if r.status == RequestStatus.CANCELLED and r.id not in delays),
        unfilled=sum(1 for r in requests if r.status == RequestStatus.UNFILLED),
        waiting=sum(1 for r in requests if r.status in (RequestStatus.OPEN, RequestStatus.REVIEW)),
        first_yes_s=sorted(delays.values()),
        texts=texts,
    )

"""What the offers table tells about candidate nurses, for the adaptive policy (issue 7).

One query per call: each nurse's texted offers of the last ``HISTORY`` days, turned into
:class:`dispatch.estimates.Record` rows (when texted, how long she had to answer, whether and
what she answered, how many patients she had already taken that day), plus the two counts the
fairness weights use. Only what production knows: statuses and timestamps of offers and of
their requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.estimates import Record
from models import CareRequest, Offer

HISTORY = timedelta(days=60)
RECENT = timedelta(hours=24)


@dataclass(frozen=True)
class History:
    records: dict[int, list[Record]]  # nurse id → her offers, oldest first
    recent_offers: dict[int, int]  # nurse id → offers texted to her in the last 24 hours
    accepted_today: dict[int, int]  # nurse id → patients she accepted since local midnight


def load_history(
    session: Session, nurse_ids: list[int], now: datetime, tz: ZoneInfo, *, request_id: int | None = None
) -> History:
    """The nurses' texted offers of the last ``HISTORY`` days as records (one query).

    An answered offer (yes or no) was exposed until her answer; an unanswered one until it was
    closed under her (someone else's yes, a cancellation) or until now. Failed texts and offers
    never sent are left out, and so are the offers of ``request_id`` (the request being
    dispatched): its silent nurses are weighed by how long they have been silent, not counted
    again as history.
    """
    if not nurse_ids:
        return History({}, {}, {})
    rows = session.execute(
        select(
            Offer.nurse_id,
            Offer.status,
            Offer.sent_at,
            Offer.answered_at,
            CareRequest.accepted_at,
            CareRequest.closed_at,
        )
        .join(CareRequest, CareRequest.id == Offer.request_id)
        .where(
            Offer.nurse_id.in_(nurse_ids),
            Offer.created_at >= now - HISTORY,
            Offer.sent_at.is_not(None),
            Offer.status != "failed",
            Offer.request_id != (request_id or 0),
        )
        .order_by(Offer.nurse_id, Offer.sent_at)
    ).all()
    accepted: dict[int, list[datetime]] = {}
    for row in rows:
        if row.status == "accepted" and row.answered_at is not None:
            accepted.setdefault(row.nurse_id, []).append(row.answered_at)
    records: dict[int, list[Record]] = {}
    recent: dict[int, int] = {}
    for row in rows:
        if row.answered_at is not None:
            end, answered = row.answered_at, True
        else:
            closed = {"taken": row.accepted_at, "withdrawn": row.closed_at}.get(row.status)
            end, answered = min(closed or now, now), False
        local = row.sent_at.astimezone(tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        records.setdefault(row.nurse_id, []).append(
            Record(
                hour=local.hour,
                exposure_s=max((end - row.sent_at).total_seconds(), 0.0),
                answered=answered,
                yes=answered and row.status in ("accepted", "taken"),
                load=sum(1 for at in accepted.get(row.nurse_id, ()) if midnight <= at < row.sent_at),
            )
        )
        if row.sent_at >= now - RECENT:
            recent[row.nurse_id] = recent.get(row.nurse_id, 0) + 1
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    accepted_today = {n: sum(1 for at in ats if at >= today) for n, ats in accepted.items()}
    return History(records, recent, accepted_today)

"""What the offers table tells about candidate nurses, for the adaptive policy (issue 7).

One query per call: each nurse's texted offers of the last ``HISTORY`` days, turned into
:class:`dispatch.matching.estimates.OfferRecord` rows (when texted, how long she had to answer, whether and
what she answered, how many patients she had already taken that day), plus the two counts the
fairness weights use. Only what production knows: statuses and timestamps of offers and of
their requests.

**Cost.** A large town's zone holds a few hundred nurses and thousands of offers, read on every
wave, so the per-row work is kept small, every figure as before to the last bit
(``bench/adaptive_plan.py`` compares): the timestamps come back as naive UTC (the plain
``DateTime`` type: ``UTCDateTime``'s per-value conversion is the costliest step; instants,
differences and order are the same), the local hour by ``tz.fromutc``, a local midnight once
per day, a nurse's accepted offers sorted once and counted by bisection, and the rows streamed
one nurse at a time. A record is a plain tuple of :class:`~dispatch.matching.estimates.OfferRecord`'s fields:
the garbage collector drops a tuple of numbers from its lists at its first pass, not a named
tuple nor a dataclass, and thousands of those living through the fit made full collections
take a fifth of a wave's time. A nurse's offers come whole from one query, in one order
(``Offer.id`` breaks ties), so :func:`extend_history` adds the radius ring's nurses to the
zone's without reading the zone's again.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Row, select, type_coerce
from sqlalchemy.orm import Session

from dispatch.lifecycle import OfferStatus
from dispatch.matching.estimates import OfferRecord
from models import CareRequest, Offer

HISTORY = timedelta(days=60)
RECENT = timedelta(hours=24)
YES = (OfferStatus.ACCEPTED, OfferStatus.TAKEN)  # statuses of an offer she said yes to
EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class History:
    records: dict[int, list[OfferRecord]]  # nurse id → her offers (plain tuples), oldest first; nurses by id
    recent_offers: dict[int, int]  # nurse id → offers texted to her in the last 24 hours
    accepted_today: dict[int, int]  # nurse id → patients she accepted since local midnight
    nurse_ids: frozenset[int] = frozenset()  # the nurses read (with offers or not)


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
    plain = DateTime()  # naive UTC, as stored: see the module doc
    if session.autoflush:
        session.flush()  # as session.execute would; the Core statement below streams its rows
    rows = session.connection().execute(
        select(
            Offer.nurse_id,
            Offer.status,
            type_coerce(Offer.sent_at, plain),
            type_coerce(Offer.answered_at, plain),
            type_coerce(CareRequest.accepted_at, plain),
            type_coerce(CareRequest.closed_at, plain),
        )
        .join(CareRequest, CareRequest.id == Offer.request_id)
        .where(
            Offer.nurse_id.in_(nurse_ids),
            Offer.created_at >= now - HISTORY,
            Offer.sent_at.is_not(None),
            Offer.status != OfferStatus.FAILED,
            Offer.request_id != (request_id or 0),
        )
        # Offer.id last: offers texted the same second keep one order, whichever nurses are read.
        .order_by(Offer.nurse_id, Offer.sent_at, Offer.id)
    )
    return _history(rows, frozenset(nurse_ids), now, tz)


def extend_history(
    session: Session,
    known: History,
    nurse_ids: list[int],
    now: datetime,
    tz: ZoneInfo,
    *,
    request_id: int | None = None,
) -> History:
    """``known`` (read at the same ``now`` for the same request) with the offers of ``nurse_ids``.

    The same as ``load_history`` of both lists at once: every figure is per nurse, a nurse's
    offers come whole from one query in one order, and ``records`` is kept in nurse order, as
    the query orders it (``estimates.fit`` sums over nurses in that order). Only the nurses not
    read yet are queried.
    """
    missing = sorted(set(nurse_ids) - known.nurse_ids)
    if not missing:
        return known
    more = load_history(session, missing, now, tz, request_id=request_id)
    return History(
        dict(sorted({**known.records, **more.records}.items())),
        {**known.recent_offers, **more.recent_offers},
        {**known.accepted_today, **more.accepted_today},
        known.nurse_ids | more.nurse_ids,
    )


def _history(rows: Iterable[Row], nurse_ids: frozenset[int], now: datetime, tz: ZoneInfo) -> History:
    """The records and counts of the query's rows, (nurse, status, sent, answered, accepted,
    closed) by nurse: one nurse's rows at a time are kept, not the thousands of a zone."""
    now_utc, epoch = _naive_utc(now), EPOCH.replace(tzinfo=tz)
    recent_since = now_utc - RECENT
    today = _naive_utc(now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0))
    midnights: dict[tuple, datetime] = {}  # (local date, fold) → that local midnight, naive UTC
    records: dict[int, list[OfferRecord]] = {}
    recent: dict[int, int] = {}
    accepted_today: dict[int, int] = {}
    for nurse_id, group in groupby(rows, itemgetter(0)):
        hers = list(group)
        taken = sorted(at for _, status, _, at, _, _ in hers if status == OfferStatus.ACCEPTED and at is not None)
        own = records[nurse_id] = []
        for _, status, sent_at, answered_at, accepted_at, closed_at in hers:
            if answered_at is not None:
                end, answered = answered_at, True
            else:
                closed = (
                    accepted_at
                    if status == OfferStatus.TAKEN
                    else closed_at
                    if status == OfferStatus.WITHDRAWN
                    else None
                )
                end, answered = (now_utc if closed is None or closed > now_utc else closed), False
            local = tz.fromutc(epoch + (sent_at - EPOCH))  # sent_at.replace(tzinfo=UTC).astimezone(tz), 10x faster
            load = 0
            if taken:
                # Patients she accepted from local midnight until this text (the midnight depends
                # only on the local date and fold: computed once per day).
                day = (local.date(), local.fold)
                midnight = midnights.get(day)
                if midnight is None:
                    midnight = midnights[day] = _naive_utc(local.replace(hour=0, minute=0, second=0, microsecond=0))
                load = bisect_left(taken, sent_at) - bisect_left(taken, midnight)
                if load < 0:
                    load = 0
            exposure = (end - sent_at).total_seconds()
            yes = answered and status in YES
            own.append((local.hour, exposure if exposure > 0.0 else 0.0, answered, yes, load))
            if sent_at >= recent_since:
                recent[nurse_id] = recent.get(nurse_id, 0) + 1
        if taken:
            accepted_today[nurse_id] = len(taken) - bisect_left(taken, today)
    return History(records, recent, accepted_today, nurse_ids)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)

"""What the offers table tells about candidate nurses, for the adaptive policy (issues 7 and 17).

:func:`load_history` gives, per nurse, her answers summed as the fit reads them
(:class:`dispatch.matching.estimates.Answers`), plus the two counts the fairness weights use. Only
what production knows: statuses and timestamps of offers and of their requests.

**Plans in O(candidates)** (issue 17). An offer texted more than a day ago is counted once into
her row of ``nurse_answer_stats`` by the sweeper's pass (:mod:`dispatch.matching.answer_stats`),
and retired from it at 60 days; a plan reads, for its candidates: their rows (one query), their
offers not counted yet (one query, about a day of them, each read as before: :func:`_record`),
their accepted offers since the earliest local midnight those need (one small indexed query:
the day's loads and ``accepted_today``), and the counted offers of the request being planned,
which are taken out of the rows by their keys (a few). Because the uncounted offers are read
exactly, *when* the pass counts an offer changes no figure, apart from the cap of a still-open
offer's exposure at a day (``answer_stats.LIVE``) and the bin of a silent offer's exposure.

:func:`reference_history` is the one full reading, every offer of the last 60 days one by one,
silent exposures exact: the figures the summary stands for (``bench/plan_agreement.py`` and
the tests compare). Same per-offer code (:func:`_record`) in both.

**Cost** of the per-offer reading (every figure as it was, to the last bit): the timestamps come
back as naive UTC (the plain ``DateTime`` type: ``UTCDateTime``'s per-value conversion is the
costliest step; instants, differences and order are the same), the local hour by ``tz.fromutc``,
a local midnight once per day, a nurse's accepted offers sorted once and counted by bisection,
the rows streamed one nurse at a time, a record a plain tuple of
:class:`~dispatch.matching.estimates.OfferRecord`'s fields. A nurse's offers come whole from one
query, in one order (``Offer.id`` breaks ties), so :func:`extend_history` adds the radius ring's
nurses to the zone's without reading the zone's again.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Row, Select, select, type_coerce
from sqlalchemy.orm import Session

from dispatch.lifecycle import OfferStatus
from dispatch.matching.estimates import Answers, OfferRecord, answers_of
from models import CareRequest, NurseAnswerStats, Offer

HISTORY = timedelta(days=60)
RECENT = timedelta(hours=24)
YES = (OfferStatus.ACCEPTED, OfferStatus.TAKEN)  # statuses of an offer she said yes to
EPOCH = datetime(1970, 1, 1)
NOT_COUNTED = ("-", "r")  # offers.counted: never counted, retired


@dataclass(frozen=True)
class History:
    records: dict[int, Answers]  # nurse id → her answers summed; nurses by id, those with offers only
    recent_offers: dict[int, int]  # nurse id → offers texted to her in the last 24 hours
    accepted_today: dict[int, int]  # nurse id → patients she accepted since local midnight
    nurse_ids: frozenset[int] = frozenset()  # the nurses read (with offers or not)


def load_history(
    session: Session, nurse_ids: list[int], now: datetime, tz: ZoneInfo, *, request_id: int | None = None
) -> History:
    """The nurses' answers of the last ``HISTORY`` days: their ``nurse_answer_stats`` rows plus
    their offers not counted yet, without the offers of ``request_id`` (the request being
    dispatched: its silent nurses are weighed by how long they have been silent, not counted
    again as history). See the module doc.

    An answered offer (yes or no) was exposed until her answer; an unanswered one until it was
    closed under her (someone else's yes, a cancellation) or until now (a day at most once
    counted). Failed texts and offers never sent are left out.
    """
    if not nurse_ids:
        return History({}, {}, {})
    if session.autoflush:
        session.flush()  # as session.execute would; the Core statements below stream their rows
    connection = session.connection()
    summed = {
        nurse_id: Answers.from_json(data)
        for nurse_id, data in connection.execute(
            select(NurseAnswerStats.nurse_id, NurseAnswerStats.answers).where(NurseAnswerStats.nurse_id.in_(nurse_ids))
        )
    }
    live = list(connection.execute(_offers_query(nurse_ids, now, request_id).where(Offer.counted.is_(None))))
    now_utc = _naive_utc(now)
    today = _naive_utc(now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0))
    since = min([today, *(_local_midnight(sent_at, tz) for _, _, sent_at, *_ in live)])
    taken: dict[int, list[datetime]] = {}
    for nurse_id, at in connection.execute(
        select(Offer.nurse_id, type_coerce(Offer.answered_at, DateTime()))
        .where(
            Offer.nurse_id.in_(nurse_ids),
            Offer.status == OfferStatus.ACCEPTED,
            Offer.answered_at >= since.replace(tzinfo=UTC),
            Offer.created_at >= now - HISTORY,
            Offer.sent_at.is_not(None),
            Offer.request_id != (request_id or 0),
        )
        .order_by(Offer.nurse_id, Offer.answered_at)
    ):
        taken.setdefault(nurse_id, []).append(at)
    records, recent, accepted_today = _history(live, now_utc, tz, taken)
    for nurse_id, own in records.items():
        summed.setdefault(nurse_id, Answers()).merge(Answers.of(own))
    if request_id:
        for nurse_id, key in connection.execute(
            select(Offer.nurse_id, Offer.counted).where(
                Offer.request_id == request_id, Offer.nurse_id.in_(nurse_ids), Offer.counted.not_in(NOT_COUNTED)
            )
        ):
            if nurse_id in summed:
                summed[nurse_id].apply(key, -1)
    kept = {n: a for n, a in sorted(summed.items()) if a.answered or a.silent}
    return History(kept, recent, accepted_today, frozenset(nurse_ids))


def reference_history(
    session: Session, nurse_ids: list[int], now: datetime, tz: ZoneInfo, *, request_id: int | None = None
) -> History:
    """What :func:`load_history` stands for: every offer of the last ``HISTORY`` days read one by
    one (one query), counted or not, silent exposures exact, open ones until now."""
    if not nurse_ids:
        return History({}, {}, {})
    records, recent, accepted_today = offer_records(session, nurse_ids, now, tz, request_id=request_id)
    return History(answers_of(records), recent, accepted_today, frozenset(nurse_ids))


def offer_records(
    session: Session, nurse_ids: list[int], now: datetime, tz: ZoneInfo, *, request_id: int | None = None
) -> tuple[dict[int, list[OfferRecord]], dict[int, int], dict[int, int]]:
    """Every texted offer of the nurses of the last ``HISTORY`` days as a record (nurses by id,
    her offers oldest first), offers texted in the last 24 hours, patients accepted today."""
    if session.autoflush:
        session.flush()
    rows = session.connection().execute(_offers_query(nurse_ids, now, request_id))
    return _history(rows, _naive_utc(now), tz)


def _offers_query(nurse_ids: list[int], now: datetime, request_id: int | None) -> Select:
    plain = DateTime()  # naive UTC, as stored: see the module doc
    return (
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

    The same as ``load_history`` of both lists at once: every figure is per nurse, and
    ``records`` is kept in nurse order (``estimates.fit`` sums over nurses in that order). Only
    the nurses not read yet are queried.
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


def _history(
    rows: Iterable[Row | tuple],
    now_utc: datetime,
    tz: ZoneInfo,
    taken_by_nurse: dict[int, list[datetime]] | None = None,
) -> tuple[dict[int, list[OfferRecord]], dict[int, int], dict[int, int]]:
    """The records and counts of the query's rows, (nurse, status, sent, answered, accepted,
    closed) by nurse: one nurse's rows at a time are kept, not the thousands of a zone.

    Her accepted offers (answer times, sorted) are taken from her rows, or from
    ``taken_by_nurse`` when given (the rows are then only some of her offers)."""
    epoch = EPOCH.replace(tzinfo=tz)
    recent_since = now_utc - RECENT
    today = _naive_utc(now_utc.replace(tzinfo=UTC).astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0))
    midnights: dict[tuple, datetime] = {}  # (local date, fold) → that local midnight, naive UTC
    records: dict[int, list[OfferRecord]] = {}
    recent: dict[int, int] = {}
    accepted_today: dict[int, int] = {}
    if taken_by_nurse is not None:
        for nurse_id, taken in taken_by_nurse.items():
            accepted_today[nurse_id] = len(taken) - bisect_left(taken, today)
    for nurse_id, group in groupby(rows, itemgetter(0)):
        hers = list(group)
        if taken_by_nurse is None:
            taken = sorted(at for _, status, _, at, _, _ in hers if status == OfferStatus.ACCEPTED and at is not None)
            if taken:
                accepted_today[nurse_id] = len(taken) - bisect_left(taken, today)
        else:
            taken = taken_by_nurse.get(nurse_id, [])
        own = records[nurse_id] = []
        for _, status, sent_at, answered_at, accepted_at, closed_at in hers:
            own.append(
                _record(status, sent_at, answered_at, accepted_at, closed_at, now_utc, tz, epoch, taken, midnights)
            )
            if sent_at >= recent_since:
                recent[nurse_id] = recent.get(nurse_id, 0) + 1
    return records, recent, {n: c for n, c in sorted(accepted_today.items()) if c or taken_by_nurse is None}


def _record(
    status: str,
    sent_at: datetime,
    answered_at: datetime | None,
    accepted_at: datetime | None,
    closed_at: datetime | None,
    now_utc: datetime,
    tz: ZoneInfo,
    epoch: datetime,
    taken: list[datetime],
    midnights: dict[tuple, datetime],
    open_for: timedelta | None = None,
) -> tuple:
    """One offer as a record (naive UTC times): exposed until her answer, else until its closing
    under her, else until now (or ``open_for`` after the text, if sooner); the load is the
    patients she accepted (``taken``, sorted) from that local midnight until the text."""
    if answered_at is not None:
        end, answered = answered_at, True
    else:
        closed = accepted_at if status == OfferStatus.TAKEN else closed_at if status == OfferStatus.WITHDRAWN else None
        if closed is None or closed > now_utc:
            end = now_utc if open_for is None else min(now_utc, sent_at + open_for)
        else:
            end = closed
        answered = False
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
    return (local.hour, exposure if exposure > 0.0 else 0.0, answered, yes, load)


def _local_midnight(sent_at: datetime, tz: ZoneInfo) -> datetime:
    """The local midnight before a naive UTC instant, naive UTC."""
    local = sent_at.replace(tzinfo=UTC).astimezone(tz)
    return _naive_utc(local.replace(hour=0, minute=0, second=0, microsecond=0))


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)

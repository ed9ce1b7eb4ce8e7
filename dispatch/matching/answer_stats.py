"""Each nurse's answers summed in one row, kept up to date by one periodic pass (issue 17).

A plan of the adaptive policy reads, for each candidate, her row of ``nurse_answer_stats`` (her
answers summed as the fit reads them: :class:`dispatch.matching.estimates.Answers`) and only her
offers not counted in it yet (``dispatch.matching.history``). :func:`count_offers`, called by
the sweeper's periodic pass as its own committed step (``workers.worker.sweep_once``; the
simulations call it from their sweeper too), does the counting, in bounded batches:

(a) an offer texted more than ``LIVE`` ago and not counted yet is added to her row with what
    ``history`` reads from it (``history._record``): answered, exposed until her answer; else
    closed under her (TAKEN: the request's ``accepted_at``; WITHDRAWN: its ``closed_at``),
    exposed until then. An offer still open (no answer, not closed under her: a request left
    unfilled, say) is not counted: a plan reads it one by one and exposes it until now, as the
    full reading does, so that no figure depends on a cap (such offers are few: on 60 days of
    the simulated region, leaving them out changed the number counted by none of 133,744); it
    is counted once answered or closed under her, or marked ``-`` at 60 days. The
    load of an answered offer (patients she accepted from that local midnight until the text)
    is taken at counting time, a day after the text: the day is over. The offer's
    ``counted`` column keeps its contribution (``estimates.key_of``), so that it can be taken
    out again; a failed text or an offer never sent is marked ``-`` (never counted).
(b) a counted offer created more than ``HISTORY`` (60 days) ago is subtracted by that key and
    marked ``r`` (retired).

Since a plan reads the uncounted offers one by one, exactly as it reads them when counted,
*when* an offer is counted changes none of a plan's figures (but for the day's cap, the bin
of a silent exposure and the sums' rounding): one periodic pass is enough, and a late pass only makes plans read
a few more rows. A first pass on an old database catches up over several passes (``limit``).

A counted offer that changes afterwards is stale in her row: a very late answer (days after
the text, to an offer closed under her) is recounted where it is recorded (:func:`recount`,
called by ``dispatch.messaging.replies``).

Concurrency: an offer is counted by the guarded ``UPDATE ... WHERE counted IS NULL`` (or
``= its key`` to retire it) that marks it, so two passes never count it twice; on PostgreSQL
the offers are read ``FOR UPDATE SKIP LOCKED`` and the nurses' rows locked in ``nurse_id``
order, each row written once per batch.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, and_, or_, select, text, type_coerce, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dispatch.config import Settings
from dispatch.lifecycle import OfferStatus
from dispatch.matching.estimates import Answers, key_of
from dispatch.matching.history import EPOCH, HISTORY, NOT_COUNTED, _naive_utc, _record
from models import CareRequest, NurseAnswerStats, Offer, is_postgres

LIVE = timedelta(days=1)  # offers texted this recently are read one by one by a plan, not counted
SKIPPED, RETIRED = NOT_COUNTED  # offers.counted: never counted (failed, never sent), retired
BATCH = 2000
COUNTED_INDEX_WHERE = text("offers.counted NOT IN ('-', 'r')")  # ix_offers_counted_created's


def count_offers(session: Session, settings: Settings, now: datetime, limit: int = BATCH) -> tuple[int, int]:
    """Count the offers due (up to ``limit``) and retire the old ones (up to ``limit``) into
    their nurses' rows; (counted, retired). The caller commits. See the module doc."""
    tz = settings.timezone
    postgres = is_postgres(session)
    cutoff, oldest = now - LIVE, now - HISTORY
    plain = DateTime()
    due = select(
        Offer.id,
        Offer.nurse_id,
        Offer.status,
        type_coerce(Offer.sent_at, plain),
        type_coerce(Offer.answered_at, plain),
        type_coerce(CareRequest.accepted_at, plain),
        type_coerce(CareRequest.closed_at, plain),
        Offer.created_at,
    ).join(CareRequest, CareRequest.id == Offer.request_id)
    due = (
        due.where(
            Offer.counted.is_(None),
            Offer.created_at < cutoff,
            or_(Offer.sent_at.is_(None), Offer.sent_at < cutoff),
            # Still open (never answered, not closed under her): left to the plans' exact
            # reading, which exposes it until now, until it closes or turns 60 days old.
            or_(
                Offer.answered_at.is_not(None),
                Offer.status.in_((OfferStatus.TAKEN, OfferStatus.WITHDRAWN, OfferStatus.FAILED)),
                Offer.sent_at.is_(None),
                Offer.created_at < oldest,
            ),
        )
        .order_by(Offer.created_at, Offer.id)
        .limit(limit)
    )
    if postgres:
        due = due.with_for_update(of=Offer, skip_locked=True)
    rows = session.execute(due).all()
    changes: dict[int, list[tuple[str, int]]] = defaultdict(list)  # nurse → (key, +1 or −1)
    counted = 0
    loads = _accepted(session, rows, now)
    midnights: dict[tuple, datetime] = {}
    epoch = EPOCH.replace(tzinfo=tz)
    now_utc = _naive_utc(now)
    for offer_id, nurse_id, status, sent_at, answered_at, accepted_at, closed_at, created_at in rows:
        if sent_at is None or status == OfferStatus.FAILED or created_at < oldest:
            key = SKIPPED
        else:
            record = _record(
                status, sent_at, answered_at, accepted_at, closed_at, now_utc, tz, epoch,
                loads.get(nurse_id, []), midnights, open_for=LIVE,
            )  # fmt: skip
            key = key_of(record)
        if _mark(session, offer_id, None, key) and key != SKIPPED:
            changes[nurse_id].append((key, 1))
            counted += 1
    # The partial index's own predicate, as literal text: the planner then sees it implied.
    old = select(Offer.id, Offer.nurse_id, Offer.counted).where(COUNTED_INDEX_WHERE, Offer.created_at < oldest)
    old = old.order_by(Offer.created_at, Offer.id).limit(limit)
    if postgres:
        old = old.with_for_update(skip_locked=True)
    retired = 0
    for offer_id, nurse_id, key in session.execute(old).all():
        if _mark(session, offer_id, key, RETIRED):
            changes[nurse_id].append((key, -1))
            retired += 1
    _write(session, changes, now, postgres)
    return counted, retired


def recount(session: Session, settings: Settings, offer: Offer, now: datetime) -> None:
    """Her row, after a counted offer changed (a very late answer): its old contribution out,
    its new one in. Nothing for an offer not counted yet (a plan reads it as it is now)."""
    old = offer.counted
    if old is None or old in NOT_COUNTED:
        return
    session.flush()
    tz = settings.timezone
    request = session.get(CareRequest, offer.request_id)
    sent_at = _naive_utc(offer.sent_at)
    loads = _accepted(session, [(offer.id, offer.nurse_id, None, sent_at)], now)
    record = _record(
        offer.status, sent_at, _naive(offer.answered_at), _naive(request.accepted_at), _naive(request.closed_at),
        _naive_utc(now), tz, EPOCH.replace(tzinfo=tz), loads.get(offer.nurse_id, []), {}, open_for=LIVE,
    )  # fmt: skip
    key = key_of(record)
    if key == old or not _mark(session, offer.id, old, key):
        return
    _write(session, {offer.nurse_id: [(key, 1), (old, -1)]}, now, is_postgres(session))
    session.expire(offer, ["counted"])


def _naive(moment: datetime | None) -> datetime | None:
    return None if moment is None else _naive_utc(moment)


def _accepted(session: Session, rows, now: datetime) -> dict[int, list[datetime]]:
    """Each nurse's accepted offers (answer times, naive UTC, sorted) that the loads of these
    offers need: answered from a day before the earliest text until the latest."""
    texted = [row[3] for row in rows if row[3] is not None]
    if not texted:
        return {}
    since = (min(texted) - timedelta(days=2)).replace(tzinfo=UTC)  # before any local midnight needed (25 h days)
    until = max(texted).replace(tzinfo=UTC)
    taken: dict[int, list[datetime]] = defaultdict(list)
    for nurse_id, at in session.execute(
        select(Offer.nurse_id, type_coerce(Offer.answered_at, DateTime()))
        .where(
            Offer.nurse_id.in_(sorted({row[1] for row in rows})),
            Offer.status == OfferStatus.ACCEPTED,
            and_(Offer.answered_at >= since, Offer.answered_at < until),
            Offer.created_at >= now - HISTORY,
            Offer.sent_at.is_not(None),
        )
        .order_by(Offer.nurse_id, Offer.answered_at)
    ):
        taken[nurse_id].append(at)
    return taken


def _mark(session: Session, offer_id: int, was: str | None, key: str) -> bool:
    """Set the offer's ``counted`` to ``key`` if it still is ``was``: True when this pass did."""
    guard = Offer.counted.is_(None) if was is None else Offer.counted == was
    done = session.execute(
        update(Offer)
        .where(Offer.id == offer_id, guard)
        .values(counted=key)
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1


def _write(session: Session, changes: dict[int, list[tuple[str, int]]], now: datetime, postgres: bool) -> None:
    """Apply each nurse's changes to her row, additions first (a sum never goes below what is
    counted, and an hour emptied by a subtraction drops its rounding residue): rows created if
    missing, locked in ``nurse_id`` order, each written once."""
    ids = sorted(n for n, keys in changes.items() if keys)
    if not ids:
        return
    insert = pg_insert if postgres else sqlite_insert
    session.execute(
        insert(NurseAnswerStats)
        .values([{"nurse_id": n, "answers": {}, "updated_at": now} for n in ids])
        .on_conflict_do_nothing(index_elements=["nurse_id"])
    )
    rows = select(NurseAnswerStats.nurse_id, NurseAnswerStats.answers).where(NurseAnswerStats.nurse_id.in_(ids))
    rows = rows.order_by(NurseAnswerStats.nurse_id)
    if postgres:
        rows = rows.with_for_update()
    for nurse_id, data in session.execute(rows).all():
        answers = Answers.from_json(data)
        for key, sign in sorted(changes[nurse_id], key=lambda change: -change[1]):
            answers.apply(key, sign)
        session.execute(
            update(NurseAnswerStats)
            .where(NurseAnswerStats.nurse_id == nurse_id)
            .values(answers=answers.to_json(), updated_at=now)
            .execution_options(synchronize_session=False)
        )

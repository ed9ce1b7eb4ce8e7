"""The adaptive wave policy (issue 7): ask the nurses most likely to say yes soon, and just enough of them.

Used by ``dispatch.waves.plan_next_wave`` when ``DISPATCH_POLICY=adaptive``. Four steps, all
pure functions but the one read of the offers table:

1. :func:`load_history` — one grouped SQL query over the candidates' offers of the last
   ``HISTORY`` days: per nurse and hour of the day, how many offers she had and how many she
   said yes to within a wave's wait. An offer she answered (yes or no), or left unanswered for a
   whole wait, is one trial; an offer closed under her (someone else said yes first, the
   request was cancelled) before the wait was over counts as the fraction of the wait she had.
2. :func:`estimate` — her chance of a yes within the wait in the current hour band, smoothed
   for newcomers by empirical Bayes on three levels: the candidates' pooled rate per band
   (pulled toward a fixed prior when the pool has little history), her own overall ratio to
   that pooled rate (a newcomer's ratio is 1), and her own rate in this band (pulled toward
   the pooled band rate times her ratio). A nurse with no history gets the pool's rate.
3. :func:`rank` — the fairness rule kept: candidates stay grouped by distance step (declared
   zone first, then each ``DISPATCH_RADIUS_KM`` ring, as in ``rank_candidates``); within a step
   they are ordered by ``p × 2^(-extra_accepted / ACCEPTED_HALF) × 2^(-offers_24h / OFFERS_HALF)``:
   every ``ACCEPTED_HALF`` patients she accepted in the last 30 days beyond the least-loaded
   candidate halves her priority, and so does every ``OFFERS_HALF`` offers texted to her in the
   last 24 hours; ties go to the fixed rule's order (longest since her last offer, then id).
4. :func:`wave_size` — the shortest prefix of that order whose chance of at least one yes
   within the wait, ``1 - Π(1 - p_i)``, reaches ``TARGET`` (capped at ``MAX_WAVE``, at least one
   nurse). Nurses of earlier waves who are still silent may yet say yes (an offer stays open):
   each counts for ``p × g^(waits since her text)``, where ``g``, the yeses in a text's second
   wait per yes in its first, is pooled from the same history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import Session

from dispatch.config import Settings
from dispatch.matching import Candidate, rank_candidates
from models import CareRequest, Offer, is_postgres
from models.base import UTCDateTime

# Local hour bands a nurse's day splits into: before her morning round ends, late morning,
# lunch, afternoon, evening round. Several hours per band so that a few weeks give data.
BANDS: tuple[tuple[int, int], ...] = ((0, 9), (9, 12), (12, 14), (14, 17), (17, 24))
HISTORY = timedelta(days=60)
RECENT = timedelta(hours=24)
TARGET = 0.8  # chance of at least one yes within the wave's wait
MAX_WAVE = 25  # never more texts in one wave, however unlikely a yes
POOL = 60  # candidates considered for one wave (nearest steps first)
ACCEPTED_HALF = 2.0
OFFERS_HALF = 4.0
MAX_P = 0.99


@dataclass(frozen=True)
class Tally:
    """Offers (weighted by the share of a wait she had to answer) and yeses within the wait."""

    trials: float = 0.0
    yes: float = 0.0
    late: float = 0.0  # yeses in the second wait after the text (between one and two waits)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.trials + other.trials, self.yes + other.yes, self.late + other.late)


@dataclass(frozen=True)
class History:
    tallies: dict[int, dict[int, Tally]]  # nurse id → band index → tally
    recent_offers: dict[int, int]  # nurse id → offers texted in the last 24 hours


@dataclass(frozen=True)
class Smoothing:
    """Prior strengths, in pseudo-offers (pseudo-yeses for ``nurse_yes``)."""

    prior_p: float = 0.15  # a yes within the wait, before any history at all
    prior_trials: float = 10.0  # weight of ``prior_p`` against the pool's own history
    band_trials: float = 20.0  # pulls the pool's rate in a band toward its overall rate
    nurse_yes: float = 1.0  # pulls her ratio to the pool toward 1
    nurse_band_trials: float = 3.0  # pulls her rate in a band toward pool band rate × her ratio
    late_share: float = 0.3  # yeses in a text's second wait per yes in its first, before any history
    late_yes: float = 10.0  # weight of ``late_share`` against the pool's yeses


def band_of(hour: int) -> int:
    """The index in ``BANDS`` of a local hour (0-23)."""
    for index, (start, end) in enumerate(BANDS):
        if start <= hour < end:
            return index
    raise ValueError(f"hour {hour} out of range")


def pooled_rates(tallies: dict[int, dict[int, Tally]], smoothing: Smoothing = Smoothing()) -> dict[int, float]:
    """The pool's chance of a yes within the wait, per band (every band present)."""
    by_band = {b: Tally() for b in range(len(BANDS))}
    for bands in tallies.values():
        for band, tally in bands.items():
            by_band[band] = by_band[band] + tally
    total = sum(by_band.values(), Tally())
    overall = (total.yes + smoothing.prior_trials * smoothing.prior_p) / (total.trials + smoothing.prior_trials)
    return {
        band: (t.yes + smoothing.band_trials * overall) / (t.trials + smoothing.band_trials)
        for band, t in by_band.items()
    }


def estimate(
    tallies: dict[int, dict[int, Tally]], nurse_ids: list[int], band: int, smoothing: Smoothing = Smoothing()
) -> dict[int, float]:
    """Each nurse's chance of a yes within the wait when texted in ``band`` (see the module doc)."""
    pool = pooled_rates(tallies, smoothing)
    result: dict[int, float] = {}
    for nurse_id in nurse_ids:
        bands = tallies.get(nurse_id, {})
        yes = sum(t.yes for t in bands.values())
        expected = sum(t.trials * pool[b] for b, t in bands.items())
        ratio = (yes + smoothing.nurse_yes) / (expected + smoothing.nurse_yes)
        base = min(MAX_P, pool[band] * ratio)
        own = bands.get(band, Tally())
        k = smoothing.nurse_band_trials
        result[nurse_id] = min(MAX_P, (own.yes + k * base) / (own.trials + k))
    return result


def late_share(tallies: dict[int, dict[int, Tally]], smoothing: Smoothing = Smoothing()) -> float:
    """Yeses in the second wait after a text per yes in the first, pooled and smoothed.

    Offers closed by someone else's yes before two waits hide their late yeses, so this leans
    low: a silent nurse's chance is undercounted and the next wave errs on the larger side.
    """
    total = Tally()
    for bands in tallies.values():
        total = sum(bands.values(), total)
    k = smoothing.late_yes
    return (total.late + k * smoothing.late_share) / (total.yes + k)


def silent_chance(p: float, waited_s: float, wait_s: int, share: float) -> float:
    """The chance that a nurse texted ``waited_s`` ago and still silent says yes within the next wait."""
    return p * share ** max(1.0, waited_s / max(wait_s, 1))


def chance_of_a_yes(ps: list[float]) -> float:
    """The chance that at least one of independent nurses with these chances says yes."""
    miss = 1.0
    for p in ps:
        miss *= 1.0 - p
    return 1.0 - miss


def wave_size(ps: list[float], target: float = TARGET, cap: int = MAX_WAVE, already: float = 0.0) -> int:
    """How many of these nurses (in order) to text so that a yes within the wait reaches ``target``.

    ``already`` is the chance that a nurse texted before, still silent, says yes within the wait.
    """
    miss = 1.0 - already
    if 1.0 - miss >= target:
        return 0
    for count, p in enumerate(ps, start=1):
        miss *= 1.0 - p
        if 1.0 - miss >= target or count >= cap:
            return count
    return len(ps)


def step_of(distance_km: float, radius_steps: tuple[int, ...]) -> int:
    """Which distance step a candidate belongs to (0: she declared the commune)."""
    radii = sorted(set(radius_steps) | {0})
    if distance_km <= 0:
        return 0
    for index, radius in enumerate(radii):
        if distance_km <= radius + 1e-9:
            return index
    return len(radii)


def priority(p: float, extra_accepted: int, recent_offers: int) -> float:
    """Her chance of a yes, lowered for work she already took and offers she already had."""
    return p * 2.0 ** (-extra_accepted / ACCEPTED_HALF) * 2.0 ** (-recent_offers / OFFERS_HALF)


def rank(
    candidates: list[Candidate], ps: dict[int, float], recent_offers: dict[int, int], radius_steps: tuple[int, ...]
) -> list[Candidate]:
    """Candidates in the order to text them: nearest step first, then by :func:`priority`."""
    if not candidates:
        return []
    fewest = min(c.accepted_30d for c in candidates)
    # ``candidates`` arrive in the fixed rule's order, so a stable sort keeps it for ties.
    return sorted(
        candidates,
        key=lambda c: (
            step_of(c.distance_km, radius_steps),
            -priority(ps[c.nurse_id], c.accepted_30d - fewest, recent_offers.get(c.nurse_id, 0)),
        ),
    )


def _seconds(session: Session, start, end):
    if is_postgres(session):
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def load_history(session: Session, nurse_ids: list[int], now: datetime, wait_s: int, tz: ZoneInfo) -> History:
    """Per nurse and local hour band, her offers and yeses within ``wait_s`` (one query; see module doc).

    The hour is grouped in UTC by SQL and moved to local time with today's offset: across a
    daylight-saving change, offers of the other season land one hour off, inside wide bands.
    """
    if not nurse_ids:
        return History({}, {})
    wait = float(max(wait_s, 1))
    at_now = literal(now, UTCDateTime())
    closed_under_her = case(
        (Offer.status == "taken", CareRequest.accepted_at), (Offer.status == "withdrawn", CareRequest.closed_at)
    )
    exposure = _seconds(session, Offer.sent_at, func.coalesce(Offer.answered_at, closed_under_her, at_now))
    trial = case((Offer.answered_at.is_not(None), 1.0), (exposure >= wait, 1.0), else_=exposure / wait)
    # "taken" with an answer time is a yes that came after someone else's: still her yes.
    yes = case(
        (
            and_(
                Offer.status.in_(("accepted", "taken")),
                Offer.answered_at.is_not(None),
                _seconds(session, Offer.sent_at, Offer.answered_at) <= wait,
            ),
            1.0,
        ),
        else_=0.0,
    )
    late = case(
        (
            and_(
                Offer.status.in_(("accepted", "taken")),
                Offer.answered_at.is_not(None),
                _seconds(session, Offer.sent_at, Offer.answered_at) > wait,
                _seconds(session, Offer.sent_at, Offer.answered_at) <= 2 * wait,
            ),
            1.0,
        ),
        else_=0.0,
    )
    recent = case((Offer.sent_at >= now - RECENT, 1), else_=0)
    hour = func.extract("hour", Offer.sent_at)
    rows = session.execute(
        select(Offer.nurse_id, hour, func.sum(trial), func.sum(yes), func.sum(late), func.sum(recent))
        .join(CareRequest, CareRequest.id == Offer.request_id)
        .where(
            Offer.nurse_id.in_(nurse_ids),
            Offer.created_at >= now - HISTORY,
            Offer.sent_at.is_not(None),
            Offer.status != "failed",
        )
        .group_by(Offer.nurse_id, hour)
    ).all()
    offset_h = now.astimezone(tz).utcoffset().total_seconds() / 3600.0
    tallies: dict[int, dict[int, Tally]] = {}
    recent_offers: dict[int, int] = {}
    for nurse_id, utc_hour, trials, yeses, lates, recents in rows:
        band = band_of(int(int(utc_hour) + offset_h) % 24)
        bands = tallies.setdefault(nurse_id, {})
        bands[band] = bands.get(band, Tally()) + Tally(float(trials or 0), float(yeses or 0), float(lates or 0))
        recent_offers[nurse_id] = recent_offers.get(nurse_id, 0) + int(recents or 0)
    return History(tallies, recent_offers)


def adaptive_wave(
    session: Session,
    settings: Settings,
    request: CareRequest,
    now: datetime,
    local_moment: datetime,
    *,
    target: float | None = None,
) -> list[int]:
    """The nurse ids of the request's next wave under the adaptive policy (empty: nobody left)."""
    pool = rank_candidates(session, request, now, local_moment, limit=POOL, radius_steps=settings.radius_km)
    if not pool:
        return []
    silent = session.execute(
        select(Offer.nurse_id, Offer.sent_at).where(
            Offer.request_id == request.id, Offer.status.in_(("sent", "delivered")), Offer.sent_at.is_not(None)
        )
    ).all()
    ids = [c.nurse_id for c in pool]
    history = load_history(session, ids + [n for n, _ in silent], now, settings.wave_wait_s, settings.timezone)
    ps = estimate(history.tallies, ids + [n for n, _ in silent], band_of(now.astimezone(settings.timezone).hour))
    share = late_share(history.tallies)
    already = chance_of_a_yes(
        [silent_chance(ps[n], (now - sent).total_seconds(), settings.wave_wait_s, share) for n, sent in silent]
    )
    ordered = rank(pool, ps, history.recent_offers, settings.radius_km)
    size = wave_size([ps[c.nurse_id] for c in ordered], TARGET if target is None else target, already=already)
    return [c.nurse_id for c in ordered[: max(1, size)]]

"""The adaptive wave policy (issue 7): ask the nurses most likely to say yes *soon*, and just enough of them.

Used by ``dispatch.matching.waves.plan_next_wave`` when ``DISPATCH_POLICY=adaptive`` (the default):

1. Candidates: every nurse of the request's declared zone (``rank_candidates`` without radius, so
   that the best of a large town are seen, not only the first few in the fixed rule's order); the
   ``DISPATCH_RADIUS_KM`` rings are read only when the zone alone cannot reach the target.
2. ``dispatch.matching.history`` reads their answers (each nurse's summary row and her offers of
   the last day; when the rings are read, the same for their nurses only, the zone's read is
   kept) and ``dispatch.matching.estimates`` turns them into
   each nurse's chance of a yes *within a given time*: how often she answers, how fast, how often
   yes. The time to the first yes is about speed: a nurse who answers in two minutes is worth
   more to a fresh request than one who says yes as often but an hour later.
3. :func:`rank`: nearest distance step first (the declared zone, then each ring, as the fixed
   rule); within a step by that chance, halved for every ``ACCEPTED_HALF`` patients she accepted
   in 30 days beyond the least-loaded candidate and for every ``OFFERS_HALF`` offers texted to her
   in the last 24 hours (the fairness rule, softened into a weight); ties in the fixed rule's order.
4. :func:`wave_size`: the shortest prefix whose chance of at least one yes within the horizon
   reaches ``TARGET``, counting the nurses of earlier waves still silent (an offer stays open).
   The horizon is ``HORIZON_S`` for the request's first wave (after the usual nurse's), where
   speed is bought, and ``DISPATCH_WAVE_WAIT_S`` for later ones: a request that got no yes from
   its likeliest nurses goes on at the usual pace instead of texting the whole zone.
5. :func:`choose_wait`: the wave waits until, by the estimates, a yes should have come (its
   chance reaches ``TARGET``), never less than ``MIN_WAIT_S`` nor more than ``DISPATCH_WAVE_WAIT_S``.
6. :func:`explore`: places in each wave for the candidates who have had no offer for the
   longest, once that is over ``EXPLORE_AFTER`` (3 days) for a nurse whose answers say yes a
   fifth of the time or more (however late; a nurse never asked, or always too late to answer,
   qualifies), or ``EXPLORE_DOUBTFUL_AFTER`` (5 days) for one whose answers were mostly no: the
   wave's last places, one in ``EXPLORE_EVERY``, or one more for a wave of one. Nobody eligible
   goes a week without an offer because an estimate, good or unlucky, ranked her low. An estimate of speed drawn
   from old answers, or from none, can never freeze a willing nurse out.

A wave costs about twice its size: the offers, then a "pourvue" notice to every nurse still
silent when someone says yes. That is why waves stop at the target instead of texting everyone.

A new deployment has no history, and the estimates would be the priors' alone: while the
candidates have fewer than ``MIN_ANSWERS`` answers each on average, :func:`adaptive_wave`
returns None and the fixed waves run, until the offers table has taught the policy something.
The waves and waits are counted in the request's search time (``dispatch.lifecycle``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.config import Settings
from dispatch.lifecycle import CareWindow, OfferStatus
from dispatch.matching.candidates import Candidate, rank_candidates
from dispatch.matching.estimates import Model, fit
from dispatch.matching.history import History, extend_history, load_history
from models import CareRequest, Offer

HORIZON_S = 180  # the first wave is sized on the chance of a yes within this
TARGET = 0.65  # chance of at least one yes within the horizon that a wave aims at
MAX_WAVE = 25  # never more texts in one wave, however unlikely a yes
MIN_WAIT_S = 60
WAIT_STEP_S = 30
ZONE_POOL = 1000  # declared-zone candidates considered (a large town's whole list)
RING_POOL = 60  # radius candidates added when the zone falls short
MIN_ANSWERS = 2.0  # answers per candidate, on average, below which the fixed waves run
EXPLORE_AFTER = timedelta(days=3)  # a willing nurse offered nothing for this long gets a wave's place
EXPLORE_EVERY = 2  # a wave's places given to exploring: one in this many (one at least)
EXPLORE_EVERY_FIRST = 3  # the same in the round's first wave, none when it has fewer
# Her answers say yes this often or more (counting one yes and one no before any answer): worth
# exploring. A nurse never asked, or whose offers were always taken before she answered, is.
EXPLORE_YES = 0.2
# A nurse whose few answers were mostly no is asked again after this: a willing nurse with an
# unlucky start is never frozen out either.
EXPLORE_DOUBTFUL_AFTER = timedelta(days=5)
ACCEPTED_HALF = 4.0
OFFERS_HALF = 8.0


@dataclass(frozen=True)
class Plan:
    nurse_ids: list[int]
    wait_s: int


@dataclass(frozen=True)
class Outlook:
    """The fitted estimates applied to one request at one moment."""

    model: Model
    history: History
    hour: int  # local hour now
    silent: list[tuple[int, int, float]]  # nurses texted earlier and silent: id, local hour texted, seconds since

    def _load(self, nurse_id: int) -> float:
        return self.model.load_factor ** self.history.accepted_today.get(nurse_id, 0)

    def fresh(self, nurse_id: int, within_s: float) -> float:
        """Her chance of a yes within ``within_s`` if texted now."""
        estimate = self.model.estimate(nurse_id, self.hour)
        return estimate.chance(within_s, self.model.sigma, self._load(nurse_id))

    def already(self, within_s: float) -> float:
        """The chance that one of the silent nurses says yes within the next ``within_s``."""
        return chance_of_a_yes(
            [
                self.model.estimate(n, hour).chance_after(waited, within_s, self.model.sigma, self._load(n))
                for n, hour, waited in self.silent
            ]
        )


def chance_of_a_yes(ps: list[float]) -> float:
    """The chance that at least one of independent nurses with these chances says yes."""
    miss = 1.0
    for p in ps:
        miss *= 1.0 - p
    return 1.0 - miss


def wave_size(ps: list[float], target: float = TARGET, cap: int = MAX_WAVE, already: float = 0.0) -> int:
    """How many of these nurses (in order) to text so that a yes within the horizon reaches ``target``.

    ``already`` is the chance that a nurse texted before, still silent, says yes within the horizon.
    """
    miss = 1.0 - already
    if 1.0 - miss >= target:
        return 0
    for count, p in enumerate(ps, start=1):
        miss *= 1.0 - p
        if 1.0 - miss >= target or count >= cap:
            return count
    return len(ps)


def choose_wait(chance_within: Callable[[float], float], target: float, longest: int) -> int:
    """The first multiple of ``WAIT_STEP_S`` from ``MIN_WAIT_S`` where ``chance_within`` reaches ``target``.

    ``longest`` when it never does before: a wave that cannot reach the target soon (a small
    zone, everyone on her rounds) is given the time its nurses need rather than followed at once.
    """
    for wait in range(min(MIN_WAIT_S, longest), longest, WAIT_STEP_S):
        if chance_within(wait) >= target:
            return wait
    return longest


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


@dataclass(frozen=True)
class _Proposal:
    ordered: list[Candidate]
    size: int
    outlook: Outlook
    enough: bool  # the target is reached, or the wave is as large as allowed


def _propose(
    settings: Settings,
    history: History,
    pool: list[Candidate],
    silent: list[tuple[int, int, float]],
    now: datetime,
    horizon: int,
) -> _Proposal | None:
    """Rank ``pool`` and size the wave; None when the candidates' history is too thin.

    ``history`` holds at least the offers of ``pool`` and of the ``silent`` nurses; the model is
    fitted on exactly those (the pooled figures are the candidates' own).
    """
    ids = [c.nurse_id for c in pool]
    wanted = set(ids).union(n for n, _, _ in silent)
    if wanted != history.nurse_ids:
        records = {n: rs for n, rs in history.records.items() if n in wanted}
        history = History(records, history.recent_offers, history.accepted_today, frozenset(wanted))
    model = fit(history.records)
    if model.answers < MIN_ANSWERS * max(len(ids), 1):
        return None
    outlook = Outlook(model, history, now.astimezone(settings.timezone).hour, silent)
    ps = {n: outlook.fresh(n, horizon) for n in ids}
    already = outlook.already(horizon)
    ordered = rank(pool, ps, history.recent_offers, settings.radius_km)
    ranked = [ps[c.nurse_id] for c in ordered]
    size = wave_size(ranked, TARGET, already=already)
    enough = size < len(ordered) or size >= MAX_WAVE or chance_of_a_yes([already, *ranked]) >= TARGET
    return _Proposal(ordered, size, outlook, bool(ordered) and enough)


def adaptive_wave(
    session: Session, settings: Settings, request: CareRequest, now: datetime, window: CareWindow
) -> Plan | None:
    """The request's next wave and its wait; None while history is too thin (the fixed waves run).

    When the zone falls short and the radius rings are read, the zone's history read for the
    first proposal is kept: only the ring's nurses are read (``extend_history``).
    """
    tz = settings.timezone
    offered = session.execute(
        select(Offer.nurse_id, Offer.sent_at, Offer.status).where(
            Offer.request_id == request.id, Offer.round == request.round
        )
    ).all()
    silent = [
        (o.nurse_id, o.sent_at.astimezone(tz).hour, (now - o.sent_at).total_seconds())
        for o in offered
        if o.status in (OfferStatus.SENT, OfferStatus.DELIVERED) and o.sent_at is not None
    ]
    silent_ids = [n for n, _, _ in silent]
    # The round's first wave (after the usual nurse's) buys speed; later ones go at the usual pace.
    horizon = HORIZON_S if all(o.nurse_id == request.usual_nurse_id for o in offered) else settings.wave_wait_s
    pool = rank_candidates(session, request, now, window, limit=ZONE_POOL, radius_steps=(0,))
    history = History({}, {}, {})
    proposal = None
    if pool:
        history = load_history(session, [c.nurse_id for c in pool] + silent_ids, now, tz, request_id=request.id)
        proposal = _propose(settings, history, pool, silent, now, horizon)
        if proposal is None:
            return None
    if (proposal is None or not proposal.enough) and max(settings.radius_km, default=0) > 0:
        pool = rank_candidates(
            session, request, now, window, limit=len(pool) + RING_POOL, radius_steps=settings.radius_km
        )
        if pool:
            ids = [c.nurse_id for c in pool] + silent_ids
            history = extend_history(session, history, ids, now, tz, request_id=request.id)
            proposal = _propose(settings, history, pool, silent, now, horizon)
            if proposal is None:
                return None
    if proposal is None:
        return Plan([], settings.wave_wait_s)  # nobody left: the request becomes unfilled
    first = horizon == HORIZON_S
    chosen = explore(
        proposal.ordered, [c.nurse_id for c in proposal.ordered[: max(1, proposal.size)]], proposal, now, first
    )
    if proposal.size == 0:
        # The silent nurses carry the target already; a wave needs someone: the likeliest, at leisure.
        return Plan(chosen, settings.wave_wait_s)
    outlook = proposal.outlook
    wait = choose_wait(
        lambda t: chance_of_a_yes([outlook.already(t), *(outlook.fresh(n, t) for n in chosen)]),
        TARGET,
        settings.wave_wait_s,
    )
    return Plan(chosen, wait)


def explore(
    ordered: list[Candidate], chosen: list[int], proposal: _Proposal, now: datetime, first: bool = False
) -> list[int]:
    """The wave with its exploration places: the candidates left out of it who have had no offer
    for the longest, once that is over ``EXPLORE_AFTER`` for a nurse whose answers say yes at
    least ``EXPLORE_YES`` of the time (however late, counting one yes and one no before any: a
    nurse never asked, or always too late to answer, qualifies), or ``EXPLORE_DOUBTFUL_AFTER``
    for one whose answers were mostly no. Such nurses take
    one place in ``EXPLORE_EVERY`` of the wave (one at least), its last ones, so the texts stay
    as many; a wave of one gets one more.

    Estimates of speed are only as good as the offers behind them: a willing nurse ranked low
    (she answers late, or nothing is known of her) would get no offer, hence no new answer, and
    stay ranked low for as long as her old answers are in the history. One place a wave for the
    most neglected of them ends any such freeze within days, at a text a wave at most.
    """
    taken = set(chosen)
    records = proposal.outlook.history.records

    def worth_asking(nurse_id: int) -> bool:
        hers = records.get(nurse_id)
        answers, yeses = (hers.answers(), hers.yeses()) if hers is not None else (0, 0)
        return (yeses + 1) / (answers + 2) >= EXPLORE_YES

    neglected = [
        c
        for c in ordered
        if c.nurse_id not in taken
        and (
            c.last_offer_at is None
            or now - c.last_offer_at >= (EXPLORE_AFTER if worth_asking(c.nurse_id) else EXPLORE_DOUBTFUL_AFTER)
        )
    ]
    # The round's first wave buys speed: one place in EXPLORE_EVERY_FIRST, none in a small one.
    places = len(chosen) // EXPLORE_EVERY_FIRST if first else max(1, len(chosen) // EXPLORE_EVERY)
    if not neglected or not places:
        return chosen
    oldest = sorted(neglected, key=lambda c: (c.last_offer_at is not None, c.last_offer_at or now, c.nurse_id))
    explorers = [c.nurse_id for c in oldest[:places]]
    if len(chosen) == 1:
        return [*chosen, *explorers]
    return [*chosen[: len(chosen) - len(explorers)], *explorers]

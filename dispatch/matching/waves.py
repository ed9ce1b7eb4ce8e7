"""The search for a nurse: rounds and waves (DESIGN §6 "Dispatch").

``advance`` is the one step: called when a round starts, when a wave's wait ends, or at once
when every offer of the wave was declined or undeliverable. It sends the next wave (its offers
and their texts, through the outbox), or waits (for texting hours, or for the nurses already
asked when nobody is left to ask), or ends the search (``unfilled``); it returns the jobs to
enqueue after the caller commits. What the request's times mean (texting time, the search's
deadline, the care window) is ``dispatch.lifecycle``'s; every status change goes through
``lifecycle.transition``.

A round is one search: the first (the request's creation), then one more for each withdrawal
(DESISTE) or relaunch by a coordinator. In each round the usual nurse, if she can be asked, has
the request alone first; then waves of the policy's nurses. Nurses who declined the request
are never asked again; those asked in an earlier round who never answered may be.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, exists, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from dispatch import geo, lifecycle, texts
from dispatch.config import Settings
from dispatch.effects import Effect, RunWave
from dispatch.lifecycle import AWAITING, FINISHED, CareWindow, OfferStatus, RequestStatus, transition
from dispatch.matching.candidates import anyone_to_ask, nurse_is_reachable, rank_candidates
from dispatch.people import rota
from dispatch.telephony.outbox import queue_call, queue_sms, queue_sms_many
from dispatch.timeline import record
from models import CareRequest, Event, Nurse, Offer, is_postgres

# A job that fires this early is a duplicate; the right one (or the sweeper) will come.
EARLY_TOLERANCE = timedelta(seconds=1)


class Conflict(Exception):
    """Another transaction moved the request first; the caller rolls back and stops."""


@dataclass(frozen=True)
class WavePlan:
    nurse_ids: list[int]
    wait_s: int
    usual: bool = False


def plan_next_wave(session: Session, settings: Settings, request: CareRequest, now: datetime) -> WavePlan:
    """Who gets the next wave and how long it waits: the usual nurse alone first, then waves.

    The usual nurse, whatever her zones, is asked in every round she can be: alone in its first
    wave, or in the first wave after she can be again (back from a pause, say).
    """
    window = lifecycle.care_window(settings, request, now)
    usual = _usual_to_ask(session, request, now, window)
    waves = _waves_of_round(session, request)
    if usual is not None and not waves:
        return WavePlan([usual.id], lifecycle.usual_nurse_wait_s(settings, request, now), usual=True)
    plan = None
    if settings.dispatch_policy == "adaptive":
        from dispatch.matching.policy import adaptive_wave

        adaptive = adaptive_wave(session, settings, request, now, window)
        if adaptive is not None:
            plan = WavePlan(adaptive.nurse_ids, adaptive.wait_s)
        # None: too little history to estimate anyone, the fixed waves below run until there is.
    if plan is None:
        index = sum(1 for count, usual_only in waves if not usual_only)
        size = settings.wave_sizes[min(index, len(settings.wave_sizes) - 1)]
        candidates = rank_candidates(session, request, now, window, limit=size, radius_steps=settings.radius_km)
        plan = WavePlan([c.nurse_id for c in candidates], settings.wave_wait_s)
    if usual is not None and usual.id not in plan.nurse_ids:
        plan = WavePlan([usual.id, *plan.nurse_ids], plan.wait_s)
    return plan


def _usual_to_ask(session: Session, request: CareRequest, now: datetime, window: CareWindow) -> Nurse | None:
    """The usual nurse, if she can be asked now and has not been in this round (nor declined)."""
    if not request.usual_nurse_id:
        return None
    usual = session.get(Nurse, request.usual_nurse_id)
    if usual is None or not nurse_is_reachable(session, usual, now, window.start.date()):
        return None
    asked = session.scalar(select(exists().where(_asked(request, usual.id))))
    return None if asked else usual


def _asked(request: CareRequest, nurse_id) -> object:
    """Her offers that keep her out of this round: one of this round, or a refusal in any."""
    return (
        (Offer.request_id == request.id)
        & (Offer.nurse_id == nurse_id)
        & ((Offer.round == request.round) | (Offer.status == OfferStatus.DECLINED))
    )


def _waves_of_round(session: Session, request: CareRequest) -> list[tuple[int, bool]]:
    """The round's waves so far: (offers, whether it was the usual nurse's alone)."""
    usual = case((Offer.nurse_id == (request.usual_nurse_id or 0), 1), else_=0)
    rows = session.execute(
        select(func.count(), func.max(usual))
        .where(Offer.request_id == request.id, Offer.round == request.round)
        .group_by(Offer.wave)
    ).all()
    return [(count, count == 1 and bool(is_usual)) for count, is_usual in rows]


def lock_request(session: Session, request_id: int) -> CareRequest | None:
    """Read the request for an update (row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE locks all)."""
    query = select(CareRequest).where(CareRequest.id == request_id)
    if is_postgres(session):
        query = query.with_for_update()
    return session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()


def run_wave(session: Session, settings: Settings, request_id: int, expected_wave: int, now: datetime) -> list[Effect]:
    """The wave job's body: act only if the request is still open, at that wave, and due."""
    request = lock_request(session, request_id)
    if request is None or request.status != RequestStatus.OPEN or request.wave != expected_wave:
        return []
    if request.next_wave_at is not None and request.next_wave_at > now + EARLY_TOLERANCE:
        return []
    return advance(session, settings, request, now)


def advance(session: Session, settings: Settings, request: CareRequest, now: datetime) -> list[Effect]:
    """Send the next wave, or wait, or end the search. The request is locked by the caller."""
    if request.status != RequestStatus.OPEN:
        return []
    deadline = lifecycle.search_deadline(settings, request)
    if now >= deadline - EARLY_TOLERANCE:
        return mark_unfilled(session, settings, request, now, "délai dépassé")
    opens = lifecycle.send_time(settings, request, now)
    if opens > now:
        if request.next_wave_at != opens:
            _schedule(session, request, opens)
            record(session, request, "waiting_texting_hours", now, until=opens.isoformat())
        return [RunWave(request.id, request.wave, at=opens)]
    plan = plan_next_wave(session, settings, request, now)
    if not plan.nurse_ids:
        return _nobody_left(session, settings, request, now, deadline)
    wave = request.wave + 1
    next_at = min(lifecycle.after(settings, request, now, plan.wait_s), deadline)
    _schedule(session, request, next_at, wave=wave)
    body = offer_text(session, settings, request, now)
    phones = dict(session.execute(select(Nurse.id, Nurse.phone).where(Nurse.id.in_(plan.nurse_ids))).all())
    offers = [
        Offer(
            request_id=request.id,
            nurse_id=nurse_id,
            wave=wave,
            round=request.round,
            status=OfferStatus.PENDING,
            created_at=now,
        )
        for nurse_id in plan.nurse_ids
    ]
    session.add_all(offers)
    session.flush()
    recipients = [(phones[o.nurse_id], o.nurse_id, o.id) for o in offers]
    effects: list[Effect] = list(queue_sms_many(session, recipients, body, now, kind="offer", request=request))
    record(
        session,
        request,
        "wave_sent",
        now,
        wave=wave,
        offers=len(plan.nurse_ids),
        usual=plan.usual or None,
        wait_s=plan.wait_s,
    )
    effects.append(RunWave(request.id, wave, at=next_at))
    return effects


def _schedule(session: Session, request: CareRequest, at: datetime, *, wave: int | None = None) -> None:
    """Set when the request's next step is due (and its wave count): guarded on the request
    being open at the wave this job read, so a job that lost a race fails instead of acting twice."""
    values = {"next_wave_at": at, **({"wave": wave} if wave is not None else {})}
    moved = session.execute(
        update(CareRequest)
        .where(
            CareRequest.id == request.id,
            CareRequest.status == RequestStatus.OPEN,
            CareRequest.wave == request.wave,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        raise Conflict(f"request {request.reference} moved on")
    for key, value in values.items():  # the UPDATE wrote them: tell the ORM without writing them again
        set_committed_value(request, key, value)


def _nobody_left(
    session: Session, settings: Settings, request: CareRequest, now: datetime, deadline: datetime
) -> list[Effect]:
    """Nobody left to ask. While nurses already asked may still answer, the search waits for
    them until its deadline, looking again now and then (``lifecycle.recheck_s``); when none
    can, it ends now."""
    waiting = session.scalar(select(exists().where(Offer.request_id == request.id, Offer.status.in_(AWAITING))))
    if not waiting:
        return mark_unfilled(session, settings, request, now, "plus aucune infirmière à solliciter")
    at = min(lifecycle.after(settings, request, now, lifecycle.recheck_s(settings, request, now)), deadline)
    said = session.scalar(
        select(
            exists().where(
                Event.request_id == request.id,
                Event.kind == "waiting_answers",
                Event.at >= (request.dispatch_started_at or request.created_at),
            )
        )
    )
    _schedule(session, request, at)
    if not said:
        record(session, request, "waiting_answers", now, until=deadline.isoformat())
    return [RunWave(request.id, request.wave, at=at)]


def check_wave_end(session: Session, request: CareRequest, now: datetime) -> list[Effect]:
    """End the current wave early when every offer in it was declined or undeliverable."""
    if request.status != RequestStatus.OPEN or request.wave == 0:
        return []
    statuses = session.scalars(select(Offer.status).where(Offer.request_id == request.id, Offer.wave == request.wave))
    if any(s not in FINISHED for s in statuses):
        return []
    request.next_wave_at = now
    record(session, request, "wave_ended_early", now, wave=request.wave)
    return [RunWave(request.id, request.wave)]


def offer_failed(session: Session, offer: Offer, now: datetime, code: int | None, reason: str) -> list[Effect]:
    """The offer's text could not be delivered: note it and move on without her."""
    if offer.status in (OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.FAILED):
        return []
    offer.status, offer.error_code = OfferStatus.FAILED, code
    record(session, offer.request, "offer_failed", now, nurse=offer.nurse, code=code, reason=reason[:200])
    return check_wave_end(session, offer.request, now)


def mark_unfilled(
    session: Session, settings: Settings, request: CareRequest, now: datetime, reason: str
) -> list[Effect]:
    """Nobody: alert the coordinators on duty and call the requester back with the bad news
    (both when texts may go out: :func:`dispatch.lifecycle.send_time`)."""
    values = {"next_wave_at": None, "needs_attention": True, "attention_reason": reason}
    if not transition(session, request, "unfilled", now, values=values, reason=reason):
        return []
    at = lifecycle.send_time(settings, request, now)
    effects: list[Effect] = []
    body = texts.coordinator_unfilled_alert(
        settings.sio_name, request.reference, commune_name(session, request), request.care_type
    )
    for coordinator in rota.recipients(session, settings, now, insee=request.insee, postcode=request.postcode):
        if coordinator.phone:
            effects.append(queue_sms(session, coordinator.phone, body, now, kind="alert", request=request, at=at))
    if request.callback_phone:
        effects.append(queue_call(session, request.callback_phone, "unfilled", now, request=request, at=at))
    return effects


def start_dispatch(session: Session, settings: Settings, request: CareRequest, now: datetime) -> list[Effect]:
    """The first round of a request just written ``open`` (its search starts now), here and now."""
    return advance(session, settings, request, now)


def ends_at_once(session: Session, settings: Settings, request: CareRequest, now: datetime) -> bool:
    """Whether :func:`advance`, called now on a request just written ``open`` (its first round
    starting now, no offer yet), would end the search on the spot (``unfilled``) rather than
    send a wave or wait for texting hours: its deadline has passed, or it may be texted now and
    nobody at all could be asked (no reachable usual nurse, no candidate in its zone nor within
    ``DISPATCH_RADIUS_KM``). The same rules as ``advance`` and ``plan_next_wave`` (a policy that
    has candidates always proposes one of them), but cheap: whether anyone at all can be asked
    (:func:`dispatch.matching.candidates.anyone_to_ask`: no order, no fairness figure, no offer
    history), so a request's intake can tell "nobody serves this place" at once and leave the
    planning of its first wave to the wave job.
    """
    if now >= lifecycle.search_deadline(settings, request) - EARLY_TOLERANCE:
        return True
    if lifecycle.send_time(settings, request, now) > now:
        return False  # advance waits for texting hours: what it finds then is the wave job's
    window = lifecycle.care_window(settings, request, now)
    if _usual_to_ask(session, request, now, window) is not None:
        return False
    return not anyone_to_ask(session, request, now, window, radius_steps=settings.radius_km)


def new_round(
    session: Session,
    settings: Settings,
    request: CareRequest,
    move: str,
    now: datetime,
    *,
    where: tuple = (),
    values: dict | None = None,
    actor: str = "system",
    nurse: Nurse | None = None,
    **data,
) -> list[Effect] | None:
    """Reopen the search from now, a new round (``move``: ``withdrawn`` or ``relaunched``).

    Offers of earlier rounds still awaiting an answer are superseded (a yes to one still wins:
    ``dispatch.messaging.replies``); the first wave goes at once. None when the request had moved on.
    """
    fresh = {
        "round": request.round + 1,
        "dispatch_started_at": now,
        "next_wave_at": now,
        "needs_attention": False,
        "attention_reason": None,
        **(values or {}),
    }
    if not transition(session, request, move, now, where=where, values=fresh, actor=actor, nurse=nurse, **data):
        return None
    session.execute(
        update(Offer)
        .where(Offer.request_id == request.id, Offer.round < request.round, Offer.status.in_(AWAITING))
        .values(status=OfferStatus.WITHDRAWN)
        .execution_options(synchronize_session="fetch")
    )
    return advance(session, settings, request, now)


def commune_name(session: Session, request: CareRequest) -> str:
    """The commune to show for a request (its postcode when several communes share it)."""
    if request.insee:
        commune = geo.commune(session, request.insee)
        if commune:
            return commune.name
    communes = request.postcode and geo.communes_for_postcode(session, request.postcode)
    if communes and len(communes) == 1:
        return communes[0].name
    return request.postcode or ""


def offer_text(session: Session, settings: Settings, request: CareRequest, now: datetime) -> str:
    """The offer's text, the same whether a wave or a coordinator ("Proposer maintenant") sends it."""
    return texts.offer(
        settings.sio_name,
        commune_name(session, request),
        request.postcode or "",
        request.care_type,
        request.start_at.astimezone(settings.timezone) if request.start_at else None,
        request.has_start_time,
        request.reference,
        request.urgent,
        now.astimezone(settings.timezone),
    )

"""The wave policy and the request's dispatch state machine (DESIGN §6 "Dispatch").

``advance`` is the one step: called when a request starts, when a wave's wait
ends, or at once when every offer of the wave was declined or undeliverable.
It writes the next wave's offers and their texts (the outbox), and returns the
jobs to enqueue after the caller commits. Every state change is a guarded
``UPDATE ... WHERE status = ...`` plus an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from dispatch import geo, texts
from dispatch.config import Settings
from dispatch.effects import Effect, RunWave
from dispatch.matching import nurse_is_reachable, rank_candidates
from dispatch.outbox import queue_call, queue_sms, queue_sms_many
from dispatch.timeline import record
from dispatch.vocab import ACCEPTING_STATUSES
from models import CareRequest, Coordinator, Nurse, Offer, is_postgres

# A job that fires this early is a duplicate; the right one (or the sweeper) will come.
EARLY_TOLERANCE = timedelta(seconds=1)
PLANNED_AHEAD = timedelta(hours=24)
FINISHED_OFFER = ("declined", "failed", "withdrawn")


class Conflict(Exception):
    """Another transaction moved the request first; the caller rolls back and stops."""


@dataclass(frozen=True)
class WavePlan:
    nurse_ids: list[int]
    wait_s: int
    usual: bool = False


def local(settings: Settings, moment: datetime) -> datetime:
    return moment.astimezone(settings.timezone)


def plan_next_wave(session: Session, settings: Settings, request: CareRequest, now: datetime) -> WavePlan:
    """Who gets the next wave and how long it waits: the usual nurse alone first, then waves."""
    moment = local(settings, max(now, request.start_at or now))
    usual = session.get(Nurse, request.usual_nurse_id) if request.usual_nurse_id else None
    if request.wave == 0 and usual is not None and nurse_is_reachable(session, usual, now, moment.date()):
        planned = request.start_at is not None and request.start_at - now > PLANNED_AHEAD
        wait = settings.usual_nurse_wait_planned_s if planned else settings.usual_nurse_wait_s
        return WavePlan([usual.id], wait, usual=True)
    if settings.dispatch_policy == "adaptive":
        from dispatch.policy import adaptive_wave

        adaptive = adaptive_wave(session, settings, request, now, moment)
        if adaptive is not None:
            return WavePlan(adaptive.nurse_ids, adaptive.wait_s)
        # Too little history to estimate anyone: the fixed waves below, until there is.
    index = request.wave - (1 if _usual_wave_sent(session, request) else 0)
    size = settings.wave_sizes[min(index, len(settings.wave_sizes) - 1)]
    candidates = rank_candidates(session, request, now, moment, limit=size, radius_steps=settings.radius_km)
    return WavePlan([c.nurse_id for c in candidates], settings.wave_wait_s)


def _usual_wave_sent(session: Session, request: CareRequest) -> bool:
    if not request.usual_nurse_id:
        return False
    return bool(
        session.scalar(
            select(
                exists().where(
                    Offer.request_id == request.id, Offer.wave == 1, Offer.nurse_id == request.usual_nurse_id
                )
            )
        )
    )


def lock_request(session: Session, request_id: int) -> CareRequest | None:
    """Read the request for an update (row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE locks all)."""
    query = select(CareRequest).where(CareRequest.id == request_id)
    if is_postgres(session):
        query = query.with_for_update()
    return session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()


def run_wave(session: Session, settings: Settings, request_id: int, expected_wave: int, now: datetime) -> list[Effect]:
    """The wave job's body: act only if the request is still open, at that wave, and due."""
    request = lock_request(session, request_id)
    if request is None or request.status != "open" or request.wave != expected_wave:
        return []
    if request.next_wave_at is not None and request.next_wave_at > now + EARLY_TOLERANCE:
        return []
    return advance(session, settings, request, now)


def advance(session: Session, settings: Settings, request: CareRequest, now: datetime) -> list[Effect]:
    """Send the next wave, or wait for texting hours, or give up. The request is locked by the caller."""
    if request.status != "open":
        return []
    started = request.dispatch_started_at or request.created_at
    if now >= started + timedelta(seconds=settings.give_up_s):
        return mark_unfilled(session, settings, request, now, "délai dépassé")
    here = local(settings, now)
    if not request.urgent and not settings.nurse_texting_hours.contains(here):
        opens = settings.nurse_texting_hours.next_open(here).astimezone(now.tzinfo)
        if request.next_wave_at != opens:
            request.next_wave_at = opens
            record(session, request, "waiting_texting_hours", now, until=opens.isoformat())
        return [RunWave(request.id, request.wave, at=opens)]
    plan = plan_next_wave(session, settings, request, now)
    if not plan.nurse_ids:
        return mark_unfilled(session, settings, request, now, "plus aucune infirmière à solliciter")
    wave = request.wave + 1
    next_at = now + timedelta(seconds=plan.wait_s)
    moved = session.execute(
        update(CareRequest)
        .where(CareRequest.id == request.id, CareRequest.status == "open", CareRequest.wave == request.wave)
        .values(wave=wave, next_wave_at=next_at)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        raise Conflict(f"request {request.reference} moved on")
    # The UPDATE above wrote these: tell the ORM without making it write them again.
    set_committed_value(request, "wave", wave)
    set_committed_value(request, "next_wave_at", next_at)
    commune = _commune_name(session, request)
    body = texts.offer(
        settings.sio_name,
        commune,
        request.postcode or "",
        request.care_type,
        local(settings, request.start_at) if request.start_at else None,
        request.has_start_time,
        request.reference,
        request.urgent,
        here,
    )
    phones = dict(session.execute(select(Nurse.id, Nurse.phone).where(Nurse.id.in_(plan.nurse_ids))).all())
    offers = [
        Offer(request_id=request.id, nurse_id=nurse_id, wave=wave, status="pending", created_at=now)
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


def check_wave_end(session: Session, request: CareRequest, now: datetime) -> list[Effect]:
    """End the current wave early when every offer in it was declined or undeliverable."""
    if request.status != "open" or request.wave == 0:
        return []
    statuses = session.scalars(select(Offer.status).where(Offer.request_id == request.id, Offer.wave == request.wave))
    if any(s not in FINISHED_OFFER for s in statuses):
        return []
    request.next_wave_at = now
    record(session, request, "wave_ended_early", now, wave=request.wave)
    return [RunWave(request.id, request.wave)]


def offer_failed(session: Session, offer: Offer, now: datetime, code: int | None, reason: str) -> list[Effect]:
    """The offer's text could not be delivered: note it and move on without her."""
    if offer.status in ("accepted", "declined", "failed"):
        return []
    offer.status, offer.error_code = "failed", code
    record(session, offer.request, "offer_failed", now, nurse=offer.nurse, code=code, reason=reason[:200])
    return check_wave_end(session, offer.request, now)


def mark_unfilled(
    session: Session, settings: Settings, request: CareRequest, now: datetime, reason: str
) -> list[Effect]:
    """Nobody: alert the coordinators on duty and call the requester back with the bad news."""
    moved = session.execute(
        update(CareRequest)
        .where(CareRequest.id == request.id, CareRequest.status == "open")
        .values(status="unfilled", next_wave_at=None, needs_attention=True, attention_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return []
    request.status, request.next_wave_at, request.needs_attention = "unfilled", None, True
    request.attention_reason = reason
    record(session, request, "unfilled", now, reason=reason)
    effects: list[Effect] = []
    body = texts.coordinator_unfilled_alert(
        settings.sio_name, request.reference, _commune_name(session, request), request.care_type
    )
    for coordinator in session.scalars(select(Coordinator).where(Coordinator.on_duty.is_(True))):
        if coordinator.phone:
            effects.append(queue_sms(session, coordinator.phone, body, now, kind="alert", request=request))
    if request.callback_phone:
        effects.append(queue_call(session, request.callback_phone, "unfilled", now, request=request))
    return effects


def start_dispatch(session: Session, settings: Settings, request: CareRequest, now: datetime) -> list[Effect]:
    """Open the request and send its first wave now (or schedule it for texting hours)."""
    request.status, request.wave, request.dispatch_started_at = "open", 0, now
    request.next_wave_at = now
    request.needs_attention, request.attention_reason = False, None
    session.flush()
    return advance(session, settings, request, now)


def _commune_name(session: Session, request: CareRequest) -> str:
    if request.insee:
        commune = geo.commune(session, request.insee)
        if commune:
            return commune.name
    communes = request.postcode and geo.communes_for_postcode(session, request.postcode)
    if communes and len(communes) == 1:
        return communes[0].name
    return request.postcode or ""


def commune_name(session: Session, request: CareRequest) -> str:
    """The commune to show for a request (its postcode when several communes share it)."""
    return _commune_name(session, request)


def is_accepting(request: CareRequest) -> bool:
    return request.status in ACCEPTING_STATUSES

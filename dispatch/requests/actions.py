"""What is done to a request once it exists: cancelling it (the requester, by SMS, phone or API,
or a coordinator), and a coordinator's hand: assigning a nurse who said yes on the phone,
relaunching the search, telling the requester, calling back, and the audit of views.

Every action is a guarded move of ``dispatch.lifecycle`` where the state matters, and an event
with the actor's name, so the timeline says who did what.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch import lifecycle, texts
from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.lifecycle import ACCEPTING, AWAITING, OfferStatus, RequestStatus, transition
from dispatch.matching.waves import lock_request, new_round
from dispatch.messaging.calls import confirm_request
from dispatch.messaging.replies import Outcome, accept, close_other_offers
from dispatch.telephony.outbox import queue_sms
from dispatch.timeline import record
from models import Call, CareRequest, Event, Nurse, Offer

VIEW_EVERY = timedelta(minutes=10)


def mark_informed(session: Session, request: CareRequest, now: datetime, *, actor: str) -> bool:
    """The coordinator told the requester who will come: ``accepted`` becomes ``confirmed``.

    Confirmation calls still waiting to be placed are cancelled (the requester knows);
    a call already ringing finishes on its own. False when the request was not ``accepted``.
    """
    if not confirm_request(session, request, now, kind="requester_informed", actor=actor):
        return False
    session.execute(
        update(Call)
        .where(Call.request_id == request.id, Call.purpose == "confirm", Call.status == "queued")
        .values(status="canceled", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return True


def record_callback(
    session: Session, request: CareRequest, now: datetime, *, actor: str, note: str | None = None
) -> None:
    """The coordinator called the requester back (from her own phone): keep it in the timeline."""
    record(
        session,
        request,
        "called_back",
        now,
        actor=actor,
        to=request.callback_phone,
        note=(note or "").strip()[:300] or None,
    )


def record_view(session: Session, request: CareRequest, now: datetime, *, actor: str) -> bool:
    """Audit trail: who opened the request's page (it shows health data and the recording).

    One event per coordinator per :data:`VIEW_EVERY`: the page reloads after each action,
    and a timeline full of "viewed" lines would hide what happened. False when skipped.
    """
    recent = session.scalar(
        select(Event.id)
        .where(
            Event.request_id == request.id, Event.kind == "viewed", Event.actor == actor, Event.at > now - VIEW_EVERY
        )
        .limit(1)
    )
    if recent is not None:
        return False
    record(session, request, "viewed", now, actor=actor)
    return True


def cancel_request(
    session: Session,
    settings: Settings,
    request: CareRequest,
    now: datetime,
    *,
    actor: str,
    reason: str | None = None,
    reason_text: str | None = None,
) -> list[Effect] | None:
    """Cancel; pending offers are withdrawn and an accepted nurse is told (when texts may go
    out: :func:`dispatch.lifecycle.send_time`). None when already closed. ``reason``: the
    motive (a coordinator's from a short list); ``reason_text``: her own words (purged with
    the request's details, ``dispatch.requests.retention``)."""
    previous_nurse = request.accepted_nurse
    values = {"closed_at": now, "next_wave_at": None, "needs_attention": False}
    if not transition(
        session, request, "cancelled", now, values=values, actor=actor, reason=reason, reason_text=reason_text
    ):
        return None
    effects = close_other_offers(
        session, settings, request, now, texts.offer_cancelled, new_status=OfferStatus.WITHDRAWN
    )
    if previous_nurse is not None:
        effects.append(
            queue_sms(
                session,
                previous_nurse.phone,
                texts.offer_cancelled(settings.sio_name, request.reference),
                now,
                kind="notice",
                request=request,
                nurse=previous_nurse,
                at=lifecycle.nurse_notice_time(settings, now),
            )
        )
    return effects


def assign_nurse(
    session: Session,
    settings: Settings,
    request: CareRequest,
    nurse: Nurse,
    now: datetime,
    *,
    actor: str,
    note: str | None = None,
) -> Outcome:
    """A coordinator gives the request to a nurse by hand (she agreed on the phone): the same
    guarded acceptance as her own yes, so it can never make a second winner. Her offer is the
    round's (written if she had none in it); she is texted the details. ``note``: the
    coordinator's words, kept on the acceptance's line of the timeline."""
    offer = session.scalar(
        select(Offer).where(Offer.request_id == request.id, Offer.round == request.round, Offer.nurse_id == nurse.id)
    )
    if offer is None:
        offer = Offer(
            request_id=request.id,
            nurse_id=nurse.id,
            wave=request.wave,
            round=request.round,
            status=OfferStatus.SENT,
            created_at=now,
        )
        session.add(offer)
        session.flush()
    elif offer.status not in AWAITING:
        offer.status = OfferStatus.SENT
    note = (note or "").strip()[:300] or None
    outcome = accept(
        session, settings, nurse, offer, now, actor=actor, sources=(*ACCEPTING, RequestStatus.REVIEW), note=note
    )
    if outcome.reply and request.accepted_nurse_id == nurse.id:
        at = lifecycle.send_time(settings, request, now)
        outcome.effects.append(
            queue_sms(session, nurse.phone, outcome.reply, now, kind="notice", request=request, nurse=nurse, at=at)
        )
    return outcome


def redispatch(
    session: Session, settings: Settings, request: CareRequest, now: datetime, *, actor: str
) -> list[Effect]:
    """A coordinator relaunches the search (``open``, ``unfilled`` or ``review``), whatever its
    past: a new round from now, where the nurses who never answered may be asked again and
    those who declined are not. [] when it cannot be (closed, or no place to search)."""
    request = lock_request(session, request.id)
    if request is None or (not request.postcode and not request.insee):
        return []
    return new_round(session, settings, request, "relaunched", now, event="redispatch", actor=actor) or []

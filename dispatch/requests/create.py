"""Taking in, cancelling and steering care requests (API, SMS, IVR and coordinators share these)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from dispatch import geo
from dispatch.config import Settings
from dispatch.effects import Effect, RunWave
from dispatch.lifecycle import RequestStatus
from dispatch.matching.waves import ends_at_once, start_dispatch
from dispatch.timeline import record
from dispatch.vocab import CARE_TYPES, REFERENCE_LENGTH
from models import CareRequest, Nurse, Requester, RequesterPhone


@dataclass
class NewRequest:
    """A request as validated by whichever channel took it (all phones already E.164)."""

    channel: str
    care_type: str
    postcode: str | None = None
    insee: str | None = None
    start_at: datetime | None = None
    has_start_time: bool = False
    urgent: bool = False
    callback_phone: str | None = None
    usual_nurse_phone: str | None = None
    notes: str | None = None
    recording_url: str | None = None
    requester: Requester | None = None
    requester_name: str | None = None  # a requester who is not registered, as a coordinator typed it
    review_reason: str | None = None  # set: the request waits for a coordinator instead of dispatching
    extra: dict = field(default_factory=dict)


def new_reference(session: Session) -> str:
    """A random 6-digit reference not used yet (the unique constraint is the last guard)."""
    while True:
        reference = str(100000 + secrets.randbelow(900000))
        if session.scalar(select(CareRequest.id).where(CareRequest.reference == reference)) is None:
            return reference


def create_request(
    session: Session, settings: Settings, new: NewRequest, now: datetime, *, actor: str | None = None
) -> tuple[CareRequest, list[Effect]]:
    """Write the request and its first events, with its first wave due now (or flag it for review).

    The first wave is not planned here: the effect returned, ``RunWave(request.id, 0)``, has the
    wave job plan and send it once the caller has committed (and, should Redis lose it, the
    sweeper finds the request overdue), so that no intake (the API, a text, the phone menu, the
    coordinators' desk) waits for the policy. One exception, decided cheaply
    (:func:`dispatch.matching.waves.ends_at_once`): when the search would end at once, nobody at
    all to ask, the request is marked ``unfilled`` here, so that the channel can say so at once
    (the phone menu puts the caller through to the coordinator on duty).
    """
    if new.care_type not in CARE_TYPES:
        raise ValueError(f"unknown care type {new.care_type!r}")
    postcode = new.postcode
    if new.insee and not postcode:
        codes = geo.postcodes_of(session, new.insee)
        postcode = codes[0] if codes else None
    if postcode and not new.insee:
        communes = geo.communes_for_postcode(session, postcode)
        insee = communes[0].insee if len(communes) == 1 else None
    else:
        insee = new.insee
    usual = session.scalar(select(Nurse).where(Nurse.phone == new.usual_nurse_phone)) if new.usual_nurse_phone else None
    request = CareRequest(
        reference=new_reference(session),
        requester_id=new.requester.id if new.requester else None,
        requester_name=None if new.requester else new.requester_name,
        callback_phone=new.callback_phone,
        channel=new.channel,
        postcode=postcode,
        insee=insee,
        care_type=new.care_type,
        start_at=new.start_at,
        has_start_time=new.has_start_time,
        urgent=new.urgent,
        usual_nurse_id=usual.id if usual else None,
        usual_nurse_phone=new.usual_nurse_phone,
        notes=new.notes,
        recording_url=new.recording_url,
        status=RequestStatus.REVIEW if new.review_reason else RequestStatus.OPEN,
        round=1,
        created_at=now,
        updated_at=now,
    )
    if not new.review_reason:  # its first wave due now (the wave job's RunWave(id, 0)), written by the INSERT
        request.wave, request.dispatch_started_at, request.next_wave_at = 0, now, now
        request.needs_attention, request.attention_reason = False, None
    session.add(request)
    session.flush()
    # A new request has no event yet: say so, and ``record`` keeps the list as it adds them,
    # so the channel's answer (the API shows the timeline) reads nothing after the commit.
    set_committed_value(request, "events", [])
    who = actor or (new.requester.name if new.requester else new.callback_phone) or "demandeur"
    record(
        session,
        request,
        "created",
        now,
        actor=who,
        channel=new.channel,
        care_type=new.care_type,
        postcode=postcode,
        insee=insee,
        urgent=new.urgent or None,
    )
    if new.usual_nurse_phone and usual is None:
        record(session, request, "usual_nurse_not_registered", now, phone=new.usual_nurse_phone)
    if new.review_reason:
        request.needs_attention, request.attention_reason = True, new.review_reason
        record(session, request, "review", now, reason=new.review_reason)
        return request, []
    if ends_at_once(session, settings, request, now):
        return request, start_dispatch(session, settings, request, now)
    return request, [RunWave(request.id, request.wave)]


def find_request(session: Session, reference: str) -> CareRequest | None:
    """The request with this reference; None for anything that is not six digits."""
    if not (
        isinstance(reference, str)
        and len(reference) == REFERENCE_LENGTH
        and reference.isascii()
        and reference.isdigit()
    ):
        return None
    return session.scalar(select(CareRequest).where(CareRequest.reference == reference))


def owned_request(session: Session, reference: str, phone: str | None, requester_id: int | None) -> CareRequest | None:
    """The request with this reference if the caller or texter at ``phone`` may act on it (cancel
    it): it was made from that number, or by the requester the number belongs to (its own
    requests, or any made from one of its numbers)."""
    owners = [CareRequest.callback_phone == phone] if phone else []
    if requester_id:
        owners.append(CareRequest.requester_id == requester_id)
        phones = select(RequesterPhone.phone).where(RequesterPhone.requester_id == requester_id)
        owners.append(CareRequest.callback_phone.in_(phones))
    if not owners or not reference:
        return None
    return session.scalar(select(CareRequest).where(CareRequest.reference == reference, or_(*owners)))


def timeline(request: CareRequest, settings: Settings) -> list[dict]:
    """The events as plain dicts (API, status page), in order, local times."""
    return [
        {
            "at": e.at.astimezone(settings.timezone).isoformat(),
            "kind": e.kind,
            "actor": e.actor,
            **({"nurse": e.nurse.name} if e.nurse is not None else {}),
            **({"data": e.data} if e.data else {}),
        }
        for e in request.events
    ]

"""A coordinator corrects a request: start, care, notes, callback number, urgency, usual nurse.

The change is one event of the timeline (which fields, by whom). When the care or the start
changed, every nurse who may still act on the old version (an offer awaiting her answer in the
current round, or the accepted nurse) gets one text saying what the request is now: no patient
detail, and within texting hours like every notice to a nurse (``dispatch.lifecycle``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import lifecycle, texts
from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.lifecycle import AWAITING, CANCELLABLE, TAKEN_BY_A_NURSE
from dispatch.matching.waves import commune_name
from dispatch.phones import mask
from dispatch.telephony.outbox import queue_sms
from dispatch.timeline import record
from models import CareRequest, Nurse, Offer

# The words of the event's ``fields`` (shown in the timeline).
FIELD_WORDS = {
    "care_type": "soin",
    "start": "début",
    "urgent": "urgence",
    "callback_phone": "numéro de rappel",
    "usual_nurse": "infirmière habituelle",
    "notes": "notes",
}


@dataclass
class RequestChanges:
    """What an edit may change, each value as it will be written (phones E.164)."""

    care_type: str
    start_at: datetime | None
    has_start_time: bool
    urgent: bool
    callback_phone: str
    usual_nurse_phone: str | None
    notes: str | None


def changed_fields(request: CareRequest, changes: RequestChanges) -> list[str]:
    """The keys of :data:`FIELD_WORDS` whose value the edit changes."""
    fields = []
    if changes.care_type != request.care_type:
        fields.append("care_type")
    if (changes.start_at, changes.has_start_time if changes.start_at else False) != (
        request.start_at,
        request.has_start_time if request.start_at else False,
    ):
        fields.append("start")
    if changes.urgent != bool(request.urgent):
        fields.append("urgent")
    if changes.callback_phone != (request.callback_phone or ""):
        fields.append("callback_phone")
    if (changes.usual_nurse_phone or None) != (request.usual_nurse_phone or None):
        fields.append("usual_nurse")
    if (changes.notes or None) != (request.notes or None):
        fields.append("notes")
    return fields


def edit_request(
    session: Session, settings: Settings, request: CareRequest, changes: RequestChanges, now: datetime, *, actor: str
) -> list[Effect] | None:
    """Write the changes and the ``edited`` event; text the nurses concerned when the care or the
    start changed. None when the request is closed (cancelled, unfilled or purged: nothing to
    correct); [] when nothing changed."""
    if request.status not in CANCELLABLE or request.purged_at is not None:
        return None
    fields = changed_fields(request, changes)
    if not fields:
        return []
    request.care_type = changes.care_type
    request.start_at, request.has_start_time = changes.start_at, changes.has_start_time and changes.start_at is not None
    request.urgent = changes.urgent
    request.callback_phone = changes.callback_phone
    request.notes = changes.notes
    if "usual_nurse" in fields:
        phone = changes.usual_nurse_phone
        usual = session.scalar(select(Nurse).where(Nurse.phone == phone)) if phone else None
        request.usual_nurse_phone, request.usual_nurse_id = phone, usual.id if usual else None
    request.updated_at = now
    record(
        session,
        request,
        "edited",
        now,
        actor=actor,
        fields=", ".join(FIELD_WORDS[f] for f in fields),
        care_type=request.care_type if "care_type" in fields else None,
        to=mask(request.callback_phone) if "callback_phone" in fields else None,
    )
    if "care_type" not in fields and "start" not in fields:
        return []
    return _tell_nurses(session, settings, request, now)


def nurses_to_tell(session: Session, request: CareRequest) -> list[Nurse]:
    """The nurses who may act on the request's old version: an offer of the current round still
    awaiting her answer, and the accepted nurse; each once."""
    awaiting = select(Offer.nurse_id).where(
        Offer.request_id == request.id, Offer.round == request.round, Offer.status.in_(AWAITING)
    )
    ids = set(session.scalars(awaiting))
    if request.status in TAKEN_BY_A_NURSE and request.accepted_nurse_id:
        ids.add(request.accepted_nurse_id)
    if not ids:
        return []
    reachable = select(Nurse).where(Nurse.id.in_(ids), Nurse.opted_out_at.is_(None))
    return list(session.scalars(reachable.order_by(Nurse.id)))


def _tell_nurses(session: Session, settings: Settings, request: CareRequest, now: datetime) -> list[Effect]:
    tz = settings.timezone
    body = texts.request_changed(
        settings.sio_name,
        request.reference,
        commune_name(session, request),
        request.care_type,
        request.start_at.astimezone(tz) if request.start_at else None,
        request.has_start_time,
        now.astimezone(tz),
    )
    at = lifecycle.nurse_notice_time(settings, now)
    return [
        queue_sms(session, nurse.phone, body, now, kind="notice", request=request, nurse=nurse, at=at)
        for nurse in nurses_to_tell(session, request)
    ]

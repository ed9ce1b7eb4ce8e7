"""The delivery statuses of texts that went out (Twilio's status callbacks, applied by a job)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.lifecycle import OfferStatus
from dispatch.matching.waves import offer_failed
from dispatch.people import nurses
from dispatch.telephony import OPTED_OUT_CODES
from dispatch.telephony.outbox import note_sent
from dispatch.timeline import record
from models import CareRequest, Message, Nurse, Offer

# Statuses only move forward; a late "sent" after "delivered" is ignored.
_RANK = {
    "queued": 0,
    "accepted": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 3,
}
FAILED = ("undelivered", "failed")
_NOT_FAILED = [s for s in _RANK if s not in FAILED]


def _move(session: Session, message: Message, status: str, code: int | None) -> bool:
    """Set the text's status only if it is still behind: guarded, since two callbacks of one
    text may be handled at the same moment by two workers (then the later status stays)."""
    behind = [s for s, rank in _RANK.items() if rank < _RANK[status]] if status not in FAILED else _NOT_FAILED
    values = {"status": status, "error_code": code} if code else {"status": status}
    moved = session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status.in_(behind))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return False
    for name, value in values.items():
        set_committed_value(message, name, value)
    return True


def record_status(
    session: Session,
    message_id: int | None,
    sid: str,
    status: str,
    code: int | None,
    now: datetime,
    *,
    settings: Settings,
) -> list[Effect]:
    """Apply a status callback: the message's status, the offer's fate, the timeline."""
    message = session.get(Message, message_id) if message_id else None
    if message is None and sid:
        message = session.scalar(select(Message).where(Message.sid == sid))
    if message is None or message.direction != "out":
        return []
    if _RANK.get(status, -1) <= _RANK.get(message.status, 0) and status not in FAILED:
        return []
    effects: list[Effect] = []
    offer = session.get(Offer, message.offer_id) if message.offer_id else None
    if message.status == "sending" and status not in FAILED:
        # Its send timed out (``MaybeSent``), yet Twilio has it: what a send notes, now.
        request = session.get(CareRequest, message.request_id) if message.request_id else None
        effects = note_sent(session, message, offer, request, sid or message.sid or "", now, settings)
        if offer is not None:
            session.refresh(offer, ["status"])  # note_sent moved it in SQL
    if not _move(session, message, status, code):
        return effects  # another worker applied a later status of this text meanwhile
    request = session.get(CareRequest, message.request_id) if message.request_id else None
    nurse = session.get(Nurse, message.nurse_id) if message.nurse_id else None
    if status in FAILED and nurse is not None and code in OPTED_OUT_CODES:
        nurses.opt_out(session, nurse, now, code=code)
    if request is not None:
        record(
            session,
            request,
            "delivery",
            now,
            actor="Twilio",
            nurse=nurse,
            status=status,
            code=code,
            message_kind=message.kind,
            to=None if nurse else message.to_phone,
        )
    if offer is None:
        return effects
    if status == "delivered" and offer.status == OfferStatus.SENT:
        offer.status = OfferStatus.DELIVERED
    if status in FAILED:
        return effects + offer_failed(session, offer, now, code, f"SMS {status}")
    return effects

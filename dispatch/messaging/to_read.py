"""Texts that were not a command reach the coordinators (issue 15, "Messages à lire").

A nurse's or a requester's text that no command matched still gets its help answer; it is also
kept here for the coordinators: linked to the request pending for that phone when there is one
(so it shows in that request's history), answered by a coordinator's SMS through the outbox
(in the request's history too), and marked read by her.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import texts
from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.lifecycle import ACCEPTING, ACTIVE, AWAITING, TAKEN_BY_A_NURSE
from dispatch.telephony.outbox import queue_sms
from dispatch.timeline import record
from models import CareRequest, Message, MessageToRead, Nurse, Offer, RequesterPhone

# How many texts to read the board shows at most (the oldest unread first would hide the new).
SHOWN = 50


def pending_request(session: Session, phone: str, nurse: Nurse | None) -> CareRequest | None:
    """The request a text from ``phone`` is most likely about: for a nurse, the latest request
    whose offer awaits her answer or that she took and is still active; for anyone else, the
    latest active request to call back at that number (or at its requester's numbers)."""
    if nurse is not None:
        offered = session.scalar(
            select(CareRequest)
            .join(Offer, Offer.request_id == CareRequest.id)
            .where(Offer.nurse_id == nurse.id, Offer.status.in_(AWAITING), CareRequest.status.in_(ACCEPTING))
            .order_by(Offer.id.desc())
            .limit(1)
        )
        if offered is not None:
            return offered
        return session.scalar(
            select(CareRequest)
            .where(CareRequest.accepted_nurse_id == nurse.id, CareRequest.status.in_(TAKEN_BY_A_NURSE))
            .order_by(CareRequest.accepted_at.desc(), CareRequest.id.desc())
            .limit(1)
        )
    requester_id = session.scalar(select(RequesterPhone.requester_id).where(RequesterPhone.phone == phone))
    mine = CareRequest.callback_phone == phone
    if requester_id is not None:
        mine = mine | (CareRequest.requester_id == requester_id)
    return session.scalar(
        select(CareRequest)
        .where(mine, CareRequest.status.in_(ACTIVE))
        .order_by(CareRequest.created_at.desc(), CareRequest.id.desc())
        .limit(1)
    )


def keep_for_coordinators(session: Session, message: Message, nurse: Nurse | None, now: datetime) -> MessageToRead:
    """Put a text in that no command matched on the coordinators' list, linked (the text too) to
    the request pending for its sender. The caller holds the transaction."""
    request = pending_request(session, message.from_phone, nurse) if message.from_phone else None
    if request is not None:
        message.request_id = request.id
    row = MessageToRead(
        message_id=message.id,
        phone=message.from_phone or "",
        nurse_id=nurse.id if nurse else None,
        request_id=request.id if request else None,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def unread(session: Session, limit: int = SHOWN) -> list[MessageToRead]:
    """Texts not read yet, newest first."""
    return list(
        session.scalars(
            select(MessageToRead)
            .where(MessageToRead.read_at.is_(None))
            .order_by(MessageToRead.created_at.desc(), MessageToRead.id.desc())
            .limit(limit)
        )
    )


def conversation(session: Session, phone: str, limit: int = 20) -> list[Message]:
    """The latest texts to and from ``phone``, oldest first (what the coordinator answers to)."""
    rows = session.scalars(
        select(Message)
        .where((Message.from_phone == phone) | (Message.to_phone == phone))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


def answer(
    session: Session, settings: Settings, item: MessageToRead, body: str, now: datetime, *, actor: str
) -> list[Effect]:
    """The coordinator's SMS to the sender, through the outbox (at once: she answers a text of
    theirs), in the linked request's history; the text counts as read."""
    request = item.request
    effect = queue_sms(
        session,
        item.phone,
        texts.coordinator_message(settings.sio_name, body),
        now,
        kind="reply",
        request=request,
        nurse=item.nurse,
    )
    if request is not None:
        record(session, request, "coordinator_sms", now, actor=actor, nurse=item.nurse)
    mark_read(session, item, now, actor=actor)
    return [effect]


def mark_read(session: Session, item: MessageToRead, now: datetime, *, actor: str) -> bool:
    """Mark the text read (once: the first coordinator's name is kept). False if it was already."""
    if item.read_at is not None:
        return False
    item.read_at, item.read_by = now, actor[:120]
    return True

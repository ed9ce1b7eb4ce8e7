"""What the simulator keeps and shows: typed "recordings", the people's phones and their feeds.

A recording in the simulator is the text typed in place of speech, kept by the simulator
adapter (``dispatch.telephony.simulator``) and served back at ``/simulator/recordings/<sid>``
(a short tone) with the text beside it: the status page shows the text as the transcript.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dispatch.config import Settings
from dispatch.telephony.simulator import read_recording
from dispatch.telephony.urls import SIMULATOR_RECORDINGS
from models import Call, Coordinator, Message, Nurse, Requester, RequesterPhone

FEED_LENGTH = 40
RINGING = ("initiated", "ringing")
ACTIVE_WINDOW = timedelta(hours=24)


def recording_transcript(settings: Settings, url: str | None) -> str | None:
    """The typed text behind a simulator recording URL (None for a real Twilio recording)."""
    prefix = settings.public_base_url + SIMULATOR_RECORDINGS
    if not url or not url.startswith(prefix):
        return None
    return read_recording(settings, url[len(prefix) :].split(".")[0].split("?")[0])


@dataclass(frozen=True)
class Contact:
    phone: str
    name: str
    role: str  # requester, nurse, coordinator


def contacts(session: Session) -> list[Contact]:
    """Everyone with a phone the service knows: requesters first, then nurses, then coordinators."""
    people = [
        Contact(phone, name, "requester")
        for phone, name in session.execute(
            select(RequesterPhone.phone, Requester.name)
            .join(Requester, Requester.id == RequesterPhone.requester_id)
            .order_by(Requester.name, RequesterPhone.phone)
        )
    ]
    nurses = select(Nurse).where(Nurse.phone.startswith("+")).order_by(Nurse.name)  # not those erased (no number)
    people += [Contact(n.phone, n.name, "nurse") for n in session.scalars(nurses)]
    people += [
        Contact(c.phone, c.name, "coordinator")
        for c in session.scalars(select(Coordinator).where(Coordinator.phone.is_not(None)).order_by(Coordinator.name))
    ]
    return people


def active_phones(session: Session, now: datetime) -> set[str]:
    """Numbers that texted or were texted or called in the last day: their phones open by themselves."""
    since = now - ACTIVE_WINDOW
    found: set[str] = set()
    for a, b in session.execute(select(Message.from_phone, Message.to_phone).where(Message.created_at >= since)):
        found.update(p for p in (a, b) if p)
    for a, b in session.execute(select(Call.from_phone, Call.to_phone).where(Call.created_at >= since)):
        found.update(p for p in (a, b) if p)
    return found


@dataclass
class FeedItem:
    at: datetime
    kind: str  # received (the phone got it), sent (the phone sent it), call
    text: str
    status: str = ""


def phone_feed(session: Session, phone: str) -> tuple[list[FeedItem], list[Call]]:
    """The texts and calls of one phone, oldest first, and the calls ringing on it now."""
    messages = list(
        session.scalars(
            select(Message)
            .where(
                or_(Message.to_phone == phone, Message.from_phone == phone),
                Message.status.not_in(("queued", "sending", "canceled")) | (Message.direction == "in"),
            )
            .order_by(Message.id.desc())
            .limit(FEED_LENGTH)
        )
    )
    calls = list(
        session.scalars(
            select(Call).where(or_(Call.to_phone == phone, Call.from_phone == phone)).order_by(Call.id.desc()).limit(10)
        )
    )
    messages.reverse()  # oldest first, so a reply stays after the text it answers when both share a time
    items = [
        FeedItem(
            m.sent_at or m.created_at,
            "sent" if m.direction == "in" and m.from_phone == phone else "received",
            m.body,
            m.status,
        )
        for m in messages
    ]
    items += [FeedItem(c.created_at, "call", _call_line(c, phone), c.status) for c in calls]
    items.sort(key=lambda item: item.at)
    ringing = [c for c in calls if c.direction == "out" and c.to_phone == phone and c.status in RINGING and c.sid]
    return items, ringing


def _call_line(call: Call, phone: str) -> str:
    if call.direction == "out" and call.to_phone == phone:
        return "Appel reçu du service"
    return "Appel passé au service"

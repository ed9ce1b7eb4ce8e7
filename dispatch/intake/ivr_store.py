"""The phone menu's database side: its sessions, and the request made of what a caller said.

``dispatch.intake.ivr`` moves the caller from question to question; this module loads and closes the
``IvrSession`` of a call, finds who may be rung or whose request may be cancelled, and turns
the answers into a request: ``open`` when the menu was completed, ``review`` (with every
answer in its notes) when the caller hung up, left a voicemail or was handed to a coordinator.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.lifecycle import send_time
from dispatch.people import rota
from dispatch.phones import normalize_phone
from dispatch.requests.create import NewRequest, create_request
from dispatch.telephony.outbox import queue_sms
from dispatch.texts import REVIEW_HANGUP, SPOKEN_CARE, Attention, coordinator_review_alert
from models import Call, CareRequest, IvrSession, Requester, RequesterPhone, is_postgres


def load_session(session: Session, call_sid: str) -> IvrSession | None:
    """The call's session, locked on PostgreSQL so an answer and the hang-up callback take turns."""
    query = select(IvrSession).where(IvrSession.call_sid == call_sid)
    if is_postgres(session):
        query = query.with_for_update()
    return session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()


def finish(session: Session, ivr: IvrSession) -> bool:
    """Close the session once: False when something else (the hang-up, a repeat) already did."""
    session.flush()
    moved = session.execute(
        update(IvrSession)
        .where(IvrSession.call_sid == ivr.call_sid, IvrSession.finished.is_(False))
        .values(finished=True)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return False
    ivr.finished = True
    return True


def on_duty_phones(session: Session, settings: Settings, ivr: IvrSession, now: datetime) -> tuple[str, ...]:
    """The phones of the coordinators on duty for the caller's patient (the pole of the commune or
    postcode said so far, else of the calling establishment; ``dispatch.people.rota``), each once."""
    data = ivr.data
    postcode = data.get("postcode")
    if not data.get("insee") and not postcode and data.get("requester_id"):
        requester = session.get(Requester, data["requester_id"])
        postcode = requester.postcode if requester else None
    people = rota.recipients(session, settings, now, insee=data.get("insee"), postcode=postcode)
    return tuple(dict.fromkeys(c.phone for c in sorted(people, key=lambda c: c.id) if c.phone))


def requester_of(session: Session, phone: str | None) -> Requester | None:
    """The registered requester a caller's number belongs to."""
    if not phone:
        return None
    return session.scalar(select(Requester).join(RequesterPhone).where(RequesterPhone.phone == phone))


def wished_start(settings: Settings, data: dict) -> tuple[datetime | None, bool]:
    """The wished start (local) and whether a time was given, from the day and time answers."""
    if not data.get("day"):
        return None, False
    at = time.fromisoformat(data["time"]) if data.get("time") else time(0, 0)
    return datetime.combine(date.fromisoformat(data["day"]), at, tzinfo=settings.timezone), bool(data.get("time"))


def answers(settings: Settings, data: dict) -> list[tuple[str, str]]:
    """What the caller said, as labelled values for a coordinator."""
    start, has_time = wished_start(settings, data)
    nurse, typed = data.get("usual_nurse_phone"), data.get("callback_candidate")
    said = [
        ("code postal", data.get("postcode")),
        ("commune", data.get("commune")),
        ("soin", SPOKEN_CARE.get(data.get("care_type") or "")),
        ("jour", start.strftime("%d/%m/%Y") if start else None),
        ("heure", start.strftime("%H:%M") if start and has_time else None),
        ("infirmière habituelle", normalize_phone(nurse).national if nurse else None),
        ("numéro de rappel tapé", normalize_phone(typed).national if typed else None),
        # The request's recording is the voicemail then; the details recording is kept here.
        ("précisions enregistrées", data.get("recording_url") if data.get("voicemail_url") else None),
    ]
    return [(label, value) for label, value in said if value]


def request_from_call(
    session: Session, settings: Settings, ivr: IvrSession, now: datetime, *, review_reason: str | None = None
) -> tuple[CareRequest, list[Effect]]:
    """The request made of what was said: ``open`` at the end of the menu, else ``review``."""
    data = ivr.data
    requester = session.get(Requester, data["requester_id"]) if data.get("requester_id") else None
    start_at, has_time = wished_start(settings, data)
    stopped_at = data.get("transferred_from") or ivr.step  # where the intake stopped, not the voicemail
    new = NewRequest(
        channel="voice",
        care_type=data.get("care_type") or "autre",
        postcode=data.get("postcode"),
        insee=data.get("insee"),
        start_at=start_at,
        has_start_time=has_time,
        callback_phone=data.get("callback_phone") or ivr.from_phone,
        usual_nurse_phone=data.get("usual_nurse_phone"),
        recording_url=data.get("voicemail_url") or data.get("recording_url"),
        requester=requester,
        review_reason=review_reason,
        notes=Attention.ivr_notes(review_reason, stopped_at, answers(settings, data)) if review_reason else None,
    )
    request, effects = create_request(session, settings, new, now)
    ivr.request_id = request.id
    row = session.scalar(select(Call).where(Call.sid == ivr.call_sid, Call.direction == "in"))
    if row is not None:
        row.request_id = request.id
    if review_reason and (review_reason != REVIEW_HANGUP or data.get("choice")):
        # Coordinators on duty hear of it at once (a hang-up at the greeting is not worth a text).
        body = coordinator_review_alert(settings.sio_name, request.reference)
        at = send_time(settings, request, now)
        effects += [
            queue_sms(session, p, body, now, kind="alert", request=request, at=at)
            for p in on_duty_phones(session, settings, ivr, now)
        ]
    return request, effects

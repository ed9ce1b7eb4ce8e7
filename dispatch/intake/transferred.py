"""Calls the phone menu handed to the coordinators, and the request a coordinator enters from one.

A call is transferred when the caller asked for a coordinator or was stuck (``dispatch.intake.ivr``
sets its session's step to ``dialed``). The board lists these calls with what the menu had
gathered; the new-request form opens prefilled from one, and the request entered from it is
linked to the call, so the call is not turned into a second, ``review`` request when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import geo
from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.intake.ivr_store import answers, wished_start
from dispatch.phones import normalize_phone
from dispatch.requests.actions import cancel_request
from models import Call, CareRequest, IvrSession, Requester

SHOWN_FOR = timedelta(hours=4)  # a transferred call stays on the board this long, unless entered
ENTERED = "desk_reference"  # the IvrSession's data key: the request a coordinator entered from it


@dataclass
class TransferredCall:
    call_sid: str
    caller: str | None
    requester: str | None
    at: datetime
    answers: list[tuple[str, str]]
    ringing: bool  # still with the menu's Dial (not finished)
    review_reference: str | None  # the request the call left (``review`` when it ended before the form)
    entered: bool = False  # the menu took the whole request (a place nobody serves): nothing to type


def transferred_calls(session: Session, settings: Settings, now: datetime) -> list[TransferredCall]:
    """Calls handed to the coordinators in the last hours that nobody entered yet, newest first."""
    rows = session.scalars(
        select(IvrSession)
        .where(IvrSession.step == "dialed", IvrSession.created_at >= now - SHOWN_FOR)
        .order_by(IvrSession.created_at.desc())
        .limit(50)
    )
    calls = []
    for ivr in rows:
        data = ivr.data or {}
        if data.get(ENTERED):
            continue
        review = session.get(CareRequest, ivr.request_id) if ivr.request_id else None
        if review is not None and review.status not in ("review", "unfilled"):
            continue  # a coordinator already dealt with the request the call left
        requester = session.get(Requester, data["requester_id"]) if data.get("requester_id") else None
        calls.append(
            TransferredCall(
                call_sid=ivr.call_sid,
                caller=ivr.from_phone,
                requester=requester.name if requester else None,
                at=ivr.created_at,
                answers=answers(settings, data),
                ringing=not ivr.finished,
                review_reference=review.reference if review is not None else None,
                entered=review is not None and review.status != "review",
            )
        )
    return calls


def transferred_session(session: Session, call_sid: str | None) -> IvrSession | None:
    """The transferred call's menu session (None for any other or unknown call)."""
    if not call_sid or len(call_sid) > 64 or not (call_sid.isascii() and call_sid.isalnum()):
        return None  # a CallSid is 34 letters and digits: anything else is no call of ours
    ivr = session.get(IvrSession, call_sid)
    return ivr if ivr is not None and ivr.step == "dialed" else None


def prefill(session: Session, settings: Settings, ivr: IvrSession, today: date) -> dict[str, str]:
    """The new-request form's fields from what the caller answered before the transfer."""
    data = ivr.data or {}
    fields: dict[str, str] = {"call": ivr.call_sid}
    if data.get("postcode"):
        place = geo.commune(session, data["insee"]) if data.get("insee") else None
        fields["place"] = f"{data['postcode']} {place.name}" if place else data["postcode"]
    if data.get("care_type"):
        fields["care_type"] = data["care_type"]
    start, has_time = wished_start(settings, data)
    if start is not None:
        day = start.date()
        if day == today:
            fields["day"] = "today"
        elif day == today + timedelta(days=1):
            fields["day"] = "tomorrow"
        else:
            fields["day"], fields["date"] = "date", day.isoformat()
        if has_time:
            fields["time"] = start.strftime("%H:%M")
    if data.get("usual_nurse_phone"):
        fields["usual_nurse"] = normalize_phone(data["usual_nurse_phone"]).national
    callback = data.get("callback_phone") or data.get("callback_candidate") or ivr.from_phone
    if callback:
        fields["callback_phone"] = normalize_phone(callback).national
    requester = session.get(Requester, data["requester_id"]) if data.get("requester_id") else None
    if requester is not None:
        fields["requester"] = requester.name
    return fields


def link_call(
    session: Session, settings: Settings, ivr: IvrSession, request: CareRequest, now: datetime, *, actor: str
) -> list[Effect]:
    """The request a coordinator entered from this call: remember it on the call (so the call
    ends without a ``review`` request), and close the ``review`` request the call already left
    when it ended before the form was sent."""
    ivr.data = {**(ivr.data or {}), ENTERED: request.reference}
    effects: list[Effect] = []
    previous = session.get(CareRequest, ivr.request_id) if ivr.request_id else None
    if previous is not None and previous.id != request.id and previous.status == "review":
        effects = (
            cancel_request(
                session, settings, previous, now, actor=actor, reason=f"saisie à nouveau : demande {request.reference}"
            )
            or []
        )
    ivr.request_id = request.id
    call = session.scalar(select(Call).where(Call.sid == ivr.call_sid, Call.direction == "in"))
    if call is not None:
        call.request_id = request.id
    if request.recording_url is None and (ivr.data or {}).get("recording_url"):
        request.recording_url = ivr.data["recording_url"]
    return effects

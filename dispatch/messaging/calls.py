"""Outbound calls to the requester: what they say, and what happens when nobody answers.

Three purposes (DESIGN §6 "Confirmation call"): ``confirm`` (a nurse accepted: who she is and
how to reach her), ``unfilled`` (nobody; a coordinator will call back) and ``withdrawn`` (the
nurse withdrew; the search goes on). Calls are placed with answering-machine detection that
waits for the end of the greeting, so a voicemail gets the whole message after the beep.

Answered by a person → a ``confirm`` call makes the request ``confirmed``. Answered by a machine
(``AnsweredBy=machine_*``): the message is left after the beep (detection waits for the end of
the greeting: ``DetectMessageEnd``), the same news goes by SMS when the number is a mobile, and
the request stays ``accepted``, flagged for the coordinators: nobody heard it in person.
``no-answer``, ``busy``, ``failed``, ``canceled`` → another attempt ``CONFIRM_RETRY_S`` later, up
to :data:`MAX_ATTEMPTS`; after the last, the same content by SMS when the number is a mobile, and
the request flagged for the coordinators. Calls and their SMS wait for texting hours
(:func:`dispatch.lifecycle.send_time`). Every call, attempt and outcome is in the request's
timeline.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from dispatch import lifecycle, texts
from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.lifecycle import TAKEN_BY_A_NURSE, RequestStatus, transition
from dispatch.matching.waves import commune_name
from dispatch.phones import PhoneError, normalize_phone
from dispatch.telephony import urls
from dispatch.telephony.outbox import queue_call, queue_sms
from dispatch.telephony.voice import CallPlan, Gather, Hangup, Say
from dispatch.texts import Attention, Speech
from dispatch.timeline import record
from models import Call, CareRequest

MAX_ATTEMPTS = 3
FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
NOT_REACHED = ("busy", "no-answer", "failed", "canceled")
# The request states in which a call of each purpose still has something true to say.
STILL_TRUE = {
    "confirm": (RequestStatus.ACCEPTED,),
    "unfilled": (RequestStatus.UNFILLED,),
    "withdrawn": (RequestStatus.OPEN,),
}


def outbound_twiml(
    session: Session, settings: Settings, call_id: int, answered_by: str | None, digits: str | None, now: datetime
) -> CallPlan:
    """What an answered outbound call says; ``digits`` is the answer to "pour réécouter, tapez 1"."""
    call = session.get(Call, call_id)
    request = session.get(CareRequest, call.request_id) if call is not None and call.request_id else None
    if call is None or call.direction != "out" or request is None or answered_by == "fax":
        return CallPlan([Hangup()])
    effects = answered(session, settings, call, request, answered_by, now)
    if digits is not None and digits != "1":
        return CallPlan([Say(Speech.goodbye()), Hangup()])
    message = Say(_message(session, settings, call, request))
    if is_machine(answered_by):
        # Detection waited for the beep: the message goes on the voicemail once, nobody can type 1.
        return CallPlan([message, Hangup()], effects)
    replay = Gather(
        urls.outbound(call.id), (Speech.replay_hint(),), num_digits=1, timeout=5, action_on_empty_result=False
    )
    return CallPlan([message, replay, Say(Speech.goodbye()), Hangup()])


def call_progress(
    session: Session,
    settings: Settings,
    call_id: int | None,
    sid: str,
    status: str,
    answered_by: str | None,
    now: datetime,
) -> list[Effect]:
    """A status callback of an outbound call (the webhook already dropped repeats)."""
    call = session.get(Call, call_id) if call_id else None
    if call is None and sid:
        call = session.scalar(select(Call).where(Call.sid == sid))
    if call is None or call.direction != "out":
        return []
    request = session.get(CareRequest, call.request_id) if call.request_id else None
    if call.status == "placing" and request is not None:  # its placing timed out, yet Twilio has it
        record(session, request, "call_placed", now, purpose=call.purpose, attempt=call.attempt, to=call.to_phone)
    if sid and not call.sid:
        call.sid = sid
    picked_up = status == "in-progress" or (status == "completed" and call.answered_by is None)
    effects = answered(session, settings, call, request, answered_by, now) if picked_up and request else []
    if status in FINAL_STATUSES:
        return effects + call_finished(session, call, status, now, settings=settings)
    if call.status not in (*FINAL_STATUSES, "in-progress"):
        call.status = status  # initiated, ringing
    return effects


def answered(
    session: Session, settings: Settings, call: Call, request: CareRequest, answered_by: str | None, now: datetime
) -> list[Effect]:
    """The call was picked up (first news of it only): note it. A person hearing a confirmation
    makes the request ``confirmed``; a machine gets the message, and the SMS (:func:`_voicemail`)."""
    if call.answered_by is not None:
        return []
    call.answered_by = answered_by or "unknown"
    if call.status not in FINAL_STATUSES:
        call.status = "in-progress"
    record(
        session, request, "call_answered", now, purpose=call.purpose, attempt=call.attempt, answered_by=call.answered_by
    )
    if is_machine(call.answered_by):
        return _voicemail(session, settings, call, request, now)
    if call.purpose == "confirm" and call.answered_by != "fax":
        confirm_request(session, request, now, answered_by=call.answered_by)
    return []


def is_machine(answered_by: str | None) -> bool:
    """Twilio's ``AnsweredBy`` for an answering machine (``machine_end_beep``...)."""
    return (answered_by or "").startswith("machine")


def _voicemail(session: Session, settings: Settings, call: Call, request: CareRequest, now: datetime) -> list[Effect]:
    """An answering machine took the call: the message is left, nobody heard it. The same news
    by SMS to a mobile; the request stays as it is, flagged for the coordinators."""
    if request.status not in STILL_TRUE.get(call.purpose, ()):
        return []
    effects = _text_the_news(session, settings, call, request, now)
    _flag(request, Attention.voicemail_left())
    record(session, request, "voicemail_left", now, purpose=call.purpose, attempt=call.attempt, sms=bool(effects))
    return effects


def confirm_request(
    session: Session, request: CareRequest, now: datetime, *, kind: str = "confirmed", actor: str = "system", **data
) -> bool:
    """``accepted`` → ``confirmed``: the requester was told who will come. False when not accepted."""
    values = {"confirmed_at": now, "needs_attention": False, "attention_reason": None}
    via = {"via": "call"} if kind == "confirmed" else {}
    return transition(session, request, "confirmed", now, event=kind, values=values, actor=actor, **via, **data)


def call_finished(
    session: Session,
    call: Call,
    status: str,
    now: datetime,
    *,
    settings: Settings,
    refused: bool = False,
) -> list[Effect]:
    """A call's final status: record it, then confirm, retry, or fall back to an SMS and a flag.

    A placement the provider ``refused`` outright (invalid number...) is not retried: the same
    refusal would come back. It goes straight to the SMS fallback and the flag.
    """
    if call.status in FINAL_STATUSES:
        return []  # already done: a repeated or late callback
    call.status = status
    request = session.get(CareRequest, call.request_id) if call.request_id else None
    if request is None:
        return []
    record(
        session,
        request,
        "call_status",
        now,
        purpose=call.purpose,
        status=status,
        attempt=call.attempt,
        answered_by=call.answered_by,
        code=call.error_code,
    )
    if status == "completed" and call.answered_by != "fax":
        if call.purpose == "confirm" and not is_machine(call.answered_by):
            confirm_request(session, request, now, answered_by=call.answered_by)
        return []
    if status not in NOT_REACHED and status != "completed":
        return []
    if request.status not in STILL_TRUE.get(call.purpose, ()) or _superseded(session, call):
        return []  # the news changed (cancelled, withdrawn, taken again): that call has nothing left to say
    if not refused and call.attempt < MAX_ATTEMPTS:
        at = lifecycle.send_time(settings, request, now + timedelta(seconds=settings.confirm_retry_s))
        record(session, request, "call_retry", now, purpose=call.purpose, attempt=call.attempt + 1, at=at.isoformat())
        return [queue_call(session, call.to_phone, call.purpose, now, request=request, attempt=call.attempt + 1, at=at)]
    return _unreachable(session, settings, call, request, now)


def _unreachable(session: Session, settings: Settings, call: Call, request: CareRequest, now: datetime) -> list[Effect]:
    """Nobody picked up: the same news by SMS to a mobile, and the coordinators take it from there."""
    effects = _text_the_news(session, settings, call, request, now)
    _flag(request, Attention.requester_unreachable(call.attempt))
    record(
        session, request, "requester_unreachable", now, purpose=call.purpose, attempts=call.attempt, sms=bool(effects)
    )
    return effects


def _text_the_news(session: Session, settings: Settings, call: Call, request: CareRequest, now: datetime) -> list:
    """The call's news by SMS, when the number is a mobile (and texts may go out)."""
    body = _fallback_text(session, settings, call, request)
    if not body or not _is_mobile(call.to_phone):
        return []
    at = lifecycle.send_time(settings, request, now)
    return [queue_sms(session, call.to_phone, body, now, kind="notice", request=request, at=at)]


def _flag(request: CareRequest, reason: str) -> None:
    """Flag the request for the coordinators; an earlier reason (why it is unfilled) is kept."""
    if request.needs_attention and request.attention_reason and reason not in request.attention_reason:
        reason = f"{request.attention_reason}; {reason}"
    request.needs_attention, request.attention_reason = True, reason[:200]


def _superseded(session: Session, call: Call) -> bool:
    """A newer call of the same purpose exists (the nurse changed): it carries the news now."""
    newer = exists().where(
        Call.request_id == call.request_id, Call.purpose == call.purpose, Call.id > call.id, Call.attempt == 1
    )
    return bool(session.scalar(select(newer)))


def _message(session: Session, settings: Settings, call: Call, request: CareRequest) -> str:
    """The news as it stands when the call is picked up (it may have moved since it was queued)."""
    name, reference = settings.sio_name, request.reference
    if request.status == RequestStatus.CANCELLED:
        return Speech.cancelled_call(name, reference)
    nurse = request.accepted_nurse
    if request.status in TAKEN_BY_A_NURSE and nurse is not None:
        return Speech.confirm_call(
            name,
            reference,
            commune_name(session, request),
            request.care_type,
            nurse.name,
            normalize_phone(nurse.phone).national,
        )
    if request.status == RequestStatus.UNFILLED or call.purpose == "unfilled":
        return Speech.unfilled_call(name, reference)
    return Speech.withdrawn_call(name, reference)


def _fallback_text(session: Session, settings: Settings, call: Call, request: CareRequest) -> str | None:
    name, reference = settings.sio_name, request.reference
    if call.purpose == "confirm":
        nurse = request.accepted_nurse
        if nurse is None:
            return None
        return texts.confirmation(
            name,
            reference,
            commune_name(session, request),
            request.care_type,
            nurse.name,
            normalize_phone(nurse.phone).national,
        )
    if call.purpose == "unfilled":
        return texts.requester_unfilled(name, reference)
    return texts.requester_nurse_withdrew(name, reference)


def _is_mobile(phone: str | None) -> bool:
    try:
        return normalize_phone(phone).is_mobile
    except PhoneError:
        return False

"""The phone menu (DESIGN §6 "Intake by phone"): a state machine over ``IvrSession``.

One ``IvrSession`` per CallSid holds the step the caller is at, every answer given so far
(``data``), and how many invalid or missing answers came in a row. Each webhook is one call
here, inside one transaction, and returns a :class:`~dispatch.telephony.voice.CallPlan`. Nothing said
is lost: a caller who hangs up, or who ends on the coordinators' voicemail, leaves a
``review`` request with whatever was answered. ``finished`` is set by a guarded UPDATE, so
the last answer and the hang-up callback racing each other make one request, never two.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import geo
from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.intake.ivr_steps import (
    NEXT_PAGE,
    CallInput,
    menu_choice,
    menu_page,
    parse_date,
    parse_phone,
    parse_time,
    question,
)
from dispatch.intake.ivr_store import finish, load_session, on_duty_phones, request_from_call, requester_of
from dispatch.lifecycle import RequestStatus
from dispatch.phones import callback_problem, normalize_phone
from dispatch.requests.actions import cancel_request
from dispatch.requests.create import owned_request
from dispatch.starts import start_error
from dispatch.telephony.voice import CallPlan, Hangup, Say, Verb
from dispatch.texts import REVIEW_HANGUP, REVIEW_TRANSFERRED, REVIEW_VOICEMAIL, REVIEW_VOICEMAIL_EMPTY, Speech
from dispatch.vocab import IVR_CARE_DIGITS
from models import Call, IvrSession

MAX_ERRORS = 2  # two invalid or missing answers in a row: a human takes over
FINAL_CALL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")


def start_call(session: Session, settings: Settings, call: CallInput, now: datetime) -> CallPlan:
    """A new call on the single number: greet (by name when the number is a requester's), offer the menu."""
    if not call.call_sid:
        return _goodbye()
    ivr = load_session(session, call.call_sid)
    if ivr is not None:  # the entry URL fetched again for the same call: carry on where it was
        return _goodbye() if ivr.finished else CallPlan(_question(session, settings, ivr))
    requester = requester_of(session, call.caller)
    ivr = IvrSession(
        call_sid=call.call_sid,
        from_phone=call.caller,
        step="menu",
        errors=0,
        created_at=now,
        updated_at=now,
        data={"requester_id": requester.id if requester else None},
    )
    session.add(ivr)
    session.add(
        Call(
            sid=call.call_sid,
            direction="in",
            purpose="intake",
            from_phone=call.caller,
            to_phone=settings.twilio_phone_number,
            status="in-progress",
            created_at=now,
        )
    )
    session.flush()
    open_now = settings.service_hours.contains(now.astimezone(settings.timezone))
    # One true thing: outside service hours a coordinator on duty still takes the "0".
    reachable = open_now or bool(on_duty_phones(session, settings, ivr, now))
    greeting = Speech.greeting(settings.sio_name, requester.name if requester else None, reachable)
    return CallPlan([Say(greeting), *_question(session, settings, ivr)])


def answer(session: Session, settings: Settings, step: str, call: CallInput, now: datetime) -> CallPlan:
    """The caller's answer to ``step`` (Digits, RecordingUrl or DialCallStatus) moves the call on."""
    ivr = load_session(session, call.call_sid) if call.call_sid else None
    if ivr is None:
        return start_call(session, settings, call, now)
    if ivr.finished:
        return _goodbye()
    ivr.updated_at = now
    if step != ivr.step or step not in _STEPS:
        # A stale or repeated action (not an answer to the question being asked): ask it again.
        return CallPlan(_question(session, settings, ivr))
    return _STEPS[step](session, settings, ivr, call, now)


def call_ended(session: Session, settings: Settings, call_sid: str, status: str, now: datetime) -> list[Effect]:
    """The inbound call's final status: a caller gone before the end leaves a ``review`` request."""
    if status not in FINAL_CALL_STATUSES:
        return []
    row = session.scalar(select(Call).where(Call.sid == call_sid, Call.direction == "in"))
    if row is not None:
        row.status = status
    ivr = load_session(session, call_sid)
    if ivr is None or ivr.finished or not finish(session, ivr):
        return []
    return request_from_call(session, settings, ivr, now, review_reason=REVIEW_HANGUP)[1]


# -- the steps, in the caller's order -------------------------------------------------------------


def _menu(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    if call.digits == "1":
        return _goto(session, settings, ivr, "postcode", choice="new")
    if call.digits == "2":
        if not ivr.from_phone:  # a withheld number owns no request
            _set(ivr, choice="cancel")
            return _transfer(session, settings, ivr, Say(Speech.cancel_hidden_number()))
        return _goto(session, settings, ivr, "cancel", choice="cancel")
    if call.digits == "0":
        _set(ivr, choice="coordinator")
        return _transfer(session, settings, ivr)
    return _invalid(session, settings, ivr)


def _postcode(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    digits = call.digits or ""
    if len(digits) != 5 or not digits.isdigit():
        return _invalid(session, settings, ivr)
    communes = geo.communes_for_postcode(session, digits)
    if not communes:
        return _invalid(session, settings, ivr, Say(Speech.unknown_postcode(digits)))
    if len(communes) == 1:
        return _goto(session, settings, ivr, "care", postcode=digits, insee=communes[0].insee, commune=communes[0].name)
    return _goto(session, settings, ivr, "commune", postcode=digits, insee=None, commune=None, commune_page=0)


def _commune(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    page = ivr.data.get("commune_page", 0)
    choices, more = menu_page(geo.communes_for_postcode(session, ivr.data["postcode"]), page)
    if more and call.digits == NEXT_PAGE:
        return _goto(session, settings, ivr, "commune", commune_page=page + 1)
    index = menu_choice(call.digits or "", len(choices))
    if index is None:
        return _invalid(session, settings, ivr)
    return _goto(session, settings, ivr, "care", insee=choices[index].insee, commune=choices[index].name)


def _care(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    care = IVR_CARE_DIGITS.get(call.digits or "")
    return _goto(session, settings, ivr, "day", care_type=care) if care else _invalid(session, settings, ivr)


def _day(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    today = now.astimezone(settings.timezone).date()
    if call.digits in ("1", "2"):
        day = today + timedelta(days=int(call.digits) - 1)
        return _goto(session, settings, ivr, "time", day=day.isoformat())
    if call.digits == "3":
        return _goto(session, settings, ivr, "date")
    return _invalid(session, settings, ivr)


def _date(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    local_now = now.astimezone(settings.timezone)
    day = parse_date(call.digits or "", local_now.date())
    if day is None:
        return _invalid(session, settings, ivr)
    if start_error(day, local_now):
        return _invalid(session, settings, ivr, Say(Speech.past_date(day)))
    return _goto(session, settings, ivr, "time", day=day.isoformat())


def _time(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    if not call.digits:  # "#" alone: any time of that day
        return _goto(session, settings, ivr, "nurse", time=None)
    at = parse_time(call.digits)
    return _goto(session, settings, ivr, "nurse", time=at.strftime("%H:%M")) if at else _invalid(session, settings, ivr)


def _nurse(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    if not call.digits:  # "#" alone: no usual nurse
        return _goto(session, settings, ivr, "details", usual_nurse_phone=None)
    phone = parse_phone(call.digits)
    return (
        _goto(session, settings, ivr, "details", usual_nurse_phone=phone) if phone else _invalid(session, settings, ivr)
    )


def _details(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    # Optional: a caller with nothing to add (no RecordingUrl) goes on all the same.
    return _goto(session, settings, ivr, "callback", recording_url=call.recording_url)


def _callback_candidate(ivr: IvrSession) -> str | None:
    """The number to read back: the one typed, else the caller's, if the service may call it."""
    number = ivr.data.get("callback_candidate") or ivr.from_phone
    return number if number and callback_problem(number) is None else None


def _callback(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    candidate = _callback_candidate(ivr)
    if call.digits == "1" and candidate:
        if not finish(session, ivr):
            return _goodbye()
        _set(ivr, callback_phone=candidate)
        request, effects = request_from_call(session, settings, ivr, now)
        if request.status == RequestStatus.UNFILLED:  # nobody serves the place: say it before she hangs up
            numbers = on_duty_phones(session, settings, ivr, now)
            said = Say(Speech.request_unserved(request.reference, bool(numbers)))
            if not numbers:
                return CallPlan([said, Hangup()], effects)
            _set(ivr, transferred_from="unserved")
            ivr.step = "dialed"  # the board shows the call; its end changes nothing (the session is finished)
            return CallPlan([said, *_question(session, settings, ivr)], effects)
        return CallPlan([Say(Speech.request_registered(request.reference)), Hangup()], effects)
    typed = parse_phone(call.digits or "")
    if typed and callback_problem(typed):  # premium-rate (08 9...): never called back
        return _invalid(session, settings, ivr, Say(Speech.callback_refused()))
    if typed:  # read it back and ask for the 1 again: a typo would lose the call back
        return _goto(session, settings, ivr, "callback", callback_candidate=typed)
    return _invalid(session, settings, ivr)


def _cancel(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    reference = call.digits or ""
    if len(reference) != 6 or not reference.isdigit():
        return _invalid(session, settings, ivr)
    request = owned_request(session, reference, ivr.from_phone, ivr.data.get("requester_id"))
    if request is None:
        return _invalid(session, settings, ivr, Say(Speech.cancel_unknown(reference)))
    if not finish(session, ivr):
        return _goodbye()
    ivr.request_id = request.id
    requester = request.requester
    actor = requester.name if requester else "demandeur (téléphone)"
    effects = cancel_request(session, settings, request, now, actor=actor)
    if effects is None:
        return CallPlan([Say(Speech.cancel_closed(reference)), Hangup()])
    return CallPlan([Say(Speech.cancel_done(reference)), Hangup()], effects)


def _dialed(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    if call.dial_status in ("completed", "answered"):
        if not finish(session, ivr):
            return _goodbye()
        effects: list[Effect] = []
        # A request was under way: keep it for the coordinator who answered, unless she entered it.
        if ivr.data.get("postcode") and not ivr.data.get("desk_reference"):
            effects = request_from_call(session, settings, ivr, now, review_reason=REVIEW_TRANSFERRED)[1]
        return CallPlan([Say(Speech.goodbye()), Hangup()], effects)
    _set(ivr, dial_status=call.dial_status)
    ivr.step = "voicemail"
    return CallPlan(_question(session, settings, ivr))


def _voicemail(session: Session, settings: Settings, ivr: IvrSession, call: CallInput, now: datetime) -> CallPlan:
    if not finish(session, ivr):
        return _goodbye()
    _set(ivr, voicemail_url=call.recording_url)
    reason = REVIEW_VOICEMAIL if call.recording_url else REVIEW_VOICEMAIL_EMPTY
    request, effects = request_from_call(session, settings, ivr, now, review_reason=reason)
    return CallPlan([Say(Speech.voicemail_done(request.reference)), Hangup()], effects)


_STEPS = {
    "menu": _menu,
    "postcode": _postcode,
    "commune": _commune,
    "care": _care,
    "day": _day,
    "date": _date,
    "time": _time,
    "nurse": _nurse,
    "details": _details,
    "callback": _callback,
    "cancel": _cancel,
    "dialed": _dialed,
    "voicemail": _voicemail,
}


# -- moving between steps --------------------------------------------------------------------------


def _question(session: Session, settings: Settings, ivr: IvrSession) -> list[Verb]:
    """The verbs that ask the question of the caller's current step."""
    data, numbers = ivr.data, ()
    if ivr.step == "dialed" and not (numbers := on_duty_phones(session, settings, ivr, ivr.updated_at)):
        ivr.step = "voicemail"  # nobody on duty: straight to the voicemail
    if ivr.step == "menu":
        numbers = on_duty_phones(session, settings, ivr, ivr.updated_at)  # "0" is offered only when someone takes it
    communes = geo.communes_for_postcode(session, data["postcode"]) if ivr.step == "commune" else []
    number = _callback_candidate(ivr)
    return question(
        ivr.step,
        communes=[c.name for c in communes],
        page=data.get("commune_page", 0),
        callback=normalize_phone(number).national if number else None,
        coordinators=numbers,
    )


def _goto(session: Session, settings: Settings, ivr: IvrSession, step: str, *lead: Verb, **data) -> CallPlan:
    """A valid answer: keep it, reset the error count, ask the next question."""
    ivr.step, ivr.errors = step, 0
    _set(ivr, **data)
    return CallPlan([*lead, *_question(session, settings, ivr)])


def _invalid(session: Session, settings: Settings, ivr: IvrSession, *lead: Verb) -> CallPlan:
    """A wrong or missing answer: ask again once, then hand the caller to a coordinator."""
    ivr.errors += 1
    lead = lead or (Say(Speech.not_understood()),)
    if ivr.errors >= MAX_ERRORS:
        return _transfer(session, settings, ivr, *lead)
    return CallPlan([*lead, *_question(session, settings, ivr)])


def _transfer(session: Session, settings: Settings, ivr: IvrSession, *lead: Verb) -> CallPlan:
    """Ring every on-duty coordinator at once; nobody on duty: straight to the voicemail."""
    _set(ivr, transferred_from=ivr.step)
    ivr.step, ivr.errors = "dialed", 0
    return CallPlan([*lead, *_question(session, settings, ivr)])


def _set(ivr: IvrSession, **data) -> None:
    # A new dict, not an in-place change: the JSON column only sees assignments.
    ivr.data = {**ivr.data, **data}


def _goodbye() -> CallPlan:
    return CallPlan([Say(Speech.goodbye()), Hangup()])

"""Voice webhooks: the phone menu, the TwiML of outbound calls, and call status callbacks.

``/webhooks/voice`` is the number's voice URL; every question of the menu posts its answer to
``/webhooks/voice/ivr/<step>``; outbound calls fetch ``/webhooks/voice/outbound/<call_id>``;
``/webhooks/voice/status`` receives the status callbacks of outbound calls (``?c=<call_id>``)
and of inbound ones (the number's "call status changes" URL). Each handler: check the
signature, parse the form, call one ``dispatch`` function inside one transaction, enqueue its
jobs after commit, render the plan with the SDK's ``VoiceResponse``.
"""

from __future__ import annotations

from flask import Blueprint
from twilio.twiml.voice_response import VoiceResponse

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.config import Settings
from dispatch.intake import ivr
from dispatch.intake.inbox import first_time
from dispatch.intake.ivr_steps import CallInput
from dispatch.messaging import calls
from dispatch.phones import try_normalize
from dispatch.telephony.voice import CallPlan, Dial, Gather, Hangup, Record, Redirect, Say
from dispatch.texts import Speech
from webhooks.forms import field, optional_field, query_id
from webhooks.security import twilio_only
from webhooks.twiml import twiml
from workers.queue import enqueue

bp = Blueprint("voice", __name__, url_prefix="/webhooks/voice")
LANGUAGE = "fr-FR"


@bp.post("")
@twilio_only
def incoming_call():
    call, settings, session, now = _call_input(), services().settings, db(), utcnow()
    with session.begin():
        plan = ivr.start_call(session, settings, call, now)
    return _answer(settings, plan)


@bp.post("/ivr/<step>")
@twilio_only
def ivr_step(step: str):
    call, settings, session, now = _call_input(), services().settings, db(), utcnow()
    with session.begin():
        plan = ivr.answer(session, settings, step[:30], call, now)
    return _answer(settings, plan)


@bp.post("/outbound/<int(max=2147483647):call_id>")
@twilio_only
def outbound_call(call_id: int):
    answered_by = field("AnsweredBy", 30) or None
    digits = optional_field("Digits", 10)
    settings, session, now = services().settings, db(), utcnow()
    with session.begin():
        plan = calls.outbound_twiml(session, settings, call_id, answered_by, digits, now)
    return _answer(settings, plan)


@bp.post("/status")
@twilio_only
def call_status():
    sid = field("CallSid")
    status = field("CallStatus", 20)
    answered_by = field("AnsweredBy", 30) or None
    call_id = query_id("c")
    settings, session, now = services().settings, db(), utcnow()
    with session.begin():
        if not first_time(session, f"call-status:{sid or call_id}:{status}", now):
            return twiml(VoiceResponse())
        if call_id is not None:
            effects = calls.call_progress(session, settings, call_id, sid, status, answered_by, now)
        else:
            effects = ivr.call_ended(session, settings, sid, status, now)
    enqueue(settings, effects)
    return twiml(VoiceResponse())


def _call_input() -> CallInput:
    recording = field("RecordingUrl", 501)
    return CallInput(
        call_sid=field("CallSid"),
        caller=try_normalize(field("From", 40)),
        digits=optional_field("Digits", 20),
        # Only Twilio's own https URL is worth keeping for coordinators to listen to.
        recording_url=recording if recording.startswith(("https://", "http://")) and len(recording) <= 500 else None,
        dial_status=field("DialCallStatus", 20) or None,
    )


def _answer(settings: Settings, plan: CallPlan):
    enqueue(settings, plan.effects)
    return twiml(render(settings, plan))


def unavailable(settings: Settings):
    """What a caller hears while the database is unreachable (``dispatch.app``)."""
    return twiml(render(settings, CallPlan([Say(Speech.unavailable(settings.sio_name)), Hangup()])))


def render(settings: Settings, plan: CallPlan) -> VoiceResponse:
    """The plan's verbs as TwiML: French speech in the configured voice, absolute action URLs."""
    response = VoiceResponse()
    base = settings.public_base_url
    for verb in plan.verbs:
        if isinstance(verb, Say):
            response.say(verb.text, voice=settings.voice, language=LANGUAGE)
        elif isinstance(verb, Gather):
            gather = response.gather(
                input="dtmf",
                action=base + verb.action,
                method="POST",
                num_digits=verb.num_digits,
                finish_on_key=verb.finish_on_key,
                timeout=verb.timeout,
                action_on_empty_result=True if verb.action_on_empty_result else None,
            )
            for prompt in verb.prompts:
                gather.say(prompt, voice=settings.voice, language=LANGUAGE)
        elif isinstance(verb, Record):
            response.record(
                action=base + verb.action, method="POST", max_length=verb.max_length, finish_on_key="#", play_beep=True
            )
        elif isinstance(verb, Dial):
            dial = response.dial(action=base + verb.action, method="POST", timeout=verb.timeout)
            for number in verb.numbers:
                dial.number(number)
        elif isinstance(verb, Redirect):
            response.redirect(base + verb.action, method="POST")
        elif isinstance(verb, Hangup):
            response.hangup()
    return response

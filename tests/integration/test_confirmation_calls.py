"""Calling the requester back (DESIGN §6 "Confirmation call"): TwiML, retries, SMS fallback, idempotency."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select

from dispatch.clock import utcnow
from dispatch.requests.create import NewRequest, create_request
from dispatch.telephony import InvalidNumber
from dispatch.texts import Attention
from models import Call, CareRequest, Event, Message
from tests.support.helpers import answer, make_nurse, post_signed, run_jobs
from tests.support.twilio_standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, TwilioStandin
from workers.queue import enqueue

BASE = "http://sio.test"
MOBILE = "+33699887766"
LANDLINE = "+33477000009"
NURSE_PHONE = "+33611223344"


@pytest.fixture(autouse=True)
def quick_retries(env):
    env["CONFIRM_RETRY_S"] = "0"  # attempts follow each other at once: no sleeping in tests


def fresh(session) -> None:
    session.commit()
    session.expire_all()


def accepted(client, session, settings, callback: str = MOBILE) -> CareRequest:
    """A request taken by a nurse's OUI; the confirmation call placed by the worker."""
    nurse = make_nurse(session, "Hélène Martin", "06 11 22 33 44", ["42207"])
    request, effects = create_request(
        session, settings, NewRequest("api", "pansement", "42400", callback_phone=callback), utcnow()
    )
    session.commit()
    enqueue(settings, effects)
    answer(client, nurse.phone, f"OUI {request.reference}")
    run_jobs(settings)
    fresh(session)
    return request


def calls_of(session, request: CareRequest) -> list[Call]:
    fresh(session)
    return list(session.scalars(select(Call).where(Call.request_id == request.id).order_by(Call.id)))


def kinds(session, request: CareRequest) -> list[str]:
    fresh(session)
    return list(session.scalars(select(Event.kind).where(Event.request_id == request.id).order_by(Event.id)))


def twiml(client, call: Call, **fields) -> ET.Element:
    data = {"CallSid": call.sid, "CallStatus": "in-progress", "Direction": "outbound-api", **fields}
    response = post_signed(client, f"/webhooks/voice/outbound/{call.id}", data)
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    for say in root.iter("Say"):
        assert (say.get("language"), say.get("voice")) == ("fr-FR", "Polly.Lea")
    return root


def status(client, call: Call, call_status: str, **fields):
    data = {"CallSid": call.sid, "CallStatus": call_status, "Direction": "outbound-api", **fields}
    response = post_signed(client, f"/webhooks/voice/status?c={call.id}", data)
    assert response.status_code == 200
    return response


def spoken(root: ET.Element) -> str:
    return " ".join(say.text for say in root.iter("Say"))


def telephony(client):
    return client.application.extensions["sio"].telephony


def test_the_call_is_placed_with_machine_detection_and_callback_urls(client, session, settings):
    request = accepted(client, session, settings)
    [call] = calls_of(session, request)
    [placed] = telephony(client).sent("call", to=MOBILE)
    assert placed.url == f"{BASE}/webhooks/voice/outbound/{call.id}"
    assert placed.status_callback == f"{BASE}/webhooks/voice/status?c={call.id}"
    assert placed.machine_detection is True
    assert (call.purpose, call.attempt, call.sid, call.status) == ("confirm", 1, placed.sid, "initiated")
    assert "call_placed" in kinds(session, request)


def test_confirm_twiml_names_the_nurse_her_phone_and_the_reference(client, session, settings):
    request = accepted(client, session, settings)
    [call] = calls_of(session, request)
    root = twiml(client, call, AnsweredBy="human")
    text = spoken(root)
    assert f"référence {' '.join(request.reference)}" in text
    assert "pansement à Saint-Chamond" in text
    assert "l'infirmière Hélène Martin" in text and "0 6, 1 1, 2 2, 3 3, 4 4" in text
    [gather] = root.findall("Gather")
    assert gather.get("action") == f"{BASE}/webhooks/voice/outbound/{call.id}" and gather.get("numDigits") == "1"
    assert "Pour réécouter, tapez 1." in spoken(gather)
    assert [e.tag for e in root] == ["Say", "Gather", "Say", "Hangup"]

    fresh(session)
    request = session.get(CareRequest, request.id)
    assert request.status == "confirmed" and request.confirmed_at is not None
    # 1 plays it again (and confirms nothing twice); anything else says goodbye.
    assert "Hélène Martin" in spoken(twiml(client, call, AnsweredBy="human", Digits="1"))
    assert [e.tag for e in twiml(client, call, Digits="5")] == ["Say", "Hangup"]
    status(client, call, "completed", AnsweredBy="human")
    assert kinds(session, request).count("confirmed") == 1
    assert kinds(session, request).count("call_answered") == 1
    assert [c.status for c in calls_of(session, request)] == ["completed"]


def test_no_answer_three_times_then_the_sms_and_the_flag(client, session, settings):
    request = accepted(client, session, settings)
    for attempt in (1, 2, 3):
        call = calls_of(session, request)[-1]
        assert (call.attempt, call.status) == (attempt, "initiated")
        status(client, call, "ringing")
        status(client, call, "no-answer" if attempt != 2 else "busy")
        run_jobs(settings)
    calls = calls_of(session, request)
    assert [(c.attempt, c.status) for c in calls] == [(1, "no-answer"), (2, "busy"), (3, "no-answer")]
    assert len(telephony(client).sent("call", to=MOBILE)) == 3

    request = session.get(CareRequest, request.id)
    assert request.status == "accepted" and request.needs_attention
    assert request.attention_reason == Attention.requester_unreachable(3)
    [text] = telephony(client).sent("sms", to=MOBILE)
    assert request.reference in text.body and "Hélène Martin" in text.body and "06 11 22 33 44" in text.body
    events = kinds(session, request)
    assert events.count("call_placed") == 3 and events.count("call_status") == 3
    assert events.count("call_retry") == 2 and events.count("requester_unreachable") == 1
    assert events.index("requester_unreachable") > max(i for i, k in enumerate(events) if k == "call_status")


def test_a_landline_gets_no_sms_but_the_request_is_flagged(client, session, settings):
    request = accepted(client, session, settings, callback=LANDLINE)
    for _ in range(3):
        status(client, calls_of(session, request)[-1], "failed")
        run_jobs(settings)
    assert len(calls_of(session, request)) == 3
    assert telephony(client).sent("sms", to=LANDLINE) == []
    request = session.get(CareRequest, request.id)
    assert request.needs_attention and request.status == "accepted"


def test_repeated_status_callbacks_change_nothing_twice(client, session, settings):
    request = accepted(client, session, settings)
    [call] = calls_of(session, request)
    status(client, call, "no-answer")
    status(client, call, "no-answer")
    assert [c.attempt for c in calls_of(session, request)] == [1, 2]
    # A late, out-of-order final status for the same call does not start another round either.
    status(client, call, "busy")
    assert [c.attempt for c in calls_of(session, request)] == [1, 2]
    assert kinds(session, request).count("call_retry") == 1


def test_an_answering_machine_gets_the_message_after_the_beep(client, session, settings):
    request = accepted(client, session, settings)
    [call] = calls_of(session, request)
    root = twiml(client, call, AnsweredBy="machine_end_beep")
    assert [e.tag for e in root] == ["Say", "Hangup"]  # nobody to press 1: the message, once
    assert "Hélène Martin" in spoken(root) and " ".join(request.reference) in spoken(root)
    status(client, call, "completed", AnsweredBy="machine_end_beep")
    run_jobs(settings)
    fresh(session)
    # Issue 12 (7): a machine is not a person. The message was left, the SMS went to the mobile,
    # and the request stays accepted, flagged for the coordinators; no more calls.
    request = session.get(CareRequest, request.id)
    assert request.status == "accepted" and request.confirmed_at is None
    assert request.needs_attention and request.attention_reason == Attention.voicemail_left()
    assert [c.answered_by for c in calls_of(session, request)] == ["machine_end_beep"]
    [sms] = session.scalars(select(Message).where(Message.to_phone == MOBILE, Message.direction == "out")).all()
    assert "Hélène Martin" in sms.body and request.reference in sms.body and sms.status == "sent"
    assert kinds(session, request).count("voicemail_left") == 1 and "confirmed" not in kinds(session, request)


def test_an_answering_machine_on_a_landline_gets_no_sms(client, session, settings):
    request = accepted(client, session, settings, callback=LANDLINE)
    [call] = calls_of(session, request)
    twiml(client, call, AnsweredBy="machine_end_silence")
    status(client, call, "completed", AnsweredBy="machine_end_silence")
    run_jobs(settings)
    fresh(session)
    assert session.get(CareRequest, request.id).status == "accepted"
    assert session.get(CareRequest, request.id).needs_attention
    assert session.scalars(select(Message).where(Message.to_phone == LANDLINE)).all() == []
    assert len(calls_of(session, request)) == 1


def test_a_fax_is_not_a_confirmation(client, session, settings):
    request = accepted(client, session, settings)
    [call] = calls_of(session, request)
    assert [e.tag for e in twiml(client, call, AnsweredBy="fax")] == ["Hangup"]
    status(client, call, "completed", AnsweredBy="fax")
    assert [c.attempt for c in calls_of(session, request)] == [1, 2]
    assert session.get(CareRequest, request.id).status == "accepted"


def test_answered_status_alone_confirms(client, session, settings):
    request = accepted(client, session, settings)
    [call] = calls_of(session, request)
    status(client, call, "in-progress", AnsweredBy="human")
    status(client, call, "completed")
    fresh(session)
    assert session.get(CareRequest, request.id).status == "confirmed"
    assert len(calls_of(session, request)) == 1


def test_a_call_refused_by_the_provider_flags_the_request_at_once(client, session, settings):
    telephony(client).fail_numbers[MOBILE] = InvalidNumber("Invalid 'To' Phone Number", 21217)
    request = accepted(client, session, settings)
    [call] = calls_of(session, request)
    assert (call.status, call.error_code) == ("failed", 21217)
    request = session.get(CareRequest, request.id)
    assert request.needs_attention and request.attention_reason == Attention.requester_unreachable(1)
    assert len(calls_of(session, request)) == 1  # no second call, but the news is written as an SMS
    texts = session.scalars(select(Message.body).where(Message.to_phone == MOBILE, Message.direction == "out"))
    assert any("acceptée par" in body for body in texts)


def test_a_cancelled_request_is_not_called_again(client, session, settings):
    request = accepted(client, session, settings)
    [call] = calls_of(session, request)
    answer(client, MOBILE, f"ANNULER {request.reference}")
    assert "est annulée" in spoken(twiml(client, call, AnsweredBy="human"))
    status(client, call, "no-answer")
    assert len(calls_of(session, request)) == 1
    assert session.get(CareRequest, request.id).status == "cancelled"


def test_unfilled_call_says_a_coordinator_will_call_back(client, session, settings):
    # No nurse serves 42400 at all: the request is unfilled as soon as it is made.
    request, effects = create_request(
        session, settings, NewRequest("api", "perfusion", "42400", callback_phone=MOBILE), utcnow()
    )
    assert request.status == "unfilled"
    session.commit()
    enqueue(settings, effects)
    run_jobs(settings)
    [call] = calls_of(session, request)
    root = twiml(client, call, AnsweredBy="human")
    assert call.purpose == "unfilled" and "aucune infirmière n'a pu accepter" in spoken(root)
    assert "Une coordinatrice va vous rappeler" in spoken(root) and " ".join(request.reference) in spoken(root)
    status(client, call, "completed")
    assert len(calls_of(session, request)) == 1 and session.get(CareRequest, request.id).status == "unfilled"


def test_unfilled_unanswered_three_times_is_texted(client, session, settings):
    request, effects = create_request(
        session, settings, NewRequest("api", "autre", "42400", callback_phone=MOBILE), utcnow()
    )
    session.commit()
    enqueue(settings, effects)
    run_jobs(settings)
    for _ in range(3):
        status(client, calls_of(session, request)[-1], "no-answer")
        run_jobs(settings)
    [text] = telephony(client).sent("sms", to=MOBILE)
    assert "aucune infirmière" in text.body
    fresh(session)
    request = session.get(CareRequest, request.id)
    # The reason it is unfilled is kept; that the requester was not reached is added.
    assert request.attention_reason == f"plus aucune infirmière à solliciter; {Attention.requester_unreachable(3)}"


def test_withdrawn_call_tells_a_landline_the_search_goes_on(client, session, settings):
    request = accepted(client, session, settings, callback=LANDLINE)
    [confirm] = calls_of(session, request)
    make_nurse(session, "Inès Roux", "06 55 44 33 22", ["42207"])  # the search can go on with her
    session.commit()
    answer(client, NURSE_PHONE, f"DESISTE {request.reference}")
    run_jobs(settings)
    [_, withdrawn] = calls_of(session, request)
    root = twiml(client, withdrawn, AnsweredBy="human")
    assert withdrawn.purpose == "withdrawn" and "s'est désistée" in spoken(root)
    # The confirmation call's late failure has nothing true left to say: no retry.
    status(client, confirm, "no-answer")
    assert len(calls_of(session, request)) == 2
    assert session.get(CareRequest, request.id).status == "open"
    assert telephony(client).sent("sms", to="+33655443322")  # the new offer


@pytest.fixture
def standin():
    with TwilioStandin() as server:
        yield server


@pytest.fixture
def twilio_env(env, standin):
    env.update(TELEPHONY="twilio", TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID, TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
               TWILIO_API_BASE_URL=standin.base_url, TWILIO_PHONE_NUMBER="+33757000000")  # fmt: skip
    return standin


def test_with_the_real_twilio_sdk(twilio_env, client, session, settings):
    standin = twilio_env
    request = accepted(client, session, settings)
    [call] = calls_of(session, request)
    [form] = [c for c in standin.calls() if c["To"] == [MOBILE]]
    assert form["Url"] == [f"{BASE}/webhooks/voice/outbound/{call.id}"]
    assert form["StatusCallback"] == [f"{BASE}/webhooks/voice/status?c={call.id}"]
    assert form["MachineDetection"] == ["DetectMessageEnd"] and form["From"] == ["+33757000000"]
    assert call.sid and call.sid.startswith("CA")

    status(client, call, "no-answer")
    run_jobs(settings)
    second = calls_of(session, request)[-1]
    assert second.attempt == 2 and len([c for c in standin.calls() if c["To"] == [MOBILE]]) == 2
    assert "Hélène Martin" in spoken(twiml(client, second, AnsweredBy="human"))
    status(client, second, "completed", AnsweredBy="human")
    fresh(session)
    assert session.get(CareRequest, request.id).status == "confirmed"
    assert session.scalars(select(Message).where(Message.to_phone == MOBILE)).all() == []

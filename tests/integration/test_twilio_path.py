"""The dispatch loop through the real twilio SDK, against a local stand-in of Twilio's REST API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from dispatch.clock import utcnow
from dispatch.people.tokens import issue_token
from dispatch.telephony.outbox import CLAIM_TIMEOUT
from models import Call, CareRequest, Event, Message, Nurse, Offer
from tests.support.helpers import answer, make_nurse, make_requester, post_signed, run_jobs
from tests.support.twilio_standin import TwilioStandin
from workers.jobs import place_call, send_messages
from workers.worker import sweep_once

SID = "AC" + "1" * 32


@pytest.fixture
def standin():
    with TwilioStandin(account_sid=SID, auth_token="tok") as server:
        yield server


@pytest.fixture
def env(env, standin):
    env.update(
        {
            "TELEPHONY": "twilio",
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": "tok",
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_PHONE_NUMBER": "+33937000000",
            "DISPATCH_WAVE_SIZES": "3",
            "DISPATCH_RADIUS_KM": "0",
        }
    )
    return env


def post_and_dispatch(app, client, token: str) -> None:
    """A hospital's request through the API, then the jobs it starts."""
    response = client.post(
        "/api/v1/requests",
        headers={"Authorization": f"Bearer {token}"},
        json={"postcode": "42400", "care_type": "pansement", "callback_phone": "0477000002"},
    )
    assert response.status_code == 201
    run_jobs(app.extensions["sio"].settings)


def test_offers_reach_twilio_and_refusals_move_on(app, client, session, standin):
    requester = make_requester(session)
    token = issue_token(session, requester)
    ok = make_nurse(session, "Ok", "06 14 00 00 01", ["42207"])
    opted = make_nurse(session, "Opted", "06 14 00 00 02", ["42207"])
    invalid = make_nurse(session, "Invalid", "06 14 00 00 03", ["42207"])
    later = make_nurse(session, "Later", "06 14 00 00 04", ["42207"])
    session.commit()
    standin.fail_for[opted.phone] = 21610
    standin.fail_for[invalid.phone] = 21211
    standin.fail_next(1, status=503)  # a passing outage: the adapter retries

    post_and_dispatch(app, client, token)

    sent = standin.messages()
    delivered_to = [m["To"][0] for m in sent]
    assert delivered_to.count(ok.phone) == 2  # 503 once, then accepted on the adapter's retry
    assert later.phone not in delivered_to  # the wave's size is 3
    first = next(m for m in sent if m["To"][0] == ok.phone)
    assert first["From"] == ["+33937000000"] and "OUI" in first["Body"][0]
    assert first["StatusCallback"][0].startswith("http://sio.test/webhooks/sms/status?m=")

    session.rollback()
    session.expire_all()
    assert session.get(Nurse, opted.id).opted_out_at is not None  # 21610: she replied STOP at Twilio
    assert session.get(Nurse, invalid.id).opted_out_at is None
    request = session.scalar(select(CareRequest))
    statuses = {o.nurse_id: o.status for o in request.offers}
    assert statuses[opted.id] == "failed" and statuses[invalid.id] == "failed" and statuses[ok.id] == "sent"
    assert later.id not in statuses
    codes = {m.to_phone: m.error_code for m in session.scalars(select(Message).where(Message.status == "failed"))}
    assert codes == {opted.phone: 21610, invalid.phone: 21211}

    # Her no ends the wave (the two others could not be reached): the next wave goes out at once.
    answer(client, ok.phone, "NON")
    assert [m["To"][0] for m in standin.messages()][-1] == later.phone


def test_messaging_service_is_used_when_configured(app, client, session, standin, env):
    from dispatch.app.factory import create_app
    from dispatch.services import reset_services

    reset_services()
    service_app = create_app({**env, "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32})
    svc = service_app.extensions["sio"]
    make_nurse(session, "Ok", "06 14 00 00 01", ["42207"])
    session.commit()
    from dispatch.clock import utcnow
    from dispatch.messaging.refusals import Refusals
    from dispatch.telephony.outbox import deliver_message, queue_sms
    from dispatch.telephony.urls import Urls

    with svc.sessionmaker() as s, s.begin():
        effect = queue_sms(s, "+33614000001", "SIO: test", utcnow())
    with svc.sessionmaker() as s:
        urls = Urls(svc.settings.public_base_url)
        refusals = Refusals(svc.settings)
        deliver_message(s, svc.telephony, urls, effect.message_id, utcnow(), settings=svc.settings, refusals=refusals)
    sent = standin.messages()[-1]
    assert sent["MessagingServiceSid"] == ["MG" + "2" * 32] and "From" not in sent


def _slow_twilio_wave(app, client, session, standin):
    """A request whose one offer's text reached Twilio, whose answer came too late."""
    token = issue_token(session, make_requester(session))
    nurse = make_nurse(session, "Lente", "06 14 00 00 09", ["42207"])
    session.commit()
    app.extensions["sio"].telephony.http_client.timeout = 0.3
    standin.delay_s = 0.8
    post_and_dispatch(app, client, token)
    standin.delay_s = 0.0
    assert len(standin.messages()) == 1  # Twilio has it; we never heard so
    session.rollback()
    text = session.scalar(select(Message).where(Message.to_phone == nurse.phone, Message.kind == "offer"))
    assert text.status == "sending" and text.sid is None
    send_messages([text.id])  # the job's retry: not sent again while Twilio may have it
    assert len(standin.messages()) == 1
    return text


def _age_claim(session, text) -> None:
    session.rollback()  # a fresh snapshot before writing (SQLite)
    session.execute(
        update(Message).where(Message.id == text.id).values(claimed_at=utcnow() - CLAIM_TIMEOUT - timedelta(seconds=5))
    )
    session.commit()


def test_a_text_whose_answer_timed_out_is_settled_by_its_status_callback(app, client, session, standin):
    text = _slow_twilio_wave(app, client, session, standin)
    callback = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "sent"}
    assert post_signed(client, f"/webhooks/sms/status?m={text.id}", callback).status_code == 200
    run_jobs(app.extensions["sio"].settings)

    session.rollback()
    session.refresh(text)
    offer = session.scalar(select(Offer).where(Offer.id == text.offer_id))
    assert (text.status, text.sid, offer.status) == ("sent", "SM" + "9" * 32, "sent")
    assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "offer_sent")) == 1
    _age_claim(session, text)
    sweep_once(app.extensions["sio"].settings)
    run_jobs(app.extensions["sio"].settings)
    assert len(standin.messages()) == 1  # never twice


def test_a_text_whose_answer_timed_out_and_never_reported_is_sent_again_later(app, client, session, standin):
    text = _slow_twilio_wave(app, client, session, standin)
    _age_claim(session, text)  # no status callback within the claim's time
    assert sweep_once(app.extensions["sio"].settings) >= 1
    run_jobs(app.extensions["sio"].settings)

    assert len(standin.messages()) == 2  # at least once: the nurse may see it twice, never zero times
    session.rollback()
    session.refresh(text)
    assert text.status == "sent" and text.sid.startswith("SM")


def test_a_call_whose_answer_timed_out_is_not_placed_twice(app, client, session, standin):
    settings = app.extensions["sio"].settings
    token = issue_token(session, make_requester(session))
    nurse = make_nurse(session, "Rapide", "06 14 00 00 08", ["42207"])
    session.commit()
    post_and_dispatch(app, client, token)
    app.extensions["sio"].telephony.http_client.timeout = 0.3
    standin.delay_s = 0.8  # Twilio slow from her OUI on: it takes the call, answers too late
    answer(client, nurse.phone, "OUI")
    run_jobs(settings)
    standin.delay_s = 0.0
    assert len(standin.calls()) == 1
    session.rollback()
    call = session.scalar(select(Call).where(Call.purpose == "confirm"))
    assert call.status == "placing" and call.sid is None
    place_call(call.id)  # the job's retry: not placed again while Twilio may have it
    assert len(standin.calls()) == 1

    data = {"CallSid": "CA" + "9" * 32, "CallStatus": "initiated", "Direction": "outbound-api"}
    assert post_signed(client, f"/webhooks/voice/status?c={call.id}", data).status_code == 200
    session.rollback()  # a fresh snapshot before writing (SQLite)
    session.execute(
        update(Call).where(Call.id == call.id).values(claimed_at=utcnow() - CLAIM_TIMEOUT - timedelta(seconds=5))
    )
    session.commit()
    sweep_once(settings)
    run_jobs(settings)
    assert len(standin.calls()) == 1
    session.refresh(call)
    assert (call.status, call.sid) == ("initiated", "CA" + "9" * 32)
    placed = session.scalar(select(func.count()).select_from(Event).where(Event.kind == "call_placed"))
    assert placed == 1

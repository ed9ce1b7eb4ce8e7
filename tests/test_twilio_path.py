"""The dispatch loop through the real twilio SDK, against a local stand-in of Twilio's REST API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dispatch.tokens import issue_token
from models import CareRequest, Message, Nurse
from tests.helpers import answer, make_nurse, make_requester, run_jobs
from tests.twilio_standin import TwilioStandin

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

    response = client.post(
        "/api/v1/requests",
        headers={"Authorization": f"Bearer {token}"},
        json={"postcode": "42400", "care_type": "pansement", "callback_phone": "0477000002"},
    )
    assert response.status_code == 201
    run_jobs(app.extensions["sio"].settings)

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
    from dispatch.app import create_app, reset_services

    reset_services()
    service_app = create_app({**env, "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32})
    svc = service_app.extensions["sio"]
    make_nurse(session, "Ok", "06 14 00 00 01", ["42207"])
    session.commit()
    from dispatch.clock import utcnow
    from dispatch.outbox import Urls, deliver_message, queue_sms

    with svc.sessionmaker() as s, s.begin():
        effect = queue_sms(s, "+33614000001", "SIO: test", utcnow())
    with svc.sessionmaker() as s:
        deliver_message(
            s, svc.telephony, Urls(svc.settings.public_base_url), effect.message_id, utcnow(), sio_name="SIO"
        )
    sent = standin.messages()[-1]
    assert sent["MessagingServiceSid"] == ["MG" + "2" * 32] and "From" not in sent

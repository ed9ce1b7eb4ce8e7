"""Toll fraud (issue #14 §5): the service calls back French fixed lines and mobiles (overseas
departments included), never a premium-rate, special, short or foreign number: refused where
the number comes in (API, phone menu, SMS) and, whatever let it in, by the telephony port."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dispatch.phones import PhoneError, callback_problem, normalize_callback
from dispatch.telephony import InvalidNumber
from dispatch.telephony.simulator import SimulatorTelephony
from models import Call, CareRequest
from tests.integration.test_ivr import Caller, spoken
from tests.support import scenario
from tests.support.helpers import answer
from tests.support.twilio_standin import TwilioStandin

CALLABLE = [
    "04 65 71 20 10",  # fixed line
    "06 12 34 56 78",  # mobile
    "07 56 00 00 00",
    "09 69 12 34 56",  # a "box" line
    "0692 12 34 56",  # Réunion, dialled from France
    "+590 690 12 34 56",  # Guadeloupe
    "+594 694 12 34 56",  # Guyane
    "+596 696 12 34 56",  # Martinique
    "+262 269 61 23 45",  # Mayotte
]
REFUSED = {
    "08 99 12 34 56": "surtaxé",  # premium rate
    "08 91 23 45 67": "surtaxé",
    "08 10 12 34 56": "surtaxé",  # shared cost
    "08 00 12 34 56": "spécial",  # toll free: not a callback number either
    "+44 20 7946 0018": "étranger",
    "+1 202 555 0123": "étranger",
    "0044 20 7946 0018": "étranger",
    "3615": "numéro court",
    "112": "numéro court",
}


def test_toll_fraud_api_refuses_premium_short_and_foreign_callbacks(client, session):
    token = scenario.seed_region(session, nurses=1)
    for number, reason in REFUSED.items():
        response = scenario.post_request(client, token, callback_phone=number)
        assert response.status_code == 422, number
        assert reason in response.get_json()["errors"]["callback_phone"], (number, response.get_json())
    for number in CALLABLE:
        response = scenario.post_request(client, token, callback_phone=number)
        assert response.status_code == 201, (number, response.get_json())
    assert session.scalar(select(func.count()).select_from(CareRequest)) == len(CALLABLE)


def test_callback_rules():
    for number in CALLABLE:
        assert callback_problem(normalize_callback(number).e164) is None, number
    for number, reason in REFUSED.items():
        with pytest.raises(PhoneError, match=reason):
            normalize_callback(number)


def test_the_telephony_port_never_calls_such_a_number(settings):
    simulator = SimulatorTelephony(settings, send_callbacks=False)
    with pytest.raises(InvalidNumber, match="surtaxé"):
        simulator.place_call("+33899123456", "http://sio.test/t", "http://sio.test/s")
    assert simulator.sent() == []
    with TwilioStandin() as standin:
        twilio = standin.adapter(settings, retries=0)
        with pytest.raises(InvalidNumber, match="étranger"):
            twilio.place_call("+442079460018", "http://sio.test/t", "http://sio.test/s")
        assert standin.recorded() == []  # refused before Twilio is asked
        assert twilio.place_call("+33465712010", "http://sio.test/t", "http://sio.test/s").sid.startswith("CA")


def test_a_premium_number_let_in_earlier_is_not_called(client, session, settings):
    """A request stored with a premium-rate callback (before this check existed): a nurse says
    yes, and the confirmation call is refused by the port, not placed."""
    token = scenario.seed_region(session, nurses=3)
    reference = scenario.post_request(client, token).json["reference"]
    request = scenario.request_by_ref(session, reference)
    request.callback_phone = "+33899123456"
    session.commit()
    scenario.work(settings)
    nurse = scenario.offers_of(session, request.id)[0].nurse.phone
    assert scenario.reply(client, nurse, f"OUI {reference}").status_code == 200
    scenario.work(settings)
    scenario.work(settings)
    telephony = client.application.extensions["sio"].telephony
    assert telephony.sent("call") == []
    scenario.fresh(session)
    calls = session.scalars(select(Call).where(Call.request_id == request.id)).all()
    assert calls and {c.status for c in calls} == {"failed"}


def test_the_phone_menu_refuses_a_premium_callback(client, session):
    call = Caller(client, caller="+33612345678")
    call.dial_in()
    for digits in ("1", "42400", "1", "1", ""):
        call.press(digits)
    call.press("")  # no usual nurse
    call.record(None)
    root = call.press("0899123456")
    assert "Nous ne rappelons pas les numéros surtaxés" in spoken(root)
    assert "8 9 9" not in spoken(root)  # not read back as the number to confirm
    call.press("0465712010")
    assert "0 4, 6 5, 7 1, 2 0, 1 0" in spoken(call.twiml)
    call.press("1")
    [request] = session.scalars(select(CareRequest)).all()
    assert request.callback_phone == "+33465712010"


def test_the_phone_menu_never_offers_a_foreign_caller_id(client, session):
    call = Caller(client, caller="+442079460018")
    call.dial_in()
    for digits in ("1", "42400", "1", "1", ""):
        call.press(digits)
    call.press("")
    root = call.record(None)
    assert "Tapez le numéro à 10 chiffres" in spoken(root) and "Pour confirmer, tapez 1" not in spoken(root)
    call.press("1")  # nothing to confirm
    assert session.scalar(select(func.count()).select_from(CareRequest)) == 0


def test_a_request_texted_from_a_foreign_number_is_refused_in_french(client, session):
    scenario.seed_region(session, nurses=1)
    reply = answer(client, "+447911123456", "42400 pansement demain 9h")
    assert "nous ne rappelons que les numéros fixes et mobiles francais (outre-mer compris)" in reply
    assert session.scalar(select(func.count()).select_from(CareRequest)) == 0

"""The phone menu walked through signed webhooks, the TwiML parsed at every step (DESIGN §6)."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dispatch.intake import ivr
from dispatch.intake.ivr_steps import CallInput
from dispatch.telephony.voice import Gather, Say
from dispatch.texts import REVIEW_HANGUP, REVIEW_VOICEMAIL
from models import CareRequest, Coordinator, Event, IvrSession, Message
from tests.support.helpers import make_nurse, make_requester, post_signed, run_jobs

BASE = "http://sio.test"
CALLER = "+33477000001"  # the Ehpad's landline (make_requester's default phone)
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE" + "1" * 32
PARIS = ZoneInfo("Europe/Paris")


class Caller:
    """One phone call: posts what Twilio would post and keeps the last TwiML answered."""

    def __init__(self, client, caller: str = CALLER):
        self.client, self.caller = client, caller
        self.sid = "CA" + uuid.uuid4().hex
        self.twiml: ET.Element | None = None

    def post(self, path: str, **fields) -> ET.Element:
        data = {"CallSid": self.sid, "AccountSid": "AC" + "0" * 32, "From": self.caller, "To": "+33900000000",
                "CallStatus": "in-progress", "Direction": "inbound", **fields}  # fmt: skip
        response = post_signed(self.client, path, data)
        assert response.status_code == 200, response.data
        assert response.mimetype == "text/xml"
        self.twiml = ET.fromstring(response.data)
        check_twiml(self.twiml)
        return self.twiml

    def dial_in(self) -> ET.Element:
        return self.post("/webhooks/voice")

    def press(self, digits: str) -> ET.Element:
        """Type on the keypad: Digits posted to the last Gather's action (a lone # posts nothing)."""
        return self.post(action_of(self.twiml, "Gather"), Digits=digits)

    def record(self, url: str | None = RECORDING) -> ET.Element:
        """Speak after the beep (or stay silent: Twilio then follows the Redirect)."""
        if url is None:
            return self.post(self.twiml.find("Redirect").text.removeprefix(BASE))
        return self.post(action_of(self.twiml, "Record"), RecordingUrl=url, RecordingDuration="42")

    def dial_ends(self, status: str) -> ET.Element:
        return self.post(action_of(self.twiml, "Dial"), DialCallStatus=status)

    def hang_up(self, status: str = "completed"):
        data = {"CallSid": self.sid, "CallStatus": status, "From": self.caller, "Direction": "inbound"}
        return post_signed(self.client, "/webhooks/voice/status", data)


def check_twiml(root: ET.Element) -> None:
    """Every Say is French in the configured voice; every Gather, Record and Dial names its action."""
    assert root.tag == "Response"
    for say in root.iter("Say"):
        assert say.get("language") == "fr-FR" and say.get("voice") == "Polly.Lea", ET.tostring(say)
    for tag in ("Gather", "Record", "Dial"):
        for element in root.iter(tag):
            assert element.get("action", "").startswith(BASE + "/webhooks/voice/"), ET.tostring(element)
            assert element.get("method") == "POST"
    for gather in root.iter("Gather"):
        assert gather.get("input") == "dtmf" and gather.get("actionOnEmptyResult") == "true"


def action_of(root: ET.Element, tag: str) -> str:
    [element] = root.findall(tag)
    return element.get("action").removeprefix(BASE)


def spoken(root: ET.Element) -> str:
    return " ".join(say.text for say in root.iter("Say"))


def gather(root: ET.Element) -> ET.Element:
    [element] = root.findall("Gather")
    return element


def spelled_reference(root: ET.Element) -> str:
    match = re.search(r"référence ((?:\d ){5}\d)", spoken(root))
    assert match, spoken(root)
    return match.group(1).replace(" ", "")


def fresh(session) -> None:
    """End the test's read transaction and forget loaded rows: see what the app committed since."""
    session.commit()
    session.expire_all()


def requests(session) -> list[CareRequest]:
    fresh(session)
    return list(session.scalars(select(CareRequest).order_by(CareRequest.id)))


@pytest.fixture
def people(session):
    requester = make_requester(session)
    nurse = make_nurse(session, "Marie Curie", "06 11 22 33 44", ["42207"])
    session.commit()
    return requester, nurse


def test_happy_path_opens_the_request_and_reads_the_reference_back(client, session, settings, people):
    requester, nurse = people
    call = Caller(client)

    root = call.dial_in()
    assert "Bonjour Ehpad Les Tilleuls" in spoken(root)
    assert "Nouvelle demande: tapez 1" in spoken(gather(root))
    assert action_of(root, "Gather") == "/webhooks/voice/ivr/menu" and gather(root).get("numDigits") == "1"

    root = call.press("1")
    assert action_of(root, "Gather") == "/webhooks/voice/ivr/postcode" and gather(root).get("numDigits") == "5"
    root = call.press("42400")
    assert "Pansement: tapez 1" in spoken(root) and "Sortie d'hospitalisation: tapez 6" in spoken(root)
    assert "Autre soin: tapez 9" in spoken(root)
    root = call.press("1")
    assert "Demain: tapez 2" in spoken(root)
    root = call.press("2")
    assert "dièse" in spoken(root) and gather(root).get("finishOnKey") == "#"
    assert action_of(root, "Gather") == "/webhooks/voice/ivr/time"
    root = call.press("0930")
    assert action_of(root, "Gather") == "/webhooks/voice/ivr/nurse" and gather(root).get("numDigits") == "10"
    root = call.press("0611223344")
    record = root.find("Record")
    assert record.get("maxLength") == "120" and record.get("finishOnKey") == "#"
    assert root.find("Redirect").text == BASE + "/webhooks/voice/ivr/details"
    root = call.record()
    assert "Nous vous rappellerons au 0 4, 7 7, 0 0, 0 0, 0 1" in spoken(root)
    assert requests(session) == []  # nothing is created before the caller confirms

    root = call.press("1")
    reference = spelled_reference(root)
    assert f"Je répète: {' '.join(reference)}" in spoken(root)
    assert root[-1].tag == "Hangup"

    [request] = requests(session)
    tomorrow = datetime.now(PARIS).date() + timedelta(days=1)
    assert (request.reference, request.status, request.channel) == (reference, "open", "voice")
    assert (request.postcode, request.insee, request.care_type) == ("42400", "42207", "pansement")
    assert request.start_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, 30, tzinfo=PARIS)
    assert request.has_start_time is True
    assert (request.usual_nurse_id, request.usual_nurse_phone) == (nurse.id, "+33611223344")
    assert (request.recording_url, request.callback_phone, request.requester_id) == (RECORDING, CALLER, requester.id)

    # The hang-up that follows changes nothing; dispatch started: the usual nurse gets the offer.
    assert call.hang_up().status_code == 200
    assert len(requests(session)) == 1
    run_jobs(settings)
    [offer] = client.application.extensions["sio"].telephony.sent("sms", to="+33611223344")
    assert reference in offer.body


def test_any_time_and_no_usual_nurse_with_a_lone_hash(client, session, people):
    call = Caller(client, caller="+33612345678")  # not a requester: plain greeting
    assert "Bonjour." in spoken(call.dial_in()) and "Tilleuls" not in spoken(call.twiml)
    ahead = datetime.now(PARIS).date() + timedelta(days=10)
    for digits in ("1", "42400", "4", "3", f"{ahead:%d%m}"):
        call.press(digits)
    call.press("")  # "#" alone: any time
    call.press("")  # "#" alone: no usual nurse
    call.record(None)  # silent: Twilio follows the Redirect
    assert "0 6, 1 2, 3 4, 5 6, 7 8" in spoken(call.twiml)
    call.press("0477000002")  # another number: read back, to be confirmed
    assert "0 4, 7 7, 0 0, 0 0, 0 2" in spoken(call.twiml)
    call.press("1")
    [request] = requests(session)
    assert request.start_at.astimezone(PARIS).date() == ahead and request.has_start_time is False
    assert (request.care_type, request.usual_nurse_phone, request.recording_url) == ("toilette", None, None)
    assert request.callback_phone == "+33477000002" and request.requester_id is None


def test_unknown_postcode_is_said_and_asked_again(client, session, people):
    call = Caller(client)
    call.dial_in()
    call.press("1")
    root = call.press("00000")
    assert "Le code postal 0 0 0 0 0 ne correspond à aucune commune" in spoken(root)
    assert action_of(root, "Gather") == "/webhooks/voice/ivr/postcode"
    root = call.press("42400")
    assert action_of(root, "Gather") == "/webhooks/voice/ivr/care"
    # The wrong postcode was forgiven: one more mistake is asked again, not transferred.
    root = call.press("7")
    assert "Je n'ai pas compris" in spoken(root) and action_of(root, "Gather") == "/webhooks/voice/ivr/care"


def test_a_postcode_with_several_communes_gets_a_numbered_menu(client, session, people):
    call = Caller(client)
    call.dial_in()
    call.press("1")
    root = call.press("01000")
    assert "Plusieurs communes" in spoken(root)
    assert "Bourg-en-Bresse: tapez 1. Saint-Denis-lès-Bourg: tapez 2." in spoken(root)
    assert "tapez 9" not in spoken(root)
    for digits in ("2", "5", "1", "", ""):  # Saint-Denis, surveillance, today, any time, no usual nurse
        call.press(digits)
    call.record(None)
    call.press("1")
    [request] = requests(session)
    assert (request.postcode, request.insee, request.care_type) == ("01000", "01344", "surveillance")


def test_a_postcode_with_many_communes_pages_its_menu(client, session, people):
    call = Caller(client)
    call.dial_in()
    call.press("1")
    root = call.press("42600")
    first_page = spoken(root)
    assert "Bard: tapez 1." in first_page and "Autres communes: tapez 9." in first_page
    assert "Montbrison" not in first_page and "tapez 9. " not in first_page.split("Autres")[0]
    root = call.press("9")
    digit = re.search(r"Montbrison: tapez (\d)", spoken(root)).group(1)
    root = call.press(digit)
    assert action_of(root, "Gather") == "/webhooks/voice/ivr/care"
    assert session.get(IvrSession, call.sid).data["insee"] == "42147"


def test_two_bad_answers_ring_the_coordinators_on_duty_then_voicemail(client, session, settings, people):
    session.add_all([
        Coordinator(email="a@sio.test", name="Anne", phone="+33611000001", password_hash="x", on_duty=True),
        Coordinator(email="b@sio.test", name="Béa", phone="+33611000002", password_hash="x", on_duty=True),
        Coordinator(email="c@sio.test", name="Chloé", phone="+33611000003", password_hash="x", on_duty=False),
    ])  # fmt: skip
    session.commit()
    call = Caller(client)
    call.dial_in()
    call.press("1")
    call.press("42400")
    root = call.press("8")  # not a care digit
    assert "Je n'ai pas compris" in spoken(root) and action_of(root, "Gather") == "/webhooks/voice/ivr/care"
    root = call.press("")  # nothing typed: the second miss in a row
    [dial] = root.findall("Dial")
    assert dial.get("timeout") == "25" and action_of(root, "Dial") == "/webhooks/voice/ivr/dialed"
    assert [n.text for n in dial.findall("Number")] == ["+33611000001", "+33611000002"]
    assert "coordinatrice" in spoken(root)

    root = call.dial_ends("no-answer")
    assert "Aucune coordinatrice n'est disponible" in spoken(root)
    assert action_of(root, "Record") == "/webhooks/voice/ivr/voicemail"
    root = call.record()
    reference = spelled_reference(root)

    [request] = requests(session)
    assert (request.reference, request.status, request.recording_url) == (reference, "review", RECORDING)
    assert (request.postcode, request.insee, request.callback_phone) == ("42400", "42207", CALLER)
    assert request.needs_attention and request.attention_reason == REVIEW_VOICEMAIL
    assert "code postal: 42400" in request.notes and "« type de soin »" in request.notes
    alerts = session.scalars(select(Message.to_phone).where(Message.kind == "alert")).all()
    assert sorted(alerts) == ["+33611000001", "+33611000002"]
    assert call.hang_up().status_code == 200 and len(requests(session)) == 1


def test_a_coordinator_who_answers_takes_the_call(client, session, people):
    session.add(Coordinator(email="a@sio.test", name="Anne", phone="+33611000001", password_hash="x", on_duty=True))
    session.commit()
    call = Caller(client)
    call.dial_in()
    root = call.press("0")
    assert [n.text for n in root.iter("Number")] == ["+33611000001"]
    root = call.dial_ends("completed")
    assert root[-1].tag == "Hangup"
    assert requests(session) == []  # nothing had been said: nothing to keep
    assert call.hang_up().status_code == 200 and requests(session) == []


def test_nobody_on_duty_goes_to_voicemail_and_a_review_request(client, session, people):
    call = Caller(client)
    call.dial_in()
    root = call.press("0")
    assert root.find("Dial") is None and "Aucune coordinatrice n'est disponible" in spoken(root)
    root = call.record()
    assert "Une coordinatrice vous rappellera" in spoken(root)
    [request] = requests(session)
    assert (request.status, request.recording_url, request.channel) == ("review", RECORDING, "voice")
    assert request.requester_id == people[0].id and request.postcode is None


def test_a_hang_up_mid_way_leaves_a_review_request_with_the_answers(client, session, people):
    call = Caller(client)
    call.dial_in()
    for digits in ("1", "42400", "3"):  # perfusion, then the caller is gone
        call.press(digits)
    assert call.hang_up().status_code == 200
    assert call.hang_up().status_code == 200  # Twilio's repeat changes nothing

    [request] = requests(session)
    assert (request.status, request.postcode, request.care_type) == ("review", "42400", "perfusion")
    assert request.attention_reason == REVIEW_HANGUP and request.callback_phone == CALLER
    assert "« jour »" in request.notes and "soin: perfusion" in request.notes
    assert session.get(IvrSession, call.sid).finished
    # A late answer from the dead call does not make a second request.
    call.press("1")
    assert "Au revoir" in spoken(call.twiml) and len(requests(session)) == 1


def test_a_hang_up_at_the_greeting_still_leaves_a_trace(client, session, people):
    call = Caller(client)
    call.dial_in()
    call.hang_up("canceled")
    [request] = requests(session)
    assert request.status == "review" and "aucune réponse" in request.notes
    assert session.scalar(select(func.count()).select_from(Message)) == 0  # no alert for that


def test_option_2_cancels_one_of_the_callers_own_requests(client, session, settings, people):
    from dispatch.requests.create import NewRequest, create_request

    now = datetime.now(UTC)
    mine, _ = create_request(session, settings, NewRequest("sms", "pansement", "42400", callback_phone=CALLER), now)
    other, _ = create_request(session, settings, NewRequest("sms", "pansement", "42400",
                                                            callback_phone="+33699999999"), now)  # fmt: skip
    session.commit()
    call = Caller(client)
    call.dial_in()
    root = call.press("2")
    assert action_of(root, "Gather") == "/webhooks/voice/ivr/cancel" and gather(root).get("numDigits") == "6"
    root = call.press(other.reference)  # somebody else's: not found from this number
    assert f"la référence {' '.join(other.reference)}" in spoken(root)
    root = call.press(mine.reference)
    assert f"La demande {' '.join(mine.reference)} est annulée" in spoken(root)
    fresh(session)
    assert session.get(CareRequest, mine.id).status == "cancelled"
    assert session.get(CareRequest, other.id).status == "open"
    assert call.hang_up().status_code == 200 and len(requests(session)) == 2


@pytest.fixture
def closed_now(env):
    """Service hours that never include today (set before the app is built)."""
    tomorrow = (datetime.now(PARIS) + timedelta(days=1)).weekday()
    env["SERVICE_HOURS"] = f"{('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')[tomorrow]} 09:00-10:00"


def test_outside_service_hours_the_greeting_says_so_and_intake_goes_on(closed_now, client, session):
    call = Caller(client)
    root = call.dial_in()
    assert "ne répondent pas en ce moment" in spoken(root)
    assert action_of(root, "Gather") == "/webhooks/voice/ivr/menu"
    assert action_of(call.press("1"), "Gather") == "/webhooks/voice/ivr/postcode"
    for digits in ("42400", "2", "1", "", ""):
        call.press(digits)
    call.record()
    call.press("1")
    assert spelled_reference(call.twiml) == requests(session)[0].reference


def test_public_holidays_are_closed(session, settings):
    def greeting(now: datetime) -> str:
        plan = ivr.start_call(session, settings, CallInput("CA" + uuid.uuid4().hex, CALLER), now)
        assert isinstance(plan.verbs[-1], Gather)
        return " ".join(v.text for v in plan.verbs if isinstance(v, Say))

    assert "ne répondent pas" in greeting(datetime(2026, 7, 14, 10, 0, tzinfo=PARIS))  # a Tuesday, 14 juillet
    assert "ne répondent pas" not in greeting(datetime(2026, 7, 15, 10, 0, tzinfo=PARIS))
    assert "ne répondent pas" in greeting(datetime(2026, 7, 15, 20, 0, tzinfo=PARIS))  # after 19:30
    session.rollback()


def test_a_forged_signature_gets_403_and_changes_nothing(client, session, people):
    call = Caller(client)
    call.dial_in()
    call.press("1")
    data = {"CallSid": call.sid, "From": CALLER, "Digits": "42400"}
    for path, fields in (("/webhooks/voice", {}), ("/webhooks/voice/ivr/postcode", {}),
                         ("/webhooks/voice/status", {"CallStatus": "completed"})):  # fmt: skip
        response = client.post(path, data={**data, **fields}, headers={"X-Twilio-Signature": "forged"})
        assert response.status_code == 403
        assert client.post(path, data={**data, **fields}).status_code == 403
    fresh(session)
    ivr_session = session.get(IvrSession, call.sid)
    assert (ivr_session.step, ivr_session.finished) == ("postcode", False)
    assert requests(session) == [] and session.scalar(select(func.count()).select_from(Event)) == 0

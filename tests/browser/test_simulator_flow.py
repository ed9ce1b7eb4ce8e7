"""The simulator against the real service over HTTP: texts, the phone menu, confirmation calls,
delivery callbacks. The app runs on a live local server; jobs run in this process."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dispatch.app.factory import create_app
from models import Call, CareRequest, Event, Message, Offer
from tests.support.browser import LiveServer, fresh, login, make_coordinator, post_form, wait_for
from tests.support.helpers import make_nurse, make_requester, run_jobs
from tests.support.redis_server import free_port

EHPAD = "+33465712010"
USUAL = "+33604332181"  # Sophie Martin, the patient's usual nurse


@pytest.fixture
def live(env, monkeypatch, session):
    with LiveServer(env, monkeypatch) as server:
        make_coordinator(session)
        make_requester(session, phones=("04 65 71 20 10",))
        make_nurse(session, "Sophie Martin", "06 04 33 21 81", ["42207"])
        make_nurse(session, "Nathalie Bernard", "06 86 37 94 02", ["42207"])
        session.commit()
        client = server.app.test_client()
        login(client)
        server.client = client
        yield server


def sim_post(client, path, data=None):
    """A fetch() of the simulator page: form data with the page's CSRF token in a header."""
    token = client.get("/simulator").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    return client.post(path, data=data or {}, headers={"X-CSRFToken": token})


def call_ivr(client, keys_by_step: list[tuple[str, str, str]]):
    """Call the service as the Ehpad and answer each prompt in turn; return every screen."""
    screen = sim_post(client, "/simulator/calls", {"from": "04 65 71 20 10"}).get_json()
    screens = [screen]
    for expected, action, value in keys_by_step:
        assert not screen["ended"], screens
        assert screen["prompt"]["type"] == expected, screen
        screen = sim_post(
            client, "/simulator/calls/step", {"state": screen["state"], "action": action, "value": value}
        ).get_json()
        screens.append(screen)
    return screens


INTAKE = [
    ("gather", "keys", "1"),  # new request
    ("gather", "keys", "42400#"),  # Saint-Chamond
    ("gather", "keys", "1"),  # pansement
    ("gather", "keys", "1"),  # today
    ("gather", "keys", "#"),  # any time
    ("gather", "keys", "0604332181#"),  # the usual nurse
    ("record", "record", "Mme Vernier, 12 rue des Lilas, digicode 1234B."),
    ("gather", "keys", "1"),  # call back on this number
]


def test_a_call_through_the_phone_menu_creates_the_request(live, session):
    screens = call_ivr(live.client, INTAKE)
    said = " ".join(line["text"] for s in screens for line in s["lines"])
    assert "Ehpad Les Tilleuls" in said  # greeted by name: the caller id went through
    assert screens[-1]["ended"]
    fresh(session)
    request = session.scalar(select(CareRequest))
    assert (request.channel, request.insee, request.care_type, request.callback_phone) == (
        "voice",
        "42207",
        "pansement",
        EHPAD,
    )
    assert request.usual_nurse_phone == USUAL
    assert request.recording_url.startswith(live.url + "/simulator/recordings/RE")
    assert request.reference in said.replace(" ", "").replace(",", "")  # read back digit by digit
    audio = live.client.get(request.recording_url.removeprefix(live.url))
    assert audio.status_code == 200 and audio.mimetype == "audio/wav"
    text = live.client.get(request.recording_url.removeprefix(live.url) + ".txt")
    assert text.get_data(as_text=True) == "Mme Vernier, 12 rue des Lilas, digicode 1234B."
    page = live.client.get(f"/status/requests/{request.reference}").get_data(as_text=True)
    assert "digicode 1234B" in page and "<audio" in page


def test_hanging_up_mid_call_leaves_a_request_to_review(live, session):
    screens = call_ivr(live.client, INTAKE[:3])
    end = sim_post(live.client, "/simulator/calls/step", {"state": screens[-1]["state"], "action": "hangup"})
    assert end.get_json()["ended"]
    fresh(session)
    request = session.scalar(select(CareRequest))
    assert request is not None and request.status == "review"  # the "completed" callback reached the service


def test_the_usual_nurse_gets_the_offer_replies_and_the_ehpad_is_called_back(live, session):
    call_ivr(live.client, INTAKE)
    run_jobs(live.settings)
    fresh(session)
    request = session.scalar(select(CareRequest))
    phones = live.client.get("/simulator/phones.json").get_json()["phones"]
    shown = {p["phone"]: p for p in phones}
    assert EHPAD in shown and USUAL in shown  # the nurse's phone opened by itself
    assert request.reference in shown[USUAL]["feed"]

    # The delivery callbacks came back over HTTP from the simulator adapter; a job handles them.
    def delivered() -> bool:
        run_jobs(live.settings)
        fresh(session)
        return session.scalar(select(Message.status).where(Message.kind == "offer")) == "delivered"

    wait_for(delivered, what="the offer's delivery callback")

    reply = sim_post(live.client, "/simulator/sms", {"from": "06 04 33 21 81", "body": "oui"})
    assert reply.get_json() == {"ok": True}
    run_jobs(live.settings)  # handles her text, answers her, places the confirmation call
    fresh(session)
    assert session.scalar(select(CareRequest.status)) == "accepted"
    fresh(session)
    call = session.scalar(select(Call).where(Call.purpose == "confirm"))
    assert call.status == "initiated" and call.sid
    feed = {p["phone"]: p for p in live.client.get("/simulator/phones.json").get_json()["phones"]}[EHPAD]["feed"]
    assert f'data-answer="{call.id}"' in feed

    screen = sim_post(live.client, f"/simulator/calls/{call.id}/answer").get_json()
    said = " ".join(line["text"] for line in screen["lines"])
    assert "Sophie Martin" in said and screen["prompt"]["type"] == "gather"
    fresh(session)
    assert session.scalar(select(CareRequest.status)) == "confirmed"
    done = sim_post(live.client, "/simulator/calls/step", {"state": screen["state"], "action": "keys", "value": ""})
    assert done.get_json()["ended"]
    fresh(session)
    call = session.get(Call, call.id)
    assert (call.status, call.answered_by) == ("completed", "human")
    assert session.scalar(select(Offer.status)) == "accepted"


def test_declining_the_call_means_no_answer_and_a_retry(live, session):
    call_ivr(live.client, INTAKE)
    run_jobs(live.settings)
    sim_post(live.client, "/simulator/sms", {"from": "06 04 33 21 81", "body": "OUI"})
    run_jobs(live.settings)
    fresh(session)
    call = session.scalar(select(Call).where(Call.purpose == "confirm"))
    assert sim_post(live.client, f"/simulator/calls/{call.id}/decline").get_json() == {"ok": True}
    fresh(session)
    assert session.get(Call, call.id).status == "no-answer"
    assert session.scalar(select(Event).where(Event.kind == "call_retry")) is not None


def test_a_text_from_a_requester_phone(live, session):
    response = sim_post(live.client, "/simulator/sms", {"from": EHPAD, "body": "42400 pansement demain 9h"})
    assert response.get_json() == {"ok": True}
    run_jobs(live.settings)
    fresh(session)
    request = session.scalar(select(CareRequest))
    assert request.channel == "sms" and request.callback_phone == EHPAD
    feed = {p["phone"]: p for p in live.client.get("/simulator/phones.json").get_json()["phones"]}[EHPAD]["feed"]
    assert "42400 pansement demain 9h" in feed and request.reference in feed  # the text and the answer


def test_bad_input_and_forged_state(live):
    assert sim_post(live.client, "/simulator/sms", {"from": "n'importe", "body": "OUI"}).status_code == 422
    assert sim_post(live.client, "/simulator/calls", {"from": "12"}).status_code == 422
    forged = sim_post(live.client, "/simulator/calls/step", {"state": "abc", "action": "keys", "value": "1"})
    assert forged.status_code == 400 and "recommencez" in forged.get_json()["error"]
    screen = sim_post(live.client, "/simulator/calls", {"from": EHPAD}).get_json()
    wrong = sim_post(live.client, "/simulator/calls/step", {"state": screen["state"], "action": "record", "value": "x"})
    assert wrong.status_code == 422
    assert sim_post(live.client, "/simulator/calls/999/answer").status_code == 404
    assert live.client.get("/simulator/recordings/RE" + "0" * 32).status_code == 404
    assert live.client.get("/simulator/recordings/../../secret_key").status_code == 404


def test_an_unreachable_service_is_reported_not_a_crash(env, monkeypatch, session):
    env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = create_app(env).test_client()
    make_coordinator(session)
    login(client)
    sent = sim_post(client, "/simulator/sms", {"from": EHPAD, "body": "42400 pansement"})
    assert sent.status_code == 502 and "ne répond pas" in sent.get_json()["error"]
    call = sim_post(client, "/simulator/calls", {"from": EHPAD})
    assert call.status_code == 502 and call.get_json()["ended"]
    assert "ne répond pas" in call.get_json()["lines"][0]["text"]


def test_signatures_checked_against_the_public_url(live, monkeypatch):
    # A service told another public URL refuses the simulator's (differently signed) requests: 403, said plainly.
    from status import sim_http

    settings = live.settings.with_overrides(twilio_auth_token="not-the-token")
    with pytest.raises(sim_http.ServiceError, match="signature refusée"):
        sim_http.send_sms(settings, EHPAD, "42400 pansement")
    assert post_form(live.client, "/simulator/sms", {"from": EHPAD, "body": "x"}, page="/simulator").status_code == 200


def test_transfer_to_the_coordinator_then_voicemail(live, session):
    screens = call_ivr(live.client, [("gather", "keys", "0")])  # "parler à une coordinatrice"
    transfer = screens[-1]
    assert transfer["prompt"] == {"type": "dial", "numbers": ["+33765648236"]}  # the coordinator on duty
    voicemail = sim_post(
        live.client, "/simulator/calls/step", {"state": transfer["state"], "action": "dial", "value": "no-answer"}
    ).get_json()
    assert voicemail["lines"][0] == {"kind": "you", "text": "Personne ne répond"}
    assert voicemail["prompt"]["type"] == "record"
    end = sim_post(
        live.client,
        "/simulator/calls/step",
        {"state": voicemail["state"], "action": "record", "value": "Rappelez-moi pour Mme Vernier."},
    ).get_json()
    assert end["ended"]
    fresh(session)
    request = session.scalar(select(CareRequest))
    assert request.status == "review" and request.recording_url.startswith(live.url + "/simulator/recordings/")
    html = live.client.get("/status").get_data(as_text=True)
    assert request.reference in html.split('id="h-active"')[0]  # on top, to be handled by a coordinator

"""The simulator's parts on their own: the TwiML player (against a fake service), the adapter's
delivery callbacks (against a small HTTP receiver), and the page's availability."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from dispatch.app.factory import create_app
from dispatch.config import load_settings
from dispatch.telephony.simulator import SimulatorTelephony
from status.twiml_player import Player, TwimlError, Verb, parse_twiml
from tests.support.browser import login, make_coordinator
from tests.support.redis_server import free_port
from tests.support.twilio_standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

BASE = "http://sio.test"


class FakeService:
    """TwiML documents by URL; remembers every request the player made."""

    def __init__(self, documents: dict[str, str]):
        self.documents = documents
        self.requests: list[tuple[str, str, dict]] = []

    def __call__(self, url: str, method: str, params: dict) -> str:
        self.requests.append((url, method, dict(params)))
        return self.documents[url]


def twiml(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


MENU = twiml(
    '<Say language="fr-FR">Bonjour.</Say><Pause length="1"/>'
    '<Gather action="/webhooks/voice/ivr/menu" numDigits="1" finishOnKey="#"><Say>Tapez 1.</Say></Gather>'
    "<Say>Nous n'avons rien reçu.</Say><Hangup/>"
)


def test_say_then_gather_waits_for_keys():
    service = FakeService({f"{BASE}/webhooks/voice": MENU})
    screen = Player(service).start(f"{BASE}/webhooks/voice", {"CallStatus": "ringing"})
    assert screen.lines == [
        {"kind": "say", "text": "Bonjour."},
        {"kind": "info", "text": "(pause de 1 s)"},
        {"kind": "say", "text": "Tapez 1."},
    ]
    assert screen.prompt() == {"type": "gather", "num_digits": "1", "finish_on_key": "#"}
    assert not screen.ended
    assert service.requests == [(f"{BASE}/webhooks/voice", "POST", {"CallStatus": "ringing"})]


def test_keys_go_to_the_gather_action_resolved_against_the_document():
    service = FakeService(
        {f"{BASE}/webhooks/voice": MENU, f"{BASE}/webhooks/voice/ivr/menu": twiml("<Say>Merci.</Say>")}
    )
    player = Player(service)
    state = player.start(f"{BASE}/webhooks/voice").state()
    screen = player.resume(state, player.gather_answer(state, "1#"))
    assert service.requests[-1] == (f"{BASE}/webhooks/voice/ivr/menu", "POST", {"Digits": "1", "FinishedOnKey": "#"})
    assert screen.lines[0] == {"kind": "say", "text": "Merci."}
    assert screen.ended  # the document ended without a Hangup: Twilio hangs up


def test_no_keys_fall_through_to_the_next_verb():
    service = FakeService({f"{BASE}/webhooks/voice": MENU})
    player = Player(service)
    state = player.start(f"{BASE}/webhooks/voice").state()
    assert player.gather_answer(state, "") is None
    screen = player.resume(state, None)
    assert [line["text"] for line in screen.lines] == ["Nous n'avons rien reçu.", "Le service raccroche."]
    assert screen.ended and len(service.requests) == 1


def test_a_lone_finish_key_posts_an_empty_result_when_asked():
    doc = twiml('<Gather action="/t" actionOnEmptyResult="true" finishOnKey="#"><Say>Heure ?</Say></Gather>')
    service = FakeService({f"{BASE}/q": doc, f"{BASE}/t": twiml("<Hangup/>")})
    player = Player(service)
    state = player.start(f"{BASE}/q").state()
    answer = player.gather_answer(state, "#")
    assert answer == {"Digits": "", "FinishedOnKey": "#"}
    player.resume(state, answer)
    assert service.requests[-1][2] == {"Digits": "", "FinishedOnKey": "#"}


def test_keys_other_than_the_keypad_are_dropped():
    state = {"doc": f"{BASE}/q", "waiting": Verb("Gather", attrs={"finishOnKey": ""}).to_data(), "rest": []}
    assert Player(FakeService({})).gather_answer(state, "4a2 4<0>0") == {"Digits": "42400"}


def test_record_posts_the_recording_and_silence_falls_through():
    doc = twiml(
        '<Say>Après le bip.</Say><Record action="/webhooks/voice/ivr/details" maxLength="120"/>'
        "<Say>Rien enregistré.</Say>"
    )
    service = FakeService({f"{BASE}/r": doc, f"{BASE}/webhooks/voice/ivr/details": twiml("<Say>Merci</Say>")})
    player = Player(service)
    screen = player.start(f"{BASE}/r")
    assert screen.prompt() == {"type": "record", "max_length": "120"}
    recording = {"RecordingUrl": f"{BASE}/simulator/recordings/RE1", "RecordingDuration": "3"}
    player.resume(screen.state(), recording)
    assert service.requests[-1] == (f"{BASE}/webhooks/voice/ivr/details", "POST", recording)
    silent = player.resume(screen.state(), None)
    assert silent.lines[0]["text"] == "Rien enregistré."


def test_dial_shows_the_numbers_and_posts_the_outcome():
    doc = twiml(
        '<Dial action="/webhooks/voice/ivr/dialed" timeout="20"><Number>+33765648236</Number>'
        "<Number>+33600000000</Number></Dial>"
    )
    service = FakeService({f"{BASE}/d": doc, f"{BASE}/webhooks/voice/ivr/dialed": twiml("<Hangup/>")})
    player = Player(service)
    screen = player.start(f"{BASE}/d")
    assert screen.prompt() == {"type": "dial", "numbers": ["+33765648236", "+33600000000"]}
    player.resume(screen.state(), {"DialCallStatus": "no-answer"})
    assert service.requests[-1] == (f"{BASE}/webhooks/voice/ivr/dialed", "POST", {"DialCallStatus": "no-answer"})


def test_dial_without_action_goes_on_with_the_document():
    service = FakeService({f"{BASE}/d": twiml("<Dial>+33765648236</Dial><Say>Au revoir</Say>")})
    player = Player(service)
    screen = player.start(f"{BASE}/d")
    assert screen.prompt() == {"type": "dial", "numbers": ["+33765648236"]}
    after = player.resume(screen.state(), {"DialCallStatus": "completed"})
    assert after.lines[0]["text"] == "Au revoir" and len(service.requests) == 1


def test_redirect_is_followed_and_later_verbs_dropped():
    service = FakeService(
        {
            f"{BASE}/a": twiml('<Say>Un</Say><Redirect method="POST">/b</Redirect><Say>jamais</Say>'),
            f"{BASE}/b": twiml("<Say>Deux</Say><Hangup/>"),
        }
    )
    screen = Player(service).start(f"{BASE}/a")
    assert [line["text"] for line in screen.lines] == ["Un", "Deux", "Le service raccroche."]


def test_a_redirect_loop_is_stopped():
    service = FakeService({f"{BASE}/a": twiml("<Redirect>/a</Redirect>")})
    with pytest.raises(TwimlError, match="redirections"):
        Player(service).start(f"{BASE}/a")


def test_unknown_verbs_are_shown_not_fatal():
    screen = Player(FakeService({f"{BASE}/a": twiml("<Enqueue>file</Enqueue><Say>Suite</Say>")})).start(f"{BASE}/a")
    assert screen.lines[0]["text"] == "(<Enqueue> n'est pas simulé)" and screen.lines[1]["text"] == "Suite"


@pytest.mark.parametrize("body", ["pas du xml", "<html><body>500</body></html>"])
def test_not_twiml_is_a_clear_error(body):
    with pytest.raises(TwimlError):
        parse_twiml(body)


def test_the_state_survives_a_round_trip():
    verbs = parse_twiml(MENU)
    assert [Verb.from_data(v.to_data()) for v in verbs] == verbs


# --- the adapter's delivery callbacks ---------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    """Keeps every form posted to it, with the signature header."""

    posts: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).posts.append((self.path, dict(parse_qsl(body)), self.headers.get("X-Twilio-Signature")))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.end_headers()
        self.wfile.write(b"<Response/>")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Receiver.posts
    server.shutdown()


@pytest.fixture
def sim_settings(tmp_path):
    return load_settings({"TELEPHONY": "simulator", "SIO_INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})


def test_texts_get_signed_queued_sent_delivered_callbacks(receiver, sim_settings):
    base, posts = receiver
    url = f"{base}/webhooks/sms/status?m=7"
    sent = SimulatorTelephony(sim_settings, callback_delay_s=0.01).send_sms("+33612345678", "Bonjour", url)
    deadline = time.monotonic() + 5
    while len(posts) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [p[1]["MessageStatus"] for p in posts] == ["queued", "sent", "delivered"]
    validator = RequestValidator(sim_settings.twilio_auth_token)
    for path, form, signature in posts:
        assert path == "/webhooks/sms/status?m=7"
        assert form["MessageSid"] == sent.sid and form["To"] == "+33612345678"
        assert validator.validate(url, form, signature)


def test_an_unreachable_server_never_breaks_a_send(sim_settings):
    telephony = SimulatorTelephony(sim_settings, callback_delay_s=0.01)
    url = f"http://127.0.0.1:{free_port()}/webhooks/sms/status?m=1"
    sent = telephony.send_sms("+33612345678", "Bonjour", url)
    assert sent.status == "queued" and len(telephony.outbox) == 1
    # Its callback thread gives up quietly (an exception there would be reported by pytest).
    mine = f"sim-sms-status-{id(telephony)}"
    deadline = time.monotonic() + 10
    while any(t.name == mine and t.is_alive() for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a status callback thread never ended"
        time.sleep(0.05)


def test_callbacks_can_be_turned_off(receiver, sim_settings):
    base, posts = receiver
    SimulatorTelephony(sim_settings, callback_delay_s=0.01, send_callbacks=False).send_sms("+33612345678", "x", base)
    time.sleep(0.2)
    assert posts == []


# --- the page ---------------------------------------------------------------------------------


def test_simulator_is_404_with_real_twilio(env, session):
    env.update(
        TELEPHONY="twilio",
        TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        TWILIO_PHONE_NUMBER="+33900000000",
    )
    client = create_app(env).test_client()
    make_coordinator(session)
    assert login(client).status_code == 302
    for path in ("/simulator", "/simulator/phones.json", "/simulator/recordings/RE" + "0" * 32):
        assert client.get(path).status_code == 404, path
    assert client.post("/simulator/sms", data={"from": "+33612345678", "body": "OUI"}).status_code == 400  # CSRF first
    assert "Simulateur" not in client.get("/status").get_data(as_text=True)


def test_simulator_page_needs_a_login_and_lists_the_phones(client, session):
    from tests.support.helpers import make_nurse, make_requester

    assert client.get("/simulator").status_code == 302
    make_coordinator(session)
    make_requester(session, phones=("04 65 71 20 10",))
    make_nurse(session, "Sophie Martin", "06 04 33 21 81", ["42207"])
    session.commit()
    login(client)
    html = client.get("/simulator").get_data(as_text=True)
    assert "Ehpad Les Tilleuls · 04 65 71 20 10" in html
    assert "Sophie Martin (infirmière)" in html and "Martine Roche (coordinatrice)" in html
    assert 'src="/static/sio/simulator.js"' in html
    assert 'for="call-from"' in html and 'id="call-from"' in html

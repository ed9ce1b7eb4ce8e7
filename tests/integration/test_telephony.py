"""The telephony port: the real twilio SDK against the local stand-in, and the simulator."""

from __future__ import annotations

import socket
import threading

import pytest

from dispatch.config import load_settings
from dispatch.services import make_telephony
from dispatch.telephony import (
    InvalidNumber,
    MaybeSent,
    OptedOut,
    Recording,
    Sent,
    TelephonyError,
    TransientError,
    recording_sid,
)
from dispatch.telephony.simulator import SimulatorTelephony, save_recording
from dispatch.telephony.twilio_adapter import TwilioTelephony
from tests.support.twilio_standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, TwilioStandin

NURSE = "+33612345678"
# Addresses of no server (.test never resolves): nothing here is ever sent to them.
CALLBACK = "http://sio.test/webhooks/sms/status"
RECORDING = "RE" + "5" * 32
MP3 = b"ID3\x04\x00" + bytes(range(256)) * 4  # binary, as audio is
TWIML = "http://sio.test/webhooks/voice/confirm/42"


@pytest.fixture
def standin():
    with TwilioStandin() as server:
        yield server


@pytest.fixture
def make_settings(tmp_path):
    def build(**env):
        base = {"SIO_INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"}
        if env.get("TELEPHONY") != "simulator":
            base |= {
                "TELEPHONY": "twilio",
                "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
                "TWILIO_PHONE_NUMBER": "+33757000000",
            }
        return load_settings(base | env)

    return build


@pytest.fixture
def adapter(standin, make_settings):
    """A Twilio adapter aimed at the stand-in, with a short timeout and near-instant backoff."""

    def build(timeout=2.0, retries=3, **env):
        settings = make_settings(TWILIO_API_BASE_URL=standin.base_url, **env)
        return TwilioTelephony(settings, timeout=timeout, retries=retries, backoff_factor=0.01)

    return build


# -- what goes out --------------------------------------------------------------------------------


def test_sms_goes_out_from_the_number_with_status_callback(standin, adapter):
    sent = adapter().send_sms(NURSE, "Soins à Lyon 3e demain 8h. Répondez OUI 12", CALLBACK)

    assert sent.sid.startswith("SM") and len(sent.sid) == 34
    assert sent.status == "queued"
    [form] = standin.messages()
    assert form["To"] == [NURSE]
    assert form["From"] == ["+33757000000"]
    assert form["Body"] == ["Soins à Lyon 3e demain 8h. Répondez OUI 12"]
    assert form["StatusCallback"] == [CALLBACK]
    assert "MessagingServiceSid" not in form


def test_sms_goes_out_through_the_messaging_service_when_set(standin, adapter):
    service = "MG" + "1" * 32
    sent = adapter(TWILIO_MESSAGING_SERVICE_SID=service).send_sms(NURSE, "Bonjour", CALLBACK)

    assert sent.status == "accepted"  # what Twilio answers when the service picks the sender
    [form] = standin.messages()
    assert form["MessagingServiceSid"] == [service]
    assert "From" not in form
    assert form["StatusCallback"] == [CALLBACK]


def test_call_carries_url_status_callback_events_and_machine_detection(standin, adapter):
    telephony = adapter()
    sent = telephony.place_call(NURSE, TWIML, CALLBACK, machine_detection=True)
    telephony.place_call(NURSE, TWIML, CALLBACK)

    assert sent.sid.startswith("CA") and sent.status == "queued"
    with_amd, without_amd = standin.calls()
    assert with_amd["To"] == [NURSE]
    assert with_amd["From"] == ["+33757000000"]
    assert with_amd["Url"] == [TWIML]
    assert with_amd["StatusCallback"] == [CALLBACK]
    assert with_amd["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert with_amd["MachineDetection"] == ["DetectMessageEnd"]
    assert "MachineDetection" not in without_amd


def test_api_base_url_wins_over_twilio_edge_in_the_environment(standin, adapter, monkeypatch):
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_REGION", "ie1")

    assert adapter().send_sms(NURSE, "Bonjour", CALLBACK).sid.startswith("SM")


# -- Twilio error codes ---------------------------------------------------------------------------


def test_opted_out_recipient(standin, adapter):
    standin.fail_for[NURSE] = 21610

    with pytest.raises(OptedOut) as caught:
        adapter().send_sms(NURSE, "Bonjour", CALLBACK)

    assert caught.value.code == 21610 and caught.value.status == 400
    assert len(standin.requests) == 1  # a refusal is not retried


@pytest.mark.parametrize("code", [21211, 21614, 21408])
def test_invalid_or_non_mobile_number(standin, adapter, code):
    standin.fail_for[NURSE] = code

    with pytest.raises(InvalidNumber) as caught:
        adapter().send_sms(NURSE, "Bonjour", CALLBACK)

    assert caught.value.code == code
    assert len(standin.requests) == 1


def test_invalid_number_on_a_call(standin, adapter):
    standin.fail_for[NURSE] = 21217

    with pytest.raises(InvalidNumber):
        adapter().place_call(NURSE, TWIML, CALLBACK)


def test_unknown_client_error_is_permanent(standin, adapter):
    standin.fail_for[NURSE] = 21606  # the sender cannot text: our configuration, not the nurse

    with pytest.raises(TelephonyError) as caught:
        adapter().send_sms(NURSE, "Bonjour", CALLBACK)

    assert type(caught.value) is TelephonyError
    assert caught.value.code == 21606
    assert len(standin.requests) == 1


def test_bad_credentials(standin, adapter):
    with pytest.raises(TelephonyError) as caught:
        adapter(TWILIO_AUTH_TOKEN="wrong").send_sms(NURSE, "Bonjour", CALLBACK)

    assert type(caught.value) is TelephonyError
    assert caught.value.code == 20003 and caught.value.status == 401
    assert len(standin.requests) == 1  # refused, not retried


# -- retries and timeouts -------------------------------------------------------------------------


def test_rate_limited_twice_then_sent(standin, adapter):
    standin.fail_next(2, status=429)

    sent = adapter(retries=3).send_sms(NURSE, "Bonjour", CALLBACK)

    assert sent.sid.startswith("SM")
    assert [r.status for r in standin.recorded()] == [429, 429, 201]


def test_server_errors_beyond_the_retries_are_transient(standin, adapter):
    standin.fail_next(10, status=500)

    with pytest.raises(TransientError) as caught:
        adapter(retries=3).send_sms(NURSE, "Bonjour", CALLBACK)

    assert caught.value.status == 500
    assert len(standin.requests) == 4  # the first try and three retries


def test_slow_answer_hits_the_timeout_and_is_not_sent_twice(standin, adapter):
    standin.delay_s = 0.5

    with pytest.raises(MaybeSent):
        adapter(timeout=0.1).send_sms(NURSE, "Bonjour", CALLBACK)

    # Twilio may have accepted the text: re-posting could text the nurse twice.
    assert len(standin.requests) == 1


def test_unreachable_api_is_transient(make_settings):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(TWILIO_API_BASE_URL=f"http://127.0.0.1:{port}")

    with pytest.raises(TransientError) as caught:
        TwilioTelephony(settings, timeout=1, retries=1, backoff_factor=0.01).send_sms(NURSE, "Bonjour", CALLBACK)
    assert not isinstance(caught.value, MaybeSent)  # nothing left: sending again is safe


def test_concurrent_sends_share_one_adapter(standin, adapter):
    telephony = adapter()
    sids = []

    def send(i):
        sids.append(telephony.send_sms(f"+336123456{i:02d}", "Bonjour", CALLBACK).sid)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(set(sids)) == 20
    assert len(standin.messages()) == 20


# -- recordings -----------------------------------------------------------------------------------


def test_recording_sid_is_read_from_twilio_and_simulator_urls():
    assert recording_sid(f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{RECORDING}") == RECORDING
    assert recording_sid(f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{RECORDING}.mp3") == RECORDING
    assert recording_sid(f"http://127.0.0.1:5000/simulator/recordings/{RECORDING}?x=1") == RECORDING
    for url in (None, "", "https://example.org/evil", f"https://api.twilio.com/{RECORDING}/more", "RE123"):
        assert recording_sid(url) is None, url


def test_recording_is_fetched_with_the_accounts_credentials(standin, adapter):
    standin.recordings[RECORDING] = MP3

    media = adapter().fetch_recording(RECORDING)

    assert media == Recording(MP3, "audio/mpeg")  # the bytes whole, not decoded as text
    [request] = standin.recorded()
    assert request.method == "GET" and request.path.endswith(
        f"/Accounts/{DEFAULT_ACCOUNT_SID}/Recordings/{RECORDING}.mp3"
    )


def test_recording_refused_missing_or_unreachable(standin, adapter):
    standin.recordings[RECORDING] = MP3
    with pytest.raises(TelephonyError) as refused:
        adapter(TWILIO_AUTH_TOKEN="wrong").fetch_recording(RECORDING)
    with pytest.raises(TelephonyError) as missing:
        adapter().fetch_recording("RE" + "6" * 32)
    standin.fail_next(10, status=503)
    with pytest.raises(TransientError):
        adapter(retries=2).fetch_recording(RECORDING)

    assert refused.value.status == 401 and missing.value.status == 404
    assert type(missing.value) is TelephonyError


def test_recording_deleted_at_twilio_once_and_again_without_error(standin, adapter):
    standin.recordings[RECORDING] = MP3
    telephony = adapter()

    telephony.delete_recording(RECORDING)
    telephony.delete_recording(RECORDING)  # already gone: a second purge must not fail

    assert standin.recordings == {}
    assert [(r.method, r.status) for r in standin.recorded()] == [("DELETE", 204), ("DELETE", 404)]


def test_simulator_recordings_play_as_a_tone_and_are_deleted(make_settings):
    settings = make_settings(TELEPHONY="simulator")
    simulator = SimulatorTelephony(settings)
    url = save_recording(settings, RECORDING, "Bonjour, c'est pour Mme Vernier.")

    media = simulator.fetch_recording(recording_sid(url))
    simulator.delete_recording(RECORDING)

    assert media.mimetype == "audio/wav" and media.content.startswith(b"RIFF")
    with pytest.raises(TelephonyError) as gone:
        simulator.fetch_recording(RECORDING)
    assert gone.value.status == 404


# -- simulator and factory ------------------------------------------------------------------------


def test_simulator_records_texts_and_calls(make_settings):
    simulator = SimulatorTelephony(make_settings(TELEPHONY="simulator"), send_callbacks=False)

    text = simulator.send_sms(NURSE, "Bonjour", CALLBACK)
    call = simulator.place_call(NURSE, TWIML, CALLBACK, machine_detection=True)

    assert text.sid.startswith("SM") and len(text.sid) == 34 and text.status == "queued"
    assert call.sid.startswith("CA") and len(call.sid) == 34
    sms, voice = simulator.outbox
    assert (sms.kind, sms.to, sms.body, sms.status_callback, sms.sid) == ("sms", NURSE, "Bonjour", CALLBACK, text.sid)
    assert (voice.kind, voice.url, voice.sid, voice.machine_detection) == ("call", TWIML, call.sid, True)
    assert simulator.sent(kind="call") == [voice]


def test_simulator_fails_on_demand(make_settings):
    simulator = SimulatorTelephony(make_settings(TELEPHONY="simulator"), send_callbacks=False)
    simulator.fail_numbers[NURSE] = OptedOut("Attempt to send to unsubscribed recipient", 21610)
    simulator.fail_numbers["+33756000000"] = TransientError("down")

    with pytest.raises(OptedOut) as caught:
        simulator.send_sms(NURSE, "Bonjour", CALLBACK)
    with pytest.raises(TransientError):
        simulator.place_call("+33756000000", TWIML, CALLBACK)

    assert caught.value.code == 21610
    assert simulator.outbox == []
    assert isinstance(simulator.send_sms("+33611111111", "Bonjour", CALLBACK), Sent)


def test_make_telephony_picks_the_adapter(make_settings, standin):
    assert isinstance(make_telephony(make_settings(TELEPHONY="simulator")), SimulatorTelephony)
    twilio = make_telephony(make_settings(TWILIO_API_BASE_URL=standin.base_url))
    assert isinstance(twilio, TwilioTelephony)
    assert twilio.timeout == 10.0  # never the SDK's default of no timeout at all
    assert twilio.client.api.base_url == standin.base_url

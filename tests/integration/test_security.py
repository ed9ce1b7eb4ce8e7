"""Security and data protection (issue 6 §4): headers, rate limits, logs without personal data,
signed links that expire, forged webhooks, and the retention purge."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dispatch.app.commands import purge_command
from dispatch.app.factory import create_app
from dispatch.clock import utcnow
from dispatch.messaging.links import LINK_VALIDITY_S, LinkError, details_token, read_details_token
from dispatch.phones import normalize_phone
from dispatch.requests.retention import delete_recordings, parse_duration, purge, recordings_due
from dispatch.services import reset_services
from dispatch.telephony.simulator import read_recording, save_recording
from models import Call, CareRequest, Event, IvrSession, Message, Offer, WebhookReceipt
from status.security import CONTENT_SECURITY_POLICY, limiter_storage_uri
from tests.support import scenario
from tests.support.helpers import post_signed, public_https
from tests.support.redis_server import free_port
from tests.support.twilio_standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, TwilioStandin

# --- headers -----------------------------------------------------------------------------------


def test_security_headers_on_every_kind_of_response(client):
    for response in (
        client.get("/healthz"),
        client.post("/api/v1/requests", json={}),  # 401
        client.post("/webhooks/sms", data={"Body": "OUI"}),  # 403: unsigned
        client.get("/no-such-page"),
    ):
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response.headers  # plain http: HSTS would be ignored


def test_hsts_when_served_over_https(env):
    public_https(env)
    app = create_app(env)
    try:
        response = app.test_client().get("/healthz")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    finally:
        reset_services()


def test_limiter_storage_uri_for_unix_socket():
    assert limiter_storage_uri("unix:///srv/sio/redis.sock") == "redis+unix:///srv/sio/redis.sock"
    assert limiter_storage_uri("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


# --- rate limits -------------------------------------------------------------------------------


def test_api_rate_limit_is_per_token(app, client, session):
    app.config["RATELIMIT_API"] = "3/minute"
    token = scenario.seed_region(session, nurses=0)
    mine = [scenario.post_request(client, token, postcode="99999").status_code for _ in range(4)]
    assert mine == [422, 422, 422, 429]
    # another client (a bad token here) has its own count
    assert client.get("/api/v1/requests/123456", headers={"Authorization": "Bearer other"}).status_code == 401


def test_login_rate_limit_per_address(app, client):
    app.config["RATELIMIT_LOGIN"] = "3/minute"
    form = {"email": "nobody@sio.test", "password": "wrong-password", "csrf_token": _csrf_token(client)}
    codes = [client.post("/login", data=form).status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    assert client.get("/login").status_code == 200  # reading the page is not an attempt
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"  # another address has its own count
    assert other.post("/login", data={**form, "csrf_token": _csrf_token(other)}).status_code == 401


def _csrf_token(client) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)


def test_redis_down_never_turns_requests_into_500(env, session):
    env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = create_app(env)
    try:
        client = app.test_client()
        token = scenario.seed_region(session, nurses=3)
        started = time.monotonic()
        created = scenario.post_request(client, token)
        assert created.status_code == 201, created.get_json()  # persisted; the sweeper will enqueue
        assert client.get("/api/v1/requests/000000", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert scenario.reply(client, scenario.nurse_phone(0), "AIDE").status_code == 200
        assert time.monotonic() - started < 10
    finally:
        reset_services()


# --- forged webhooks ---------------------------------------------------------------------------


def test_forged_webhook_changes_nothing(client, session, settings):
    scenario.seed_region(session, nurses=1)
    data = {"MessageSid": "SM" + "f" * 32, "From": scenario.nurse_phone(0), "To": "+33900000000", "Body": "PAUSE"}
    forged = client.post("/webhooks/sms", data=data, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    assert forged.status_code == 403
    tampered = post_signed(client, "/webhooks/sms", data)  # signed, then one field changed in transit
    assert tampered.status_code == 200
    again = client.post(
        "/webhooks/sms",
        data={**data, "Body": "DISPO", "MessageSid": "SM" + "e" * 32},
        headers={"X-Twilio-Signature": tampered.request.headers["X-Twilio-Signature"]},
    )
    assert again.status_code == 403
    assert session.scalar(select(func.count()).select_from(Message).where(Message.body == "DISPO")) == 0


# --- signed links ------------------------------------------------------------------------------


def test_signed_links_expire_after_48_hours(settings, monkeypatch):
    token = details_token(settings, "123456", utcnow())
    assert read_details_token(settings, token) == "123456"
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + LINK_VALIDITY_S - 60)
    assert read_details_token(settings, token) == "123456"
    monkeypatch.setattr(time, "time", lambda: real() + LINK_VALIDITY_S + 60)
    with pytest.raises(LinkError, match="expiré"):
        read_details_token(settings, token)
    with pytest.raises(LinkError, match="invalide"):
        read_details_token(settings, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])


# --- logs ----------------------------------------------------------------------------------------


def _forms(e164: str) -> list[str]:
    phone = normalize_phone(e164)
    national = phone.national
    return [e164, e164.lstrip("+"), national, national.replace(" ", ""), national.replace(" ", "")[1:]]


def test_logs_of_a_whole_dispatch_hold_no_phone_number_nor_patient_data(env, session, caplog, monkeypatch):
    """API request → wave → offers sent → OUI → pourvue → confirmation call, on the real SDK path."""
    with TwilioStandin() as standin:
        env.update(
            TELEPHONY="twilio",
            TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
            TWILIO_API_BASE_URL=standin.base_url,
            TWILIO_PHONE_NUMBER="+33900000000",
        )
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        app = create_app(env)
        # Every logger at DEBUG, libraries included (SQLAlchemy keeps its own at WARNING otherwise),
        # except SQLAlchemy's engine at INFO: its statements and their (hidden) parameters are
        # checked; its DEBUG level is echo="debug", a deliberate dump of every result row.
        caplog.set_level(logging.DEBUG)
        for name in list(logging.root.manager.loggerDict):
            caplog.set_level(logging.DEBUG, logger=name)
        caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
        caplog.set_level(logging.INFO, logger="sqlalchemy.engine.Engine")
        try:
            client, settings = app.test_client(), app.extensions["sio"].settings
            token = scenario.seed_region(session, nurses=5)
            created = scenario.post_request(client, token, usual_nurse_phone="06 99 88 77 66")
            assert created.status_code == 201, created.get_json()
            scenario.work(settings)
            offers = scenario.offers_of(session, scenario.request_by_ref(session, created.json["reference"]).id)
            assert len(offers) == 3 and {o.status for o in offers} == {"sent"}
            winner = offers[0].nurse.phone
            assert scenario.reply(client, winner, "OUI").status_code == 200
            scenario.work(settings)
            request = scenario.request_by_ref(session, created.json["reference"])
            assert request.status in ("accepted", "confirmed")
            assert len(standin.calls()) == 1  # the confirmation call went out
            assert len(standin.messages()) == 3 + 2 + 1  # three offers, two "pourvue", the answer to her yes
        finally:
            reset_services()
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "twilio" in logged.lower() or "urllib3" in logged  # the capture saw the HTTP path
    secrets = [scenario.NOTES, "Josette", "Vernier", "rue des Lilas"]
    for i in range(5):
        secrets += _forms(scenario.nurse_phone(i))
    secrets += _forms(scenario.CALLBACK) + _forms("+33699887766")
    leaks = sorted({s for s in secrets if s in logged})
    where = sorted({r.name for r in caplog.records for s in leaks if s in r.getMessage()})
    assert leaks == [], f"personal data in logs of {where}: {leaks}"


# --- retention ---------------------------------------------------------------------------------


def test_parse_duration():
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration(" 30 ") == timedelta(days=30)
    with pytest.raises(ValueError):
        parse_duration("ninety days")


def _closed_request(client, session, settings, token) -> CareRequest:
    created = scenario.post_request(client, token)
    scenario.work(settings)
    request = scenario.request_by_ref(session, created.json["reference"])
    offer = scenario.offers_of(session, request.id)[0]
    assert scenario.reply(client, offer.nurse.phone, f"OUI {request.reference}").status_code == 200
    scenario.work(settings)
    return scenario.request_by_ref(session, request.reference)


def test_purge_removes_patient_data_and_keeps_statistics(client, session, settings):
    token = scenario.seed_region(session, nurses=5)
    old = _closed_request(client, session, settings, token)
    old.recording_url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    session.add(
        IvrSession(call_sid="CA" + "1" * 32, from_phone=scenario.CALLBACK, data={"notes": "x"}, request_id=old.id)
    )
    session.commit()
    cancelled = scenario.post_request(client, token)
    client.post(f"/api/v1/requests/{cancelled.json['reference']}/cancel", headers={"Authorization": f"Bearer {token}"})
    offers_before = {o.id: o.status for o in scenario.offers_of(session, old.id)}
    events_before = session.scalar(select(func.count()).select_from(Event).where(Event.request_id == old.id))

    now = utcnow()
    scenario.fresh(session)
    with session.begin():
        result = purge(session, timedelta(days=90), now + timedelta(days=89))
    assert result.requests == 0  # closed 89 days ago: kept whole
    with session.begin():
        result = purge(session, timedelta(days=90), now + timedelta(days=91))
    assert result.requests == 2 and result.ivr_sessions == 1 and result.messages > 0
    assert result.receipts > 0 and session.scalar(select(func.count()).select_from(WebhookReceipt)) == 0

    request = scenario.request_by_ref(session, old.reference)
    assert request.notes is None and request.recording_url is None and request.purged_at is not None
    assert request.status in ("accepted", "confirmed") and request.accepted_at is not None  # statistics stay
    assert {o.id: o.status for o in scenario.offers_of(session, old.id)} == offers_before
    assert session.scalar(select(func.count()).select_from(Event).where(Event.request_id == old.id)) == events_before
    bodies = session.scalars(select(Message.body).where(Message.request_id == old.id)).all()
    assert bodies and set(bodies) == {""}
    assert session.scalar(select(func.count()).select_from(IvrSession)) == 0
    # the nurses' replies (tied to no request) are old enough too
    assert session.scalars(select(Message.body).where(Message.direction == "in")).all() == [""]
    assert not any("body" in (e.data or {}) for e in session.scalars(select(Event)))
    scenario.fresh(session)
    with session.begin():
        assert purge(session, timedelta(days=90), now + timedelta(days=91)).requests == 0  # idempotent


def test_purge_deletes_recordings_at_the_provider_or_keeps_the_request_for_next_time(client, session, settings):
    token = scenario.seed_region(session, nurses=5)
    first, second = (_closed_request(client, session, settings, token) for _ in range(2))
    sids = ["RE" + "1" * 32, "RE" + "2" * 32]
    for request, sid in zip((first, second), sids, strict=True):
        request.recording_url = f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{sid}"
    session.commit()
    later = utcnow() + timedelta(days=91)
    with TwilioStandin() as standin:
        standin.recordings = dict.fromkeys(sids, b"ID3")
        twilio = standin.adapter(settings, retries=0)
        standin.fail_next(2, status=503)  # Twilio down for both
        due = recordings_due(session, timedelta(days=90), later)
        assert sorted(sid for _, sid in due) == sids
        session.rollback()  # the read ends before the calls to Twilio, as in the command
        deleted, kept = delete_recordings(twilio, due)
        with session.begin():
            result = purge(session, timedelta(days=90), later, keep=kept)
        assert (deleted, len(kept), result.requests) == (0, 2, 0)  # nothing wiped while the audio is there
        assert scenario.request_by_ref(session, first.reference).recording_url is not None

        due = recordings_due(session, timedelta(days=90), later)
        session.rollback()
        deleted, kept = delete_recordings(twilio, due)
        with session.begin():
            result = purge(session, timedelta(days=90), later, keep=kept)
        assert (deleted, kept, result.requests, standin.recordings) == (2, frozenset(), 2, {})
        assert scenario.request_by_ref(session, second.reference).recording_url is None


def test_purge_command_deletes_simulator_recordings(app, client, session, settings):
    token = scenario.seed_region(session, nurses=5)
    request = _closed_request(client, session, settings, token)
    request.recording_url = save_recording(settings, "RE" + "3" * 32, "Mme Vernier, code 1234B")
    session.commit()
    result = app.test_cli_runner().invoke(purge_command, ["--older-than", "0d"])
    assert result.exit_code == 0 and "1 recordings" in result.output, result.output
    assert read_recording(settings, "RE" + "3" * 32) is None


def test_purge_keeps_open_requests(client, session, settings):
    token = scenario.seed_region(session, nurses=5)
    created = scenario.post_request(client, token)
    scenario.work(settings)
    scenario.fresh(session)
    with session.begin():
        result = purge(session, timedelta(days=1), utcnow() + timedelta(days=400))
    assert result.requests == 0
    assert scenario.request_by_ref(session, created.json["reference"]).notes == scenario.NOTES


def test_purge_command(app, client, session, settings):
    token = scenario.seed_region(session, nurses=5)
    request = _closed_request(client, session, settings, token)
    runner = app.test_cli_runner()
    dry = runner.invoke(purge_command, ["--older-than", "90d", "--dry-run"])
    assert dry.exit_code == 0 and "0 requests would be purged" in dry.output
    bad = runner.invoke(purge_command, ["--older-than", "soon"])
    assert bad.exit_code == 2 and "--older-than" in bad.output
    result = runner.invoke(purge_command, ["--older-than", "0d"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("purged 1 requests")
    assert scenario.request_by_ref(session, request.reference).notes is None
    assert session.scalar(select(func.count()).select_from(Offer).where(Offer.request_id == request.id)) == 3
    assert session.scalar(select(func.count()).select_from(Call).where(Call.request_id == request.id)) >= 1

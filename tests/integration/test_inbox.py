"""Texts in and delivery statuses: the webhook keeps the event, a job handles it, exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

import dispatch.intake.texts_in
from dispatch.app.factory import create_app
from dispatch.clock import utcnow
from dispatch.messaging.links import details_token
from dispatch.services import reset_services
from models import CareRequest, Message, WebhookReceipt
from tests.support import scenario
from tests.support.helpers import post_signed, run_jobs
from workers.jobs import handle_event
from workers.worker import sweep_once


@pytest.fixture
def offered(app, client, session, settings):
    """A request whose first wave went out; returns (request, its offers)."""
    token = scenario.seed_region(session, nurses=3)
    reference = scenario.post_request(client, token).json["reference"]
    run_jobs(settings)
    request = scenario.request_by_ref(session, reference)
    return request, scenario.offers_of(session, request.id)


def receipts(session) -> list[WebhookReceipt]:
    scenario.fresh(session)
    return list(session.scalars(select(WebhookReceipt).order_by(WebhookReceipt.created_at)))


def age_receipts(session, seconds: int) -> None:
    """As if the sweeper's round came that much later."""
    session.execute(update(WebhookReceipt).values(created_at=utcnow() - timedelta(seconds=seconds)))
    session.commit()


def test_the_webhook_answers_at_once_and_a_job_answers_her(client, session, settings, offered):
    request, offers = offered
    response = scenario.reply(client, offers[0].nurse.phone, f"OUI {request.reference}")
    assert response.status_code == 200 and "<Message>" not in response.get_data(as_text=True)
    [receipt] = receipts(session)
    assert receipt.handled_at is None and receipt.payload["body"] == f"OUI {request.reference}"
    assert scenario.request_by_ref(session, request.reference).status == "open"  # not yet handled

    run_jobs(settings)
    assert receipts(session)[0].handled_at is not None
    assert scenario.request_by_ref(session, request.reference).status == "accepted"
    [answer] = scenario.texts_to(session, offers[0].nurse.phone, kind="reply")
    assert "est pour vous" in answer.body and answer.status == "sent"


def test_an_event_handled_twice_changes_nothing_twice(client, session, offered):
    request, offers = offered
    scenario.reply(client, offers[0].nurse.phone, f"NON {request.reference}", sid="SM" + "d" * 32)
    for _ in range(2):
        handle_event("sms:SM" + "d" * 32)  # RQ delivers at least once
    scenario.fresh(session)
    assert session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) == 1
    assert len(scenario.texts_to(session, offers[0].nurse.phone, kind="reply")) == 1
    assert [o.status for o in scenario.offers_of(session, request.id)].count("declined") == 1


def test_redis_down_the_text_is_kept_and_handled_when_it_is_back(env, client, session, settings, offered):
    request, offers = offered
    down = create_app({**env, "REDIS_URL": "redis://127.0.0.1:1/0"})
    try:
        response = scenario.reply(down.test_client(), offers[1].nurse.phone, "OUI")
        assert response.status_code == 200
    finally:
        reset_services()
    [receipt] = receipts(session)
    assert receipt.handled_at is None  # kept, no job carries it

    assert sweep_once(settings) == 0  # within the grace a job may still be on its way
    age_receipts(session, 60)
    assert sweep_once(settings) == 1
    run_jobs(settings)
    assert scenario.request_by_ref(session, request.reference).accepted_nurse_id == offers[1].nurse_id
    assert "est pour vous" in scenario.texts_to(session, offers[1].nurse.phone, kind="reply")[0].body


def test_a_job_that_fails_midway_leaves_the_event_whole(client, session, settings, offered, monkeypatch):
    request, offers = offered
    scenario.reply(client, offers[0].nurse.phone, "OUI", sid="SM" + "e" * 32)

    def crash(*args, **kwargs):
        raise RuntimeError("worker lost its database connection")

    working = dispatch.intake.texts_in.handle_nurse_reply
    monkeypatch.setattr(dispatch.intake.texts_in, "handle_nurse_reply", crash)
    with pytest.raises(RuntimeError):
        handle_event("sms:SM" + "e" * 32)
    assert receipts(session)[0].handled_at is None
    assert scenario.request_by_ref(session, request.reference).status == "open"

    monkeypatch.setattr(dispatch.intake.texts_in, "handle_nurse_reply", working)
    age_receipts(session, 60)
    assert sweep_once(settings) >= 1
    run_jobs(settings)
    assert scenario.request_by_ref(session, request.reference).status == "accepted"
    assert session.scalar(select(func.count()).select_from(CareRequest).where(CareRequest.status == "accepted")) == 1


def test_delivery_statuses_are_handled_by_a_job(client, session, settings, offered):
    request, offers = offered
    text = scenario.texts_to(session, offers[2].nurse.phone, kind="offer")[0]
    assert scenario.status_callback(client, text, "undelivered", "30003").status_code == 200
    assert scenario.offers_of(session, request.id)[2].status == "sent"  # answered at once, applied by the job
    run_jobs(settings)
    assert scenario.offers_of(session, request.id)[2].status == "failed"
    assert receipts(session)[0].handled_at is not None


def test_a_senders_texts_are_applied_in_the_order_they_came(client, session, offered):
    """OUI then DESISTE a second apart, the second's job first (another worker was quicker): she
    accepted, then gave the request back; not 'nothing to give back', then assigned."""
    request, offers = offered
    phone = offers[0].nurse.phone
    yes, withdraw = "SM" + "1" * 32, "SM" + "2" * 32
    scenario.reply(client, phone, f"OUI {request.reference}", sid=yes)
    scenario.reply(client, phone, f"DESISTE {request.reference}", sid=withdraw)
    handle_event(f"sms:{withdraw}")
    handle_event(f"sms:{yes}")  # already applied by the job above: nothing more

    after = scenario.request_by_ref(session, request.reference)
    assert after.status == "open" and after.accepted_nurse_id is None
    answers = [m.body for m in scenario.texts_to(session, phone, kind="reply")]
    assert len(answers) == 2 and "est pour vous" in answers[0] and "désistement noté" in answers[1], answers
    assert all(r.handled_at is not None for r in receipts(session))


def test_texts_of_other_senders_wait_for_their_own_jobs(client, session, offered):
    request, offers = offered
    first, second = "SM" + "3" * 32, "SM" + "4" * 32
    scenario.reply(client, offers[0].nurse.phone, f"NON {request.reference}", sid=first)
    scenario.reply(client, offers[1].nurse.phone, f"NON {request.reference}", sid=second)
    handle_event(f"sms:{second}")
    assert {r.key: r.handled_at is not None for r in receipts(session)} == {
        f"sms:{first}": False,
        f"sms:{second}": True,
    }


DATABASE_DOWN = "postgresql+psycopg://postgres@127.0.0.1:1/sio"  # nothing listens on port 1


def test_database_down_the_text_waits_in_redis_and_is_handled_when_it_is_back(env, session, settings, offered):
    request, offers = offered
    down = create_app({**env, "DATABASE_URL": DATABASE_DOWN})
    try:
        response = scenario.reply(down.test_client(), offers[1].nurse.phone, "OUI")
    finally:
        reset_services()
    assert response.status_code == 200 and "<Message>" not in response.get_data(as_text=True)
    assert receipts(session) == []  # not written: the database was away

    run_jobs(settings)  # the database is back: the job writes the text, then handles it
    assert scenario.request_by_ref(session, request.reference).accepted_nurse_id == offers[1].nurse_id
    assert "est pour vous" in scenario.texts_to(session, offers[1].nurse.phone, kind="reply")[0].body
    assert [r.handled_at is not None for r in receipts(session)] == [True]


def test_database_and_redis_down_a_text_gets_503(env, offered):
    request, offers = offered
    down = create_app({**env, "DATABASE_URL": DATABASE_DOWN, "REDIS_URL": "redis://127.0.0.1:1/0"})
    try:
        response = scenario.reply(down.test_client(), offers[1].nurse.phone, "OUI")
    finally:
        reset_services()
    assert response.status_code == 503  # nothing kept: Twilio logs the failure, the nurse's text is not lost silently


def test_database_down_every_caller_gets_a_clear_answer(env, settings):
    down = create_app({**env, "DATABASE_URL": DATABASE_DOWN})
    client = down.test_client()
    try:
        api = client.post("/api/v1/requests", headers={"Authorization": "Bearer x"}, json={"postcode": "42400"})
        call = post_signed(client, "/webhooks/voice", {"CallSid": "CA" + "1" * 32, "From": "+33477000001"})
        page = client.get(f"/r/{details_token(settings, '123456', utcnow())}")  # the nurse's link
    finally:
        reset_services()
    assert api.status_code == 503 and api.headers["Retry-After"] == "60" and "indisponible" in api.json["error"]
    assert call.status_code == 200 and "problème technique" in call.get_data(as_text=True)
    assert "<Hangup" in call.get_data(as_text=True)
    assert page.status_code == 503 and "indisponible" in page.get_data(as_text=True)

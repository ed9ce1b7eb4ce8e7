"""The SMS dispatch loop end to end: API → waves on a real RQ worker and Redis → signed SMS webhooks."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select, update

from dispatch.people.tokens import issue_token
from models import CareRequest, Coordinator, Event, Message, Nurse
from tests.support.helpers import answer, make_nurse, make_requester, post_signed, run_jobs, sign, sms
from workers.queue import get_queue

SAINT_CHAMOND = "42207"


@pytest.fixture
def env(env, fixed_policy):
    # The fixed rule's waves (of 2): a wave waits a minute (longer than any test here), the
    # usual nurse one second.
    env.update(
        {
            "DISPATCH_WAVE_SIZES": "2,2",
            "DISPATCH_WAVE_WAIT_S": "60",
            "DISPATCH_USUAL_NURSE_WAIT_S": "1",
            "DISPATCH_RADIUS_KM": "0",
        }
    )
    return env


@pytest.fixture
def region(session):
    """An Ehpad with a token, and five nurses of Saint-Chamond."""
    requester = make_requester(session)
    token = issue_token(session, requester)
    nurses = [make_nurse(session, f"Infirmière {i}", f"06 12 00 00 0{i}", [SAINT_CHAMOND]) for i in range(1, 6)]
    session.commit()
    return {"token": token, "nurses": nurses, "requester": requester}


def post_request(client, token, **fields):
    body = {"postcode": "42400", "care_type": "pansement", "callback_phone": "04 77 00 00 02", **fields}
    return client.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {token}"})


def texts_to(app, phone):
    return [s.body for s in app.extensions["sio"].telephony.outbox if s.kind == "sms" and s.to == phone]


def offers_of(session, reference):
    session.rollback()  # end the read snapshot, and forget what we loaded: see what the app committed
    session.expire_all()
    request = session.scalar(select(CareRequest).where(CareRequest.reference == reference))
    return request, sorted(request.offers, key=lambda o: o.id)


def test_first_wave_then_yes_wins_and_the_others_are_told(app, client, session, region):
    response = post_request(client, region["token"])
    assert response.status_code == 201
    reference = response.json["reference"]
    run_jobs(app.extensions["sio"].settings)
    request, offers = offers_of(session, reference)
    assert [o.status for o in offers] == ["sent", "sent"] and request.wave == 1
    first, second = (session.get(Nurse, o.nurse_id) for o in offers)
    assert any(reference in t and "OUI" in t for t in texts_to(app, first.phone))

    assert "est pour vous" in answer(client, first.phone, f"oui {reference}")
    request, offers = offers_of(session, reference)
    assert request.status == "accepted" and request.accepted_nurse_id == first.id
    assert [o.status for o in offers] == ["accepted", "taken"]
    assert any("pourvue" in t for t in texts_to(app, second.phone))
    assert "déjà pourvue" in answer(client, second.phone, "OUI")
    shown = client.get(f"/api/v1/requests/{reference}", headers={"Authorization": f"Bearer {region['token']}"}).json
    assert shown["accepted_nurse"] == {"name": first.name, "phone": first.phone}
    kinds = [e["kind"] for e in shown["timeline"]]
    assert kinds == ["received", "searching", "nurse_found"]  # the requester's view: no late yes, no offers
    calls = [s for s in app.extensions["sio"].telephony.outbox if s.kind == "call"]
    assert [c.to for c in calls] == ["+33477000002"]  # the requester is called back


def test_usual_nurse_alone_first_then_the_zone(app, client, session, region):
    usual = make_nurse(session, "Habituelle", "06 12 00 00 09", ["42095"])  # Firminy: her zones don't matter
    session.commit()
    reference = post_request(client, region["token"], usual_nurse_phone="06 12 00 00 09").json["reference"]
    run_jobs(app.extensions["sio"].settings)  # the wave job plans the first wave
    _, offers = offers_of(session, reference)
    assert [o.nurse_id for o in offers if o.wave == 1] == [usual.id]
    deadline = time.monotonic() + 10  # DISPATCH_USUAL_NURSE_WAIT_S=1: the scheduled wave job fires then
    while len(offers) == 1 and time.monotonic() < deadline:
        time.sleep(0.5)
        run_jobs(app.extensions["sio"].settings)
        _, offers = offers_of(session, reference)
    assert len(offers) == 3 and offers[0].nurse_id == usual.id and {o.wave for o in offers[1:]} == {2}


def test_a_decline_by_the_whole_wave_sends_the_next_wave_at_once(app, client, session, region):
    reference = post_request(client, region["token"]).json["reference"]
    run_jobs(app.extensions["sio"].settings)
    _, offers = offers_of(session, reference)
    for offer in offers:
        assert reference in answer(client, session.get(Nurse, offer.nurse_id).phone, "non")
    run_jobs(app.extensions["sio"].settings)
    request, offers = offers_of(session, reference)
    assert request.wave == 2 and [o.status for o in offers] == ["declined", "declined", "sent", "sent"]
    assert session.scalar(select(func.count()).where(Event.kind == "wave_ended_early")) == 1


def test_undelivered_moves_on_and_opted_out_error_marks_the_nurse(app, client, session, region):
    reference = post_request(client, region["token"]).json["reference"]
    run_jobs(app.extensions["sio"].settings)
    _, offers = offers_of(session, reference)
    for offer, (status, code) in zip(offers, [("undelivered", "30003"), ("failed", "21610")], strict=True):
        message = session.scalar(select(Message).where(Message.offer_id == offer.id))
        response = post_signed(
            client,
            f"/webhooks/sms/status?m={message.id}",
            {"MessageSid": message.sid, "MessageStatus": status, "ErrorCode": code},
        )
        assert response.status_code == 200
    run_jobs(app.extensions["sio"].settings)
    request, offers = offers_of(session, reference)
    assert [o.status for o in offers][:2] == ["failed", "failed"] and request.wave == 2
    assert session.get(Nurse, offers[1].nurse_id).opted_out_at is not None


def test_paused_and_opted_out_nurses_are_never_texted(app, client, session, region):
    paused, opted = region["nurses"][0], region["nurses"][1]
    assert "pause" in answer(client, paused.phone, "PAUSE 3").lower()
    answer(client, opted.phone, "ARRET")
    reference = post_request(client, region["token"]).json["reference"]
    for _ in range(3):
        run_jobs(app.extensions["sio"].settings)
        for offer in offers_of(session, reference)[1]:
            if offer.status == "sent":
                answer(client, session.get(Nurse, offer.nurse_id).phone, f"NON {reference}")
    run_jobs(app.extensions["sio"].settings)
    request, offers = offers_of(session, reference)
    assert {o.nurse_id for o in offers} == {n.id for n in region["nurses"][2:]}
    for nurse in (paused, opted):  # only the answers to their own texts, never the offer
        assert [t for t in texts_to(app, nurse.phone) if reference in t] == []
    assert request.status == "unfilled"  # nobody left after the three others declined


def test_unfilled_alerts_coordinators_on_duty_and_calls_the_requester(app, client, session, region):
    session.add(Coordinator(email="c@sio.local", name="Claire", phone="+33611223344", password_hash="x", on_duty=True))
    session.add(Coordinator(email="d@sio.local", name="Dora", phone="+33611223355", password_hash="x", on_duty=False))
    session.commit()
    reference = post_request(client, region["token"], postcode="63000").json["reference"]  # nobody in Clermont
    run_jobs(app.extensions["sio"].settings)
    request, offers = offers_of(session, reference)
    assert request.status == "unfilled" and offers == [] and request.needs_attention
    assert any("NON POURVUE" in t for t in texts_to(app, "+33611223344"))
    assert texts_to(app, "+33611223355") == []
    assert [s.to for s in app.extensions["sio"].telephony.outbox if s.kind == "call"] == ["+33477000002"]


def test_several_pending_offers_ask_which_and_withdraw_reopens(app, client, session, region):
    nurse = region["nurses"][0]
    refs = []
    for _ in range(2):
        refs.append(post_request(client, region["token"], usual_nurse_phone=nurse.phone).json["reference"])
    run_jobs(app.extensions["sio"].settings)
    which = answer(client, nurse.phone, "oui")
    assert refs[0] in which and refs[1] in which  # which one?
    assert "est pour vous" in answer(client, nurse.phone, f"OUI {refs[1]}")
    assert refs[1] in answer(client, nurse.phone, "desiste")
    run_jobs(app.extensions["sio"].settings)
    request, offers = offers_of(session, refs[1])
    assert request.status == "open" and request.accepted_nurse_id is None
    assert nurse.id not in [o.nurse_id for o in offers if o.status in ("sent", "pending")]
    assert any(o.wave == 2 for o in offers)  # reopened: the next wave went out


def test_repeated_webhooks_change_nothing_twice(app, client, session, region):
    reference = post_request(client, region["token"]).json["reference"]
    run_jobs(app.extensions["sio"].settings)
    _, offers = offers_of(session, reference)
    nurse = session.get(Nurse, offers[0].nurse_id)
    for _ in range(3):
        sms(client, nurse.phone, "NON", sid="SMrepeated")
    message = session.scalar(select(Message).where(Message.offer_id == offers[1].id))
    for _ in range(3):
        post_signed(
            client, f"/webhooks/sms/status?m={message.id}", {"MessageSid": message.sid, "MessageStatus": "delivered"}
        )
    run_jobs(app.extensions["sio"].settings)
    session.rollback()
    assert session.scalar(select(func.count()).where(Event.kind == "declined")) == 1
    assert session.scalar(select(func.count()).where(Event.kind == "delivery")) == 1
    delivery = session.scalar(select(Event).where(Event.kind == "delivery"))
    assert delivery.data == {"status": "delivered", "message_kind": "offer"}  # a code, no free text
    assert session.scalar(select(func.count()).where(Message.direction == "in")) == 1


def test_forged_or_missing_signature_changes_nothing(app, client, session, region):
    reference = post_request(client, region["token"]).json["reference"]
    run_jobs(app.extensions["sio"].settings)
    nurse = session.get(Nurse, offers_of(session, reference)[1][0].nurse_id)
    data = {"MessageSid": "SMforged", "From": nurse.phone, "Body": "OUI"}
    assert client.post("/webhooks/sms", data=data).status_code == 403
    assert client.post("/webhooks/sms", data=data, headers={"X-Twilio-Signature": "bm9wZQ=="}).status_code == 403
    # A valid signature for another URL must not pass either.
    signature = sign(app.extensions["sio"].settings, "/webhooks/sms/status", data)
    assert client.post("/webhooks/sms", data=data, headers={"X-Twilio-Signature": signature}).status_code == 403
    request, _ = offers_of(session, reference)
    assert request.status == "open"
    assert session.scalar(select(func.count()).where(Message.direction == "in")) == 0


@pytest.mark.parametrize("body", ["", " ", "x" * 2000, "👍👍 ok?", "\x00\x07\x1b[31m", "OUI " + "9" * 500, "é" * 3000])
def test_odd_bodies_get_help_never_a_500(app, client, region, body):
    for sender in (region["nurses"][0].phone, "+33698765432"):
        assert answer(client, sender, body).startswith("SIO: ")  # a short help
    for sender in ("not-a-number", ""):  # no number to answer: kept, never an error
        assert answer(client, sender, body) == ""
    assert not FailedJobRegistry(queue=get_queue(app.extensions["sio"].settings)).get_job_ids()


def test_redis_down_during_post_then_dispatched_by_the_sweeper(app, client, session, region, monkeypatch, env):
    from dispatch.app.factory import create_app
    from dispatch.services import reset_services
    from workers.worker import sweep_once

    down = create_app({**env, "REDIS_URL": "redis://127.0.0.1:1/0"})
    response = post_request(down.test_client(), region["token"])
    assert response.status_code == 201
    reference = response.json["reference"]
    reset_services()
    settings = app.extensions["sio"].settings
    # Nothing is lost: the request is written with its first wave due, which no job carries.
    request, offers = offers_of(session, reference)
    assert offers == [] and request.status == "open" and request.wave == 0 and request.next_wave_at is not None
    # As if the sweeper's round came a minute later: it finds the wave overdue and enqueues it.
    session.execute(update(CareRequest).values(next_wave_at=datetime.now(UTC) - timedelta(seconds=60)))
    session.commit()
    assert sweep_once(settings) == 1
    run_jobs(settings)
    request, offers = offers_of(session, reference)
    assert [o.status for o in offers] == ["sent", "sent"] and request.wave == 1


def test_outside_texting_hours_offers_wait_for_the_morning(app, client, session, region, env):
    from dispatch.app.factory import create_app

    night = create_app({**env, "NURSE_TEXTING_HOURS": "mon 00:00-00:01"})  # closed nearly always
    reference = post_request(night.test_client(), region["token"]).json["reference"]
    urgent = post_request(night.test_client(), region["token"], urgent=True).json["reference"]
    run_jobs(night.extensions["sio"].settings)  # the wave jobs, with the night's texting hours
    request, offers = offers_of(session, reference)
    assert offers == [] and request.status == "open" and request.wave == 0
    assert request.next_wave_at > datetime.now(UTC)  # the morning's
    assert session.scalar(select(func.count()).where(Event.kind == "waiting_texting_hours")) == 1
    assert len(offers_of(session, urgent)[1]) == 2

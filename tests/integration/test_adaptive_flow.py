"""The default dispatch policy (adaptive) end to end: API → waves on a real RQ worker and Redis,
sized and timed from the offers table's history → signed SMS webhooks."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dispatch.config import load_settings
from dispatch.people.tokens import issue_token
from models import CareRequest, Event, Nurse, Offer
from tests.support.helpers import answer, make_nurse, make_request_row, make_requester, run_jobs

SAINT_CHAMOND = "42207"


@pytest.fixture
def env(env):
    # The default policy. DISPATCH_WAVE_WAIT_S is the longest an adaptive wave waits: two
    # seconds here, so the next wave comes within the test.
    env.update({"DISPATCH_WAVE_WAIT_S": "2", "DISPATCH_RADIUS_KM": "0"})
    return env


def past_offer(session, nurse, at, status, answered_after_s):
    request = make_request_row(session, SAINT_CHAMOND, "42400", at, "confirmed")
    answered = at + timedelta(seconds=answered_after_s)
    session.add(
        Offer(
            request_id=request.id,
            nurse_id=nurse.id,
            wave=1,
            status=status,
            created_at=at,
            sent_at=at,
            answered_at=answered,
        )
    )


@pytest.fixture
def region(session):
    """An Ehpad with a token and six nurses of Saint-Chamond with three weeks of answers: one
    says yes within a minute, five say no after twenty minutes."""
    requester = make_requester(session)
    token = issue_token(session, requester)
    quick = make_nurse(session, "Rapide", "06 12 00 00 01", [SAINT_CHAMOND])
    slow = [make_nurse(session, f"Lente {i}", f"06 12 00 00 1{i}", [SAINT_CHAMOND]) for i in range(5)]
    now = datetime.now(UTC)
    for day in range(8):
        past_offer(session, quick, now - timedelta(days=10 + day), "accepted", 50)
    for i, nurse in enumerate(slow):
        for day in range(3):
            past_offer(session, nurse, now - timedelta(days=10 + day, minutes=i), "declined", 1200)
    session.commit()
    return {"token": token, "quick": quick, "slow": slow}


def offers_of(session, reference):
    session.rollback()
    session.expire_all()
    request = session.scalar(select(CareRequest).where(CareRequest.reference == reference))
    return request, sorted(request.offers, key=lambda o: o.id)


def test_the_default_policy_is_adaptive(app):
    assert app.extensions["sio"].settings.dispatch_policy == "adaptive"
    assert load_settings({"SECRET_KEY": "x", "TELEPHONY": "simulator"}).dispatch_policy == "adaptive"


def test_adaptive_dispatch_through_the_real_loop(app, client, session, region):
    settings = app.extensions["sio"].settings
    body = {"postcode": "42400", "care_type": "pansement", "callback_phone": "04 77 00 00 02"}
    response = client.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {region['token']}"})
    assert response.status_code == 201
    reference = response.json["reference"]
    run_jobs(settings)

    # First wave: the quick nurse first, and fewer texts than the zone has nurses.
    request, offers = offers_of(session, reference)
    assert request.wave == 1 and offers[0].nurse_id == region["quick"].id
    assert 1 <= len(offers) < 6 and all(o.status == "sent" for o in offers)
    waves = session.scalars(select(Event).where(Event.request_id == request.id, Event.kind == "wave_sent")).all()
    assert [w.data["wait_s"] for w in waves] == [2]  # the policy's wait, capped by DISPATCH_WAVE_WAIT_S

    # Nobody answers: the wave job scheduled at the end of that wait sends the next wave.
    deadline = time.monotonic() + 15
    while request.wave == 1 and time.monotonic() < deadline:
        time.sleep(0.5)
        run_jobs(settings)
        request, offers = offers_of(session, reference)
    assert request.wave == 2
    first = [o for o in offers if o.wave == 1]
    second = [o for o in offers if o.wave == 2]
    assert second and {o.nurse_id for o in second}.isdisjoint({o.nurse_id for o in first})

    # One of the second wave says yes: she gets the patient, everyone still silent is told.
    winner = session.get(Nurse, second[0].nurse_id)
    assert "est pour vous" in answer(client, winner.phone, f"oui {reference}")
    request, offers = offers_of(session, reference)
    assert request.status == "accepted" and request.accepted_nurse_id == winner.id
    assert sorted(o.status for o in offers) == sorted(["accepted"] + ["taken"] * (len(offers) - 1))
    told = [s.to for s in app.extensions["sio"].telephony.outbox if s.kind == "sms" and "pourvue" in s.body]
    assert sorted(told) == sorted(session.get(Nurse, o.nurse_id).phone for o in offers if o.status == "taken")

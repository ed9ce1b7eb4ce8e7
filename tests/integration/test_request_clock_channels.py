"""Issue 12 through the channels a requester and a coordinator use: the API, the SMS intake, the
phone menu and the status page. Starts are relative to the real clock; every nurse here works
every day, so the day of the week the suite runs on does not matter."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dispatch.people.tokens import issue_token
from models import CareRequest, Offer
from tests.integration.test_ivr import Caller, action_of, spoken
from tests.support.browser import login, make_coordinator, post_form
from tests.support.helpers import answer, make_nurse, make_requester, run_jobs

PARIS = ZoneInfo("Europe/Paris")
SAINT_CHAMOND = "42207"
REQUESTER_MOBILE = "+33612345678"


@pytest.fixture
def region(session):
    requester = make_requester(session, phones=("04 77 00 00 01", REQUESTER_MOBILE))
    token = issue_token(session, requester)
    nurses = [
        make_nurse(session, f"N{i}", f"06 30 00 00 0{i}", [SAINT_CHAMOND], availability="mon-sun 08:00-18:00")
        for i in range(3)
    ]
    session.commit()
    return token, nurses


def post(client, token, **fields):
    body = {"postcode": "42400", "care_type": "pansement", "callback_phone": "04 77 00 00 01", **fields}
    return client.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {token}"})


def offers(session, reference) -> int:
    session.rollback()
    request = session.scalar(select(CareRequest).where(CareRequest.reference == reference))
    return session.scalar(select(func.count()).select_from(Offer).where(Offer.request_id == request.id))


def test_api_date_only_start_reaches_the_nurses_who_work_that_day(client, session, settings, region):
    token, _ = region
    day = (datetime.now(PARIS) + timedelta(days=2)).date()
    response = post(client, token, start_at=day.isoformat())
    assert response.status_code == 201, response.json
    assert response.json["status"] == "open"
    run_jobs(settings)
    assert offers(session, response.json["reference"]) == 3  # the first wave: the fixed rule's 3


def test_api_start_earlier_today_means_as_soon_as_possible(client, session, settings, region):
    token, _ = region
    midnight = datetime.now(PARIS).replace(hour=0, minute=0, second=0, microsecond=0)
    response = post(client, token, start_at=midnight.strftime("%Y-%m-%dT%H:%M"))
    assert response.status_code == 201, response.json
    run_jobs(settings)
    assert offers(session, response.json["reference"]) > 0


@pytest.mark.parametrize("when", ["yesterday", "yesterday-time", "0001-01-01", "9999-12-31T23:00:00-14:00"])
def test_api_refuses_a_start_on_an_earlier_day_with_a_field_error(client, session, region, when):
    token, _ = region
    yesterday = datetime.now(PARIS) - timedelta(days=1)
    value = {"yesterday": yesterday.date().isoformat(), "yesterday-time": yesterday.strftime("%Y-%m-%dT10:00")}
    response = post(client, token, start_at=value.get(when, when))
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"start_at"}
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CareRequest)) == 0


def test_sms_request_for_a_day_just_passed_is_refused_and_nothing_is_created(client, session, settings, region):
    yesterday = datetime.now(PARIS) - timedelta(days=1)
    reply = answer(client, REQUESTER_MOBILE, f"42400 pansement {yesterday:%d/%m} 9h")
    assert "non enregistrée" in reply and "passé" in reply
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CareRequest)) == 0


def test_sms_request_for_tomorrow_without_a_time_reaches_the_nurses(client, session, settings, region):
    reply = answer(client, REQUESTER_MOBILE, "42400 pansement demain")
    assert "enregistrée" in reply
    session.rollback()
    [request] = session.scalars(select(CareRequest)).all()
    assert request.has_start_time is False and request.status == "open"
    assert offers(session, request.reference) == 3


def test_ivr_date_just_passed_is_said_and_asked_again(client, session, region):
    yesterday = datetime.now(PARIS) - timedelta(days=1)
    call = Caller(client)
    call.dial_in()
    for digits in ("1", "42400", "1", "3"):
        call.press(digits)
    root = call.press(f"{yesterday:%d%m}")
    assert "est passé" in spoken(root) and action_of(root, "Gather") == "/webhooks/voice/ivr/date"


def test_relaunch_from_the_page_with_a_reachable_usual_nurse(client, session, settings, region):
    """Issue 12 (5): 'Diffuser à nouveau' answered 500 (the usual nurse offered twice)."""
    token, nurses = region
    make_coordinator(session)
    session.commit()
    login(client)
    usual = nurses[0]
    response = post(client, token, usual_nurse_phone=usual.phone)
    reference = response.json["reference"]
    run_jobs(settings)
    relaunched = post_form(client, f"/status/requests/{reference}/redispatch")
    assert relaunched.status_code == 302
    session.rollback()
    request = session.scalar(select(CareRequest).where(CareRequest.reference == reference))
    assert request.status == "open" and request.round == 2
    usual_offers = session.scalars(
        select(Offer.round).where(Offer.request_id == request.id, Offer.nurse_id == usual.id).order_by(Offer.id)
    ).all()
    assert usual_offers == [1, 2]

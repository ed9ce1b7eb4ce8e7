"""The phone menu says one true thing (issue #15): "0" only when a coordinator takes it, and a
caller from a place no nurse serves hears it before she hangs up, then reaches a coordinator on
duty; the call she is handed over in shows on the board."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models import Coordinator, Offer
from tests.integration.test_ivr import Caller, action_of, requests, spoken
from tests.support.browser import login, make_coordinator
from tests.support.helpers import make_nurse, make_requester, no_planning, run_jobs
from workers.queue import get_queue

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def people(session):
    requester = make_requester(session)
    nurse = make_nurse(session, "Marie Curie", "06 11 22 33 44", ["42207"])
    session.commit()
    return requester, nurse


@pytest.fixture
def closed_now(env):
    """Service hours that never include today (set before the app is built)."""
    tomorrow = (datetime.now(PARIS) + timedelta(days=1)).weekday()
    env["SERVICE_HOURS"] = f"{('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')[tomorrow]} 09:00-10:00"


def on_duty(session) -> None:
    session.add(Coordinator(email="a@sio.test", name="Anne", phone="+33611000001", password_hash="x", on_duty=True))
    session.commit()


def test_closed_and_nobody_on_duty_the_menu_does_not_offer_a_coordinator(closed_now, client, session, people):
    root = Caller(client).dial_in()
    assert "ne répondent pas en ce moment" in spoken(root)
    assert "tapez 0" not in spoken(root) and "Nouvelle demande: tapez 1" in spoken(root)


def test_closed_but_a_coordinator_on_duty_the_greeting_offers_her_and_the_0_rings_her(
    closed_now, client, session, people
):
    on_duty(session)
    call = Caller(client)
    root = call.dial_in()
    assert "ne répondent pas" not in spoken(root) and "Parler à une coordinatrice: tapez 0" in spoken(root)
    root = call.press("0")
    assert root.find("Dial").find("Number").text == "+33611000001"


def finish_intake(call: Caller, postcode: str):
    call.dial_in()
    for digits in ("1", postcode, "1", "1", "", ""):
        call.press(digits)
    call.record(None)
    return call.press("1")


def test_a_place_nobody_serves_is_said_during_the_call_then_a_coordinator_on_duty_is_rung(client, session, people):
    on_duty(session)
    make_coordinator(session, email="m@sio.test", on_duty=False)
    call = Caller(client)
    root = finish_intake(call, "63000")
    assert "aucune infirmière inscrite ne dessert cette commune" in spoken(root)
    assert "Nous vous rappelons dès qu'une infirmière accepte" not in spoken(root)
    assert root.find("Dial").find("Number").text == "+33611000001"
    [request] = requests(session)
    assert request.status == "unfilled" and request.reference.replace("", " ").strip() in spoken(root)
    login(client, email="m@sio.test")
    board = client.get("/status/fragment").get_data(as_text=True)
    assert "Appel transféré" in board and f"Voir la demande {request.reference}" in board
    assert "/status/requests/new?call=" not in board  # the menu took it all: nothing to type
    root = call.post(action_of(root, "Dial"), DialCallStatus="completed")
    assert root[-1].tag == "Hangup" and len(requests(session)) == 1


def test_a_place_nobody_serves_without_anyone_on_duty_says_who_calls_back(client, session, people):
    root = finish_intake(Caller(client), "63000")
    text = spoken(root)
    assert "aucune infirmière inscrite ne dessert cette commune" in text and "vous rappelleront" in text
    assert root[-1].tag == "Hangup"
    [request] = requests(session)
    assert request.status == "unfilled"


def test_a_place_that_is_served_still_hears_the_usual_words(client, session, people):
    root = finish_intake(Caller(client), "42400")
    assert "Nous vous rappelons dès qu'une infirmière accepte" in spoken(root)


def test_the_call_ends_before_any_wave_is_planned_then_the_wave_job_texts_the_zone(client, session, settings, people):
    _, nurse = people
    with no_planning():
        root = finish_intake(Caller(client), "42400")
    assert "Nous vous rappelons dès qu'une infirmière accepte" in spoken(root) and root[-1].tag == "Hangup"
    [request] = requests(session)
    assert request.status == "open" and request.wave == 0 and session.scalar(select(Offer.id)) is None
    jobs = get_queue(settings).get_jobs()
    assert [(j.func_name, j.args) for j in jobs] == [("workers.jobs.run_wave", (request.id, 0))]
    run_jobs(settings)
    session.commit()  # see what the job committed
    [offer] = session.scalars(select(Offer)).all()
    assert (offer.nurse_id, offer.wave, offer.status) == (nurse.id, 1, "sent")

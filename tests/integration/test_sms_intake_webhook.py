"""Requesters' SMS through ``/webhooks/sms`` end to end: requests made, ANNULER, usage help (DESIGN §6)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dispatch.texts import requester_usage
from models import CareRequest, Message
from tests.support.helpers import answer, make_nurse, make_requester, no_planning, run_jobs, sms
from workers.jobs import handle_event
from workers.queue import get_queue

PARIS = ZoneInfo("Europe/Paris")
EHPAD = "+33477000001"
WARD = "+33478000002"  # a hospital ward that is not registered


def reference_in(text: str) -> str:
    match = re.search(r"demande (\d{6}) enregistrée", text)
    assert match, text
    return match.group(1)


def all_requests(session) -> list[CareRequest]:
    session.commit()
    session.expire_all()
    return list(session.scalars(select(CareRequest).order_by(CareRequest.id)))


@pytest.fixture
def people(session):
    requester = make_requester(session)
    nurse = make_nurse(session, "Marie Curie", "06 11 22 33 44", ["42207", "69259"])
    session.commit()
    return requester, nurse


def test_a_text_with_a_postcode_makes_a_request_and_the_reply_says_how_to_cancel(client, session, settings, people):
    requester, _ = people
    text = answer(client, EHPAD, "Bonjour, pansement 42400 demain 9h30 svp")
    reference = reference_in(text)
    assert f"ANNULER {reference}" in text and "Saint-Chamond" in text and text.startswith("SIO: ")

    [request] = all_requests(session)
    tomorrow = datetime.now(PARIS).date() + timedelta(days=1)
    assert (request.reference, request.channel, request.status) == (reference, "sms", "open")
    assert (request.postcode, request.insee, request.care_type) == ("42400", "42207", "pansement")
    assert request.start_at.astimezone(PARIS) == datetime.combine(tomorrow, time(9, 30), tzinfo=PARIS)
    assert (request.requester_id, request.callback_phone) == (requester.id, EHPAD)
    run_jobs(settings)
    [offer] = client.application.extensions["sio"].telephony.sent("sms", to="+33611223344")
    assert reference in offer.body


def test_the_text_is_answered_before_any_wave_is_planned_then_the_wave_job_texts_the_zone(
    client, session, settings, people
):
    _, nurse = people
    assert sms(client, EHPAD, "pansement 42400 aujourd'hui").status_code == 200
    [handle] = get_queue(settings).get_jobs()  # the webhook only wrote the text: a job handles it
    with no_planning():
        handle_event(*handle.args)
    [request] = all_requests(session)
    assert request.status == "open" and request.wave == 0 and request.offers == []
    [ack] = session.scalars(select(Message).where(Message.to_phone == EHPAD)).all()
    assert f"demande {request.reference} enregistrée" in ack.body
    jobs = get_queue(settings).get_jobs()
    assert ("workers.jobs.run_wave", (request.id, 0)) in [(j.func_name, j.args) for j in jobs]
    run_jobs(settings)
    [offer] = client.application.extensions["sio"].telephony.sent("sms", to=nurse.phone)
    assert request.reference in offer.body


def test_an_unregistered_sender_with_accents_typos_and_a_usual_nurse(client, session, people):
    _, nurse = people
    body = "Prise de sang à domicile, 69200 Vénissieux, aujourd'hui 14h30. IDE habituelle 06 11 22 33 44"
    reference = reference_in(answer(client, WARD, body))
    [request] = all_requests(session)
    assert (request.reference, request.postcode, request.care_type) == (reference, "69200", "injection")
    assert (request.usual_nurse_id, request.requester_id, request.callback_phone) == (nurse.id, None, WARD)
    assert request.notes == body


def test_annuler_cancels_only_the_senders_own_request(client, session, people):
    mine = reference_in(answer(client, EHPAD, "perfusion 42400 lundi"))
    theirs = reference_in(answer(client, WARD, "toilette 42400 mardi 8h"))

    text = answer(client, WARD, f"annuler {mine}")
    assert f"aucune demande en cours avec la référence {mine}" in text
    text = answer(client, EHPAD, f"Annuler la demande {mine} merci")
    assert f"la demande {mine} est annulée" in text
    statuses = {r.reference: r.status for r in all_requests(session)}
    assert statuses == {mine: "cancelled", theirs: "open"}


def test_no_postcode_gets_the_usage_help_and_nothing_is_made(client, session, people):
    for body in ("Bonjour, besoin d'une infirmière pour un pansement demain", "42999 pansement", "ANNULER"):
        assert answer(client, WARD, body) == requester_usage("SIO")
    assert all_requests(session) == []


def test_a_repeated_message_makes_one_request(client, session, people):
    first = answer(client, WARD, "pansement 42400", sid="SM" + "a" * 32)
    again = answer(client, WARD, "pansement 42400", sid="SM" + "a" * 32)
    assert reference_in(first) and again == ""
    assert len(all_requests(session)) == 1
    inbound = session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
    assert inbound == 1

"""A coordinator steers a request in headless Chromium (issue 15), against a live server and a
real ``sio worker`` on the demo region: "Proposer maintenant" (the offer reaches that nurse's
phone in the simulator), "A accepté au téléphone", a cancel with its reason, a free-text message
answered from the board; the pages at 1366 and 390 px without sideways scrolling."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from dispatch.app.demo import COORDINATOR_NAME
from models import CareRequest, Message, MessageToRead, Nurse, Offer
from tests.browser import test_browser as base
from tests.support.browser import fresh, wait_for
from tests.support.helpers import sign

pytestmark = pytest.mark.browser
# The demo region on a live server with a worker, and a coordinator's Chromium (test_browser's
# fixtures, shared by conftest.py).
api_request, log_in, shot = base.api_request, base.log_in, base.shot
DESKTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}


WIDEST = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
    .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def fits(page) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"sideways scrolling: {width[0]} px wide in {width[1]} px: {page.evaluate(WIDEST)}"


def candidate(page, name: str):
    return page.locator("li.cand", has_text=name)


def first_wave_out(session, reference: str) -> None:
    """Wait for the worker's job to send a request's first wave: the intake only queues it, and a
    page read before it shows as not yet asked a nurse the wave is about to text."""
    wait_for(
        lambda: (
            fresh(session)
            or session.scalar(
                select(Offer.id)
                .join(CareRequest, Offer.request_id == CareRequest.id)
                .where(CareRequest.reference == reference)
            )
        ),
        what=f"the first wave of {reference}",
    )


def test_steer_a_request_propose_assign_by_phone_and_cancel(page, service, session):
    first = api_request(service)
    second = api_request(service)
    first_wave_out(session, first)
    log_in(page)
    page.set_viewport_size(DESKTOP)
    page.goto(f"/status/requests/{first}")
    page.locator("#h-candidates").wait_for()
    fits(page)
    shot(page, "steer-01-candidates-1366")
    page.set_viewport_size(PHONE)
    fits(page)
    shot(page, "steer-02-candidates-390")
    page.locator("section.candidates li.cand").first.screenshot(
        path=str(base.ARTIFACTS / "steer-02b-candidate-390.png")
    )
    page.set_viewport_size(DESKTOP)

    # "Proposer maintenant" to the first nurse the search has not asked yet.
    button = page.locator("li.cand:not(.greyed)").get_by_role("button", name="Proposer maintenant").first
    label = button.get_attribute("aria-label")
    name = label.removeprefix("Proposer maintenant à ")
    button.click()
    assert f"Proposition envoyée à {name}" in page.locator(".flash.ok").inner_text()
    fresh(session)
    nurse = session.scalar(select(Nurse).where(Nurse.name == name))
    request = session.scalar(select(CareRequest).where(CareRequest.reference == first))
    wait_for(
        lambda: (
            fresh(session)
            or session.scalar(
                select(Message.status).where(Message.to_phone == nurse.phone, Message.request_id == request.id)
            )
            in ("sent", "delivered")
        ),
        what="the offer to leave through the simulator",
    )
    page.goto("/simulator")
    phone = page.locator(f'.phone[data-phone="{nurse.phone}"]')
    phone.locator(".bubble.received", has_text=first).wait_for()
    assert "OUI" in phone.locator(".bubble.received", has_text=first).inner_text()

    # "A accepté au téléphone" on the second request, with a note.
    page.goto(f"/status/requests/{second}")
    row = candidate(page, "Nathalie Bernard")
    row.locator("summary", has_text="A accepté au téléphone").click()
    row.get_by_label("Note (facultatif)").fill("passera à 14 h")
    row.get_by_role("button", name="Attribuer à Nathalie Bernard, accord au téléphone").click()
    assert "accord au téléphone" in page.locator(".flash.ok").inner_text()
    assert page.locator("h1 .badge").inner_text() == "acceptée"
    assert "note : passera à 14 h" in page.locator(".timeline").inner_text()
    shot(page, "steer-03-assigned-by-phone")

    # Cancel the first one: confirmation, a reason from the list and free text.
    page.goto(f"/status/requests/{first}")
    page.get_by_role("link", name="Annuler la demande…").click()
    page.get_by_role("button", name="Confirmer l'annulation").click()  # no motive yet
    assert "Choisissez le motif" in page.locator(".field-error").inner_text()
    page.set_viewport_size(PHONE)
    fits(page)
    shot(page, "steer-04-cancel-390")
    page.set_viewport_size(DESKTOP)
    page.get_by_label("demande en double").check()
    page.get_by_label("Précision (obligatoire pour « autre motif »)").fill("saisie deux fois par le service")
    page.get_by_role("button", name="Confirmer l'annulation").click()
    assert page.locator("h1 .badge").inner_text() == "annulée"
    timeline = page.locator(".timeline").inner_text()
    assert "motif : demande en double" in timeline and "précision : saisie deux fois" in timeline
    shot(page, "steer-05-cancelled")


def test_a_free_text_message_is_answered_from_the_board(page, service, session):
    reference = api_request(service)
    log_in(page)
    fresh(session)
    nurse = session.scalar(select(Nurse).where(Nurse.name == "Sophie Martin"))
    form = {
        "MessageSid": "SM" + "5" * 32,
        "From": nurse.phone,
        "To": "+33900000000",
        "Body": "Je rentre de congés lundi",
    }
    response = requests.post(
        f"{service.url}/webhooks/sms",
        data=form,
        headers={"X-Twilio-Signature": sign(service.settings, "/webhooks/sms", form)},
        timeout=10,
    )
    assert response.status_code == 200
    item = page.locator(".to-read-list li", has_text="Je rentre de congés lundi")
    item.wait_for()  # the board updates itself
    assert "Sophie Martin" in item.inner_text()
    shot(page, "steer-06a-board-to-read")
    item.get_by_role("link", name="Lire et répondre").click()
    page.get_by_role("button", name="Envoyer le SMS").click()  # empty: refused, in French
    assert "Écrivez la réponse" in page.locator(".field-error").inner_text()
    page.get_by_label("Répondre par SMS").fill("Bien noté, bon retour !")
    page.set_viewport_size(PHONE)
    fits(page)
    shot(page, "steer-06-message-390")
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Envoyer le SMS").click()
    assert "Réponse envoyée" in page.locator(".flash.ok").inner_text()
    assert page.locator(".to-read-list li", has_text="Je rentre de congés").count() == 0
    wait_for(
        lambda: (
            fresh(session)
            or session.scalar(
                select(Message.status).where(Message.to_phone == nurse.phone, Message.body.contains("Bien noté"))
            )
            in ("sent", "delivered")
        ),
        what="the answer to leave",
    )
    assert session.scalar(select(MessageToRead.read_by)) == f"coordinatrice {COORDINATOR_NAME}"
    assert reference

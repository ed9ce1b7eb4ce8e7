"""The coordinator steers a request from its page (issue 15), through the Flask client, Redis and
RQ workers: who could take it, "Proposer maintenant", "A accepté au téléphone", a cancel confirmed
with its reason, the texts to read on the board and their answer, and the history's defects."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from dispatch.people.tokens import issue_token
from models import CareRequest, Event, Message, MessageToRead, Offer
from tests.support.browser import fresh, login, make_coordinator, post_form
from tests.support.helpers import answer, make_nurse, make_requester, run_jobs

SAINT_CHAMOND = "42207"
ACTOR = "coordinatrice Martine Roche"
EHPAD = "+33477000001"


@pytest.fixture
def world(client, session):
    make_coordinator(session)
    nurses = [
        make_nurse(session, f"Infirmière {name}", f"06 12 34 56 {i:02d}", [SAINT_CHAMOND])
        for i, name in enumerate(("Alice", "Béatrice", "Chloé", "Diane", "Élise"))
    ]
    requester = make_requester(session, phones=("04 77 00 00 01",))
    token = issue_token(session, requester)
    session.commit()
    login(client)
    return SimpleNamespace(nurses=nurses, token=token)


def new_request(client, world, **fields) -> str:
    body = {"postcode": "42400", "care_type": "pansement", "callback_phone": "04 77 00 00 01", **fields}
    response = client.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {world.token}"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def request_row(session, reference) -> CareRequest:
    fresh(session)
    return session.scalar(select(CareRequest).where(CareRequest.reference == reference))


def page(client, reference) -> str:
    return client.get(f"/status/requests/{reference}").get_data(as_text=True)


def candidates_section(html: str) -> str:
    match = re.search(r'<section class="panel candidates".*?</section>', html, re.S)
    assert match, "no candidates section"
    return match.group(0)


def offered(session, reference) -> set[int]:
    return {o.nurse_id for o in request_row(session, reference).offers}


def test_the_page_lists_who_could_take_it_with_her_number_and_actions(client, world, session, settings):
    paused = make_nurse(session, "Paula en pause", "06 12 34 57 00", [SAINT_CHAMOND])
    paused.paused_until = datetime(2099, 1, 2, 9, tzinfo=UTC)
    stopped = make_nurse(session, "Stéphanie ARRET", "06 12 34 57 01", [SAINT_CHAMOND])
    stopped.opted_out_at = datetime(2026, 1, 1, tzinfo=UTC)
    session.commit()
    reference = new_request(client, world)
    run_jobs(settings)
    asked = offered(session, reference)
    section = candidates_section(page(client, reference))
    for nurse in world.nurses:
        assert nurse.name in section and f'href="tel:{nurse.phone}"' in section
    waiting = [n for n in world.nurses if n.id not in asked]
    assert len(waiting) == 2
    for nurse in waiting:
        assert f'aria-label="Proposer maintenant à {nurse.name}"' in section
    assert section.count("déjà sollicitée (envoyée)") == 3
    lines = {re.search(r"<strong>(.*?)</strong>", line).group(1): line for line in section.split('<li class="cand')[1:]}
    paused_line = lines["Paula en pause"]
    assert paused_line.startswith(' greyed"') and "en pause jusqu&#39;au 02/01" in paused_line
    assert "Proposer maintenant" not in paused_line and "A accepté au téléphone" in paused_line
    stopped_line = lines["Stéphanie ARRET"]
    assert "ne reçoit plus de SMS (ARRET)" in stopped_line and "A accepté au téléphone" not in stopped_line
    assert f'href="tel:{stopped.phone}"' in stopped_line  # she can still be called


def test_proposer_maintenant_sends_her_the_offer_through_the_outbox(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    nurse = next(n for n in world.nurses if n.id not in offered(session, reference))
    response = post_form(client, f"/status/requests/{reference}/propose", {"nurse_id": nurse.id})
    assert response.status_code == 302 and response.headers["Location"].endswith("#h-candidates")
    run_jobs(settings)
    fresh(session)
    request = request_row(session, reference)
    offer = session.scalar(select(Offer).where(Offer.request_id == request.id, Offer.nurse_id == nurse.id))
    assert offer.status == "sent" and offer.round == request.round
    text = session.scalar(select(Message).where(Message.offer_id == offer.id))
    assert text.to_phone == nurse.phone and text.status == "sent" and f"OUI {reference}" in text.body
    html = page(client, reference)
    assert "Proposition envoyée à " + nurse.name in html
    again = post_form(client, f"/status/requests/{reference}/propose", {"nurse_id": nurse.id})
    assert again.status_code == 302
    assert "attend sa réponse" in page(client, reference)
    assert answer(client, nurse.phone, f"OUI {reference}")
    assert request_row(session, reference).accepted_nurse_id == nurse.id


def test_a_yes_on_the_phone_assigns_her_with_the_note(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    nurse = next(n for n in world.nurses if n.id not in offered(session, reference))
    note = "passera vers 14 h"
    post_form(client, f"/status/requests/{reference}/phone-yes", {"nurse_id": nurse.id, "note": note})
    request = request_row(session, reference)
    assert request.status == "accepted" and request.accepted_nurse_id == nurse.id
    [event] = session.scalars(select(Event).where(Event.request_id == request.id, Event.kind == "accepted"))
    assert event.actor == ACTOR and event.data["note"] == note
    html = page(client, reference)
    assert f"note : {note}" in html and "accord au téléphone" in html
    assert "Qui pourrait la prendre" not in html  # taken: nobody else to steer to
    refused = post_form(client, f"/status/requests/{reference}/phone-yes", {"nurse_id": world.nurses[0].id})
    assert refused.status_code == 302 and "ne peut plus être attribuée" in page(client, reference)


@pytest.mark.parametrize("path", ["propose", "phone-yes"])
def test_steering_without_a_nurse_says_so(client, world, path):
    reference = new_request(client, world)
    for value in ("", "abc", "99999999999", "0"):
        response = post_form(client, f"/status/requests/{reference}/{path}", {"nurse_id": value})
        assert response.status_code == 302
    assert "Choisissez une infirmière" in page(client, reference)


# --- cancel ------------------------------------------------------------------------------------


def test_cancel_asks_for_confirmation_and_a_reason(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    html = page(client, reference)
    assert f'href="/status/requests/{reference}/cancel"' in html
    confirm = client.get(f"/status/requests/{reference}/cancel").get_data(as_text=True)
    assert "Confirmer l'annulation" in confirm and "patient hospitalisé" in confirm
    # No motive: nothing cancelled, the French error, what was typed kept.
    refused = post_form(client, f"/status/requests/{reference}/cancel", {"reason": "vu avec la fille"})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Choisissez le motif" in body and 'value="vu avec la fille"' in body
    other = post_form(client, f"/status/requests/{reference}/cancel", {"motif": "autre"})
    assert other.status_code == 422 and "Précisez le motif" in other.get_data(as_text=True)
    assert 'value="autre" checked' in other.get_data(as_text=True)
    assert request_row(session, reference).status == "open"
    done = post_form(client, f"/status/requests/{reference}/cancel", {"motif": "hospitalise", "reason": "CHU Nord"})
    assert done.status_code == 302
    request = request_row(session, reference)
    assert request.status == "cancelled"
    [event] = session.scalars(select(Event).where(Event.request_id == request.id, Event.kind == "cancelled"))
    assert event.actor == ACTOR and event.data == {"reason": "patient hospitalisé", "reason_text": "CHU Nord"}
    html = page(client, reference)
    assert "motif : patient hospitalisé" in html and "précision : CHU Nord" in html
    assert "Annuler la demande" not in html
    late = client.get(f"/status/requests/{reference}/cancel")
    assert late.status_code == 302


# --- texts to read -----------------------------------------------------------------------------


def test_a_nurses_text_that_is_no_command_reaches_the_board_and_is_answered(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    nurse = next(n for n in world.nurses if n.id in offered(session, reference))
    help_text = answer(client, nurse.phone, "Je peux passer mais seulement après 18h, ça va ?")
    assert "message non compris" in help_text  # her help answer is kept
    board = client.get("/status/fragment").get_data(as_text=True)
    section = re.search(r'<section aria-labelledby="h-to-read".*?</section>', board, re.S).group(0)
    assert "Messages à lire" in section and nurse.name in section and "seulement après 18h" in section
    assert f'href="/status/requests/{reference}"' in section  # linked: her offer is pending
    fresh(session)
    item = session.scalar(select(MessageToRead))
    shown = client.get(f"/status/messages/{item.id}").get_data(as_text=True)
    assert "seulement après 18h" in shown and "message non compris" in shown  # the conversation
    empty = post_form(client, f"/status/messages/{item.id}/reply", {"body": "   "})
    assert empty.status_code == 422 and "Écrivez la réponse" in empty.get_data(as_text=True)
    long = post_form(client, f"/status/messages/{item.id}/reply", {"body": "x" * 301})
    assert long.status_code == 422 and "dépasse 300 caractères" in long.get_data(as_text=True)
    assert "x" * 301 in long.get_data(as_text=True)  # what she typed is kept
    sent = post_form(client, f"/status/messages/{item.id}/reply", {"body": "Oui, 18h30 convient, merci !"})
    assert sent.status_code == 302
    run_jobs(settings)
    fresh(session)
    request = request_row(session, reference)
    reply = session.scalar(select(Message).where(Message.kind == "reply", Message.body.contains("18h30")))
    assert reply.to_phone == nurse.phone and reply.status == "sent" and reply.request_id == request.id
    assert session.get(MessageToRead, item.id).read_by == ACTOR
    history = page(client, reference)
    assert "seulement après 18h" in history and "Oui, 18h30 convient" in history
    assert "Réponse d&#39;une coordinatrice par SMS" in history
    board = client.get("/status/fragment").get_data(as_text=True)
    assert "seulement après 18h" not in board and "Aucun message à lire" in board


def test_a_requesters_text_without_a_request_is_to_read_and_can_be_marked_read(client, world, session, settings):
    reference = new_request(client, world)
    usage = answer(client, EHPAD, "Bonjour, la patiente sort finalement jeudi, merci")
    assert usage  # the sender's help answer
    fresh(session)
    item = session.scalar(select(MessageToRead))
    assert item.request.reference == reference and item.nurse_id is None
    board = client.get("/status").get_data(as_text=True)
    assert "Ehpad Les Tilleuls" in board and "sort finalement jeudi" in board
    post_form(client, f"/status/messages/{item.id}/read")
    fresh(session)
    assert session.get(MessageToRead, item.id).read_at is not None
    assert "sort finalement jeudi" not in client.get("/status").get_data(as_text=True)
    assert client.get("/status/messages/999999").status_code == 404


def test_commands_are_not_messages_to_read(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    nurse = next(n for n in world.nurses if n.id in offered(session, reference))
    answer(client, nurse.phone, f"NON {reference}")
    answer(client, nurse.phone, "AIDE")
    fresh(session)
    assert session.scalar(select(MessageToRead)) is None


# --- the history's defects -----------------------------------------------------------------------


def test_a_history_shows_only_its_own_requests_texts(client, world, session, settings):
    first = new_request(client, world)
    run_jobs(settings)
    ack = answer(client, EHPAD, "42400 toilette demain 9h")  # the same requester's other request, by SMS
    second = re.search(r"\b(\d{6})\b", ack).group(1)
    run_jobs(settings)
    shared = next(n for n in world.nurses if n.id in offered(session, first) & offered(session, second))
    answer(client, shared.phone, f"NON {second}")
    first_history, second_history = page(client, first), page(client, second)
    assert "42400 toilette demain 9h" not in first_history and f"« NON {second} »" not in first_history
    assert "42400 toilette demain 9h" in second_history and f"« NON {second} »" in second_history


def test_called_back_only_while_the_requester_waits_and_full_numbers_everywhere(client, world, session, settings):
    reference = new_request(client, world)
    post_form(client, f"/status/requests/{reference}/called-back", {"note": "prévenue"})
    html = page(client, reference)
    assert "J'ai rappelé le demandeur" in html
    assert "****" not in html and "vers 04 77 00 00 01" in html  # the callback line: the full number
    post_form(client, f"/status/requests/{reference}/phone-yes", {"nurse_id": world.nurses[0].id})
    post_form(client, f"/status/requests/{reference}/informed")
    assert request_row(session, reference).status == "confirmed"
    run_jobs(settings)
    html = page(client, reference)
    assert "J'ai rappelé le demandeur" not in html and "****" not in html

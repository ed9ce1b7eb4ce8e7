"""The status board, a request's page and every coordinator action, through the Flask client."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from dispatch.clock import utcnow
from dispatch.people.tokens import issue_token
from dispatch.requests.create import NewRequest, create_request
from dispatch.telephony.simulator import save_recording
from models import Call, CareRequest, Event, Message, Offer
from tests.support.browser import fresh, login, make_coordinator, post_form
from tests.support.helpers import answer, make_nurse, make_requester, run_jobs

SAINT_CHAMOND = "42207"
ACTOR = "coordinatrice Martine Roche"


@pytest.fixture
def world(client, session, settings):
    make_coordinator(session)
    nurses = [
        make_nurse(session, f"Infirmière {name}", f"06 12 34 56 {i:02d}", [SAINT_CHAMOND])
        for i, name in enumerate(("Alice", "Béatrice", "Chloé", "Diane", "Élise"))
    ]
    requester = make_requester(session, phones=("04 77 00 00 01",))
    token = issue_token(session, requester)
    session.commit()
    login(client)
    return SimpleNamespace(nurses=nurses, requester=requester, token=token)


def new_request(client, world, **fields) -> str:
    body = {
        "postcode": "42400",
        "care_type": "pansement",
        "callback_phone": "04 77 00 00 01",
        "notes": "Mme Vernier, 12 rue des Lilas",
        **fields,
    }
    response = client.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {world.token}"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def request_row(session, reference) -> CareRequest:
    fresh(session)
    return session.scalar(select(CareRequest).where(CareRequest.reference == reference))


def events(session, reference, kind) -> list[Event]:
    fresh(session)
    request = session.scalar(select(CareRequest).where(CareRequest.reference == reference))
    return list(session.scalars(select(Event).where(Event.request_id == request.id, Event.kind == kind)))


def board_sections(html: str) -> dict[str, str]:
    parts = re.split(r'<h2 id="h-(attention|active|recent)">', html)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


# --- the board ---------------------------------------------------------------------------------


def test_board_lists_open_requests_with_their_offers(client, world, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    html = client.get("/status").get_data(as_text=True)
    active = board_sections(html)["active"]
    row = re.search(rf'<tr class="status-open" data-reference="{reference}">(.*?)</tr>', active, re.S)
    assert row, active
    cells = row.group(1)
    assert "Saint-Chamond" in cells and "42400" in cells and "pansement" in cells
    assert re.search(r"<td[^>]*>\d+ min</td>", cells)  # age
    counts = re.sub(r"<[^>]+>", "", re.search(r'<td class="counts"[^>]*>(.*?)</td>', cells, re.S).group(1))
    assert counts.split() == ["3", "·", "0", "·", "3", "·", "0"]  # first wave of 3: sent, declined, awaiting, failed
    assert 'src="/static/sio/live.js"' in html


def test_unfilled_and_review_come_first_and_highlighted(client, world, session, settings):
    open_ref = new_request(client, world)
    now = utcnow()
    review, _ = create_request(
        session,
        settings,
        NewRequest(
            channel="voice", care_type="autre", callback_phone="+33477000001", review_reason="message vocal à écouter"
        ),
        now,
    )
    session.commit()
    unfilled = new_request(client, world, postcode="42100", care_type="perfusion")  # nobody there
    run_jobs(settings)
    assert request_row(session, unfilled).status == "unfilled"
    sections = board_sections(client.get("/status/fragment").get_data(as_text=True))
    assert review.reference in sections["attention"] and unfilled in sections["attention"]
    assert open_ref in sections["active"] and open_ref not in sections["attention"]
    assert 'class="status-review attention"' in sections["attention"]
    assert 'class="status-unfilled attention"' in sections["attention"]
    assert "message vocal à écouter" in sections["attention"]


def test_fragment_is_just_the_tables_and_is_never_cached(client, world):
    reference = new_request(client, world)
    response = client.get("/status/fragment")
    html = response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert "<html" not in html and reference in html


def test_closed_requests_stay_on_the_board_for_a_day(client, world, session, settings):
    reference = new_request(client, world)
    post_form(client, f"/status/requests/{reference}/cancel", {"motif": "doublon"})
    assert reference in board_sections(client.get("/status/fragment").get_data(as_text=True))["recent"]


# --- a request's page --------------------------------------------------------------------------


def test_request_page_shows_details_timeline_and_records_the_visit(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    page = client.get(f"/status/requests/{reference}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Ehpad Les Tilleuls" in html and "Mme Vernier, 12 rue des Lilas" in html
    assert 'href="tel:+33477000001"' in html
    for title in ("Demande créée", "Vague de propositions", "Proposition envoyée", "SMS à Infirmière"):
        assert title in html, title
    assert "Répondez" in html or "OUI" in html  # the offer's text itself
    [viewed] = events(session, reference, "viewed")
    assert viewed.actor == ACTOR
    client.get(f"/status/requests/{reference}")  # again within ten minutes: one line is enough
    assert len(events(session, reference, "viewed")) == 1


def test_views_are_recorded_once_per_coordinator_per_ten_minutes(session, settings):
    from datetime import timedelta

    from dispatch.requests.actions import VIEW_EVERY, record_view

    now = utcnow()
    request, _ = create_request(session, settings, NewRequest(channel="api", care_type="autre", postcode="42400"), now)
    assert record_view(session, request, now, actor="coordinatrice A") is True
    assert record_view(session, request, now + timedelta(minutes=9), actor="coordinatrice A") is False
    assert record_view(session, request, now + timedelta(minutes=9), actor="coordinatrice B") is True
    assert record_view(session, request, now + VIEW_EVERY + timedelta(seconds=1), actor="coordinatrice A") is True


def test_request_page_shows_replies_and_delivery(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    nurse = world.nurses[0]
    answer(client, nurse.phone, f"NON {reference}")
    html = client.get(f"/status/requests/{reference}").get_data(as_text=True)
    assert f"SMS de {nurse.name}" in html and f"« NON {reference} »" in html
    assert "Refus" in html


def test_unknown_request_is_a_404(client, world):
    assert client.get("/status/requests/999999").status_code == 404
    assert client.get("/status/requests/abc").status_code == 404


def voice_request(session, settings, recording_url: str):
    request, _ = create_request(
        session,
        settings,
        NewRequest(
            channel="voice",
            care_type="pansement",
            postcode="42400",
            callback_phone="+33477000001",
            recording_url=recording_url,
        ),
        utcnow(),
    )
    session.commit()
    return request


def test_recording_plays_through_the_service_for_coordinators_only(client, world, session, settings):
    request = voice_request(session, settings, save_recording(settings, "RE" + "7" * 32, "Bonjour, Mme Vernier."))
    page = client.get(f"/status/requests/{request.reference}").get_data(as_text=True)
    assert f'<audio controls preload="none" src="/status/requests/{request.reference}/recording">' in page

    audio = client.get(f"/status/requests/{request.reference}/recording")
    assert audio.status_code == 200 and audio.mimetype == "audio/wav" and audio.data.startswith(b"RIFF")
    assert audio.headers["Cache-Control"] == "private, no-store"

    stranger = client.application.test_client()
    refused = stranger.get(f"/status/requests/{request.reference}/recording")
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]


def test_a_recording_the_provider_no_longer_has_gets_a_clear_page(client, world, session, settings):
    twilio_url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE" + "8" * 32
    request = voice_request(session, settings, twilio_url)  # the simulator never held it
    gone = client.get(f"/status/requests/{request.reference}/recording")
    assert gone.status_code == 404 and "Enregistrement indisponible" in gone.get_data(as_text=True)
    phone = voice_request(session, settings, None)
    assert client.get(f"/status/requests/{phone.reference}/recording").status_code == 404


# --- actions -----------------------------------------------------------------------------------


def test_assign_by_hand(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    chosen = world.nurses[4]  # not in the first wave
    page = client.get(f"/status/requests/{reference}").get_data(as_text=True)
    assert f'<option value="{chosen.id}">' in page
    response = post_form(client, f"/status/requests/{reference}/assign", {"nurse_id": chosen.id})
    assert response.status_code == 302
    request = request_row(session, reference)
    assert request.status == "accepted" and request.accepted_nurse_id == chosen.id
    [accepted] = events(session, reference, "accepted")
    assert accepted.actor == ACTOR and accepted.nurse_id == chosen.id
    offers = {o.nurse_id: o.status for o in session.scalars(select(Offer).where(Offer.request_id == request.id))}
    assert offers[chosen.id] == "accepted"
    assert sorted(s for n, s in offers.items() if n != chosen.id) == ["taken"] * 3
    assert session.scalar(select(Call).where(Call.request_id == request.id, Call.purpose == "confirm")) is not None
    run_jobs(settings)  # enqueued after the commit: the details text goes out
    outbox = settings_outbox(client)
    assert any(s.to == chosen.phone and reference in s.body for s in outbox.sent("sms"))
    assert "Demande attribuée à Infirmière Élise" in client.get(f"/status/requests/{reference}").get_data(as_text=True)


def settings_outbox(client):
    return client.application.extensions["sio"].telephony


def test_assign_is_refused_once_taken(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    post_form(client, f"/status/requests/{reference}/assign", {"nurse_id": world.nurses[0].id})
    response = post_form(client, f"/status/requests/{reference}/assign", {"nurse_id": world.nurses[1].id})
    assert response.status_code == 302
    assert request_row(session, reference).accepted_nurse_id == world.nurses[0].id
    html = client.get(f"/status/requests/{reference}").get_data(as_text=True)
    assert "ne peut plus être attribuée" in html
    missing = post_form(client, f"/status/requests/{reference}/assign", {"nurse_id": "x"})
    assert missing.status_code == 302


def test_a_voicemail_without_commune_can_be_given_to_any_nurse(client, world, session, settings):
    request, _ = create_request(
        session,
        settings,
        NewRequest(channel="voice", care_type="autre", callback_phone="+33477000001", review_reason="message vocal"),
        utcnow(),
    )
    session.commit()
    page = client.get(f"/status/requests/{request.reference}").get_data(as_text=True)
    assert all(f'<option value="{n.id}">' in page for n in world.nurses)
    post_form(client, f"/status/requests/{request.reference}/assign", {"nurse_id": world.nurses[2].id})
    fresh(session)
    assert request_row(session, request.reference).accepted_nurse_id == world.nurses[2].id


def test_dispatch_again_after_unfilled(client, world, session, settings):
    reference = new_request(client, world, postcode="42100", care_type="perfusion")  # nobody has the skill
    run_jobs(settings)
    assert request_row(session, reference).status == "unfilled"
    make_nurse(session, "Infirmière Fanny", "06 12 34 56 99", ["42218"], skills=["perfusion"])
    session.commit()
    post_form(client, f"/status/requests/{reference}/redispatch")
    request = request_row(session, reference)
    assert request.status == "open"
    [redispatch] = events(session, reference, "redispatch")
    assert redispatch.actor == ACTOR
    run_jobs(settings)
    fresh(session)
    assert session.scalar(select(func.count()).select_from(Offer).where(Offer.request_id == request.id)) == 1


def test_dispatch_again_is_refused_for_an_accepted_request(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    post_form(client, f"/status/requests/{reference}/assign", {"nurse_id": world.nurses[0].id})
    post_form(client, f"/status/requests/{reference}/redispatch")
    assert request_row(session, reference).status == "accepted"
    assert events(session, reference, "redispatch") == []


def test_cancel(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    post_form(client, f"/status/requests/{reference}/cancel", {"motif": "hospitalise"})
    request = request_row(session, reference)
    assert request.status == "cancelled"
    [cancelled] = events(session, reference, "cancelled")
    assert cancelled.actor == ACTOR and cancelled.data["reason"] == "patient hospitalisé"
    notices = session.scalars(select(Message).where(Message.request_id == request.id, Message.kind == "notice"))
    assert len(list(notices)) == 3  # the three nurses texted are told
    again = post_form(client, f"/status/requests/{reference}/cancel")
    assert again.status_code == 302
    assert "déjà close" in client.get(f"/status/requests/{reference}").get_data(as_text=True)


def test_mark_requester_informed(client, world, session, settings):
    reference = new_request(client, world)
    run_jobs(settings)
    post_form(client, f"/status/requests/{reference}/informed")  # still open: refused
    assert request_row(session, reference).status == "open"
    post_form(client, f"/status/requests/{reference}/assign", {"nurse_id": world.nurses[0].id})
    post_form(client, f"/status/requests/{reference}/informed")
    request = request_row(session, reference)
    assert request.status == "confirmed" and request.confirmed_at is not None
    [informed] = events(session, reference, "requester_informed")
    assert informed.actor == ACTOR
    call = session.scalar(select(Call).where(Call.request_id == request.id, Call.purpose == "confirm"))
    assert call.status == "canceled"  # the robot will not call to say it again
    html = client.get(f"/status/requests/{reference}").get_data(as_text=True)
    assert "Demandeur informé par une coordinatrice" in html


def test_called_back_lands_in_the_timeline(client, world, session):
    reference = new_request(client, world)
    post_form(client, f"/status/requests/{reference}/called-back", {"note": "prévenue, rappellera demain"})
    [called] = events(session, reference, "called_back")
    assert called.actor == ACTOR and called.data["note"] == "prévenue, rappellera demain"
    html = client.get(f"/status/requests/{reference}").get_data(as_text=True)
    assert "Demandeur rappelé" in html and "prévenue, rappellera demain" in html and ACTOR in html


def test_actions_need_the_csrf_token(client, world, session):
    reference = new_request(client, world)
    response = client.post(f"/status/requests/{reference}/cancel", data={"reason": "x"})
    assert response.status_code == 400
    assert request_row(session, reference).status == "open"

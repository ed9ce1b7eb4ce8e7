"""The nurses page: search by name or commune, paused and opted-out nurses, pause and resume by hand."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from dispatch.clock import utcnow
from dispatch.requests.create import NewRequest, create_request
from models import Event, Nurse
from tests.support.browser import fresh, login, make_coordinator, post_form
from tests.support.helpers import answer, make_nurse, run_jobs
from workers.queue import enqueue

ACTOR = "coordinatrice Martine Roche"


@pytest.fixture
def nurses(client, session):
    make_coordinator(session)
    now = utcnow()
    people = {
        "sophie": make_nurse(session, "Sophie Martin", "06 04 33 21 81", ["42207"]),  # Saint-Chamond
        "celine": make_nurse(session, "Céline Moreau", "06 55 94 07 81", ["42218"], skills=["sortie"]),  # St-Étienne
        "julie": make_nurse(session, "Julie Fournier", "07 69 78 48 01", ["69091"]),  # Givors
    }
    people["julie"].paused_until = now + timedelta(days=3)
    people["opted"] = make_nurse(session, "Odile Stop", "06 11 22 33 44", ["42207"])
    people["opted"].opted_out_at = now
    session.commit()
    login(client)
    return people


def names(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1]
    return re.findall(r"<tr[^>]*>\s*<td>([^<]+)</td>", body)


def test_lists_every_nurse_with_communes_and_state(client, nurses):
    html = client.get("/status/nurses").get_data(as_text=True)
    assert names(html) == ["Céline Moreau", "Julie Fournier", "Odile Stop", "Sophie Martin"]
    assert "Saint-Étienne" in html and "Givors" in html and "sortie" in html
    assert "en pause jusqu&#39;au" in html or "en pause jusqu'au" in html
    assert "désinscrit·e (STOP) le" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("martin", ["Sophie Martin"]),
        ("CELINE", ["Céline Moreau"]),
        ("etienne", ["Céline Moreau"]),  # the commune, without its accent
        ("42400", ["Odile Stop", "Sophie Martin"]),  # the postcode of Saint-Chamond
        ("69091", ["Julie Fournier"]),  # an INSEE code
        ("personne", []),
    ],
)
def test_search_by_name_or_commune(client, nurses, query, expected):
    assert names(client.get(f"/status/nurses?q={query}").get_data(as_text=True)) == expected


def test_filter_paused_and_opted_out(client, nurses):
    assert names(client.get("/status/nurses?etat=paused").get_data(as_text=True)) == ["Julie Fournier"]
    assert names(client.get("/status/nurses?etat=opted_out").get_data(as_text=True)) == ["Odile Stop"]


def test_pause_then_resume_by_hand(client, nurses, session):
    sophie = nurses["sophie"]
    response = post_form(
        client,
        f"/status/nurses/{sophie.id}/pause",
        {"days": "2", "back": "/status/nurses?q=sop"},
        page="/status/nurses",
    )
    assert response.headers["Location"] == f"/status/nurses?q=sop#n-{sophie.id}"  # back to her row
    fresh(session)
    paused = session.get(Nurse, sophie.id)
    assert timedelta(days=1, hours=23) < paused.paused_until - utcnow() <= timedelta(days=2)
    assert names(client.get("/status/nurses?etat=paused").get_data(as_text=True)) == ["Julie Fournier", "Sophie Martin"]
    post_form(client, f"/status/nurses/{sophie.id}/resume", page="/status/nurses")
    fresh(session)
    assert session.get(Nurse, sophie.id).paused_until is None
    kinds = [
        (e.kind, e.actor) for e in session.scalars(select(Event).where(Event.nurse_id == sophie.id).order_by(Event.id))
    ]
    assert kinds == [("nurse_paused", ACTOR), ("nurse_resumed", ACTOR)]


def test_pause_until_resumed_and_bad_input(client, nurses, session):
    sophie = nurses["sophie"]
    post_form(client, f"/status/nurses/{sophie.id}/pause", {"days": "deux"}, page="/status/nurses")
    post_form(client, f"/status/nurses/{sophie.id}/pause", {"days": "9999"}, page="/status/nurses")
    fresh(session)
    assert session.get(Nurse, sophie.id).paused_until is None
    html = client.get("/status/nurses").get_data(as_text=True)
    assert "Pause refusée" in html or "nombre entier" in html
    post_form(client, f"/status/nurses/{sophie.id}/pause", page="/status/nurses")
    fresh(session)
    assert session.get(Nurse, sophie.id).paused_until > utcnow() + timedelta(days=365)
    assert post_form(client, "/status/nurses/999999/pause", page="/status/nurses").status_code == 404


def test_recent_answers_are_shown(client, nurses, session, settings):
    request, effects = create_request(
        session, settings, NewRequest(channel="coordinator", care_type="pansement", postcode="42400"), utcnow()
    )
    session.commit()
    enqueue(settings, effects)
    run_jobs(settings)
    answer(client, nurses["sophie"].phone, f"NON {request.reference}")
    html = client.get("/status/nurses?q=sophie").get_data(as_text=True)
    assert f"{request.reference} : NON" in html

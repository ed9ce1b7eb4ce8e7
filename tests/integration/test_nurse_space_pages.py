"""The nurse's own space and registration through the web (issue 16 points 1 and 2): PROFIL by
the SMS webhook and the inbox job, the link's page, her changes, French messages on bad input
that keep what was typed and change nothing, the coordinators' registrations page."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from models import Message, Nurse, NurseChange, NurseLink, NurseRegistration
from status.access_log import mask_links
from tests.support.browser import fresh, login, make_coordinator, post_form
from tests.support.helpers import answer, make_nurse, run_jobs

SOPHIE = "+33604332181"
NEWCOMER = "+33611223344"
VALID_RPPS = "10123456781"


def day(offset: int) -> date:
    return date.today() + timedelta(days=offset)


def link_path(text: str) -> str:
    match = re.search(r"https?://[^/\s]+(/\S+)", text)
    assert match, text
    return match.group(1)


@pytest.fixture
def sophie(session):
    nurse = make_nurse(session, "Sophie Martin", SOPHIE, ["42207"])
    session.commit()
    return nurse


def open_space(client) -> str:
    """PROFIL through the webhook; the link's page; its button. The link's path."""
    path = link_path(answer(client, SOPHIE, "PROFIL"))
    page = client.get(path)
    assert page.status_code == 200 and "Ouvrir mon espace" in page.get_data(as_text=True)
    opened = post_form(client, path, page=path)
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/moi")
    return path


def test_profil_link_opens_her_space_once(client, sophie):
    assert client.get("/moi").status_code == 401
    path = open_space(client)
    html = client.get("/moi").get_data(as_text=True)
    assert "Sophie Martin" in html and "Saint-Chamond" in html and "ARRET" in html
    again = client.get(path)
    assert again.status_code == 410 and "déjà servi" in again.get_data(as_text=True)
    stranger = client.application.test_client()
    assert stranger.get(path).status_code == 410
    assert stranger.get("/moi").status_code == 401
    assert stranger.get(path[:-4] + "abcd").status_code == 403


def test_an_expired_link_says_so_and_opens_nothing(client, session, sophie):
    path = link_path(answer(client, SOPHIE, "COMPTE"))
    fresh(session)
    link = session.scalar(select(NurseLink))
    link.expires_at = link.created_at - timedelta(seconds=1)
    session.commit()
    page = client.get(path)
    assert page.status_code == 410 and "expiré" in page.get_data(as_text=True)
    assert "PROFIL" in page.get_data(as_text=True)
    assert post_form(client, path, page="/moi").status_code == 410
    assert client.get("/moi").status_code == 401


def test_her_changes_and_bad_input(client, session, sophie):
    open_space(client)
    added = post_form(client, "/moi/communes", {"commune": "Lorette (42420)"}, page="/moi")
    assert added.status_code == 302
    bad = post_form(client, "/moi/communes", {"commune": "Trifouilly"}, page="/moi")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Commune inconnue" in html and 'value="Trifouilly"' in html
    start, end = day(30), day(44)
    first = post_form(
        client, "/moi/absences", {"starts_on": start.isoformat(), "ends_on": end.isoformat()}, page="/moi"
    )
    assert first.status_code == 302
    overlap = post_form(
        client, "/moi/absences", {"starts_on": day(40).isoformat(), "ends_on": day(50).isoformat()}, page="/moi"
    )
    html = overlap.get_data(as_text=True)
    assert overlap.status_code == 422
    assert f"chevauche votre absence du {start:%d/%m/%Y} au {end:%d/%m/%Y}" in html
    assert f'value="{day(40).isoformat()}"' in html
    too_far = post_form(client, "/moi/absences", {"starts_on": "2999-09-01", "ends_on": "2999-09-10"}, page="/moi")
    assert too_far.status_code == 422 and "plus de deux ans" in too_far.get_data(as_text=True)
    backwards = post_form(
        client, "/moi/absences", {"starts_on": day(60).isoformat(), "ends_on": day(55).isoformat()}, page="/moi"
    )
    assert backwards.status_code == 422 and "même jour que le début, ou après" in backwards.get_data(as_text=True)
    hours = {"d0_s1": "12:00", "d0_e1": "08:00", "d1_s1": "08:00", "d1_e1": "12:00"}
    wrong = post_form(client, "/moi/horaires", hours, page="/moi")
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and "Lundi : la fin (08:00) doit venir après le début (12:00)." in html
    assert 'value="12:00"' in html
    assert post_form(client, "/moi/horaires", {"d0_s1": "08:00", "d0_e1": "12:00"}, page="/moi").status_code == 302
    assert post_form(client, "/moi/soins", {"skills": ["perfusion", "sortie"]}, page="/moi").status_code == 302
    assert post_form(client, "/moi/pause", {"days": "abc"}, page="/moi").status_code == 422
    assert post_form(client, "/moi/pause", {"days": "3"}, page="/moi").status_code == 302
    fresh(session)
    nurse = session.scalar(select(Nurse).where(Nurse.phone == SOPHIE))
    assert nurse.zone_codes == ["42123", "42207"] and nurse.availability == "mon 08:00-12:00"
    assert nurse.skill_names == ["perfusion", "sortie"] and nurse.paused_until is not None
    assert [(a.starts_on, a.ends_on) for a in nurse.absences] == [(start, end)]
    actions = session.scalars(select(NurseChange.action).order_by(NurseChange.id)).all()
    assert actions == ["space_opened", "zone_added", "absence_added", "hours_set", "skills_set", "paused"]
    csv = client.get("/moi/donnees.csv")
    assert csv.status_code == 200 and "Lorette" in csv.get_data(as_text=True)
    assert csv.headers["Content-Type"].startswith("text/csv")
    suggestions = client.get("/moi/communes.json?q=loret").get_json()
    assert {"label": "Lorette (42420)", "insee": "42123"} in suggestions


def test_she_or_a_coordinator_ends_her_session(client, session, sophie):
    open_space(client)
    assert post_form(client, "/moi/deconnexion", page="/moi").status_code == 200
    assert client.get("/moi").status_code == 401
    open_space(client)
    make_coordinator(session)
    coordinator = client.application.test_client()
    login(coordinator)
    page = coordinator.get("/status/inscriptions").get_data(as_text=True)
    assert "Sophie Martin · 1 session" in page
    closed = post_form(coordinator, f"/status/inscriptions/espaces/{sophie.id}/fermer", page="/status/inscriptions")
    assert closed.status_code == 302
    assert client.get("/moi").status_code == 401


def test_erasing_her_data_from_her_space(client, session, sophie):
    make_coordinator(session)
    open_space(client)
    assert post_form(client, "/moi/effacement", page="/moi").status_code == 422  # not confirmed
    done = post_form(client, "/moi/effacement", {"confirm": "1"}, page="/moi")
    assert done.status_code == 200 and "effacées" in done.get_data(as_text=True)
    run_jobs(client.application.extensions["sio"].settings)
    fresh(session)
    assert session.scalar(select(Nurse).where(Nurse.phone == SOPHIE)) is None
    alert = session.scalar(select(Message.body).where(Message.kind == "alert"))
    assert "Sophie Martin a demandé l'effacement" in alert
    assert client.get("/moi").status_code == 401
    coordinator = client.application.test_client()
    login(coordinator)
    simulator = coordinator.get("/simulator")
    assert simulator.status_code == 200 and "effacee-" not in simulator.get_data(as_text=True)
    listing = coordinator.get("/status/inscriptions").get_data(as_text=True)
    assert f"infirmière n° {sophie.id}" in listing  # among the erasures of the last 30 days


def registration_form(**fields) -> dict:
    return {
        "name": "Claire Dubois",
        "rpps": VALID_RPPS,
        "zones": "Lorette",
        "skills": ["perfusion"],
        "d0_s1": "08:00",
        "d0_e1": "18:00",
        **fields,
    }


def test_registration_from_inscription_to_validation(client, session):
    path = link_path(answer(client, NEWCOMER, "INSCRIPTION"))
    assert client.get(path).status_code == 200
    bad = post_form(client, path, registration_form(rpps="10123456782", zones="Nulle-Part"), page=path)
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "clé" in html and "Commune inconnue" in html
    assert 'value="Claire Dubois"' in html and "Nulle-Part</textarea>" in html
    late = post_form(client, path, registration_form(d0_s1="18:00", d0_e1="08:00"), page=path)
    assert late.status_code == 422 and "Lundi : la fin" in late.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(NurseRegistration)) == 0
    sent = post_form(client, path, registration_form(), page=path)
    assert sent.status_code == 200 and "Inscription envoyée" in sent.get_data(as_text=True)
    twice = client.get(path)
    assert twice.status_code == 410 and "déjà servi" in twice.get_data(as_text=True)
    assert "attend la validation" in answer(client, NEWCOMER, "INSCRIPTION")

    fresh(session)
    make_coordinator(session)
    coordinator = client.application.test_client()
    login(coordinator)
    assert "inscriptions" in coordinator.get("/status/nurses").get_data(as_text=True)
    page = coordinator.get("/status/inscriptions").get_data(as_text=True)
    assert "Claire Dubois" in page and "Lorette" in page and VALID_RPPS in page
    registration = session.scalar(select(NurseRegistration))
    done = post_form(coordinator, f"/status/inscriptions/{registration.id}/valider", page="/status/inscriptions")
    assert done.status_code == 302
    run_jobs(client.application.extensions["sio"].settings)
    fresh(session)
    nurse = session.scalar(select(Nurse).where(Nurse.phone == NEWCOMER))
    assert nurse.name == "Claire Dubois" and nurse.zone_codes == ["42123"] and nurse.availability == "mon 08:00-18:00"
    texts = session.scalars(select(Message.body).where(Message.to_phone == NEWCOMER).order_by(Message.id)).all()
    assert "inscription est validée" in texts[-1]
    again = post_form(coordinator, f"/status/inscriptions/{registration.id}/valider", page="/status/inscriptions")
    assert again.status_code == 302  # already decided: a message, nothing twice
    assert session.scalar(select(func.count()).select_from(Nurse)) == 1


def test_the_access_log_masks_her_links():
    assert mask_links("GET /moi/lien/abc.DEF-_1 HTTP/1.1") == "GET /moi/lien/*** HTTP/1.1"
    assert mask_links("POST /inscription/abc.def/communes.json?q=x") == "POST /inscription/***/communes.json?q=x"
    assert mask_links("GET /status/inscriptions/3/valider") == "GET /status/inscriptions/3/valider"
    assert mask_links("GET /r/eyJabc/recording") == "GET /r/***/recording"

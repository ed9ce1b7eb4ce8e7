"""People managed on the status page (issue #16 §3): roles, colleagues with a one-time password,
nurses created, edited, deactivated and imported, establishments and their API tokens; the nurses
list's states (issue #15). Bad input gets French messages by field that keep what was typed, and
changes nothing."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dispatch.clock import utcnow
from models import ApiToken, Coordinator, CoordinatorSession, Event, Nurse, NurseAbsence, Requester
from tests.support import scenario
from tests.support.browser import fresh, login, make_coordinator, post_form
from tests.support.helpers import make_nurse, make_requester

ADMIN_EMAIL, ADMIN_PASSWORD = "martine@sio.test", "correct horse battery"


@pytest.fixture
def admin(client, session):
    me = make_coordinator(session)
    me.role = "admin"
    session.commit()
    assert login(client).status_code == 302
    return me


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def value_of(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="[a-z]+" value="([^"]*)"', html)
    assert match, name
    return match.group(1)


def one_time_password(html: str) -> str:
    return re.search(r'id="one-time-password">([^<]+)<', html).group(1)


# --- roles and colleagues -----------------------------------------------------------------------


def test_a_coordinator_is_not_an_admin(app, client, session):
    make_coordinator(session)  # role "coordinator", the default of a new one
    requester = make_requester(session)
    session.commit()
    login(client)
    assert client.get("/status/coordinators").status_code == 403
    assert "Équipe" not in page(client, "/status")
    assert post_form(client, f"/status/establishments/{requester.id}/token").status_code == 403
    assert session.scalar(select(func.count()).select_from(ApiToken)) == 0
    # The rest is hers: establishments, nurses, the rota.
    for path in (
        "/status/establishments",
        "/status/nurses/new",
        "/status/rota",
        f"/status/establishments/{requester.id}",
    ):
        page(client, path)


def test_an_admin_adds_a_colleague_who_must_choose_her_password(app, client, session, admin):
    bad = post_form(client, "/status/coordinators", {"name": "Julie Petit", "email": "julie@", "phone": "04 77"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Adresse e-mail attendue" in html and "Un portable" in html or "portable attendu" in html
    assert value_of(html, "name") == "Julie Petit" and value_of(html, "email") == "julie@"
    assert session.scalar(select(func.count()).select_from(Coordinator)) == 1

    created = post_form(
        client, "/status/coordinators", {"name": "Julie Petit", "email": "Julie@sio.test", "phone": "06 12 34 56 78"}
    )
    assert created.status_code == 200
    password = one_time_password(created.get_data(as_text=True))
    fresh(session)
    julie = session.scalar(select(Coordinator).where(Coordinator.email == "julie@sio.test"))
    assert (julie.role, julie.must_change_password, julie.phone) == ("coordinator", True, "+33612345678")
    assert password not in page(client, "/status/coordinators")  # shown once

    colleague = app.test_client()
    assert login(colleague, "julie@sio.test", password).status_code == 302
    assert colleague.get("/status").headers["Location"] == "/status/password"
    assert post_form(colleague, "/status/duty", {"on_duty": "1"}, page="/status/password").status_code == 403
    wrong = post_form(
        colleague,
        "/status/password",
        {"current": password, "new": "court", "confirm": "court"},
        page="/status/password",
    )
    assert wrong.status_code == 422 and "au moins 8 caractères" in wrong.get_data(as_text=True)
    done = post_form(
        colleague,
        "/status/password",
        {"current": password, "new": "mon mot de passe", "confirm": "mon mot de passe"},
        page="/status/password",
    )
    assert done.status_code == 302
    assert colleague.get("/status").status_code == 200
    assert login(app.test_client(), "julie@sio.test", password).status_code == 401  # one use


def test_disabling_a_colleague_ends_her_sessions_at_once_and_reset_gives_a_new_password(app, client, session, admin):
    julie = make_coordinator(session, email="julie@sio.test", password="julie password", name="Julie Petit")
    hers = app.test_client()
    login(hers, "julie@sio.test", "julie password")
    assert hers.get("/status").status_code == 200

    reset = post_form(client, f"/status/coordinators/{julie.id}/reset", page="/status/coordinators")
    password = one_time_password(reset.get_data(as_text=True))
    assert hers.get("/status").status_code == 302  # her session ended
    assert login(hers, "julie@sio.test", password).status_code == 302

    assert post_form(client, f"/status/coordinators/{julie.id}/disable", page="/status/coordinators").status_code == 302
    assert hers.get("/status").status_code == 302
    fresh(session)
    assert session.get(Coordinator, julie.id).disabled_at is not None
    live = (
        select(func.count())
        .select_from(CoordinatorSession)
        .where(CoordinatorSession.coordinator_id == julie.id, CoordinatorSession.ended_at.is_(None))
    )
    assert session.scalar(live) == 0
    assert login(app.test_client(), "julie@sio.test", password).status_code == 401
    post_form(client, f"/status/coordinators/{julie.id}/enable", page="/status/coordinators")
    assert login(app.test_client(), "julie@sio.test", password).status_code == 302


def test_the_last_admin_stays(client, session, admin):
    response = post_form(
        client,
        f"/status/coordinators/{admin.id}",
        {"name": admin.name, "phone": admin.phone, "role": "coordinator"},
        page=f"/status/coordinators/{admin.id}",
    )
    assert response.status_code == 422 and "dernière administratrice" in response.get_data(as_text=True)
    refused = post_form(client, f"/status/coordinators/{admin.id}/disable", page="/status/coordinators")
    assert "ne pouvez pas désactiver" in client.get(refused.headers["Location"]).get_data(as_text=True)
    fresh(session)
    assert session.get(Coordinator, admin.id).disabled_at is None


# --- nurses -----------------------------------------------------------------------------------


def test_a_nurse_added_on_the_page_with_french_errors_first(client, session, admin):
    form = {"name": "Karim Mansouri", "phone": "04 77 12 34 56", "zones": "42400 99999", "availability": "lun 9-12"}
    bad = post_form(client, "/status/nurses/new", form, page="/status/nurses/new")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "pas un portable" in html and "99999" in html and "Horaires illisibles" in html
    assert value_of(html, "name") == "Karim Mansouri" and value_of(html, "zones") == "42400 99999"
    assert session.scalar(select(func.count()).select_from(Nurse)) == 0

    form |= {"phone": "06 60 73 37 54", "zones": "42400 insee:42218", "availability": "mon-fri 08:00-18:00"}
    good = client.post(
        "/status/nurses/new",
        data={**form, "skills": ["perfusion", "sortie"], "csrf_token": scenario_token(client, "/status/nurses/new")},
    )
    assert good.status_code == 302 and good.headers["Location"].endswith(f"#n-{nurse_id(session, '+33660733754')}")
    fresh(session)
    karim = session.scalar(select(Nurse).where(Nurse.phone == "+33660733754"))
    assert karim.skill_names == ["perfusion", "sortie"] and karim.availability == "mon-fri 08:00-18:00"
    assert {"42207", "42218"} <= set(karim.zone_codes)
    assert session.scalar(select(Event.kind).where(Event.nurse_id == karim.id)) == "nurse_created"

    # Every field edited, then deactivated: no more offers.
    edit = page(client, f"/status/nurses/{karim.id}/edit")
    assert "Saint-Chamond (42207)" in edit
    taken = make_nurse(session, "Sophie Martin", "06 04 33 21 81", ["42207"])
    session.commit()
    clash = post_form(
        client,
        f"/status/nurses/{karim.id}/edit",
        {**form, "phone": "06 04 33 21 81"},
        page=f"/status/nurses/{karim.id}/edit",
    )
    assert clash.status_code == 422 and "déjà celui de Sophie Martin" in clash.get_data(as_text=True)
    changed = post_form(
        client,
        f"/status/nurses/{karim.id}/edit",
        {"name": "Karim Mansouri-Roux", "phone": "07 60 73 37 54", "zones": "69700", "availability": ""},
        page=f"/status/nurses/{karim.id}/edit",
    )
    assert changed.status_code == 302
    fresh(session)
    karim = session.get(Nurse, karim.id)
    assert (karim.name, karim.phone, karim.skill_names, karim.availability) == (
        "Karim Mansouri-Roux",
        "+33760733754",
        [],
        "",
    )
    assert "69091" in karim.zone_codes and "42207" not in karim.zone_codes
    assert taken.id != karim.id
    post_form(client, f"/status/nurses/{karim.id}/deactivate", {"back": "/status/nurses?q=karim"})
    fresh(session)
    assert session.get(Nurse, karim.id).deactivated_at is not None
    assert "désactivé·e le" in page(client, "/status/nurses?q=karim")


def scenario_token(client, path):
    from tests.support.browser import form_token

    return form_token(client, path)


def nurse_id(session, phone):
    fresh(session)
    return session.scalar(select(Nurse.id).where(Nurse.phone == phone))


def test_a_deactivated_nurse_gets_no_offer(app, client, session, settings, admin):
    token = scenario.seed_region(session, nurses=2)
    nurses = list(session.scalars(select(Nurse).order_by(Nurse.id)))
    post_form(client, f"/status/nurses/{nurses[0].id}/deactivate")
    reference = scenario.post_request(client, token).json["reference"]
    scenario.work(settings)
    offered = {o.nurse_id for o in scenario.request_by_ref(session, reference).offers}
    assert offered == {nurses[1].id}


def test_a_csv_imported_from_the_page_lists_the_clis_errors_by_line(client, session, admin):
    bad = b"name,phone,zones\nAnne,06 12 34 56 78,42400\nBruno,06 12,99999\n"
    response = client.post(
        "/status/nurses/import",
        data={
            "file": (io.BytesIO(bad), "infirmieres.csv"),
            "csrf_token": scenario_token(client, "/status/nurses/import"),
        },
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "line 3: phone: " in html and "line 3: unknown zone &#39;99999&#39;" in html
    assert "rien n&#39;a été importé" in html or "rien n'a été importé" in html
    assert session.scalar(select(func.count()).select_from(Nurse)) == 0
    response = client.post(
        "/status/nurses/import",
        data={
            "file": (io.BytesIO(bad), "infirmieres.csv"),
            "skip_invalid": "1",
            "csrf_token": scenario_token(client, "/status/nurses/import"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "1 ligne importée" in response.get_data(as_text=True)
    fresh(session)
    assert session.scalar(select(func.count()).select_from(Nurse)) == 1
    empty = client.post(
        "/status/nurses/import",
        data={"csrf_token": scenario_token(client, "/status/nurses/import")},
        content_type="multipart/form-data",
    )
    assert empty.status_code == 422 and "Choisissez un fichier CSV" in empty.get_data(as_text=True)


def test_the_nurses_list_says_why_someone_gets_no_offer(client, session, admin):
    now = utcnow()
    people = {
        "free": make_nurse(session, "Alex Libre", "06 00 00 00 01", ["42207"]),
        "paused": make_nurse(session, "Bea Pause", "06 00 00 00 02", ["42207"]),
        "absent": make_nurse(session, "Cyril Absent", "06 00 00 00 03", ["42207"]),
        "never": make_nurse(session, "Dan Jamais", "06 00 00 00 04", ["42207"], availability="mon 00:00-00:01"),
    }
    people["paused"].paused_until = now + timedelta(days=2)
    session.add(
        NurseAbsence(
            nurse_id=people["absent"].id,
            starts_on=now.date() - timedelta(days=1),
            ends_on=now.date() + timedelta(days=3),
        )
    )
    session.commit()
    html = page(client, "/status/nurses")

    def row(nurse):
        return html.split(f'id="n-{nurse.id}"', 1)[1].split("</tr>", 1)[0]

    assert "disponible" in row(people["free"])
    assert "en pause" in row(people["paused"]) and "disponible" not in row(people["paused"])
    assert "absent·e jusqu" in row(people["absent"]) and "disponible" not in row(people["absent"])
    assert "disponible" not in row(people["never"])
    assert "jours (vide : jusqu&#39;à reprise)" in html or "jours (vide : jusqu'à reprise)" in html
    assert "Infirmier·ères" in html
    back = post_form(client, f"/status/nurses/{people['free'].id}/pause", {"back": "/status/nurses?q=alex"})
    assert back.headers["Location"] == f"/status/nurses?q=alex#n-{people['free'].id}"


# --- establishments ---------------------------------------------------------------------------


def test_an_establishment_with_its_token_then_revoked(client, session, admin):
    make_requester(session)  # owns 04 77 00 00 01
    session.commit()
    form = {"name": "CHU Nord", "kind": "martien", "phones": "04 77 00 00 01 ; 04 77 12", "postcode": "4240"}
    bad = post_form(client, "/status/establishments/new", form, page="/status/establishments/new")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Choisissez le type" in html and "déjà le numéro de Ehpad Les Tilleuls" in html and "5 chiffres" in html
    assert value_of(html, "name") == "CHU Nord"
    good = post_form(
        client,
        "/status/establishments/new",
        {"name": "CHU Nord", "kind": "hopital", "phones": "04 77 99 00 01; 04 77 99 00 02", "postcode": "42270"},
        page="/status/establishments/new",
    )
    assert good.status_code == 302
    chu = session.scalar(select(Requester).where(Requester.name == "CHU Nord"))
    assert sorted(p.phone for p in chu.phones) == ["+33477990001", "+33477990002"]

    issued = post_form(client, f"/status/establishments/{chu.id}/token", page=f"/status/establishments/{chu.id}")
    token = re.search(r'id="api-token">([^<]+)<', issued.get_data(as_text=True)).group(1)
    assert token not in page(client, f"/status/establishments/{chu.id}")  # shown once
    api = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/requests/000000", headers=api).status_code == 404  # the token works
    post_form(client, f"/status/establishments/{chu.id}/revoke", page=f"/status/establishments/{chu.id}")
    assert client.get("/api/v1/requests/000000", headers=api).status_code == 401


def test_a_coordinator_declares_a_nurses_absence(client, session, admin):
    nurse = make_nurse(session, "Alex Libre", "06 00 00 00 01", ["42207"])
    session.commit()
    edit = f"/status/nurses/{nurse.id}/edit"
    today = utcnow().date()

    def declare(first, last):
        return post_form(
            client, f"/status/nurses/{nurse.id}/absences", {"starts_on": first, "ends_on": last}, page=edit
        )

    backwards = declare((today + timedelta(days=5)).isoformat(), (today + timedelta(days=2)).isoformat())
    html = backwards.get_data(as_text=True)
    assert backwards.status_code == 422 and "Le dernier jour vient avant le premier" in html
    assert (today + timedelta(days=5)).isoformat() in html  # what was typed stays
    assert declare("demain", "").status_code == 422
    assert declare(today.isoformat(), (today + timedelta(days=3)).isoformat()).status_code == 302
    overlap = declare((today + timedelta(days=2)).isoformat(), (today + timedelta(days=9)).isoformat())
    assert overlap.status_code == 422 and "Chevauche l" in overlap.get_data(as_text=True)
    fresh(session)
    [absence] = session.scalars(select(NurseAbsence).where(NurseAbsence.nurse_id == nurse.id))
    assert (absence.starts_on, absence.ends_on) == (today, today + timedelta(days=3))
    assert "absent·e jusqu" in page(client, "/status/nurses")
    post_form(client, f"/status/nurses/{nurse.id}/absences/{absence.id}/delete", page=edit)
    fresh(session)
    assert session.scalar(select(func.count()).select_from(NurseAbsence)) == 0

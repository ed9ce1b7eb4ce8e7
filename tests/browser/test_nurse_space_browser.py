"""The nurse's own space and registration on a phone (390 px) and a coordinator's screen (1366 px),
against a live server and a real worker (issue 16): the link by PROFIL through the SMS webhook,
a commune added by its name, an absence, a pause, each followed at once by matching (an offer
goes, or not); a registration from INSCRIPTION to validation to a first offer. Screenshots go
to ``test-artifacts/``; no page scrolls sideways."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from dispatch.people.tokens import issue_token
from models import CareRequest, Message, Nurse, Offer
from tests.support.browser import (
    ARTIFACTS,
    EMAIL,
    PASSWORD,
    LiveServer,
    WorkerProcess,
    fresh,
    make_coordinator,
    wait_for,
)
from tests.support.helpers import make_nurse, make_requester, post_signed

pytestmark = pytest.mark.browser
TIMEOUT_MS = 20_000
SOPHIE, NADIA, NEWCOMER = "+33604332181", "+33686379402", "+33611223344"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 900}


@pytest.fixture
def service(env, monkeypatch, session, tmp_path, browser):
    """Sophie and Nadia serve Saint-Chamond; an Ehpad with an API token; ``sio worker`` running."""
    with LiveServer(env, monkeypatch) as server:
        make_nurse(session, "Sophie Martin", SOPHIE, ["42207"])
        make_nurse(session, "Nadia Benali", NADIA, ["42207"])
        server.token = issue_token(session, make_requester(session, phones=("04 65 71 20 10",)))
        make_coordinator(session)
        session.commit()
        with WorkerProcess(server.env, tmp_path / "worker.log"):
            yield server


def new_page(browser, service, viewport):
    context = browser.new_context(base_url=service.url, locale="fr-FR", viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    page.on(
        "response",
        lambda r: (
            page.errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            else None
        ),
    )
    return page


def check(page, name: str) -> None:
    """No sideways scroll, no script error; a screenshot for the eye."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"space-{name}.png"), full_page=True)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{name}: the page scrolls sideways ({width[0]} > {width[1]})"
    assert page.errors == [], page.errors


def text_in(service, session, phone: str, body: str) -> str:
    """A text to the single number through the signed webhook; the link in the answer (the worker's)."""
    assert (
        post_signed(
            service.app.test_client(),
            "/webhooks/sms",
            {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "To": "+33900000000", "Body": body},
        ).status_code
        == 200
    )

    def reply():
        fresh(session)
        bodies = session.scalars(select(Message.body).where(Message.to_phone == phone, Message.kind == "reply")).all()
        return next((m.group(1) for b in bodies for m in [re.search(r"https?://[^/\s]+(/\S+)", b)] if m), None)

    return wait_for(reply, what=f"the answer to {body}")


def api_request(service, **fields) -> str:
    body = {"postcode": "42400", "care_type": "pansement", "callback_phone": "04 65 71 20 10", **fields}
    answer = requests.post(
        f"{service.url}/api/v1/requests", json=body, timeout=10, headers={"Authorization": f"Bearer {service.token}"}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["reference"]


def offered(session, reference: str) -> set[str]:
    """The phones a request's offers went to, once its first wave is out."""

    def phones():
        fresh(session)
        request = session.scalar(select(CareRequest).where(CareRequest.reference == reference))
        found = {o.nurse.phone for o in session.scalars(select(Offer).where(Offer.request_id == request.id))}
        return found or None

    return wait_for(phones, what=f"the first offers of {reference}")


def test_her_space_from_profil_and_matching_follows(browser, service, session):
    link = text_in(service, session, SOPHIE, "PROFIL")
    page = new_page(browser, service, PHONE)
    page.goto(link)
    check(page, "01-link-390")
    page.get_by_role("button", name="Ouvrir mon espace").click()
    page.wait_for_url("**/moi")
    assert "Sophie Martin" in page.locator("h1").inner_text()
    check(page, "02-space-390")

    # A commune by its name, picked in the suggestions: the next request there goes to her.
    field = page.get_by_label("Ajouter une commune (code postal ou nom)")
    field.press_sequentially("Lorett", delay=30)
    page.locator('#commune-list option[value="Lorette (42420)"]').wait_for(state="attached")
    field.fill("Lorette (42420)")
    page.get_by_role("button", name="Ajouter", exact=True).click()
    assert "Ajouté à vos communes : Lorette" in page.locator(".card .flash.ok").inner_text()
    assert SOPHIE in offered(session, api_request(service, postcode="42420"))

    # An unknown commune: a French message beside the field, what she typed kept.
    page.get_by_label("Ajouter une commune (code postal ou nom)").fill("Trifouilly")
    page.get_by_role("button", name="Ajouter", exact=True).click()
    assert "Commune inconnue" in page.locator("#err-communes").inner_text()
    assert page.get_by_label("Ajouter une commune (code postal ou nom)").input_value() == "Trifouilly"
    check(page, "03-unknown-commune-390")

    # An absence from today: a request in Saint-Chamond goes to Nadia, not to her.
    today = datetime.now(service.settings.timezone).date()
    page.get_by_label("Premier jour").fill(today.isoformat())
    page.get_by_label("Dernier jour").fill((today + timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Déclarer l'absence").click()
    assert "Absence notée" in page.locator(".card .flash.ok").inner_text()
    assert offered(session, api_request(service)) == {NADIA}

    # Overlapping the first: refused in French, nothing written.
    page.get_by_label("Premier jour").fill((today + timedelta(days=1)).isoformat())
    page.get_by_label("Dernier jour").fill((today + timedelta(days=5)).isoformat())
    page.get_by_role("button", name="Déclarer l'absence").click()
    assert "chevauche votre absence" in page.locator("#err-absences").inner_text()
    check(page, "04-overlap-390")

    # The absence removed, then a pause: still no offer to her.
    page.goto("/moi#absences")
    page.get_by_role("button", name="Supprimer").click()
    assert "Absence supprimée" in page.locator(".card .flash.ok").inner_text()
    page.get_by_role("button", name="Me mettre en pause").click()
    assert "En pause" in page.locator(".space-head").inner_text()
    assert SOPHIE not in offered(session, api_request(service))
    check(page, "05-paused-390")

    desk = new_page(browser, service, DESK)
    desk.context.add_cookies(page.context.cookies())
    desk.goto("/moi")
    check(desk, "06-space-1366")


def test_registration_from_inscription_to_validation_to_a_first_offer(browser, service, session):
    link = text_in(service, session, NEWCOMER, "INSCRIPTION")
    page = new_page(browser, service, PHONE)
    page.goto(link)
    check(page, "10-registration-390")
    page.get_by_label("Prénom et nom").fill("Claire Dubois")
    page.get_by_label("Numéro RPPS (11 chiffres, sur votre carte CPS)").fill("10123456782")
    search = page.get_by_label("Chercher une commune")
    search.press_sequentially("Lorett", delay=30)
    page.locator('#commune-list option[value="Lorette (42420)"]').wait_for(state="attached")
    search.fill("Lorette (42420)")
    page.get_by_role("button", name="Ajouter à la liste").click()
    page.get_by_label("Perfusion").check()
    page.get_by_role("button", name="Envoyer mon inscription").click()
    assert "n'est pas valide" in page.locator("#err-rpps").inner_text()  # the check digit
    assert page.get_by_label("Prénom et nom").input_value() == "Claire Dubois"
    assert page.locator("#zones").input_value() == "Lorette (42420)"
    check(page, "11-registration-error-390")
    page.get_by_label("Numéro RPPS (11 chiffres, sur votre carte CPS)").fill("10123456781")
    page.get_by_role("button", name="Envoyer mon inscription").click()
    page.get_by_role("heading", name="Inscription envoyée").wait_for()

    # Not a nurse until validated: no offer for a perfusion in Lorette (Sophie and Nadia don't go there).
    fresh(session)
    assert session.scalar(select(Nurse).where(Nurse.phone == NEWCOMER)) is None

    desk = new_page(browser, service, DESK)
    desk.goto("/login")
    desk.get_by_label("Adresse e-mail").fill(EMAIL)
    desk.get_by_label("Mot de passe").fill(PASSWORD)
    desk.get_by_role("button", name="Se connecter").click()
    desk.wait_for_url("**/status")
    desk.goto("/status/nurses")
    desk.get_by_role("link", name=re.compile("Inscriptions par SMS")).click()
    assert "Claire Dubois" in desk.locator("table.registrations").inner_text()
    check(desk, "12-inscriptions-1366")
    phone_view = new_page(browser, service, PHONE)
    phone_view.context.add_cookies(desk.context.cookies())
    phone_view.goto("/status/inscriptions")
    assert "Claire Dubois" in phone_view.locator("table.registrations").inner_text()
    check(phone_view, "13-inscriptions-390")
    desk.get_by_role("button", name="Valider").click()
    assert "Inscription de Claire Dubois validée" in desk.locator(".flash.ok").inner_text()
    wait_for(
        lambda: (
            fresh(session)
            or session.scalar(
                select(Message).where(
                    Message.to_phone == NEWCOMER, Message.status == "sent", Message.body.contains("validée")
                )
            )
        ),
        what="the text telling her she is validated",
    )
    assert NEWCOMER in offered(session, api_request(service, postcode="42420", care_type="perfusion"))

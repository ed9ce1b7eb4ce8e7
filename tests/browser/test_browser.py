"""The status page and the simulator in headless Chromium, against a live server and a real worker.

Debian's ``chromium`` is driven by Playwright (``executable_path``; nothing downloads a browser).
Without it these tests are skipped, except on CI (``CI=true``) where that is a failure.
Screenshots of every page go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from dispatch.app.demo import COORDINATOR_EMAIL, COORDINATOR_PASSWORD, seed_demo
from dispatch.people.tokens import issue_token
from models import CareRequest, Requester
from tests.support.browser import (
    ARTIFACTS,
    LiveServer,
    WorkerProcess,
    fresh,
    wait_for,
)

pytestmark = pytest.mark.browser
TIMEOUT_MS = 20_000
USUAL_NURSE = "Sophie Martin"
USUAL_NURSE_PHONE = "+33604332181"
EHPAD_PHONE = "+33465712010"


@pytest.fixture
def service(env, monkeypatch, session, tmp_path, browser):
    """The demo region on a live server, with ``sio worker`` running the jobs."""
    with LiveServer(env, monkeypatch) as server:
        seed_demo(session)
        ehpad = session.scalar(select(Requester).where(Requester.name == "Ehpad Les Tilleuls"))
        server.token = issue_token(session, ehpad)
        session.commit()
        with WorkerProcess(server.env, tmp_path / "worker.log"):
            yield server


@pytest.fixture
def page(browser, service):
    context = browser.new_context(  # a coordinator's laptop set to another time zone than the service's
        base_url=service.url, locale="fr-FR", timezone_id="America/Cayenne", viewport={"width": 1400, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    # Documents may answer 401 (a wrong password) on purpose; scripts, styles and polls never fail.
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type not in ("document",)
            else None
        ),
    )
    yield page
    context.close()
    assert errors == [], f"errors in the page: {errors}"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page) -> None:
    page.goto("/status")
    assert "/login" in page.url
    shot(page, "01-login")
    page.get_by_label("Adresse e-mail").fill(COORDINATOR_EMAIL)
    page.get_by_label("Mot de passe").fill(COORDINATOR_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/status")


def api_request(service, **fields) -> str:
    body = {
        "postcode": "42400",
        "care_type": "pansement",
        "callback_phone": "04 65 71 20 10",
        "notes": "Mme Vernier, 12 rue des Lilas",
        **fields,
    }
    response = requests.post(
        f"{service.url}/api/v1/requests", json=body, timeout=10, headers={"Authorization": f"Bearer {service.token}"}
    )
    assert response.status_code == 201, response.text
    return response.json()["reference"]


def test_login_then_a_new_request_appears_without_reload(page, service):
    page.goto("/login")
    page.get_by_label("Adresse e-mail").fill(COORDINATOR_EMAIL)
    page.get_by_label("Mot de passe").fill("wrong password")
    page.get_by_role("button", name="Se connecter").click()
    assert "incorrect" in page.locator(".flash.error").inner_text()
    shot(page, "01-login-error")
    log_in(page)
    page.evaluate("window.__notReloaded = true")
    shot(page, "02-board-empty")
    reference = api_request(service)
    row = page.locator(f'tr[data-reference="{reference}"]')
    row.wait_for()
    assert page.evaluate("window.__notReloaded") is True  # the fetch() swapped the table in, no reload
    assert "Saint-Chamond" in row.inner_text() and "pansement" in row.inner_text()
    # The worker sends the first wave; the counts follow on the same page.
    page.wait_for_function(
        f"""() => {{ const c = document.querySelector('tr[data-reference="{reference}"] .counts');
                   return c && c.textContent.replace(/\\s/g, '').startsWith('3·0·3'); }}"""
    )
    shown = re.search(r"Mis à jour à (\d\d):(\d\d)", page.locator("#board-live").inner_text())
    paris = datetime.now(ZoneInfo("Europe/Paris"))
    minutes = int(shown[1]) * 60 + int(shown[2])
    assert (paris.hour * 60 + paris.minute - minutes) % 1440 <= 1, (shown[0], paris)  # Paris time, not Cayenne's
    shot(page, "03-board-live")


def test_assign_by_hand(page, service, session):
    reference = api_request(service, care_type="perfusion")
    log_in(page)
    page.get_by_role("link", name=reference).click()
    page.wait_for_url(f"**/status/requests/{reference}")
    shot(page, "04-request-open")
    choice = page.locator("#nurse_id option", has_text="Nathalie Bernard").get_attribute("value")
    page.get_by_label("Attribuer à la main à").select_option(choice)
    page.get_by_role("button", name="Attribuer").click()
    page.locator(".flash.ok").wait_for()
    assert "Demande attribuée à Nathalie Bernard" in page.locator(".flash.ok").inner_text()
    assert page.locator("h1 .badge").inner_text() == "acceptée"
    assert "coordinatrice Martine Roche" in page.locator(".timeline").inner_text()
    shot(page, "05-request-assigned")
    fresh(session)
    request = session.scalar(select(CareRequest).where(CareRequest.reference == reference))
    assert request.status in ("accepted", "confirmed") and request.accepted_nurse.name == "Nathalie Bernard"
    page.get_by_role("link", name="Infirmier·ères").click()
    page.get_by_label("Nom ou commune (nom, code postal ou INSEE)").fill("saint-chamond")
    page.get_by_role("button", name="Chercher").click()
    assert "Nathalie Bernard" in page.locator("table.nurses").inner_text()
    shot(page, "06-nurses")
    page.get_by_role("link", name="Bilan du jour").click()
    page.locator("svg.plot").wait_for()
    shot(page, "07-summary")


def test_the_demo_story_in_the_simulator(page, service, session):
    log_in(page)
    page.get_by_role("link", name="Simulateur").click()
    page.wait_for_url("**/simulator")
    ehpad = page.locator(f'.phone[data-phone="{EHPAD_PHONE}"]')
    ehpad.wait_for()
    shot(page, "08-simulator")

    # The Ehpad calls the single number and answers the phone menu.
    page.get_by_label("Appeler depuis").select_option(EHPAD_PHONE)
    page.get_by_role("button", name=re.compile("Appeler le")).click()
    screen = page.locator("#call-screen")
    screen.locator(".keypad").wait_for()
    assert "Ehpad Les Tilleuls" in screen.locator(".call-log").inner_text()
    shot(page, "09-call-greeting")
    for keys in ("1", "42400", "1", "1", "#", "0604332181#"):
        count = screen.locator(".call-log li").count()
        for key in keys:  # pressed on the keypad, as a caller would
            screen.locator(".keys button", has_text=re.compile(rf"^{re.escape(key)}$")).click()
        screen.get_by_role("button", name="Valider").click()
        page.wait_for_function("(n) => document.querySelectorAll('#call-screen .call-log li').length > n", arg=count)
    screen.locator(".recorder textarea").wait_for()
    screen.get_by_label(re.compile("Votre message")).fill("Mme Vernier, 12 rue des Lilas, digicode 1234B.")
    shot(page, "10-call-record")
    screen.get_by_role("button", name="Terminer l'enregistrement").click()
    screen.locator(".keypad").wait_for()
    screen.get_by_label(re.compile("Touches à taper")).fill("1")
    screen.get_by_label(re.compile("Touches à taper")).press("Enter")
    screen.locator(".ended").wait_for()
    shot(page, "11-call-ended")
    fresh(session)
    request = session.scalar(select(CareRequest))
    assert request.status == "open" and request.usual_nurse.name == USUAL_NURSE

    # The usual nurse's phone opens by itself with the offer; she answers OUI.
    nurse = page.locator(f'.phone[data-phone="{USUAL_NURSE_PHONE}"]')
    nurse.locator(".bubble.received", has_text=request.reference).wait_for()
    shot(page, "12-nurse-offer")
    nurse.get_by_label("SMS au service").fill("OUI")
    nurse.get_by_role("button", name="Envoyer").click()
    nurse.locator(".bubble.received", has_text="/r/").wait_for()  # her details, with the link

    # The Ehpad's phone rings with the confirmation call.
    ehpad.get_by_role("button", name="Décrocher").wait_for()
    shot(page, "13-ehpad-ringing")
    ehpad.get_by_role("button", name="Décrocher").click()
    ehpad.locator(".call-area .line-say", has_text=USUAL_NURSE).wait_for()
    shot(page, "14-ehpad-confirmation")
    ehpad.get_by_role("button", name="Raccrocher").click()
    ehpad.locator(".call-area .ended").wait_for()
    wait_for(
        lambda: fresh(session) or session.scalar(select(CareRequest.status)) == "confirmed",
        what="the request to be confirmed",
    )

    # The status page shows it confirmed, with the whole story in its timeline.
    page.get_by_role("link", name="Demandes").click()
    row = page.locator(f'tr[data-reference="{request.reference}"]')
    assert "confirmée" in row.inner_text() and USUAL_NURSE in row.inner_text()
    shot(page, "15-board-confirmed")
    row.get_by_role("link", name=request.reference).click()
    timeline = page.locator(".timeline").inner_text()
    for step in ("Demande créée", "Proposition envoyée", "Acceptée", "Appel décroché", "digicode"):
        assert step in timeline or step in page.content(), step
    assert "digicode 1234B" in page.locator(".transcript").inner_text()
    shot(page, "16-request-confirmed")
    assert playable(page) == "200 audio/wav"  # the recording, through the service

    # The link in her SMS opens the details page.
    link = re.search(r"https?://\S+/r/\S+", nurse_details(session, request))
    page.goto(link.group(0))
    assert "digicode 1234B" in page.content() and "Ehpad Les Tilleuls" in page.content()
    shot(page, "17-nurse-details")
    assert playable(page) == "200 audio/wav"


def playable(page) -> str:
    """What the page's audio player gets when played: its status and type."""
    src = page.locator("audio").get_attribute("src")
    assert src.endswith("/recording"), src
    return page.evaluate("(src) => fetch(src).then(r => r.status + ' ' + r.headers.get('content-type'))", src)


def nurse_details(session, request) -> str:
    from models import Message

    fresh(session)
    return session.scalar(select(Message.body).where(Message.to_phone == USUAL_NURSE_PHONE, Message.body.like("%/r/%")))


def test_missing_chromium_is_a_skip_here_and_a_failure_on_ci(monkeypatch):
    import tests.support.browser as support

    monkeypatch.setattr(support, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        support.chromium_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run on CI"):
        support.chromium_or_skip()

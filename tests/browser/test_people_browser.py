"""People and the rota in headless Chromium (issue #16 §3-4): an admin adds a nurse, an
establishment with its API token (then revoked: the API answers 401) and a colleague, who must
choose her password at first login; the rota page takes a shift, an exception and a pole. Bad
input first, every time: French messages by field, what was typed kept. At 1366 px and 390 px,
nothing wider than the screen. Screenshots go to ``test-artifacts/`` (and /tmp/sio-people/)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from dispatch.app.demo import COORDINATOR_EMAIL, COORDINATOR_PASSWORD, seed_demo
from models import Coordinator, Nurse, Pole, RotaException, RotaShift
from tests.support.browser import ARTIFACTS, LiveServer, fresh

pytestmark = pytest.mark.browser
TIMEOUT_MS = 20_000
WIDTHS = (1366, 390)
SHOTS = Path("/tmp/sio-people")


@pytest.fixture
def service(env, monkeypatch, session, browser):
    """The demo region on a live server (no job runs in these pages: no worker needed)."""
    with LiveServer(env, monkeypatch) as server:
        seed_demo(session)
        session.commit()
        yield server


def new_page(browser, service, width: int):
    context = browser.new_context(
        base_url=service.url, locale="fr-FR", viewport={"width": width, "height": 900 if width > 500 else 800}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    return page


def shot(page, name: str) -> None:
    """A full-page screenshot, and the page no wider than the screen."""
    width = page.viewport_size["width"]
    for folder in (ARTIFACTS, SHOTS):
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / f"people-{name}-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{name} overflows at {width}"
    assert page.errors == []


def log_in(page, email: str = COORDINATOR_EMAIL, password: str = COORDINATOR_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_adds_a_nurse_an_establishment_with_its_token_and_a_colleague(browser, service, session, width):
    page = new_page(browser, service, width)
    log_in(page)
    page.wait_for_url("**/status")

    # A nurse: a fixed line first, then her mobile.
    page.goto("/status/nurses")
    page.get_by_role("link", name="Inscrire").click()
    page.get_by_label("Nom").fill("Yanis Benali")
    page.get_by_label("Portable (reçoit les propositions par SMS)").fill("04 77 12 34 56")
    page.get_by_label("Communes desservies").fill("42400 99999")
    page.get_by_role("button", name="Inscrire").click()
    assert "pas un portable" in page.locator("#e-phone").inner_text()
    assert "99999" in page.locator("#e-zones").inner_text()
    assert page.get_by_label("Nom").input_value() == "Yanis Benali"
    shot(page, "nurse-errors")
    page.get_by_label("Portable (reçoit les propositions par SMS)").fill("06 98 76 54 32")
    page.get_by_label("Communes desservies").fill("42400")
    page.get_by_label("perfusion").check()
    page.get_by_role("button", name="Inscrire").click()
    page.wait_for_url(re.compile(r".*/status/nurses\?q=.*#n-\d+"))
    assert "Yanis Benali est inscrit·e" in page.locator(".flash.ok").inner_text()
    assert "Saint-Chamond" in page.locator("table.nurses").inner_text()
    shot(page, "nurse-added")
    page.goto("/status/nurses")  # the whole demo list: numbers on one line, nothing wider than the screen
    phone = page.locator("table.nurses td.nowrap a").first
    assert phone.evaluate("a => a.getClientRects().length") == 1
    shot(page, "nurses-list")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"people-nurses-list-top-{width}.png"))  # the first screen, to read
    fresh(session)
    yanis = session.scalar(select(Nurse).where(Nurse.phone == "+33698765432"))
    assert yanis.skill_names == ["perfusion"] and "42207" in yanis.zone_codes

    # An establishment, its token shown once, then revoked: the API answers 401.
    page.goto("/status/establishments")
    page.get_by_role("link", name="Ajouter un établissement").click()
    page.get_by_label("Nom").fill(f"Clinique du Gier {width}")
    page.get_by_label("Type").select_option("hopital")
    page.get_by_label("Téléphones").fill("04 65 71 20 10")  # the Ehpad's number
    page.get_by_role("button", name="Créer").click()
    assert "Ehpad Les Tilleuls" in page.locator("#e-phones").inner_text()
    assert page.get_by_label("Nom").input_value() == f"Clinique du Gier {width}"
    page.get_by_label("Téléphones").fill("04 65 71 99 0" + str(WIDTHS.index(width)))
    page.get_by_role("button", name="Créer").click()
    page.get_by_role("button", name="Émettre un jeton").click()
    token = page.locator("#api-token").inner_text().strip()
    shot(page, "establishment-token")
    api = f"{service.url}/api/v1/requests/000000"
    assert requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 404
    page.get_by_role("button", name="Révoquer").click()
    assert "révoqué" in page.locator(".flash.ok").inner_text()
    assert requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 401

    # A colleague with a one-time password, which she must change at first login.
    page.get_by_role("link", name="Équipe").click()
    page.get_by_label("Nom").fill("Julie Petit")
    page.get_by_label("Adresse e-mail (identifiant)").fill("julie@")
    page.get_by_label("Portable").fill("06 12 34 56 78")
    page.get_by_role("button", name="Créer avec un mot de passe provisoire").click()
    assert "Adresse e-mail attendue" in page.locator("#e-email").inner_text()
    assert page.get_by_label("Nom").input_value() == "Julie Petit"
    page.get_by_label("Adresse e-mail (identifiant)").fill(f"julie{width}@sio.test")
    page.get_by_role("button", name="Créer avec un mot de passe provisoire").click()
    password = page.locator("#one-time-password").inner_text().strip()
    shot(page, "colleague-created")

    hers = new_page(browser, service, width)
    log_in(hers, f"julie{width}@sio.test", password)
    hers.wait_for_url("**/status/password")
    hers.get_by_label("Mot de passe actuel (provisoire)").fill(password)
    hers.get_by_label("Nouveau mot de passe").fill("le mien, enfin")
    hers.get_by_label("Le même, une seconde fois").fill("le mien, enfin")
    hers.get_by_role("button", name="Enregistrer").click()
    hers.wait_for_url("**/status")
    assert "Mot de passe enregistré" in hers.locator(".flash.ok").inner_text()
    assert hers.get_by_role("link", name="Équipe").count() == 0  # a coordinator, not an admin
    shot(hers, "colleague-first-login")
    hers.context.close()
    page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_rota_page_takes_shifts_exceptions_and_poles(browser, service, session, width):
    page = new_page(browser, service, width)
    log_in(page)
    page.wait_for_url("**/status")
    page.get_by_role("link", name="Garde").click()
    page.wait_for_url("**/status/rota")
    assert "Martine Roche (démo)" in page.locator("#pole-1").inner_text()
    shot(page, "rota")

    shift = page.locator("#add-shift")
    shift.get_by_label("Qui").select_option(label="Paul Garnier (démo)")
    shift.get_by_label("sam").check()
    shift.get_by_label("De").fill("19:00")
    shift.get_by_label("À").fill("09:00")
    shift.get_by_role("button", name="Ajouter").click()
    shift = page.locator("#add-shift")
    assert "La fin doit venir après le début" in shift.locator(".field-error").inner_text()
    assert shift.get_by_label("De").input_value() == "19:00" and shift.get_by_label("sam").is_checked()
    shot(page, "rota-error")
    shift.get_by_label("À").fill("19:30")
    shift.get_by_role("button", name="Ajouter").click()
    assert "Garde ajoutée : Paul Garnier (démo), sam 19:00-19:30" in page.locator(".flash.ok").inner_text()

    day = date.today() + timedelta(days=3)
    swap = page.locator("#add-exception")
    swap.get_by_label("Qui").select_option(label="Martine Roche (démo)")
    swap.get_by_label("Date").fill(day.isoformat())
    swap.get_by_label("Note").fill("congés")
    swap.get_by_role("button", name="Ajouter").click()
    assert (
        f"{day:%d/%m/%Y} : Martine Roche (démo) absent·e toute la journée (congés)"
        in page.locator("ul.changes").inner_text()
    )

    pole = page.locator("#new-pole")
    pole.get_by_label("Nom").fill("Clermont-Ferrand")
    pole.get_by_label("Départements").fill("63 99")
    pole.get_by_role("button", name="Créer").click()
    assert "« 99 »" in page.locator("#new-pole .field-error").inner_text()
    assert page.locator("#new-pole").get_by_label("Nom").input_value() == "Clermont-Ferrand"
    page.locator("#new-pole").get_by_label("Départements").fill("63 03")
    page.locator("#new-pole").get_by_role("button", name="Créer").click()
    assert "Pôle Clermont-Ferrand créé" in page.locator(".flash.ok").inner_text()
    shot(page, "rota-done")
    fresh(session)
    paul = session.scalar(select(Coordinator).where(Coordinator.email == "paul@sio.local"))
    assert session.scalar(select(RotaShift).where(RotaShift.coordinator_id == paul.id, RotaShift.weekday == 5))
    assert session.scalar(select(RotaException.note).where(RotaException.on_date == day)) == "congés"
    assert session.scalar(select(Pole.departments).where(Pole.name == "Clermont-Ferrand")) == "63 03"
    page.context.close()

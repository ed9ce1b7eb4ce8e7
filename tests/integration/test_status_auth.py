"""Coordinators' login: hashed passwords, CSRF, session cookie, pages behind the login.
(Sessions on the server and slowed-down guessing: ``test_sessions.py``.)"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dispatch.clock import utcnow
from dispatch.people.coordinators import authenticate, set_on_duty, set_password
from models import Coordinator, Event
from tests.support.browser import EMAIL, PASSWORD, form_token, fresh, login, make_coordinator, post_form
from tests.support.helpers import public_https

PROTECTED = [
    "/",
    "/status",
    "/status/fragment",
    "/status/nurses",
    "/status/summary",
    "/status/requests/123456",
    "/simulator",
    "/simulator/phones.json",
]


@pytest.fixture
def coordinator(session):
    return make_coordinator(session)


def test_password_is_stored_as_a_scrypt_hash(coordinator):
    assert coordinator.password_hash.startswith("scrypt:")
    assert PASSWORD not in coordinator.password_hash


def test_login_then_the_status_page(client, coordinator):
    response = login(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/status"
    page = client.get("/status")
    assert page.status_code == 200
    assert "Martine Roche" in page.get_data(as_text=True)


def test_login_goes_back_to_the_page_asked_for_but_never_elsewhere(client, coordinator):
    token = form_token(client)
    ok = client.post("/login?next=/status/nurses", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    assert ok.headers["Location"] == "/status/nurses"
    client.post("/logout", data={"csrf_token": form_token(client, "/status")})
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post(
            f"/login?next={target}", data={"email": EMAIL, "password": PASSWORD, "csrf_token": form_token(client)}
        )
        assert response.headers["Location"] == "/status", target
        client.post("/logout", data={"csrf_token": form_token(client, "/status")})


def test_wrong_password_and_unknown_email_get_the_same_answer(client, coordinator):
    wrong = login(client, password="nope")
    unknown = login(client, email="nobody@sio.test")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert "Adresse e-mail ou mot de passe incorrect." in response.get_data(as_text=True)
    assert client.get("/status").status_code == 302


def test_email_is_case_insensitive(client, coordinator):
    assert login(client, email=EMAIL.upper()).status_code == 302


def test_set_password_refuses_short_ones(session, coordinator):
    with pytest.raises(ValueError, match="au moins"):
        set_password(session, coordinator, "short", utcnow())
    set_password(session, coordinator, "a much longer one", utcnow())
    assert authenticate(session, EMAIL, "a much longer one", utcnow()).outcome == "ok"


def test_a_password_change_ends_open_sessions(client, coordinator, session):
    login(client)
    assert client.get("/status").status_code == 200
    row = session.get(Coordinator, coordinator.id)
    set_password(session, row, "another long password", utcnow())
    session.commit()
    assert client.get("/status").status_code == 302


@pytest.mark.parametrize("path", PROTECTED)
def test_pages_need_a_login(client, path):
    response = client.get(path)
    if path.endswith((".json", "/fragment")):
        assert response.status_code == 401  # polled by scripts: no redirect to follow
    else:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_machine_routes_and_public_pages_need_no_login(client):
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/metrics").status_code == 403  # its own token or network (test_metrics.py)
    assert client.post("/api/v1/requests", json={}).status_code == 401  # its own bearer token, no CSRF
    assert client.post("/webhooks/sms", data={"Body": "OUI"}).status_code == 403  # its own signature, no CSRF
    assert client.get("/r/not-a-token").status_code == 403  # the nurse's signed link
    assert client.get("/login").status_code == 200


def test_a_form_post_without_the_csrf_token_is_refused(client, coordinator, session):
    assert client.post("/login", data={"email": EMAIL, "password": PASSWORD}).status_code == 400
    login(client)
    response = client.post("/status/duty", data={"on_duty": "0"})
    assert response.status_code == 400
    assert "Formulaire refusé" in response.get_data(as_text=True)
    forged = client.post("/status/duty", data={"on_duty": "0", "csrf_token": "forged"})
    assert forged.status_code == 400
    fresh(session)
    assert session.get(Coordinator, coordinator.id).on_duty is True


def _cookies(response) -> dict[str, str]:
    return {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}


def test_session_cookie_is_http_only_and_same_site(client, coordinator):
    cookies = _cookies(login(client))
    assert {"sio_session", "sio_device"} <= cookies.keys()
    for cookie in cookies.values():
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # plain http in tests: a Secure cookie would never come back


def test_session_cookie_is_secure_behind_https(env, session):
    from dispatch.app.factory import create_app

    public_https(env)
    app = create_app(env)
    make_coordinator(session)
    client = app.test_client()
    cookies = _cookies(login(client))
    assert "Secure" in cookies["sio_session"] and "Secure" in cookies["sio_device"]


def test_logout(client, coordinator):
    login(client)
    response = post_form(client, "/logout")
    assert response.status_code == 302
    assert client.get("/status").status_code == 302


def test_on_duty_toggle(client, coordinator, session):
    login(client)
    response = post_form(client, "/status/duty", {"on_duty": "0", "back": "/status/nurses"})
    assert response.headers["Location"] == "/status/nurses"
    fresh(session)
    assert session.get(Coordinator, coordinator.id).on_duty is False
    assert "Pas de garde" in client.get("/status").get_data(as_text=True)
    post_form(client, "/status/duty", {"on_duty": "1", "back": "https://evil.example/"})
    fresh(session)
    assert session.get(Coordinator, coordinator.id).on_duty is True
    kinds = list(session.scalars(select(Event.kind).where(Event.kind.like("coordinator_o%")).order_by(Event.id)))
    assert kinds == ["coordinator_off_duty", "coordinator_on_duty"]


def test_set_on_duty_reports_no_change(session, coordinator):
    assert set_on_duty(session, coordinator, True, utcnow()) is False
    assert set_on_duty(session, coordinator, False, utcnow()) is True

"""Coordinators' sessions end on the server, and guessing slows down without locking anyone out
(issue #14 §2, §3, and the coordinator half of §6)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dispatch.clock import utcnow
from dispatch.people.coordinators import authenticate
from dispatch.people.login_throttle import FIRST_WAIT, FREE_FAILURES, LONGEST_WAIT, attempt_keys, wait_after
from models import Coordinator, CoordinatorSession, LoginThrottle
from tests.support.browser import EMAIL, PASSWORD, form_token, fresh, login, make_coordinator, post_form

SESSION_COOKIE = "sio_session"


@pytest.fixture
def coordinator(session):
    return make_coordinator(session)


def browser(app, address: str):
    """A test client seen from ``address`` (a browser of its own: its own cookies)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def replay(app, cookie: str):
    """Another client holding a copy of a saved session cookie, as a thief would."""
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, cookie)
    return client


# --- §2: logout ends the session ----------------------------------------------------------------


def test_logout_ends_the_session_on_the_server(app, client, coordinator):
    assert login(client).status_code == 302
    token = form_token(client, "/status")  # a form of the page, as a saved page would hold
    saved = client.get_cookie(SESSION_COOKIE).value
    assert replay(app, saved).get("/status").status_code == 200  # a copy works while logged in
    assert post_form(client, "/logout").status_code == 302

    thief = replay(app, saved)
    assert thief.get("/status").status_code == 302  # to the login page
    assert thief.get("/status/fragment").status_code == 401
    action = thief.post("/status/duty", data={"on_duty": "0", "csrf_token": token})
    assert action.status_code == 401
    assert client.get("/status").status_code == 302


def test_a_coordinator_ends_all_her_sessions(app, session, coordinator):
    office, phone = browser(app, "192.0.2.1"), browser(app, "192.0.2.2")
    assert login(office).status_code == login(phone).status_code == 302
    saved = phone.get_cookie(SESSION_COOKIE).value
    ended = post_form(office, "/status/sessions/end")
    assert ended.status_code == 302 and ended.headers["Location"] == "/login"
    assert "déconnectée partout (2 sessions" in office.get("/login").get_data(as_text=True)
    for client in (office, phone, replay(app, saved)):
        assert client.get("/status").status_code == 302
    fresh(session)
    assert session.scalar(select(func.count()).where(CoordinatorSession.ended_at.is_(None))) == 0
    assert login(phone).status_code == 302  # and she logs in again as usual
    assert phone.get("/status").status_code == 200


def test_a_session_expires_after_twelve_hours(session, coordinator):
    from dispatch.people.coordinators import open_session, session_coordinator

    now = utcnow()
    token = open_session(session, coordinator, now)
    session.commit()
    assert session_coordinator(session, token, now + timedelta(hours=11, minutes=59)).id == coordinator.id
    assert session_coordinator(session, token, now + timedelta(hours=12)) is None
    assert session_coordinator(session, "forged", now) is None
    open_session(session, coordinator, now + timedelta(hours=12))  # the next login clears expired rows
    session.commit()
    assert session.scalar(select(func.count()).select_from(CoordinatorSession)) == 1


# --- §3: slowed down, never locked out -----------------------------------------------------------


def _attempts(client, email: str, n: int) -> list[tuple[int, str]]:
    """(status, message shown) of ``n`` wrong passwords for ``email``."""
    out = []
    for _ in range(n):
        page = login(client, email=email, password="not the password")
        html = page.get_data(as_text=True)
        message = html.split('id="login-error">', 1)[1].split("</p>", 1)[0] if 'id="login-error">' in html else ""
        out.append((page.status_code, message))
    return out


def test_guessing_never_locks_a_coordinator_out_and_tells_nothing(app, coordinator):
    """Main locked the account after five wrong passwords (the right one then got 429) and only
    for e-mails that exist. Now: the same answers for every e-mail, and her own browser gets in."""
    hers = browser(app, "198.51.100.7")
    assert login(hers).status_code == 302
    post_form(hers, "/logout")

    known = _attempts(browser(app, "203.0.113.1"), EMAIL, 8)
    unknown = _attempts(browser(app, "203.0.113.2"), "nobody@sio.test", 8)
    assert [s for s, _ in known] == [s for s, _ in unknown] == [401] * 5 + [429] * 3
    at = re.compile(r"\(à \d\d:\d\d\)")  # the clock may turn a minute between the two series
    assert [at.sub("", m) for _, m in known] == [at.sub("", m) for _, m in unknown]
    assert "réessayez dans 1 minute" in known[5][1]

    assert login(hers).status_code == 302  # her browser: the right password works at once
    assert hers.get("/status").status_code == 200
    elsewhere = browser(app, "203.0.113.9")  # a new browser must wait, like the guesser
    assert login(elsewhere).status_code == 429


def test_wait_doubles_up_to_fifteen_minutes_and_success_clears_it(session, coordinator):
    now, free = utcnow(), FREE_FAILURES["email"]
    assert [wait_after(n, "email") for n in range(free)] == [timedelta(0)] * free
    assert wait_after(free, "email") == FIRST_WAIT
    assert wait_after(free + 1, "email") == 2 * FIRST_WAIT
    assert wait_after(free + 40, "email") == LONGEST_WAIT
    for _ in range(free):
        assert authenticate(session, EMAIL, "wrong", now, address="203.0.113.5").outcome == "invalid"
    result = authenticate(session, EMAIL, PASSWORD, now, address="203.0.113.5")
    assert result.outcome == "throttled" and result.retry_at == now + FIRST_WAIT  # the right one too, unread
    then = now + FIRST_WAIT
    assert authenticate(session, EMAIL, "wrong", then, address="203.0.113.5").outcome == "invalid"
    result = authenticate(session, EMAIL, PASSWORD, then, address="203.0.113.5")
    assert result.outcome == "throttled" and result.retry_at == then + 2 * FIRST_WAIT
    later = then + 2 * FIRST_WAIT
    assert authenticate(session, EMAIL, PASSWORD, later, address="203.0.113.5").outcome == "ok"
    email_key, address_key = attempt_keys(EMAIL, "203.0.113.5", None).keys
    assert session.get(LoginThrottle, email_key) is None  # cleared by the success
    assert session.get(LoginThrottle, address_key).failures == free + 1  # kept: the address guessed
    assert EMAIL not in email_key and "203.0.113.5" not in address_key  # hashed


def test_one_address_guessing_many_emails_is_slowed_down(session, coordinator):
    now = utcnow()
    for i in range(FREE_FAILURES["addr"]):
        assert authenticate(session, f"guess{i}@sio.test", "x", now, address="203.0.113.66").outcome == "invalid"
    assert authenticate(session, "guess-next@sio.test", "x", now, address="203.0.113.66").outcome == "throttled"
    assert authenticate(session, EMAIL, PASSWORD, now, address="198.51.100.1").outcome == "ok"  # others unaffected


def test_failures_are_forgotten_a_day_later(session, coordinator):
    now = utcnow()
    for _ in range(FREE_FAILURES["email"] + 3):
        authenticate(session, EMAIL, "wrong", now, address="203.0.113.8")
    tomorrow = now + timedelta(hours=24, seconds=1)
    assert authenticate(session, EMAIL, "wrong", tomorrow, address="203.0.113.8").outcome == "invalid"
    key, address = attempt_keys(EMAIL, "203.0.113.8", None).keys
    assert session.get(LoginThrottle, key).failures == 1  # counting starts again
    authenticate(session, "other@sio.test", "x", tomorrow + timedelta(hours=24, seconds=1), address="192.0.2.9")
    session.expire_all()
    assert session.get(LoginThrottle, key) is None and session.get(LoginThrottle, address) is None  # forgotten


# --- §6: a coordinator disabled ----------------------------------------------------------------


def test_disabling_a_coordinator_ends_her_sessions_at_once(app, client, session, coordinator):
    assert login(client).status_code == 302
    saved = client.get_cookie(SESSION_COOKIE).value
    result = app.test_cli_runner().invoke(args=["coordinators", "disable", EMAIL.upper()])
    assert result.exit_code == 0 and "1 open session ended" in result.output, result.output
    assert client.get("/status").status_code == 302
    assert replay(app, saved).get("/status").status_code == 302
    refused = login(client)
    assert refused.status_code == 401 and "mot de passe incorrect" in refused.get_data(as_text=True)
    fresh(session)
    row = session.get(Coordinator, coordinator.id)
    assert row.disabled_at is not None and row.on_duty is False

    result = app.test_cli_runner().invoke(args=["coordinators", "enable", EMAIL])
    assert result.exit_code == 0 and "enabled" in result.output
    assert login(client).status_code == 302


def test_cli_ends_a_coordinators_sessions_and_lists_unknown_emails(app, client, coordinator):
    login(client)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["coordinators", "end-sessions", EMAIL])
    assert result.exit_code == 0 and "1 open session of" in result.output
    assert client.get("/status").status_code == 302
    for command in ("disable", "enable", "end-sessions"):
        unknown = runner.invoke(args=["coordinators", command, "nobody@sio.test"])
        assert unknown.exit_code == 1 and "no coordinator with the email 'nobody@sio.test'" in unknown.output

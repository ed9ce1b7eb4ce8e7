"""``/r/<token>``: the accepted nurse's page, from the link in her SMS (valid 48 h)."""

from __future__ import annotations

import time

import pytest

from dispatch.clock import utcnow
from dispatch.messaging.links import LINK_VALIDITY_S, details_token
from dispatch.requests.actions import assign_nurse, cancel_request
from dispatch.requests.create import NewRequest, create_request
from dispatch.telephony.simulator import save_recording
from tests.support.helpers import make_nurse, make_requester


@pytest.fixture
def accepted(session, settings):
    nurse = make_nurse(session, "Sophie Martin", "06 04 33 21 81", ["42207"])
    requester = make_requester(session)
    now = utcnow()
    request, _ = create_request(
        session,
        settings,
        NewRequest(
            channel="voice",
            care_type="perfusion",
            postcode="42400",
            callback_phone="+33477000001",
            notes="Mme Vernier, 12 rue des Lilas, 2e étage",
            requester=requester,
            recording_url=save_recording(settings, "RE" + "a" * 32, "Bonjour, c'est pour Mme Vernier, code 1234B."),
        ),
        now,
    )
    assign_nurse(session, settings, request, nurse, now, actor="coordinatrice test")
    session.commit()
    return request


def test_the_nurse_sees_the_details(client, settings, accepted):
    response = client.get(f"/r/{details_token(settings, accepted.reference, utcnow())}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    for text in (
        "Saint-Chamond",
        "42400",
        "perfusion",
        "Ehpad Les Tilleuls",
        'href="tel:+33477000001"',
        "Mme Vernier, 12 rue des Lilas, 2e étage",
        "code 1234B",
        "<audio",
    ):
        assert text in html, text
    assert "Se déconnecter" not in html  # no coordinator menu on the public page


def test_the_nurse_plays_the_recording_while_her_link_is_valid(client, session, settings, accepted, monkeypatch):
    token = details_token(settings, accepted.reference, utcnow())
    page = client.get(f"/r/{token}").get_data(as_text=True)
    assert f'src="/r/{token}/recording"' in page
    audio = client.get(f"/r/{token}/recording")
    assert audio.status_code == 200 and audio.mimetype == "audio/wav"

    assert client.get(f"/r/{token[:-3]}xyz/recording").status_code == 403  # forged
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + LINK_VALIDITY_S + 60)
    assert client.get(f"/r/{token}/recording").status_code == 410  # expired
    monkeypatch.setattr(time, "time", real_time)
    cancel_request(session, settings, accepted, utcnow(), actor="coordinatrice test")
    session.commit()
    assert client.get(f"/r/{token}/recording").status_code == 410  # no longer hers


def test_an_expired_link_gets_a_clear_page(client, settings, accepted, monkeypatch):
    token = details_token(settings, accepted.reference, utcnow())
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + LINK_VALIDITY_S + 60)
    response = client.get(f"/r/{token}")
    assert response.status_code == 410
    html = response.get_data(as_text=True)
    assert "Lien expiré" in html and "48 heures" in html
    assert "Vernier" not in html


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"),
        lambda t: "x" + t,
        lambda t: "not-a-token",
        lambda t: "a" * 2000,
    ],
)
def test_a_forged_link_is_refused(client, settings, accepted, mangle):
    response = client.get(f"/r/{mangle(details_token(settings, accepted.reference, utcnow()))}")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "Lien invalide" in html and "Vernier" not in html


def test_a_link_signed_with_another_key_is_refused(client, settings, accepted):
    other = settings.with_overrides(secret_key="another-key")
    assert client.get(f"/r/{details_token(other, accepted.reference, utcnow())}").status_code == 403


def test_only_while_the_request_is_hers(client, session, settings, accepted):
    token = details_token(settings, accepted.reference, utcnow())
    cancel_request(session, settings, accepted, utcnow(), actor="test")
    session.commit()
    response = client.get(f"/r/{token}")
    assert response.status_code == 410
    assert "plus attribuée" in response.get_data(as_text=True)


def test_an_open_or_unknown_request_shows_nothing(client, session, settings):
    request, _ = create_request(
        session, settings, NewRequest(channel="api", care_type="pansement", postcode="42400"), utcnow()
    )
    session.commit()
    assert client.get(f"/r/{details_token(settings, request.reference, utcnow())}").status_code == 410
    assert client.get(f"/r/{details_token(settings, '999999', utcnow())}").status_code == 410


def test_a_nurse_who_withdrew_can_no_longer_read_the_details(client, settings, session, accepted):
    token = details_token(settings, accepted.reference, utcnow(), nurse_id=accepted.accepted_nurse_id)
    assert client.get(f"/r/{token}").status_code == 200
    other = details_token(settings, accepted.reference, utcnow(), nurse_id=accepted.accepted_nurse_id + 1000)
    assert client.get(f"/r/{other}").status_code == 410

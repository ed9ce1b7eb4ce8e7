"""The establishments' HTTP API: tokens, validation (422 per field), ownership, cancellation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dispatch.people.tokens import hash_token, issue_token
from models import ApiToken, CareRequest, Event, Offer
from tests.support.helpers import make_nurse, make_requester, no_planning, run_jobs
from workers.queue import get_queue


@pytest.fixture
def tokens(session):
    ehpad = make_requester(session)
    ward = make_requester(session, name="CHU Saint-Étienne, médecine", kind="hopital", phones=("04 77 12 00 00",))
    make_nurse(session, "Anne", "06 12 00 00 01", ["42207"])
    result = {"ehpad": issue_token(session, ehpad), "ward": issue_token(session, ward)}
    session.commit()
    return result


def api(client, token, method="post", path="/api/v1/requests", **kwargs):
    return getattr(client, method)(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)


GOOD = {"postcode": "42400", "care_type": "pansement", "callback_phone": "04 77 00 00 02"}


def test_tokens_are_stored_hashed(session, tokens):
    stored = session.scalars(select(ApiToken.token_hash)).all()
    assert tokens["ehpad"] not in stored and hash_token(tokens["ehpad"]) in stored


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong", "Basic abc", "bearer sio_nope"])
def test_no_valid_token_is_401(client, tokens, header):
    headers = {"Authorization": header} if header else {}
    assert client.post("/api/v1/requests", json=GOOD, headers=headers).status_code == 401
    assert client.get("/api/v1/requests/123456", headers=headers).status_code == 401


def test_created_with_201_and_readable(client, tokens):
    day = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    response = api(client, tokens["ehpad"], json={**GOOD, "start_at": f"{day}T09:30", "notes": "2e étage"})
    assert response.status_code == 201
    body = response.json
    assert body["status"] == "open" and len(body["reference"]) == 6
    assert body["insee"] == "42207" and body["start_at"].startswith(f"{day}T09:30")
    shown = api(client, tokens["ehpad"], "get", f"/api/v1/requests/{body['reference']}")
    assert shown.status_code == 200 and shown.json["reference"] == body["reference"]
    assert shown.json["accepted_nurse"] is None and shown.json["timeline"][0]["kind"] == "received"


def test_the_201_comes_before_any_wave_is_planned_then_the_wave_job_asks_the_usual_nurse_first(
    client, session, settings, tokens
):
    usual = make_nurse(session, "Habituelle", "06 12 00 00 09", ["42095"])  # Firminy: her zones don't matter
    session.commit()
    with no_planning():
        response = api(client, tokens["ehpad"], json={**GOOD, "usual_nurse_phone": "06 12 00 00 09"})
    assert response.status_code == 201
    # Open, received, not searching yet: nothing of the first wave is known when the 201 leaves.
    assert response.json["status"] == "open" and [t["kind"] for t in response.json["timeline"]] == ["received"]
    session.rollback()
    request = session.scalar(select(CareRequest))
    assert session.scalar(select(Offer.id)) is None and (request.wave, request.next_wave_at) == (0, request.created_at)
    jobs = get_queue(settings).get_jobs()
    assert [(j.func_name, j.args) for j in jobs] == [("workers.jobs.run_wave", (request.id, 0))]

    run_jobs(settings)
    session.rollback()
    [offer] = session.scalars(select(Offer)).all()
    assert (offer.nurse_id, offer.wave, offer.status) == (usual.id, 1, "sent")
    shown = api(client, tokens["ehpad"], "get", f"/api/v1/requests/{request.reference}").json
    assert [t["kind"] for t in shown["timeline"]] == ["received", "searching"]


def test_insee_code_alone_is_enough(client, tokens):
    response = api(
        client, tokens["ehpad"], json={"insee": "42207", "care_type": "injection", "callback_phone": "+33477000002"}
    )
    assert response.status_code == 201 and response.json["postcode"] == "42400"


PAST = (datetime.now(UTC) - timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"postcode": "99999"}, "postcode"),
        ({"postcode": "4240"}, "postcode"),
        ({"postcode": None}, "postcode"),
        ({"postcode": None, "insee": "00000"}, "insee"),
        ({"insee": "42218"}, "postcode"),  # Saint-Étienne is not in 42400
        ({"callback_phone": "12"}, "callback_phone"),
        ({"callback_phone": None}, "callback_phone"),
        ({"callback_phone": ["0477000002"]}, "callback_phone"),
        ({"usual_nurse_phone": "06 12"}, "usual_nurse_phone"),
        ({"care_type": "massage"}, "care_type"),
        ({"care_type": None}, "care_type"),
        ({"start_at": PAST}, "start_at"),
        ({"start_at": "demain matin"}, "start_at"),
        ({"start_at": "2099-01-01T10:00"}, "start_at"),
        ({"urgent": "oui"}, "urgent"),
        ({"notes": "x" * 2001}, "notes"),
        ({"postcode": {"a": 1}}, "postcode"),
    ],
)
def test_bad_fields_are_422_with_that_field(client, session, tokens, change, field):
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    response = api(client, tokens["ehpad"], json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"] and isinstance(response.json["errors"][field], str)
    session.rollback()
    assert session.scalar(select(CareRequest.id)) is None  # nothing written


@pytest.mark.parametrize("data", ["not json", "[1, 2]", '"text"', "null", "{"])
def test_body_not_a_json_object_is_422(client, tokens, data):
    response = api(client, tokens["ehpad"], data=data, content_type="application/json")
    assert response.status_code == 422 and "body" in response.json["errors"]


def test_too_large_body_is_422(client, tokens):
    response = api(client, tokens["ehpad"], json={**GOOD, "notes": "x" * 400_000})
    assert response.status_code == 422


def test_every_error_at_once(client, tokens):
    response = api(client, tokens["ehpad"], json={"postcode": "00000", "care_type": "x", "callback_phone": "1"})
    assert set(response.json["errors"]) == {"postcode", "care_type", "callback_phone"}


def test_unregistered_usual_nurse_is_kept_and_noted(client, session, tokens):
    response = api(client, tokens["ehpad"], json={**GOOD, "usual_nurse_phone": "06 99 88 77 66"})
    assert response.status_code == 201
    session.rollback()
    request = session.scalar(select(CareRequest))
    assert request.usual_nurse_phone == "+33699887766" and request.usual_nurse_id is None
    assert "usual_nurse_not_registered" in [e.kind for e in session.scalars(select(Event))]


def test_another_requesters_request_is_404(client, tokens):
    reference = api(client, tokens["ehpad"], json=GOOD).json["reference"]
    assert api(client, tokens["ward"], "get", f"/api/v1/requests/{reference}").status_code == 404
    assert api(client, tokens["ward"], path=f"/api/v1/requests/{reference}/cancel").status_code == 404
    assert api(client, tokens["ehpad"], "get", "/api/v1/requests/000000").status_code == 404


def test_cancel_withdraws_offers_and_is_not_repeated(app, client, session, tokens):
    reference = api(client, tokens["ehpad"], json=GOOD).json["reference"]
    run_jobs(app.extensions["sio"].settings)
    response = api(client, tokens["ehpad"], path=f"/api/v1/requests/{reference}/cancel")
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    run_jobs(app.extensions["sio"].settings)
    outbox = app.extensions["sio"].telephony.outbox
    assert any("annulée" in s.body for s in outbox if s.kind == "sms" and s.to == "+33612000001")
    again = api(client, tokens["ehpad"], path=f"/api/v1/requests/{reference}/cancel")
    assert again.status_code == 409

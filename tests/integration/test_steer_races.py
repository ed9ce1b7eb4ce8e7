"""Two coordinators press "Proposer maintenant" for the same nurse at the same instant (issue 15):
one offer, one text, no error page. On PostgreSQL (CI's second run) that is real row-level
concurrency (without the request's lock one of them got a 500); on SQLite the write lock
serialises them."""

from __future__ import annotations

from sqlalchemy import func, select

from dispatch.people.tokens import issue_token
from models import CareRequest, Message, Offer
from tests.integration.test_races import same_instant
from tests.support.browser import form_token, login, make_coordinator
from tests.support.helpers import make_nurse, make_requester, run_jobs

ROUNDS = 8


def test_simultaneous_proposals_to_one_nurse_make_one_offer(app, session, settings):
    make_coordinator(session)
    token = issue_token(session, make_requester(session))
    nurses = [make_nurse(session, f"N{i}", f"06 14 00 00 {i:02d}", ["42207"]) for i in range(8)]
    session.commit()
    coordinators = [app.test_client() for _ in range(2)]
    for client in coordinators:
        login(client)
    tokens = [form_token(client, "/status") for client in coordinators]
    api = app.test_client()
    for _ in range(ROUNDS):
        body = {"postcode": "42400", "care_type": "pansement", "callback_phone": "04 77 00 00 01"}
        reference = api.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {token}"}).json[
            "reference"
        ]
        session.rollback()
        request = session.scalar(select(CareRequest).where(CareRequest.reference == reference))
        asked = set(session.scalars(select(Offer.nurse_id).where(Offer.request_id == request.id)))
        nurse = next(n for n in nurses if n.id not in asked)

        def propose(i: int, reference=reference, nurse=nurse) -> None:
            response = coordinators[i].post(
                f"/status/requests/{reference}/propose", data={"nurse_id": nurse.id, "csrf_token": tokens[i]}
            )
            assert response.status_code == 302, response.status_code

        same_instant(propose, [0, 1])
        session.rollback()
        offers = session.scalar(select(func.count()).where(Offer.request_id == request.id, Offer.nurse_id == nurse.id))
        texts = session.scalar(
            select(func.count()).where(Message.request_id == request.id, Message.to_phone == nurse.phone)
        )
        assert offers == 1 and texts == 1, (offers, texts)
    run_jobs(settings)

"""Exactly one nurse per request, whatever the concurrency (DESIGN §10).

Two nurses answer OUI at the same instant from separate threads, through the
real webhook (each thread its own app context and database connection); on
PostgreSQL (CI's second run) that is real row-level concurrency.
"""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import func, select

from dispatch.tokens import issue_token
from models import CareRequest, Event, Offer
from tests.helpers import make_nurse, make_requester, run_jobs, sign

ROUNDS = 50


def test_two_simultaneous_yes_give_exactly_one_winner(app, session, env):
    env_settings = app.extensions["sio"].settings
    requester = make_requester(session)
    token = issue_token(session, requester)
    nurses = [make_nurse(session, f"N{i}", f"06 13 00 00 0{i}", ["42207"]) for i in (1, 2)]
    session.commit()
    phones = [n.phone for n in nurses]
    client = app.test_client()
    winners: list[str] = []
    for _ in range(ROUNDS):
        response = client.post(
            "/api/v1/requests",
            headers={"Authorization": f"Bearer {token}"},
            json={"postcode": "42400", "care_type": "pansement", "callback_phone": "0477000002"},
        )
        reference = response.json["reference"]
        barrier = threading.Barrier(2)
        answers: dict[str, str] = {}

        def answer(phone: str, reference: str = reference, barrier: threading.Barrier = barrier) -> None:
            data = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "Body": f"OUI {reference}"}
            headers = {"X-Twilio-Signature": sign(env_settings, "/webhooks/sms", data)}
            own_client = app.test_client()
            barrier.wait()
            reply = own_client.post("/webhooks/sms", data=data, headers=headers)
            answers[phone] = f"{reply.status_code} {reply.data.decode()}"

        threads = [threading.Thread(target=answer, args=(p,)) for p in phones]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert all(a.startswith("200") for a in answers.values()), answers
        won = [p for p, a in answers.items() if "est pour vous" in a]
        lost = [p for p, a in answers.items() if "déjà pourvue" in a]
        assert len(won) == 1 and len(lost) == 1, answers
        winners.append(won[0])

    session.rollback()
    requests = session.scalars(select(CareRequest)).all()
    assert len(requests) == ROUNDS and all(r.status == "accepted" for r in requests)
    accepted = session.scalar(select(func.count()).select_from(Offer).where(Offer.status == "accepted"))
    assert accepted == ROUNDS
    assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "accepted")) == ROUNDS
    run_jobs(app.extensions["sio"].settings)  # the confirmation calls and notices go out without error

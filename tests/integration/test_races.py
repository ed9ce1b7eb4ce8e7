"""Exactly one nurse per request, whatever the concurrency (DESIGN §10).

Two nurses answer OUI at the same instant from separate threads, through the real webhook
(each thread its own app context and database connection); then the two jobs that handle
their texts run at the same instant in separate threads, as two workers would. On
PostgreSQL (CI's second run) that is real row-level concurrency.
"""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import func, select

from dispatch.clock import utcnow
from dispatch.intake.inbox import status_key
from dispatch.people.tokens import issue_token
from models import CareRequest, Event, Message, Offer
from tests.support.helpers import make_nurse, make_requester, plan_first_wave, run_jobs, sign
from workers.jobs import handle_event

ROUNDS = 50


def same_instant(action, args) -> None:
    """Run ``action(arg)`` for each arg in its own thread, all released at once."""
    barrier = threading.Barrier(len(args))
    errors: list[BaseException] = []

    def run(arg) -> None:
        barrier.wait()
        try:
            action(arg)
        except BaseException as err:  # reported below, in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(a,)) for a in args]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


def post_yes(app, settings, phone: str, key: str, reference: str) -> None:
    data = {"MessageSid": key.removeprefix("sms:"), "From": phone, "Body": f"OUI {reference}"}
    headers = {"X-Twilio-Signature": sign(settings, "/webhooks/sms", data)}
    assert app.test_client().post("/webhooks/sms", data=data, headers=headers).status_code == 200


def replies_to(session, phone: str, reference: str) -> str:
    session.rollback()
    bodies = session.scalars(select(Message.body).where(Message.kind == "reply", Message.to_phone == phone))
    return " ".join(b for b in bodies if reference in b)


def test_two_simultaneous_yes_give_exactly_one_winner(fixed_policy, app, session, env):
    # The fixed waves (of 3): both nurses are asked every round, whatever the winners so far
    # taught the adaptive policy.
    env_settings = app.extensions["sio"].settings
    requester = make_requester(session)
    token = issue_token(session, requester)
    nurses = [make_nurse(session, f"N{i}", f"06 13 00 00 0{i}", ["42207"]) for i in (1, 2)]
    session.commit()
    phones = [n.phone for n in nurses]
    client = app.test_client()
    winners: list[str] = []
    for _ in range(ROUNDS):
        reference = new_request(client, token)
        keys = {p: f"sms:SM{uuid.uuid4().hex}" for p in phones}
        same_instant(
            lambda p, keys=keys, reference=reference: post_yes(app, env_settings, p, keys[p], reference), phones
        )
        same_instant(lambda p, keys=keys: handle_event(keys[p]), phones)
        answers = {p: replies_to(session, p, reference) for p in phones}
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


def new_request(client, token: str) -> str:
    """A hospital's request through the API, and its first wave planned by the wave job; its reference."""
    response = client.post(
        "/api/v1/requests",
        headers={"Authorization": f"Bearer {token}"},
        json={"postcode": "42400", "care_type": "pansement", "callback_phone": "0477000002"},
    )
    assert response.status_code == 201, response.json
    plan_first_wave(client.application, response.json["reference"])
    return response.json["reference"]


def post_text(app, settings, phone: str, key: str, body: str) -> None:
    data = {"MessageSid": key.removeprefix("sms:"), "From": phone, "Body": body}
    headers = {"X-Twilio-Signature": sign(settings, "/webhooks/sms", data)}
    assert app.test_client().post("/webhooks/sms", data=data, headers=headers).status_code == 200


def test_one_nurses_yes_then_withdrawal_keep_their_order_across_two_workers(app, session):
    """Her OUI and her DESISTE, a moment apart, handled by two jobs at the same instant: every
    round she accepted first, then gave the request back."""
    env_settings = app.extensions["sio"].settings
    token = issue_token(session, make_requester(session))
    phone = make_nurse(session, "N1", "06 13 00 00 01", ["42207"]).phone
    session.commit()
    client = app.test_client()
    for _ in range(ROUNDS // 2):
        reference = new_request(client, token)
        keys = [f"sms:SM{uuid.uuid4().hex}" for _ in range(2)]
        post_text(app, env_settings, phone, keys[0], f"OUI {reference}")
        post_text(app, env_settings, phone, keys[1], f"DESISTE {reference}")
        same_instant(handle_event, keys[::-1])
        session.rollback()
        request = session.scalar(select(CareRequest).where(CareRequest.reference == reference))
        # Reopened without her; nobody else serves the commune: the new round ends at once.
        assert request.status == "unfilled" and request.accepted_nurse_id is None, reference
        answers = session.scalars(
            select(Message.body).where(Message.kind == "reply", Message.to_phone == phone).order_by(Message.id)
        ).all()
        mine = [a for a in answers if reference in a]
        assert len(mine) == 2 and "est pour vous" in mine[0] and "désistement noté" in mine[1], mine


def test_two_statuses_of_one_text_at_the_same_instant_keep_the_later_one(app, session):
    """A text whose send timed out (still ``sending``): its "sent" and "delivered" callbacks,
    handled by two workers at once, leave it delivered every round, its offer too."""
    env_settings = app.extensions["sio"].settings
    token = issue_token(session, make_requester(session))
    make_nurse(session, "N1", "06 13 00 00 01", ["42207"])
    session.commit()
    client = app.test_client()
    for _ in range(ROUNDS // 2):
        reference = new_request(client, token)
        session.rollback()
        offer = session.scalar(select(Offer).join(CareRequest).where(CareRequest.reference == reference))
        text = session.scalar(select(Message).where(Message.offer_id == offer.id))
        text.status, text.claimed_at = "sending", utcnow()  # claimed, and Twilio's answer never came
        session.commit()
        sid = f"SM{uuid.uuid4().hex}"
        keys = []
        for status in ("sent", "delivered"):
            data = {"MessageSid": sid, "MessageStatus": status}
            path = f"/webhooks/sms/status?m={text.id}"
            headers = {"X-Twilio-Signature": sign(env_settings, path, data)}
            assert client.post(path, data=data, headers=headers).status_code == 200
            keys.append(status_key(sid, status))
        same_instant(handle_event, keys)
        session.rollback()
        session.refresh(text)
        session.refresh(offer)
        assert (text.status, text.sid, offer.status) == ("delivered", sid, "delivered"), reference

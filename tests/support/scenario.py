"""A whole dispatch, step by step, for the fault, security and metrics tests.

A region (nurses serving Saint-Chamond, 42400), a requester with an API token, a request
posted through the API, jobs run by a burst worker, nurses answering through the signed
SMS webhook. Every step goes through the production code path.
"""

from __future__ import annotations

import itertools

from rq import SimpleWorker
from sqlalchemy import func, select

from dispatch.people.tokens import issue_token
from models import CareRequest, Message, Offer
from tests.support.helpers import make_nurse, make_requester, post_signed, signal_handlers_kept
from workers.queue import get_queue, redis_connection

INSEE = "42207"  # Saint-Chamond, the only commune of 42400
POSTCODE = "42400"
CALLBACK = "+33477000001"
NOTES = "Mme Josette Vernier, 12 rue des Lilas, plaie au talon gauche, diabétique"
_sids = itertools.count(1)


def nurse_phone(i: int) -> str:
    return f"+3361{i:07d}"


def seed_region(session, nurses: int = 6, *, requester_phone: str = CALLBACK) -> str:
    """Nurses 0..n-1 serving the commune, a requester; returns the requester's API token."""
    for i in range(nurses):
        make_nurse(session, f"Infirmière {i}", nurse_phone(i), [INSEE])
    requester = make_requester(session, phones=(requester_phone,))
    token = issue_token(session, requester)
    session.commit()
    return token


def post_request(client, token: str, **fields):
    body = {"postcode": POSTCODE, "care_type": "pansement", "callback_phone": "04 77 00 00 01", "notes": NOTES}
    body.update(fields)
    return client.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {token}"})


def work(settings) -> None:
    """Run every job that is due now, in this process."""
    with signal_handlers_kept():
        SimpleWorker([get_queue(settings)], connection=redis_connection(settings)).work(
            burst=True, with_scheduler=False
        )


def reply(client, phone: str, body: str, sid: str | None = None):
    """A nurse's SMS reaching the signed webhook, as Twilio posts it."""
    sid = sid or f"SM{next(_sids):032x}"
    data = {"MessageSid": sid, "From": phone, "To": "+33900000000", "Body": body}
    return post_signed(client, "/webhooks/sms", data)


def status_callback(client, message: Message, status: str, code: str = ""):
    path = f"/webhooks/sms/status?m={message.id}"
    data = {"MessageSid": message.sid or "", "MessageStatus": status}
    if code:
        data["ErrorCode"] = code
    return post_signed(client, path, data)


def fresh(session) -> None:
    """End the session's transaction so the next read sees what other connections committed
    (a SQLite WAL reader keeps the snapshot its transaction started with)."""
    session.commit()
    session.expire_all()


def offers_of(session, request_id: int) -> list[Offer]:
    fresh(session)
    return list(session.scalars(select(Offer).where(Offer.request_id == request_id).order_by(Offer.id)))


def request_by_ref(session, reference: str) -> CareRequest:
    fresh(session)
    return session.scalar(select(CareRequest).where(CareRequest.reference == reference))


def texts_to(session, phone: str, kind: str | None = None) -> list[Message]:
    fresh(session)
    query = select(Message).where(Message.direction == "out", Message.to_phone == phone)
    if kind:
        query = query.where(Message.kind == kind)
    return list(session.scalars(query.order_by(Message.id)))


def assert_invariants(session) -> None:
    """What must hold after any fault: one offer per nurse and request, one winner at most,
    every accepted request's nurse holds the accepted offer, no text stuck in the outbox."""
    fresh(session)
    duplicates = session.execute(
        select(Offer.request_id, Offer.nurse_id, func.count())
        .group_by(Offer.request_id, Offer.nurse_id)
        .having(func.count() > 1)
    ).all()
    assert duplicates == [], f"nurse offered the same request twice: {duplicates}"
    winners = session.execute(
        select(Offer.request_id, func.count())
        .where(Offer.status == "accepted")
        .group_by(Offer.request_id)
        .having(func.count() > 1)
    ).all()
    assert winners == [], f"several accepted offers: {winners}"
    for request in session.scalars(select(CareRequest)):
        if request.status in ("accepted", "confirmed"):
            accepted = [o for o in request.offers if o.status == "accepted"]
            assert [o.nurse_id for o in accepted] == [request.accepted_nurse_id], request.reference
    offer_texts = session.execute(
        select(Offer.nurse_id, Offer.request_id, func.count(Message.id))
        .join(Message, Message.offer_id == Offer.id)
        .where(Message.status.in_(("sent", "delivered")))
        .group_by(Offer.nurse_id, Offer.request_id)
        .having(func.count(Message.id) > 1)
    ).all()
    assert offer_texts == [], f"an offer text went out twice: {offer_texts}"
    stuck = session.scalars(
        select(Message.id).where(Message.direction == "out", Message.status.in_(("queued", "sending")))
    ).all()
    assert stuck == [], f"texts never sent: {stuck}"

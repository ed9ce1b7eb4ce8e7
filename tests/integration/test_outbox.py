"""The outbox: a wave's texts leave from its job, in order, and never as stale offers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from dispatch.config import load_settings
from dispatch.effects import SendMessage
from dispatch.messaging.refusals import Refusals
from dispatch.messaging.replies import accept
from dispatch.requests.create import NewRequest, create_request
from dispatch.telephony.outbox import deliver_messages
from dispatch.telephony.simulator import SimulatorTelephony
from dispatch.telephony.urls import Urls
from models import Message, Offer, make_engine, make_sessionmaker
from tests.support import scenario
from tests.support.helpers import make_nurse, run_first_wave
from workers.queue import get_queue

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris
SAINT_CHAMOND = "42207"


def test_a_wave_leaves_from_its_job_in_order(app, client, session, settings):
    token = scenario.seed_region(session, nurses=5)
    created = scenario.post_request(client, token)
    assert created.status_code == 201
    request = scenario.request_by_ref(session, created.json["reference"])
    jobs = get_queue(settings).get_jobs()  # the POST enqueued the wave job, which plans the wave
    assert [(j.func_name, j.args) for j in jobs] == [("workers.jobs.run_wave", (request.id, 0))]

    scenario.work(settings)
    offers = scenario.offers_of(session, request.id)
    # The wave job sent its texts itself, in order (no send job queued between them).
    outbox = app.extensions["sio"].telephony.outbox
    assert [s.to for s in outbox if s.kind == "sms"] == [o.nurse.phone for o in offers]
    assert [o.status for o in offers] == ["sent"] * 3


class AcceptsDuringFirstSend(SimulatorTelephony):
    """Telephony whose first send lets another nurse's yes commit while the text is on its way."""

    def __init__(self, settings, on_first_send):
        super().__init__(settings, send_callbacks=False)
        self.on_first_send = on_first_send

    def send_sms(self, to, body, status_callback):
        if self.on_first_send is not None:
            hook, self.on_first_send = self.on_first_send, None
            hook()
        return super().send_sms(to, body, status_callback)


def _wave_of_three(database_url, tmp_path):
    settings = load_settings(
        {
            "SECRET_KEY": "x",
            "TELEPHONY": "simulator",
            "SIO_INSTANCE_PATH": str(tmp_path),
            "DISPATCH_WAVE_SIZES": "3",
            "DISPATCH_RADIUS_KM": "0",
            "NURSE_TEXTING_HOURS": "",
        }
    )
    sessionmaker = make_sessionmaker(make_engine(database_url))
    with sessionmaker.begin() as s:
        for i in range(3):
            make_nurse(s, f"Infirmière {i}", f"06 12 00 00 0{i}", [SAINT_CHAMOND])
        request, effects = create_request(
            s, settings, NewRequest(channel="api", care_type="pansement", insee=SAINT_CHAMOND), NOW
        )
        reference = request.reference
        effects = run_first_wave(s, settings, request, effects, NOW)  # the wave job's part
    message_ids = [e.message_id for e in effects if isinstance(e, SendMessage)]
    return settings, sessionmaker, reference, message_ids


def test_an_offer_taken_while_its_text_is_on_its_way_is_followed_by_pourvue(database_url, tmp_path):
    settings, sessionmaker, reference, message_ids = _wave_of_three(database_url, tmp_path)
    with sessionmaker() as s:
        offers = s.scalars(select(Offer).options(joinedload(Offer.nurse)).order_by(Offer.id)).all()
        in_flight, winner, unsent = offers

    def third_nurse_says_yes():
        # Her yes lands between the first text's claim and the provider's answer.
        with sessionmaker.begin() as other:
            offer = other.get(Offer, winner.id)
            accept(other, settings, offer.nurse, offer, NOW)

    telephony = AcceptsDuringFirstSend(settings, third_nurse_says_yes)
    with sessionmaker() as s:
        delivery = deliver_messages(
            s, telephony, Urls("http://sio.test"), message_ids, NOW, settings=settings, refusals=Refusals(settings)
        )

    # Only the text already with the provider went out; the others were never sent stale.
    assert [x.to for x in telephony.outbox] == [in_flight.nurse.phone]
    with sessionmaker() as s:
        statuses = {o.id: o.status for o in s.scalars(select(Offer))}
        assert statuses == {in_flight.id: "taken", winner.id: "accepted", unsent.id: "withdrawn"}
        texts = {m.id: m for m in s.scalars(select(Message).where(Message.id.in_(message_ids)))}
        assert [texts[i].status for i in message_ids] == ["sent", "canceled", "canceled"]
        # She holds an offer for a request that is gone: she is told, like every nurse texted.
        notices = s.scalars(select(Message).where(Message.kind == "notice")).all()
        assert [(m.to_phone, m.status) for m in notices] == [(in_flight.nurse.phone, "queued")]
        assert f"{reference} est pourvue" in notices[0].body
        assert delivery.effects == [SendMessage(notices[0].id)] and delivery.transient is None


def test_texts_answered_before_they_leave_are_not_sent(database_url, tmp_path):
    settings, sessionmaker, _, message_ids = _wave_of_three(database_url, tmp_path)
    with sessionmaker.begin() as s:
        first = s.scalars(select(Offer).order_by(Offer.id)).first()
        accept(s, settings, first.nurse, first, NOW)  # a coordinator's assignment, say

    telephony = AcceptsDuringFirstSend(settings, None)
    with sessionmaker() as s:
        delivery = deliver_messages(
            s, telephony, Urls("http://sio.test"), message_ids, NOW, settings=settings, refusals=Refusals(settings)
        )
        assert telephony.outbox == [] and delivery.effects == []
        assert [m.status for m in s.scalars(select(Message).order_by(Message.id))] == ["canceled"] * 3

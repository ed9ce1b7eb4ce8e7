"""The simulated clock that drives the project's own dispatch code through a day.

An event queue ordered by simulated time stands in for RQ, Redis and the telephone network:
requests arrive through ``dispatch.requests.create.create_request``; a ``RunWave`` effect becomes an
event at its ``at`` that calls ``dispatch.matching.waves.run_wave`` (what the wave job does); a
``SendMessage`` is delivered at once, either the way ``dispatch.telephony.outbox.deliver_messages`` marks
it (``delivery="direct"``, bulk, fast) or by calling ``deliver_message`` itself with the
simulator telephony adapter (``delivery="outbox"``); each texted offer gets the nurse's answer
(``bench.sim_nurses``) as a later event that calls ``dispatch.messaging.replies.accept`` or ``decline``.
Calls (confirmation, bad news) are only counted: the simulated requester always picks up.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.sim_nurses import Reading, read_offer, says_yes
from bench.sim_region import SimNurse, SimRequest
from dispatch.config import Settings
from dispatch.effects import Effect, PlaceCall, RunWave, SendMessage
from dispatch.lifecycle import ACCEPTING as ACCEPTING_STATUSES
from dispatch.lifecycle import AWAITING
from dispatch.matching.waves import Conflict, run_wave
from dispatch.messaging.refusals import Refusals
from dispatch.messaging.replies import accept, decline
from dispatch.requests.create import NewRequest, create_request
from dispatch.telephony.outbox import deliver_messages
from dispatch.telephony.simulator import SimulatorTelephony
from dispatch.telephony.urls import Urls
from models import Message, Nurse, Offer, make_engine, make_sessionmaker


@dataclass
class Counts:
    """What the simulator itself saw, to check against what the code wrote."""

    texts: int = 0  # text messages delivered (each message id once)
    calls: int = 0  # calls the code asked for
    waves: int = 0  # wave jobs run
    answers: Counter = field(default_factory=Counter)  # yes, no, silent, too late


class Simulation:
    """One database, one strategy's settings, any number of days run in order."""

    def __init__(self, url: str, settings: Settings, nurses: list[SimNurse], *, delivery: str = "direct"):
        if delivery not in ("direct", "outbox"):
            raise ValueError(f"unknown delivery {delivery!r}")
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        self.settings = settings
        self.delivery = delivery
        self.telephony = SimulatorTelephony(settings)
        self.urls = Urls(settings.public_base_url)
        by_phone = {n.phone: n for n in nurses}
        with self.sessions() as session:
            self.nurse_by_id = {i: by_phone[p] for i, p in session.execute(select(Nurse.id, Nurse.phone))}
        self.counts = Counts()
        self.requests: dict[int, SimRequest] = {}
        self.request_ids: dict[str, int] = {}
        self.delivered: set[int] = set()
        self.patients_today: Counter = Counter()
        self._queue: list = []
        self._order = itertools.count()

    def close(self) -> None:
        self.engine.dispose()

    def run(self, requests: list[SimRequest]) -> list[int]:
        """Simulate one day's requests until nothing is left to happen; their database ids."""
        self.patients_today.clear()
        for request in requests:
            self._push(request.at, self._arrive, request)
        while self._queue:
            at, _, handler, payload = heapq.heappop(self._queue)
            handler(at, payload)
        return [self.request_ids[r.key] for r in requests]

    def _push(self, at: datetime, handler, payload) -> None:
        heapq.heappush(self._queue, (at, next(self._order), handler, payload))

    def _arrive(self, now: datetime, sim: SimRequest) -> None:
        new = NewRequest(
            channel="api",
            care_type=sim.care_type,
            insee=sim.insee,
            start_at=sim.start_at,
            has_start_time=sim.has_start_time,
            callback_phone=sim.callback_phone,
            usual_nurse_phone=sim.usual_phone,
        )
        with self.sessions() as session:
            with session.begin():
                request, effects = create_request(session, self.settings, new, now)
                self.requests[request.id] = sim
                self.request_ids[sim.key] = request.id
            self._apply(session, effects, now)

    def _wave(self, now: datetime, job: tuple[int, int]) -> None:
        request_id, wave = job
        self.counts.waves += 1
        with self.sessions() as session:
            try:
                with session.begin():
                    effects = run_wave(session, self.settings, request_id, wave, now)
            except Conflict:
                return
            self._apply(session, effects, now)

    def _answer(self, now: datetime, job: tuple[int, Reading]) -> None:
        offer_id, reading = job
        with self.sessions() as session:
            with session.begin():
                offer = session.get(Offer, offer_id)
                if offer.status not in AWAITING:
                    # Taken or withdrawn before she answered: she read "pourvue" and lets it be.
                    self.counts.answers["too late"] += 1
                    return
                nurse = self.nurse_by_id[offer.nurse_id]
                if says_yes(nurse, reading, self.patients_today[offer.nurse_id]):
                    self.counts.answers["yes"] += 1
                    outcome = accept(session, self.settings, offer.nurse, offer, now)
                    if offer.status == "accepted":
                        self.patients_today[offer.nurse_id] += 1
                else:
                    self.counts.answers["no"] += 1
                    outcome = decline(session, self.settings, offer.nurse, offer, now)
            self._apply(session, outcome.effects, now)

    def _apply(self, session: Session, effects: list[Effect], now: datetime) -> None:
        """Do what the worker would do with the effects, once the transaction committed."""
        to_send = []
        for effect in effects:
            if isinstance(effect, RunWave):
                self._push(effect.at or now, self._wave, (effect.request_id, effect.wave))
            elif isinstance(effect, PlaceCall):
                self.counts.calls += 1
            elif isinstance(effect, SendMessage):
                to_send.append(effect.message_id)
        if to_send:
            self._deliver(session, to_send, now)

    def _deliver(self, session: Session, message_ids: list[int], now: datetime) -> None:
        if self.delivery == "outbox":
            more = deliver_messages(
                session,
                self.telephony,
                self.urls,
                message_ids,
                now,
                sio_name=self.settings.sio_name,
                refusals=Refusals(self.settings),
            ).effects
            sent = self._sent_offers(session, message_ids)
            self._apply(session, more, now)
        else:
            with session.begin():
                sent = self._mark_sent(session, message_ids, now)
        for message_id, offer_id, nurse_id, request_id in sent:
            if message_id in self.delivered:
                raise AssertionError(f"message {message_id} delivered twice")
            self.delivered.add(message_id)
            self.counts.texts += 1
            if offer_id is not None:
                self._schedule_answer(now, offer_id, nurse_id, request_id)

    def _mark_sent(self, session: Session, message_ids: list[int], now: datetime) -> list[tuple]:
        """``deliver_message``'s bookkeeping for texts that all go out at ``now``, in one transaction."""
        sent = []
        rows = session.execute(
            select(Message, Offer)
            .outerjoin(Offer, Offer.id == Message.offer_id)
            .where(Message.id.in_(message_ids))
            .order_by(Message.id)
        ).all()
        for message, offer in rows:
            if message.status != "queued":
                continue
            if offer is not None and (offer.status != "pending" or offer.request.status not in ACCEPTING_STATUSES):
                message.status = "canceled"
                if offer.status == "pending":
                    offer.status = "withdrawn"
                continue
            message.status, message.sent_at, message.sid = "sent", now, f"SM-sim-{message.id}"
            if offer is not None:
                offer.status, offer.sent_at = "sent", now
            sent.append((message.id, message.offer_id, offer.nurse_id if offer else None, message.request_id))
        return sent

    def _sent_offers(self, session: Session, message_ids: list[int]) -> list[tuple]:
        with session.begin():
            rows = session.execute(
                select(Message.id, Message.offer_id, Offer.nurse_id, Message.request_id)
                .outerjoin(Offer, Offer.id == Message.offer_id)
                .where(Message.id.in_(message_ids), Message.status == "sent")
                .order_by(Message.id)
            ).all()
        return [tuple(r) for r in rows]

    def _schedule_answer(self, now: datetime, offer_id: int, nurse_id: int, request_id: int) -> None:
        nurse, sim = self.nurse_by_id[nurse_id], self.requests[request_id]
        hour = now.astimezone(self.settings.timezone).hour
        reading = read_offer(nurse, sim.key, hour, usual=nurse.phone == sim.usual_phone)
        if reading is None:
            self.counts.answers["silent"] += 1
            return
        self._push(now + timedelta(seconds=reading.delay_s), self._answer, (offer_id, reading))

"""The simulated clock that drives the project's own dispatch code through days and weeks.

An event queue ordered by simulated time stands in for RQ, Redis and the telephone network:
requests arrive through ``dispatch.requests.create.create_request``; a ``RunWave`` effect becomes an
event at its ``at`` that calls ``dispatch.matching.waves.run_wave`` (what the wave job does); a
``SendMessage`` is delivered when it may leave (its effect's ``at`` or its row's
``send_after``, whichever the code gives, never before now), either the way
``dispatch.telephony.outbox.deliver_messages`` marks it (``delivery="direct"``, bulk, fast) or by calling
``deliver_messages`` itself with the simulator telephony adapter (``delivery="outbox"``); each
texted offer gets the nurse's answer (``bench.sim_nurses``) as a later event that calls
``dispatch.messaging.replies.accept`` or ``decline``. The week's requesters also cancel
(``dispatch.requests.create.cancel_request``) and its nurses withdraw (``dispatch.messaging.replies.withdraw``).
With ``direct_answers``, the nurse's reply to each of her texts is queued as the inbox does
(``kind="reply"``) and delivered like any text. With ``sweep_every``, the sweeper runs too
(``workers.sweep.overdue_work``): the waves and texts it finds overdue are work the code wrote
down without a job to do it, done late, as in production, and counted (``Counts.swept``); and, as
production's sweeper does, it counts the offers due into the nurses' answer statistics
(``dispatch.matching.answer_stats.count_offers``). Calls
(confirmation, bad news) are only counted: the simulated requester always picks up.

Everything the queue holds is plain data, so :meth:`Simulation.pause` can hand the engine's
state to another process, which resumes it on a copy of the database (the week's strategies all
start from the same history, their queues included).
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.sim_nurses import Reading, read_offer, reads_at, says_yes, works_for
from bench.sim_region import SimNurse, SimRequest
from dispatch.config import Settings
from dispatch.effects import Effect, PlaceCall, RunWave, SendMessage
from dispatch.hours import WeeklyHours
from dispatch.lifecycle import ACCEPTING as ACCEPTING_STATUSES
from dispatch.lifecycle import AWAITING
from dispatch.matching.answer_stats import count_offers
from dispatch.matching.waves import Conflict, run_wave
from dispatch.messaging.refusals import Refusals
from dispatch.messaging.replies import Outcome, accept, decline, withdraw
from dispatch.requests.actions import cancel_request
from dispatch.requests.create import NewRequest, create_request
from dispatch.telephony.outbox import deliver_messages, queue_sms
from dispatch.telephony.simulator import SimulatorTelephony
from dispatch.telephony.urls import Urls
from models import CareRequest, Message, Nurse, Offer, make_engine, make_sessionmaker
from workers.sweep import overdue_work

# A withdrawal comes at least this long before the care starts (nobody withdraws afterwards).
WITHDRAW_BEFORE_START = timedelta(hours=1)


@dataclass
class Counts:
    """What the simulator itself saw, to check against what the code wrote."""

    texts: int = 0  # text messages delivered (each message id once)
    replies: int = 0  # of which direct answers to a nurse's text (``kind="reply"``)
    calls: int = 0  # calls the code asked for
    waves: int = 0  # wave jobs run
    answers: Counter = field(default_factory=Counter)  # yes, no, silent, too late
    accepted: int = 0  # yeses that won the request
    withdrawals: int = 0  # DESISTE that reopened a request
    cancellations: int = 0  # requester's cancellations the code carried out
    swept: int = 0  # overdue waves and texts the sweeper found (work no job was carrying)


@dataclass
class State:
    """The engine between two events: plain data, picklable, valid on any copy of its database."""

    queue: list = field(default_factory=list)  # heap of (at, order, handler name, payload)
    order: int = 0
    requests: dict[int, SimRequest] = field(default_factory=dict)  # database id → simulated request
    request_ids: dict[str, int] = field(default_factory=dict)  # simulated key → database id
    delivered: set[int] = field(default_factory=set)  # message ids, to catch a text delivered twice
    patients: Counter = field(default_factory=Counter)  # (nurse id, care day) → patients she holds
    offers_read: Counter = field(default_factory=Counter)  # (request id, nurse id) → offers she got
    withdrawal_planned: set[int] = field(default_factory=set)  # request ids (one withdrawal each)


class Simulation:
    """One database, one strategy's settings, any number of requests run in time order."""

    def __init__(
        self,
        url: str,
        settings: Settings,
        nurses: list[SimNurse],
        *,
        delivery: str = "direct",
        direct_answers: bool = False,
        sweep_every: timedelta | None = None,
        state: State | None = None,
    ):
        if delivery not in ("direct", "outbox"):
            raise ValueError(f"unknown delivery {delivery!r}")
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        self.settings = settings
        self.delivery = delivery
        self.direct_answers = direct_answers
        self.sweep_every = sweep_every
        self.telephony = SimulatorTelephony(settings)
        self.urls = Urls(settings.public_base_url)
        by_phone = {n.phone: n for n in nurses}
        with self.sessions() as session:
            self.nurse_by_id = {i: by_phone[p] for i, p in session.execute(select(Nurse.id, Nurse.phone))}
        self.hours = {n.index: WeeklyHours.parse(n.availability) for n in nurses if n.keeps_hours}
        self.counts = Counts()
        self.state = state or State()

    def close(self) -> None:
        self.engine.dispose()

    def add(self, requests: list[SimRequest]) -> None:
        """Queue the requests' arrivals, and their requesters' cancellations."""
        if self.sweep_every is not None and requests and not any(e[2] == "_sweep" for e in self.state.queue):
            self._push(min(r.at for r in requests), "_sweep", None)
        for request in requests:
            self._push(request.at, "_arrive", request)
            if request.cancel_after_s is not None:
                self._push(request.at + timedelta(seconds=request.cancel_after_s), "_cancel", request.key)

    def run_until(self, end: datetime | None = None) -> int:
        """Play every event due before ``end`` (all of them when None); the number left after it."""
        queue = self.state.queue
        while queue and (end is None or queue[0][0] < end):
            at, _, handler, payload = heapq.heappop(queue)
            getattr(self, handler)(at, payload)
        return len(queue)

    def run(self, requests: list[SimRequest]) -> list[int]:
        """Simulate one day's requests until nothing is left to happen; their database ids."""
        self.add(requests)
        self.run_until()
        return self.ids(requests)

    def ids(self, requests: list[SimRequest]) -> list[int]:
        return [self.state.request_ids[r.key] for r in requests]

    def pause(self) -> State:
        """The engine's state, for :class:`Simulation` to resume on a copy of the database."""
        return self.state

    def _push(self, at: datetime, handler: str, payload) -> None:
        self.state.order += 1
        heapq.heappush(self.state.queue, (at, self.state.order, handler, payload))

    def _arrive(self, now: datetime, sim: SimRequest) -> None:
        new = NewRequest(
            channel="api",
            care_type=sim.care_type,
            insee=sim.insee,
            start_at=sim.start_at,
            has_start_time=sim.has_start_time,
            urgent=sim.urgent,
            callback_phone=sim.callback_phone,
            usual_nurse_phone=sim.usual_phone,
        )
        with self.sessions() as session:
            with session.begin():
                request, effects = create_request(session, self.settings, new, now)
                self.state.requests[request.id] = sim
                self.state.request_ids[sim.key] = request.id
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
                nurse, sim = self.nurse_by_id[offer.nurse_id], self.state.requests[offer.request_id]
                slot = (offer.nurse_id, sim.care_day or sim.day)
                if self._works_then(nurse, sim) and says_yes(nurse, reading, self.state.patients[slot]):
                    self.counts.answers["yes"] += 1
                    outcome = accept(session, self.settings, offer.nurse, offer, now)
                    if offer.status == "accepted":
                        self.counts.accepted += 1
                        self.state.patients[slot] += 1
                        self._plan_withdrawal(now, offer.request, sim)
                else:
                    self.counts.answers["no"] += 1
                    outcome = decline(session, self.settings, offer.nurse, offer, now)
                effects = self._answered(session, offer.nurse, outcome, now)
            self._apply(session, effects, now)

    def _sweep(self, now: datetime, _) -> None:
        """What the sweeper re-enqueues: waves and texts only (calls are never placed here)."""
        with self.sessions() as session:
            with session.begin():
                overdue = [e for e in overdue_work(session, now) if isinstance(e, RunWave | SendMessage)]
            with session.begin():  # the sweeper's own committed step, as in workers.worker.sweep_once
                count_offers(session, self.settings, now)
            self.counts.swept += len(overdue)
            self._apply(session, overdue, now)
            if self.state.queue or self._work_left(session):  # while anything is left to happen
                self._push(now + self.sweep_every, "_sweep", None)

    def _work_left(self, session: Session) -> bool:
        """Texts still queued or requests still waiting for a wave, with no event left to do them."""
        with session.begin():
            text = session.scalar(select(Message.id).where(Message.status == "queued").limit(1))
            wave = session.scalar(
                select(CareRequest.id)
                .where(CareRequest.status == "open", CareRequest.next_wave_at.is_not(None))
                .limit(1)
            )
        return text is not None or wave is not None

    def _works_then(self, nurse: SimNurse, sim: SimRequest) -> bool:
        """A nurse who keeps her hours says no to care when she does not work (a date-only start:
        that day; no start: always yes, the code offered it while she works)."""
        hours = self.hours.get(nurse.index)
        if hours is None or sim.start_at is None:
            return True
        return works_for(hours, sim.start_at.astimezone(self.settings.timezone), sim.has_start_time)

    def _plan_withdrawal(self, now: datetime, request: CareRequest, sim: SimRequest) -> None:
        """The first nurse to take a request marked for it withdraws later (once per request)."""
        if sim.withdraw_after_s is None or request.id in self.state.withdrawal_planned:
            return
        at = now + timedelta(seconds=sim.withdraw_after_s)
        if sim.start_at is not None:
            at = min(at, sim.start_at - WITHDRAW_BEFORE_START)
        if at > now:
            self.state.withdrawal_planned.add(request.id)
            self._push(at, "_withdraw", (request.id, request.accepted_nurse_id))

    def _withdraw(self, now: datetime, job: tuple[int, int]) -> None:
        request_id, nurse_id = job
        with self.sessions() as session:
            with session.begin():
                request, nurse = session.get(CareRequest, request_id), session.get(Nurse, nurse_id)
                holding = request.accepted_nurse_id == nurse_id and request.status in ("accepted", "confirmed")
                outcome = withdraw(session, self.settings, nurse, request.reference, now)
                session.refresh(request)
                if holding and request.accepted_nurse_id != nurse_id:
                    self.counts.withdrawals += 1
                    self._release(nurse_id, request_id)
                effects = self._answered(session, nurse, outcome, now)
            self._apply(session, effects, now)

    def _cancel(self, now: datetime, key: str) -> None:
        request_id = self.state.request_ids.get(key)
        if request_id is None:
            return
        with self.sessions() as session:
            with session.begin():
                request = session.get(CareRequest, request_id)
                holder = request.accepted_nurse_id if request.status in ("accepted", "confirmed") else None
                effects = cancel_request(session, self.settings, request, now, actor="demandeur (simulation)")
                if effects is None:
                    return  # already closed
                self.counts.cancellations += 1
                if holder is not None:
                    self._release(holder, request_id)
            self._apply(session, effects, now)

    def _release(self, nurse_id: int, request_id: int) -> None:
        sim = self.state.requests[request_id]
        slot = (nurse_id, sim.care_day or sim.day)
        self.state.patients[slot] = max(0, self.state.patients[slot] - 1)

    def _answered(self, session: Session, nurse: Nurse, outcome: Outcome, now: datetime) -> list[Effect]:
        """The outcome's effects, after the answer to her text when the inbox would send one."""
        if not (self.direct_answers and outcome.reply):
            return outcome.effects
        answer = queue_sms(session, nurse.phone, outcome.reply, now, kind="reply", nurse=nurse)
        return [answer, *outcome.effects]

    def _apply(self, session: Session, effects: list[Effect], now: datetime) -> None:
        """Do what the worker would do with the effects, once the transaction committed."""
        to_send: list[SendMessage] = []
        for effect in effects:
            if isinstance(effect, RunWave):
                self._push(effect.at or now, "_wave", (effect.request_id, effect.wave))
            elif isinstance(effect, PlaceCall):
                self.counts.calls += 1
            elif isinstance(effect, SendMessage):
                to_send.append(effect)
        if to_send:
            self._send(session, to_send, now)

    def _send(self, session: Session, effects: list[SendMessage], now: datetime) -> None:
        """Deliver the texts due now; queue the others for when they may leave (in order)."""
        with session.begin():
            held = dict(
                session.execute(
                    select(Message.id, Message.send_after).where(
                        Message.id.in_([e.message_id for e in effects]), Message.send_after > now
                    )
                ).all()
            )
        batches: dict[datetime, list[int]] = {}
        for effect in effects:
            due = max(now, getattr(effect, "at", None) or held.get(effect.message_id) or now)
            batches.setdefault(due, []).append(effect.message_id)
        for due, message_ids in batches.items():
            if due <= now:
                self._deliver(now, message_ids, session)
            else:
                self._push(due, "_deliver", message_ids)

    def _deliver(self, now: datetime, message_ids: list[int], session: Session | None = None) -> None:
        if session is None:
            with self.sessions() as own:
                return self._deliver(now, message_ids, own)
        if self.delivery == "outbox":
            more = deliver_messages(
                session,
                self.telephony,
                self.urls,
                message_ids,
                now,
                settings=self.settings,
                refusals=Refusals(self.settings),
            ).effects
            sent = self._sent_texts(session, message_ids)
            self._apply(session, more, now)
        else:
            with session.begin():
                sent = self._mark_sent(session, message_ids, now)
        for message_id, offer_id, nurse_id, request_id, kind in sent:
            if message_id in self.state.delivered:
                raise AssertionError(f"message {message_id} delivered twice")
            self.state.delivered.add(message_id)
            self.counts.texts += 1
            self.counts.replies += kind == "reply"
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
            sent.append(
                (message.id, message.offer_id, offer.nurse_id if offer else None, message.request_id, message.kind)
            )
        return sent

    def _sent_texts(self, session: Session, message_ids: list[int]) -> list[tuple]:
        with session.begin():
            rows = session.execute(
                select(Message.id, Message.offer_id, Offer.nurse_id, Message.request_id, Message.kind)
                .outerjoin(Offer, Offer.id == Message.offer_id)
                .where(Message.id.in_(message_ids), Message.status == "sent")
                .order_by(Message.id)
            ).all()
        return [tuple(r) for r in rows]

    def _schedule_answer(self, now: datetime, offer_id: int, nurse_id: int, request_id: int) -> None:
        nurse, sim = self.nurse_by_id[nurse_id], self.state.requests[request_id]
        self.state.offers_read[(request_id, nurse_id)] += 1
        read = reads_at(nurse, now.astimezone(self.settings.timezone))
        reading = read_offer(
            nurse,
            sim.key,
            read.hour,
            usual=nurse.phone == sim.usual_phone,
            usual_reply=sim.usual_reply,
            nth=self.state.offers_read[(request_id, nurse_id)],
        )
        if reading is None:
            self.counts.answers["silent"] += 1
            return
        self._push(max(now, read) + timedelta(seconds=reading.delay_s), "_answer", (offer_id, reading))

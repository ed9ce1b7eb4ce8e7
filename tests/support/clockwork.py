"""The domain on a clock the test turns: a week in milliseconds, no Flask, Redis or worker.

``Clockwork`` does with the domain's effects what the worker does, at the times they say: a
``RunWave`` runs ``dispatch.matching.waves.run_wave`` when due, a text is sent through the outbox
(``deliver_messages``, the simulator adapter, no network) when due, a call is placed through
the outbox and counted. Texts to the single number go through ``dispatch.intake.texts_in.handle_sms``
and are answered through the outbox as the inbox job does. Every text that leaves is kept
with the time it left (``sent``), so tests can check what went out at night.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from dispatch.effects import PlaceCall, RunWave, SendMessage
from dispatch.intake.texts_in import handle_sms
from dispatch.matching.waves import Conflict, run_wave
from dispatch.messaging.refusals import Refusals
from dispatch.requests.create import NewRequest, create_request
from dispatch.telephony.outbox import deliver_messages, place_call, queue_sms
from dispatch.telephony.simulator import SimulatorTelephony
from dispatch.telephony.urls import Urls
from models import Call, CareRequest, Message, Offer, make_engine, make_sessionmaker


@dataclass(frozen=True)
class Left:
    """A text or call as it left: when, to whom, what kind, its body (calls: the purpose)."""

    at: datetime
    to: str
    kind: str
    body: str
    request_id: int | None


class Clockwork:
    def __init__(self, url: str, settings, now: datetime):
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        self.settings = settings
        self.telephony = SimulatorTelephony(settings, send_callbacks=False)
        self.urls = Urls(settings.public_base_url)
        self.now = now
        self.sent: list[Left] = []
        self.calls: list[Left] = []
        self._queue: list = []
        self._order = itertools.count()

    def close(self) -> None:
        self.engine.dispose()

    # --- what happens -------------------------------------------------------------------------

    def create(self, **fields) -> str:
        """A request taken now (``NewRequest``'s fields); its reference."""
        fields.setdefault("channel", "api")
        fields.setdefault("care_type", "pansement")
        fields.setdefault("callback_phone", "+33477000001")
        with self.sessions() as session:
            with session.begin():
                request, effects = create_request(session, self.settings, NewRequest(**fields), self.now)
                reference = request.reference
            self._apply(effects)
        self.run_until(self.now)
        return reference

    def text(self, phone: str, body: str) -> str:
        """A text to the single number now; the answer texted back ("" when none)."""
        with self.sessions() as session:
            with session.begin():
                outcome = handle_sms(session, self.settings, phone, body, self.now)
                effects = list(outcome.effects)
                if outcome.reply:
                    effects.insert(0, queue_sms(session, phone, outcome.reply, self.now, kind="reply"))
            self._apply(effects)
        self.run_until(self.now)
        return outcome.reply or ""

    def act(self, action) -> object:
        """``action(session, settings, now)`` in one transaction (a coordinator's hand...); its
        effects (a list, or an object with ``effects``) are carried out."""
        with self.sessions() as session:
            with session.begin():
                result = action(session, self.settings, self.now)
            effects = result if isinstance(result, list) else getattr(result, "effects", None) or []
            self._apply(effects)
        self.run_until(self.now)
        return result

    def run_until(self, until: datetime) -> None:
        """Carry out everything due up to ``until``, in time order; the clock ends at ``until``."""
        while self._queue and self._queue[0][0] <= until:
            at, _, handler, payload = heapq.heappop(self._queue)
            self.now = max(self.now, at)
            handler(payload)
        self.now = max(self.now, until)

    # --- what the database says -----------------------------------------------------------------

    def request(self, reference: str) -> CareRequest:
        with self.sessions() as session:
            return session.scalar(select(CareRequest).where(CareRequest.reference == reference))

    def offers(self, reference: str) -> list[Offer]:
        with self.sessions() as session:
            request = session.scalar(select(CareRequest).where(CareRequest.reference == reference))
            return list(session.scalars(select(Offer).where(Offer.request_id == request.id).order_by(Offer.id)))

    def texts_to(self, phone: str, kind: str | None = None) -> list[Left]:
        return [t for t in self.sent if t.to == phone and (kind is None or t.kind == kind)]

    # --- the worker's part ---------------------------------------------------------------------

    def _push(self, at: datetime | None, handler, payload) -> None:
        heapq.heappush(self._queue, (max(at or self.now, self.now), next(self._order), handler, payload))

    def _apply(self, effects) -> None:
        for effect in effects:
            if isinstance(effect, RunWave):
                self._push(effect.at, self._wave, (effect.request_id, effect.wave))
            elif isinstance(effect, SendMessage):
                self._push(getattr(effect, "at", None), self._send, effect.message_id)
            elif isinstance(effect, PlaceCall):
                self._push(effect.at, self._call, effect.call_id)

    def _wave(self, job: tuple[int, int]) -> None:
        with self.sessions() as session:
            try:
                with session.begin():
                    effects = run_wave(session, self.settings, *job, self.now)
            except Conflict:
                return
            self._apply(effects)

    def _send(self, message_id: int) -> None:
        with self.sessions() as session:
            delivery = deliver_messages(
                session,
                self.telephony,
                self.urls,
                [message_id],
                self.now,
                settings=self.settings,
                refusals=Refusals(self.settings),
            )
            self._apply(delivery.effects)
            message = session.get(Message, message_id)
            if message.status == "sent" and message.sent_at == self.now:
                self.sent.append(Left(self.now, message.to_phone, message.kind, message.body, message.request_id))
            elif message.status == "queued":  # not due yet: a job that came early; the due one comes
                self._push(message.send_after, self._send, message_id)

    def _call(self, call_id: int) -> None:
        with self.sessions() as session:
            effects = place_call(
                session, self.telephony, self.urls, call_id, self.now, refusals=Refusals(self.settings)
            )
            self._apply(effects)
            call = session.get(Call, call_id)
            if call.sid and call.status == "initiated":
                self.calls.append(Left(self.now, call.to_phone, "call", call.purpose, call.request_id))
            elif call.status == "queued":
                self._push(call.send_after, self._call, call_id)

"""RQ job functions: ids as arguments; each re-reads the database and acts only if still due.

Errors propagate (RQ records the failure and retries per ``JOB_RETRY``); the next jobs are
enqueued only after the transaction that justifies them commits, and the texts a job decided
are sent by that job right after its commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from dispatch.clock import utcnow
from dispatch.effects import Effect, SendMessage
from dispatch.intake.inbox import handle_event as handle_webhook_event
from dispatch.intake.inbox import receive
from dispatch.matching.waves import Conflict
from dispatch.matching.waves import run_wave as run_wave_step
from dispatch.messaging.refusals import Refusals
from dispatch.services import Services, process_services
from dispatch.telephony import TransientError
from dispatch.telephony.outbox import deliver_messages
from dispatch.telephony.outbox import place_call as place_outbound_call
from dispatch.telephony.urls import Urls
from workers.queue import enqueue

log = logging.getLogger(__name__)


@contextmanager
def job_session(svc: Services) -> Iterator[Session]:
    """The job's session, on one connection held for the whole job: its transactions follow one
    another without a pool checkout (and its liveness ping) each."""
    with svc.engine.connect() as connection, Session(bind=connection, expire_on_commit=False) as session:
        yield session


def run_wave(request_id: int, wave: int) -> None:
    svc = process_services()
    with job_session(svc) as session:
        try:
            with session.begin():
                effects = run_wave_step(session, svc.settings, request_id, wave, utcnow())
        except Conflict as err:
            log.info("workers.jobs.run_wave: %s", err)
            return
        carry_out(svc, effects, session)


def handle_event(key: str, payload: dict[str, Any] | None = None) -> None:
    """A text in or a delivery status, written by its webhook: apply it, then act on it. With
    ``payload``, the webhook could not write it (database down): write it first."""
    svc = process_services()
    with job_session(svc) as session:
        with session.begin():
            if payload is not None:
                receive(session, key, payload, utcnow())  # a repeat (written meanwhile) is dropped
            effects = handle_webhook_event(session, svc.settings, key, utcnow())
        carry_out(svc, effects, session)


def send_messages(message_ids: list[int]) -> None:
    """Send texts of the outbox in order; on a provider outage, RQ retries what is left."""
    _send(process_services(), message_ids)


def send_message(message_id: int) -> None:
    """One text (jobs enqueued by an earlier version)."""
    send_messages([message_id])


def place_call(call_id: int) -> None:
    svc = process_services()
    with job_session(svc) as session:
        effects = place_outbound_call(
            session,
            svc.telephony,
            Urls(svc.settings.public_base_url),
            call_id,
            utcnow(),
            refusals=Refusals(svc.settings),
        )
    carry_out(svc, effects)


def carry_out(svc: Services, effects: list[Effect], session: Session | None = None) -> None:
    """What a job decided, after its commit: its texts due now leave first, from this job, in
    order (no queue hop, and no Redis round trip before the first of them); then texts due
    later, waves and calls are enqueued, whatever the sending did (a job lost here is the
    sweeper's: the database holds every due time). A provider outage hands the texts to a
    ``send_messages`` job, which RQ retries. ``session``: the job's own, its transaction over,
    to send on the same connection."""
    now = [e for e in effects if isinstance(e, SendMessage) and e.at is None]
    later = [e for e in effects if e not in now]
    message_ids = [e.message_id for e in now]
    try:
        if message_ids:
            _send(svc, message_ids, session)
    except TransientError as err:
        log.warning("workers.jobs: provider unavailable (%s); the texts go to a job that retries", err)
        later += [SendMessage(i) for i in message_ids]  # those already sent are skipped
    finally:
        enqueue(svc.settings, later)


def _send(svc: Services, message_ids: list[int], session: Session | None = None) -> None:
    if session is None:
        with job_session(svc) as own:
            return _send(svc, message_ids, own)
    session.expunge_all()  # read afresh, as a new session would (the texts' offers may have moved)
    urls = Urls(svc.settings.public_base_url)
    delivery = deliver_messages(
        session,
        svc.telephony,
        urls,
        message_ids,
        utcnow(),
        settings=svc.settings,
        refusals=Refusals(svc.settings),
    )
    carry_out(svc, delivery.effects, session)
    if delivery.transient is not None:
        raise delivery.transient
    return None


def empty_job() -> None:
    """Does nothing: benchmarks measure the queue's own round trip with it."""

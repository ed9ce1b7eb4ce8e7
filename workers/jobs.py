"""RQ job functions: ids as arguments; each re-reads the database and acts only if still due.

Errors propagate (RQ records the failure and retries per ``JOB_RETRY``); the
next jobs are enqueued only after the transaction that justifies them commits.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

from dispatch.app import Services, build_services
from dispatch.clock import utcnow
from dispatch.config import load_settings
from dispatch.outbox import Urls, deliver_messages
from dispatch.outbox import place_call as place_outbound_call
from dispatch.waves import Conflict
from dispatch.waves import run_wave as run_wave_step
from workers.queue import enqueue

log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _services_for(environment: frozenset) -> Services:
    return build_services(load_settings(dict(environment) or None))


def job_services() -> Services:
    """The process's services, for the settings in the current environment."""
    return _services_for(frozenset((k, v) for k, v in os.environ.items() if k.isupper()))


def run_wave(request_id: int, wave: int) -> None:
    svc = job_services()
    with svc.sessionmaker() as session:
        try:
            with session.begin():
                effects = run_wave_step(session, svc.settings, request_id, wave, utcnow())
        except Conflict as err:
            log.info("workers.jobs.run_wave: %s", err)
            return
    enqueue(svc.settings, effects)


def send_messages(message_ids: list[int]) -> None:
    """Send texts of the outbox in order; on a provider outage, retry (RQ) what is left."""
    svc = job_services()
    urls = Urls(svc.settings.public_base_url)
    with svc.sessionmaker() as session:
        delivery = deliver_messages(session, svc.telephony, urls, message_ids, utcnow(), sio_name=svc.settings.sio_name)
    enqueue(svc.settings, delivery.effects)
    if delivery.transient is not None:
        raise delivery.transient


def send_message(message_id: int) -> None:
    """One text (jobs enqueued by an earlier version, and the sweeper's)."""
    send_messages([message_id])


def place_call(call_id: int) -> None:
    svc = job_services()
    with svc.sessionmaker() as session:
        effects = place_outbound_call(
            session, svc.telephony, Urls(svc.settings.public_base_url), call_id, utcnow(), settings=svc.settings
        )
    enqueue(svc.settings, effects)


def empty_job() -> None:
    """Does nothing: benchmarks measure the queue's own round trip with it."""

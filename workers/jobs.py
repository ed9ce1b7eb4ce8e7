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
from dispatch.outbox import Urls, deliver_message
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


def send_message(message_id: int) -> None:
    svc = job_services()
    with svc.sessionmaker() as session:
        effects = deliver_message(session, svc.telephony, Urls(svc.settings.public_base_url), message_id, utcnow())
    enqueue(svc.settings, effects)


def place_call(call_id: int) -> None:
    svc = job_services()
    with svc.sessionmaker() as session:
        effects = place_outbound_call(
            session, svc.telephony, Urls(svc.settings.public_base_url), call_id, utcnow(), settings=svc.settings
        )
    enqueue(svc.settings, effects)


def empty_job() -> None:
    """Does nothing: benchmarks measure the queue's own round trip with it."""

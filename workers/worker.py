"""``sio worker``: an RQ worker with the scheduler, and the sweeper in the same process."""

from __future__ import annotations

import logging
import threading

from rq import SimpleWorker

from dispatch.clock import utcnow
from dispatch.config import Settings
from dispatch.matching.answer_stats import count_offers
from dispatch.services import build_services
from workers.queue import enqueue, get_queue, redis_connection
from workers.sweep import overdue_work

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 30.0


def sweep_once(settings: Settings) -> int:
    """Re-enqueue overdue work; return how many jobs were enqueued (0 when Redis is down).

    Then, as its own committed step, count the offers due into the nurses' answer statistics
    (``dispatch.matching.answer_stats``): a failure there is logged and retried next round, and
    never holds the re-enqueueing back.
    """
    svc = build_services(settings)
    with svc.sessionmaker() as session:
        effects = overdue_work(session, utcnow())
    try:
        with svc.sessionmaker() as session, session.begin():
            counted, retired = count_offers(session, settings, utcnow())
        if counted or retired:
            log.info("workers.sweeper: %d offers counted into answer statistics, %d retired", counted, retired)
    except Exception:  # the statistics wait for the next round; the overdue work must still go out
        log.exception("workers.sweeper: counting offers failed")
    if effects and enqueue(settings, effects):
        log.info("workers.sweeper: re-enqueued %d overdue jobs", len(effects))
        return len(effects)
    return 0


def _sweep_forever(settings: Settings, stop: threading.Event, every_s: float) -> None:
    while not stop.wait(every_s):
        try:
            sweep_once(settings)
        except Exception:  # the loop must outlive a database or Redis outage; the next round retries
            log.exception("workers.sweeper: sweep failed")


def start_sweeper(settings: Settings, every_s: float = SWEEP_EVERY_S) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=_sweep_forever, args=(settings, stop, every_s), name="sweeper", daemon=True).start()
    return stop


def run_worker(settings: Settings, *, burst: bool = False) -> bool:
    """Work the queue. In burst mode: sweep once, run every due job, return.

    A ``SimpleWorker`` runs jobs in this process (no fork per job): jobs are short
    database and HTTP calls, and the process keeps one engine and one HTTP client.
    """
    stop = None
    if burst:
        sweep_once(settings)
    else:
        stop = start_sweeper(settings)
    worker = SimpleWorker([get_queue(settings)], connection=redis_connection(settings))
    try:
        return worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        if stop is not None:
            stop.set()

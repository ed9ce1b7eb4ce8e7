"""The one RQ queue, and turning the domain's effects into jobs after a commit."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

from dispatch.config import Settings
from dispatch.effects import Effect, HandleEvent, PlaceCall, RunWave, SendMessage

log = logging.getLogger(__name__)
QUEUE_NAME = "sio"
_CONNECTIONS: dict[str, Redis] = {}


def redis_url(settings: Settings) -> str:
    """REDIS_URL, or the embedded server's socket in the instance folder (started by ``sio run``)."""
    return settings.redis_url or f"unix://{settings.instance_path / 'redis.sock'}"


def redis_connection(settings: Settings) -> Redis:
    url = redis_url(settings)
    if url not in _CONNECTIONS:
        # Short timeouts: a webhook must answer even when Redis is down (DESIGN §10).
        _CONNECTIONS[url] = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)
    return _CONNECTIONS[url]


def get_queue(settings: Settings) -> Queue:
    return Queue(QUEUE_NAME, connection=redis_connection(settings))


# Jobs retry on errors (a Twilio outage, a database restart); the sweeper is the last resort.
JOB_RETRY = Retry(max=5, interval=[5, 15, 60, 120, 300])
# An event that lives only in Redis (the database was down when it came) is retried for hours:
# no sweeper would find it.
KEPT_EVENT_RETRY = Retry(max=40, interval=[5, 15, 30, 60, 120, 300])
# A wave's texts go in one job; the sweeper's backlog is split so that workers share it and
# a job stays short even when each request to Twilio takes a few hundred milliseconds.
TEXTS_PER_JOB = 20
# Jobs are enqueued by their path (``workers.jobs`` imports this module, not the reverse); the
# paths are kept across releases so that jobs queued before a deploy still run after it.
JOBS = "workers.jobs."


def enqueue(settings: Settings, effects: Iterable[Effect]) -> bool:
    """Enqueue the effects as jobs, in one Redis round trip. Call only after the commit that
    wrote what they point at.

    The texts decided together (a wave's offers, the "pourvue" notices) become one
    ``send_messages`` job (up to ``TEXTS_PER_JOB``) per time they are due: they leave in order
    without a queue hop each. Returns False when
    Redis could not take the jobs: the work is in the database and the sweeper will enqueue
    it again, so a webhook answers normally.
    """
    effects = list(effects)
    if not effects:
        return True
    queue = get_queue(settings)
    jobs_: list[tuple[datetime | None, str, tuple, Retry]] = []  # (due, job, arguments, retry)
    texts: dict[datetime | None, list[int]] = {}  # texts due at the same time go together
    for effect in effects:
        if isinstance(effect, SendMessage):
            texts.setdefault(effect.at, []).append(effect.message_id)
        elif isinstance(effect, PlaceCall):
            jobs_.append((effect.at, JOBS + "place_call", (effect.call_id,), JOB_RETRY))
        elif isinstance(effect, RunWave):
            jobs_.append((effect.at, JOBS + "run_wave", (effect.request_id, effect.wave), JOB_RETRY))
        elif isinstance(effect, HandleEvent) and effect.payload is not None:
            jobs_.append((None, JOBS + "handle_event", (effect.key, effect.payload), KEPT_EVENT_RETRY))
        elif isinstance(effect, HandleEvent):
            jobs_.append((None, JOBS + "handle_event", (effect.key,), JOB_RETRY))
    texts_jobs = [
        (at, JOBS + "send_messages", (ids[k : k + TEXTS_PER_JOB],), JOB_RETRY)
        for at, ids in texts.items()
        for k in range(0, len(ids), TEXTS_PER_JOB)
    ]
    now = datetime.now(UTC)
    due = [j for j in texts_jobs + jobs_ if j[0] is None or j[0] <= now]
    later = [j for j in texts_jobs + jobs_ if j[0] is not None and j[0] > now]
    try:
        with queue.connection.pipeline() as pipe:
            # Jobs due now first: RQ 3 cannot enqueue after a scheduled job in the same pipeline.
            for _, func, args, retry in due:
                queue.enqueue(func, *args, retry=retry, pipeline=pipe)
            for at, func, args, retry in later:
                queue.enqueue_at(at, func, *args, retry=retry, pipeline=pipe)
            pipe.execute()
    except RedisError as err:
        log.warning("workers.queue: Redis unavailable (%s); the sweeper will pick the work up", err)
        return False
    return True

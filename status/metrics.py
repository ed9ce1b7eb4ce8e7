"""``/metrics`` for Prometheus: requests by status, offers, time to first yes, queue, webhook latency.

Served only with ``Authorization: Bearer <METRICS_TOKEN>`` or to an address of
``METRICS_NETWORKS``; with neither set, to nobody.

Most figures are read from the database (and Redis) at scrape time: the database is the
truth, every gunicorn worker answers the same, and nothing is lost when a process restarts.
Only webhook latency is measured in the process that served the webhook; with several
gunicorn workers set ``PROMETHEUS_MULTIPROC_DIR`` (deploy/ does) and prometheus-client
shares the histogram through files in that folder.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.utils import floatToGoString
from redis.exceptions import RedisError
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError

from dispatch.lifecycle import RequestStatus
from models import CareRequest, Message, Offer, WebhookReceipt
from workers.queue import get_queue

log = logging.getLogger(__name__)
WEBHOOK_PREFIX = "/webhooks/"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
FIRST_YES_BUCKETS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)
_T0 = "_sio_webhook_t0"
_latency: Histogram | None = None


def webhook_latency() -> Histogram:
    """The process's one histogram (created once: prometheus-client refuses duplicates)."""
    global _latency
    if _latency is None:
        _latency = Histogram(
            "sio_webhook_latency_seconds",
            "Time to answer a Twilio webhook.",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
    return _latency


class DatabaseCollector:
    """Figures computed from the database and Redis at each scrape."""

    def __init__(self, services):
        self.services = services

    def collect(self) -> Iterator[Metric]:
        try:
            with self.services.sessionmaker() as session:
                yield from self._requests(session)
                yield from self._offers(session)
                yield self._first_yes(session)
            yield GaugeMetricFamily("sio_database_up", "1 when the database answered the scrape.", value=1)
        except SQLAlchemyError as err:
            log.warning("status.metrics: database unavailable: %s", type(err).__name__)
            yield GaugeMetricFamily("sio_database_up", "1 when the database answered the scrape.", value=0)
        yield from self._queue()

    def _requests(self, session) -> Iterator[Metric]:
        counts = dict.fromkeys((s.value for s in RequestStatus), 0)
        counts.update(session.execute(select(CareRequest.status, func.count()).group_by(CareRequest.status)).all())
        gauge = GaugeMetricFamily("sio_requests", "Care requests by status.", labels=["status"])
        for status, count in counts.items():
            gauge.add_metric([status], count)
        yield gauge
        attention = session.scalar(select(func.count()).where(CareRequest.needs_attention.is_(True)))
        yield GaugeMetricFamily("sio_requests_needing_attention", "Requests flagged for coordinators.", value=attention)

    def _offers(self, session) -> Iterator[Metric]:
        sent, failed = session.execute(
            select(
                func.count(Offer.sent_at),
                func.coalesce(func.sum(case((Offer.status == "failed", 1), else_=0)), 0),
            )
        ).one()
        yield CounterMetricFamily("sio_offers_sent", "Offers whose text went out.", value=sent)
        yield CounterMetricFamily("sio_offers_failed", "Offers whose text could not be delivered.", value=failed)
        queued = session.scalar(
            select(func.count()).where(Message.direction == "out", Message.status.in_(("queued", "sending")))
        )
        yield GaugeMetricFamily("sio_outbox_texts", "Texts written but not yet handed to the provider.", value=queued)
        unhandled = session.scalar(select(func.count()).where(WebhookReceipt.handled_at.is_(None)))
        yield GaugeMetricFamily(
            "sio_inbox_events", "Texts in and delivery statuses received but not yet handled by a job.", value=unhandled
        )

    def _first_yes(self, session) -> Metric:
        start = func.coalesce(CareRequest.dispatch_started_at, CareRequest.created_at)
        if session.get_bind().dialect.name == "postgresql":
            seconds = func.extract("epoch", CareRequest.accepted_at - start)
        else:
            seconds = (func.julianday(CareRequest.accepted_at) - func.julianday(start)) * 86400.0
        row = session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(seconds), 0),
                *(func.coalesce(func.sum(case((seconds <= b, 1), else_=0)), 0) for b in FIRST_YES_BUCKETS),
            ).where(CareRequest.accepted_at.is_not(None))
        ).one()
        total, total_s, per_bucket = row[0], float(row[1]), row[2:]
        buckets = [(floatToGoString(b), int(n)) for b, n in zip(FIRST_YES_BUCKETS, per_bucket, strict=True)]
        return HistogramMetricFamily(
            "sio_time_to_first_yes_seconds",
            "From the start of dispatch to the first nurse's yes.",
            buckets=[*buckets, ("+Inf", total)],
            sum_value=total_s,
        )

    def _queue(self) -> Iterator[Metric]:
        try:
            queue = get_queue(self.services.settings)
            depth, scheduled = queue.count, ScheduledJobRegistry(queue=queue).count
            failed = FailedJobRegistry(queue=queue).count
        except (RedisError, OSError) as err:
            log.warning("status.metrics: Redis unavailable: %s", type(err).__name__)
            yield GaugeMetricFamily("sio_redis_up", "1 when Redis answered the scrape.", value=0)
            return
        yield GaugeMetricFamily("sio_redis_up", "1 when Redis answered the scrape.", value=1)
        yield GaugeMetricFamily("sio_queue_depth", "Jobs waiting in the queue.", value=depth)
        yield GaugeMetricFamily(
            "sio_queue_scheduled", "Jobs scheduled for later (next waves, retries).", value=scheduled
        )
        yield GaugeMetricFamily("sio_jobs_failed", "Jobs in RQ's failed registry.", value=failed)


def _refusal(settings) -> Response | None:
    """None when the scraper may read: it shows ``Authorization: Bearer <METRICS_TOKEN>`` or comes
    from one of ``METRICS_NETWORKS``. Neither set: nobody may (the figures tell how the region
    is served; behind a reverse proxy every client would seem to come from the proxy)."""
    token = settings.metrics_token
    if token:
        shown = request.headers.get("Authorization", "").encode()
        if hmac.compare_digest(shown, f"Bearer {token}".encode()):
            return None
    if settings.metrics_networks:
        try:
            address = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            address = None
        if address is not None and any(address in network for network in settings.metrics_networks):
            return None
    if token:
        return Response(
            "metrics: Authorization: Bearer <METRICS_TOKEN> expected\n", 401, {"WWW-Authenticate": "Bearer"}
        )
    if settings.metrics_networks:
        return Response("metrics: this address is not in METRICS_NETWORKS\n", 403, mimetype="text/plain")
    return Response("metrics: off; set METRICS_TOKEN or METRICS_NETWORKS\n", 403, mimetype="text/plain")


def init_metrics(app: Flask) -> None:
    """Time every webhook and serve ``/metrics``."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
    histogram = webhook_latency()
    services = app.extensions["sio"]

    @app.before_request
    def _start_timer() -> None:
        if request.path.startswith(WEBHOOK_PREFIX):
            g.setdefault(_T0, time.perf_counter())

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get(_T0)
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            histogram.labels(route, str(response.status_code)).observe(time.perf_counter() - started)
        return response

    def metrics() -> Response:
        refusal = _refusal(services.settings)
        if refusal is not None:
            return refusal
        registry = CollectorRegistry(auto_describe=False)
        if directory:
            MultiProcessCollector(registry, path=directory)
        else:
            registry.register(histogram)
        registry.register(DatabaseCollector(services))
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])

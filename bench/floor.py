"""Floors of the benchmarks: the least any design can do, served like the service.

``gunicorn bench.floor:app`` (same flags as the service) answers two routes:

- ``POST /floor`` (issue 3 a): a bare endpoint that only enqueues a job, and that job (run by
  the same ``sio worker``) only sends one text through the service's own telephony adapter: no
  validation, no database, no choice of nurses. The queue hop, two HTTP requests and the SDK.
- ``POST /webhooks/sms`` (issue 6 a): a bare endpoint that only writes the incoming text to
  PostgreSQL (one autocommit ``INSERT`` into a table with one index, plain psycopg, no signature
  check, every post a new row even when wrk replays it) before answering an empty TwiML: what any
  webhook pays to keep a text it has acknowledged (DESIGN §10: nothing lost, even with Redis down).
"""

from __future__ import annotations

import threading

import psycopg
from flask import Flask, Response, request
from redis import Redis
from rq import Queue

from dispatch.config import load_settings
from workers.queue import QUEUE_NAME, redis_url

app = Flask("floor")
_queue: Queue | None = None


def queue() -> Queue:
    global _queue
    if _queue is None:
        _queue = Queue(QUEUE_NAME, connection=Redis.from_url(redis_url(load_settings())))
    return _queue


@app.post("/floor")
def floor() -> Response:
    queue().enqueue(send_text, request.get_json()["body"])
    return Response('{"ok": true}', status=201, mimetype="application/json")


FLOOR_TABLE = "bench_floor_inbox"
CREATE_FLOOR_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (id bigserial PRIMARY KEY, sid text, sender text, body text)"
)
_local = threading.local()


@app.post("/webhooks/sms")
def persist_only() -> Response:
    connection = getattr(_local, "connection", None)
    if connection is None:
        url = load_settings().database_url.replace("postgresql+psycopg://", "postgresql://")
        connection = _local.connection = psycopg.connect(url, autocommit=True)
    connection.execute(
        f"INSERT INTO {FLOOR_TABLE} (sid, sender, body) VALUES (%s, %s, %s)",  # noqa: S608
        (request.form.get("MessageSid"), request.form.get("From"), request.form.get("Body")),
    )
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response />', mimetype="text/xml")


@app.get("/healthz")
def healthz() -> str:
    return "ok"


def send_text(body: str) -> None:
    """The job: one text to a fixed number through the worker's telephony adapter."""
    from dispatch.services import process_services

    svc = process_services()
    svc.telephony.send_sms("+33612345678", body, f"{svc.settings.public_base_url}/webhooks/sms/status")

"""Issue 3 benchmark (a): from ``POST /api/v1/requests`` to the first text at the Twilio stand-in.

Baseline, same run, same worker: the round trip of an empty RQ job (``workers.jobs.empty_job``),
from ``enqueue`` to the worker having run it. Target: median first text within 2x the median
empty-job round trip.

Floor, same run, same worker: ``bench/floor.py``, a bare Flask endpoint that only enqueues a job
that only sends one text with the same adapter (no validation, no database, no matching). It
shows how much of the ratio any design must pay before doing any work.

Set-up: PostgreSQL (a database of its own), a redis-server of its own, gunicorn as in
deploy/Procfile, one ``sio worker``, TELEPHONY=twilio with the real SDK talking to the stand-in
(run in this process so it timestamps every text it receives). Requests go one at a time.

    .venv/bin/python bench/dispatch_latency.py [--requests 60] [--nurses 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from datetime import UTC

from common import Stack, busy_communes, communes_of, say, seed_nurses, seed_requester, summary_ms
from redis import Redis
from rq import Queue
from sqlalchemy import select

from models import CareRequest, Message
from tests.support.twilio_standin import TwilioStandin


def post_request(stack: Stack, token: str, insee: str) -> tuple[str, float]:
    body = json.dumps({"insee": insee, "care_type": "pansement", "callback_phone": "04 77 00 00 01"}).encode()
    request = urllib.request.Request(
        f"{stack.public_base_url}/api/v1/requests",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (127.0.0.1)
        assert response.status == 201
        return json.load(response)["reference"], time.time()


def first_text_at(standin: TwilioStandin, reference: str, timeout: float = 10.0) -> float:
    """When the stand-in received the request's first text (its own timestamp, not our polling)."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        with standin._lock:  # new records only: a full copy each poll would slow the stand-in down
            fresh = standin.requests[seen:]
        seen += len(fresh)
        times = [r.at for r in fresh if reference in r.form.get("Body", [""])[0]]
        if times:
            return min(times)
        time.sleep(0.001)
    raise RuntimeError(f"no text for request {reference} within {timeout} s")


def post_floor(port: int, body: str) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/floor",
        data=json.dumps({"body": body}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (127.0.0.1)
        assert response.status == 201


def empty_job_round_trips(stack: Stack, count: int) -> tuple[list[float], list[float]]:
    """(client-observed round trips, enqueue → RQ's ended_at) for ``count`` empty jobs, one at a time."""
    queue = Queue("sio", connection=Redis.from_url(stack.redis.url))
    observed, ended = [], []
    for _ in range(count):
        t0 = time.time()
        job = queue.enqueue("workers.jobs.empty_job")
        while job.get_status(refresh=True) != "finished":
            time.sleep(0.001)
        observed.append(time.time() - t0)
        job.refresh()
        ended.append(job.ended_at.replace(tzinfo=UTC).timestamp() - t0)
    return observed, ended


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--nurses", type=int, default=2000)
    args = parser.parse_args()

    with Stack("latency", telephony="twilio") as stack:
        with stack.sessionmaker() as session:
            seed_nurses(stack.engine, args.nurses, communes_of(session, ("42",)))
            zones = busy_communes(session, 3)
        token = seed_requester(stack.sessionmaker)
        standin = TwilioStandin(port=stack.standin_port).start()
        stack.start_web()
        floor_port = stack.web_port + 1 if stack.web_port < 65000 else stack.web_port - 1
        stack.start_web("bench.floor:app", port=floor_port)
        stack.start_worker()
        time.sleep(1.0)
        say(
            f"{args.nurses} nurses in the Loire, {len(zones)} communes with 3+ nurses; gunicorn -w 4 --threads 4, "
            "1 sio worker, PostgreSQL, TELEPHONY=twilio -> stand-in"
        )

        for i in range(5):  # warm-up: connections, imports, caches
            post_request(stack, token, zones[i % len(zones)])
            empty_job_round_trips(stack, 5)
            post_floor(floor_port, f"warm-up {i}")
            first_text_at(standin, f"warm-up {i}")
        time.sleep(0.5)

        firsts, api_times, refs, floors = [], [], [], []
        empty_obs, empty_end = [], []
        for i in range(args.requests):
            # Interleaved, so both see the same machine state.
            obs, end = empty_job_round_trips(stack, 1)
            empty_obs += obs
            empty_end += end
            time.sleep(0.05)
            t0 = time.time()
            post_floor(floor_port, f"floor {i:04d}")
            floors.append(first_text_at(standin, f"floor {i:04d}") - t0)
            time.sleep(0.05)
            t0 = time.time()
            reference, answered = post_request(stack, token, zones[(i * 7) % len(zones)])
            firsts.append(first_text_at(standin, reference) - t0)
            api_times.append(answered - t0)
            refs.append(reference)
            time.sleep(0.3)  # the other two texts of the wave go out before the next round: an idle worker

        # Where the time goes, for the first text of each request (worker clock = this clock).
        queue_waits = []
        with stack.sessionmaker() as session:
            for reference in refs:
                request = session.scalar(select(CareRequest).where(CareRequest.reference == reference))
                sent_at = min(
                    m.sent_at
                    for m in session.scalars(
                        select(Message).where(Message.request_id == request.id, Message.kind == "offer")
                    )
                )
                created = request.created_at.timestamp()
                queue_waits.append(sent_at.timestamp() - created)
        standin.stop()

        m_first, m_empty = statistics.median(firsts), statistics.median(empty_end)
        say("")
        say(f"first text at stand-in   {summary_ms(firsts)}")
        say(f"  API answer (201)       {summary_ms(api_times)}")
        say(f"  commit -> job start    {summary_ms(queue_waits)}  (request created_at -> worker's now)")
        say(f"empty job, RQ ended_at   {summary_ms(empty_end)}")
        say(f"empty job, client polled {summary_ms(empty_obs)}")
        say(f"floor: bare POST -> job -> text {summary_ms(floors)}")
        say(f"ratio median floor / median empty job = {statistics.median(floors) / m_empty:.2f}x")
        ratio = m_first / m_empty
        say(
            f"ratio median first text / median empty job = {ratio:.2f}x (target <= 2x): "
            f"{'MET' if ratio <= 2 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()

"""Issue 6 benchmark (b): a morning burst, 1,000 requests over 60 s, 10,000 nurses.

PostgreSQL and a redis-server of their own, gunicorn as in deploy/Procfile, 2 ``sio worker``
processes, TELEPHONY=twilio with the stand-in as a separate process. Twenty establishments
post the requests through the API at an even pace (each stays under its API rate limit).
Checks: every first wave reaches the stand-in within a minute of its request, no job fails,
nothing is lost; resident memory (RSS, /proc) of every web and worker process, target < 150 MB.

    .venv/bin/python bench/burst.py [--requests 1000] [--seconds 60] [--nurses 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import urllib.error
import urllib.request

from common import Stack, busy_communes, child_pids, communes_of, percentile, rss_mb, say, seed_nurses
from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy import case, func, select

from dispatch.people.tokens import issue_token
from models import CareRequest, Message, Offer, Requester
from workers.queue import QUEUE_NAME

REGION = ("42", "69", "43", "01", "38", "71", "03", "63")  # a region's departments


def seed_requesters(stack: Stack, count: int) -> list[str]:
    with stack.sessionmaker.begin() as session:
        tokens = []
        for i in range(count):
            requester = Requester(name=f"Etablissement {i}", kind="hopital", postcode="42000")
            session.add(requester)
            session.flush()
            tokens.append(issue_token(session, requester))
        return tokens


class Memory:
    """Samples the RSS of the service processes once a second; keeps each one's peak."""

    def __init__(self, roots: dict[str, int]):
        self.roots = roots
        self.peak: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            for name, pid in self.roots.items():
                pids = {name: pid}
                if name == "gunicorn master":
                    pids.update({f"gunicorn worker {k}": c for k, c in enumerate(sorted(child_pids(pid)))})
                for label, p in pids.items():
                    self.peak[label] = max(self.peak.get(label, 0.0), rss_mb(p))
            self.stop.wait(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--nurses", type=int, default=10_000)
    parser.add_argument("--establishments", type=int, default=20)
    args = parser.parse_args()

    with Stack("burst", telephony="twilio") as stack:
        with stack.sessionmaker() as session:
            seed_nurses(stack.engine, args.nurses, communes_of(session, REGION))
            zones = busy_communes(session, 3)
        tokens = seed_requesters(stack, args.establishments)
        stack.start_standin()
        web = stack.start_web()
        workers = [stack.start_worker(), stack.start_worker()]
        time.sleep(1.5)
        memory = Memory({"gunicorn master": web.pid, "sio worker 1": workers[0].pid, "sio worker 2": workers[1].pid})
        memory.thread.start()
        say(
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.nurses} nurses in {len(REGION)} "
            f"departments; {args.requests} requests over {args.seconds:.0f} s from {len(tokens)} establishments; "
            "gunicorn -w 4 --threads 4, 2 sio workers, TELEPHONY=twilio -> stand-in process"
        )

        results: list[tuple[str | None, int, float]] = []
        lock = threading.Lock()
        start = time.monotonic() + 0.5
        interval = args.seconds / args.requests

        def sender(slot: int, slots: int) -> None:
            for i in range(slot, args.requests, slots):
                delay = start + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                body = json.dumps(
                    {
                        "insee": zones[(i * 7919) % len(zones)],
                        "care_type": "pansement",
                        "callback_phone": "04 77 00 00 01",
                    }
                ).encode()
                request = urllib.request.Request(
                    f"{stack.public_base_url}/api/v1/requests",
                    data=body,
                    method="POST",
                    headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Type": "application/json"},
                )
                t0 = time.monotonic()
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (127.0.0.1)
                        reference, status = json.load(response)["reference"], response.status
                except urllib.error.HTTPError as err:
                    reference, status = None, err.code
                with lock:
                    results.append((reference, status, time.monotonic() - t0))

        senders = [threading.Thread(target=sender, args=(k, 16)) for k in range(16)]
        for s in senders:
            s.start()
        for s in senders:
            s.join()
        burst_s = time.monotonic() - start
        references = [r for r, status, _ in results if status == 201]

        # Wait for the workers to drain the queue (bounded), then look at the database.
        queue = Queue(QUEUE_NAME, connection=Redis.from_url(stack.redis.url))
        deadline = time.monotonic() + 60
        while (queue.count or StartedJobRegistry(queue=queue).count) and time.monotonic() < deadline:
            time.sleep(0.5)
        drained_s = time.monotonic() - start
        memory.stop.set()
        memory.thread.join()
        failed_jobs = FailedJobRegistry(queue=queue).count

        with stack.sessionmaker() as session:
            rows = session.execute(
                select(
                    CareRequest.reference,
                    CareRequest.created_at,
                    func.count(Offer.id),
                    func.max(Message.updated_at),
                    func.sum(case((Message.status == "sent", 1), else_=0)),
                )
                .join(Offer, Offer.request_id == CareRequest.id)
                .join(Message, Message.offer_id == Offer.id)
                .where(Offer.wave == 1)
                .group_by(CareRequest.id)
            ).all()
            stuck = session.scalar(
                select(func.count()).select_from(Message).where(Message.status.in_(("queued", "sending")))
            )
            failed_texts = session.scalar(select(func.count()).select_from(Message).where(Message.status == "failed"))
            in_db = session.scalar(select(func.count()).select_from(CareRequest))

    delays = [(last - created).total_seconds() for _, created, _, last, _ in rows]
    complete = sum(1 for _, _, n, _, sent in rows if n == sent)
    statuses: dict[int, int] = {}
    for _, status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    api = [d * 1000 for _, _, d in results]
    say("")
    say(
        f"posted {len(results)} in {burst_s:.1f} s: HTTP {statuses}; API p50 {percentile(api, 50):.0f} ms, "
        f"p99 {percentile(api, 99):.0f} ms"
    )
    say(
        f"requests in the database {in_db}; with a first wave {len(rows)}; first wave fully sent {complete}; "
        f"texts still queued {stuck}; texts failed {failed_texts}; failed jobs {failed_jobs}"
    )
    say(
        f"request -> last text of its first wave: p50 {percentile(delays, 50):.2f} s, p95 "
        f"{percentile(delays, 95):.2f} s, max {max(delays):.2f} s; queue drained {drained_s:.0f} s after the start"
    )
    for label, peak in sorted(memory.peak.items()):
        say(f"  RSS peak {label:18} {peak:6.1f} MB")
    ok_wave = len(rows) == len(references) == args.requests and complete == len(rows) and max(delays) <= 60
    ok_jobs = failed_jobs == 0 and stuck == 0 and failed_texts == 0
    ok_memory = max(memory.peak.values()) < 150
    say(
        f"every first wave within the minute: {'MET' if ok_wave else 'MISSED'}; no job failed, nothing lost: "
        f"{'MET' if ok_jobs else 'MISSED'}; RSS < 150 MB each: {'MET' if ok_memory else 'MISSED'}"
    )


if __name__ == "__main__":
    main()

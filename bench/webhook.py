"""Issue 6 benchmark (a): a nurse's reply webhook under gunicorn (4 workers) on PostgreSQL.

Signed ``POST /webhooks/sms`` with ``OUI <ref>`` / ``NON <ref>`` against real offers (each
request has five nurses awaiting an answer; one says yes, four say no, in random order),
beside a bare Flask endpoint returning an empty TwiML (bench/bare_app.py) served by the same
gunicorn set-up, in the same run. Targets: at least half the bare throughput; p99 < 50 ms.

The webhook writes each text and enqueues its job (``dispatch.intake.inbox``); the load runs with no
worker, as a burst that outpaces them would. Then two ``sio worker`` processes handle the
backlog (TELEPHONY=twilio, the stand-in as a process): the script reports how fast, and checks
that every text was handled, no job failed and no request got two nurses.

Floor, same run, same set-up: ``bench/floor.py``'s bare endpoint that only writes the text to
PostgreSQL before answering (one autocommit INSERT): the most any webhook that keeps what it
acknowledges could reach.

Load: ``wrk`` (``apt-get install -y wrk``) replaying pre-signed posts (bench/replay.lua);
without wrk, a Python generator with threads and keep-alive connections does the same.

    .venv/bin/python bench/webhook.py [--seconds 15] [--connections 8] [--requests 3000]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from common import ROOT, Stack, nurse_phone, percentile, say
from sqlalchemy import func, insert, select, text
from twilio.request_validator import RequestValidator

from dispatch.clock import utcnow
from models import CareRequest, Nurse, Offer, WebhookReceipt
from workers.queue import QUEUE_NAME

PATH = "/webhooks/sms"


def seed_offers(stack: Stack, requests: int, per_request: int = 5) -> list[tuple[str, str]]:
    """Open requests, each with ``per_request`` sent offers; returns (phone, body) replies, shuffled."""
    now = utcnow()
    rng = random.Random(6)
    nurses, reqs, offers, replies = [], [], [], []
    for r in range(requests):
        reference = f"{200000 + r}"
        reqs.append(
            {
                "id": r + 1,
                "reference": reference,
                "channel": "api",
                "insee": "42207",
                "postcode": "42400",
                "care_type": "pansement",
                "status": "open",
                "wave": 1,
                "callback_phone": "+33477000001",
                "created_at": now,
                "updated_at": now,
                "dispatch_started_at": now,
                "next_wave_at": now + timedelta(hours=1),
            }
        )
        yes = rng.randrange(per_request)
        for k in range(per_request):
            n = r * per_request + k
            nurses.append({"id": n + 1, "phone": nurse_phone(n), "name": f"Infirmière {n}", "availability": ""})
            offers.append(
                {"request_id": r + 1, "nurse_id": n + 1, "wave": 1, "status": "sent", "created_at": now, "sent_at": now}
            )
            replies.append((nurse_phone(n), f"{'OUI' if k == yes else 'NON'} {reference}"))
    with stack.engine.begin() as conn:
        for rows, model in ((nurses, Nurse), (reqs, CareRequest), (offers, Offer)):
            for chunk in range(0, len(rows), 10_000):
                conn.execute(insert(model), rows[chunk : chunk + 10_000])
        conn.execute(text("SELECT setval('nurses_id_seq', (SELECT max(id) FROM nurses))"))
        conn.execute(text("SELECT setval('care_requests_id_seq', (SELECT max(id) FROM care_requests))"))
        conn.execute(text("ANALYZE"))
    rng.shuffle(replies)
    return replies


def signed_posts(stack: Stack, replies: list[tuple[str, str]]) -> list[tuple[str, str]]:
    validator = RequestValidator(stack.auth_token)
    posts = []
    for i, (phone, body) in enumerate(replies):
        form = {
            "MessageSid": f"SM{i:032x}",
            "AccountSid": "AC" + "0" * 32,
            "From": phone,
            "To": "+33900000000",
            "Body": body,
            "NumMedia": "0",
        }
        posts.append((validator.compute_signature(stack.public_base_url + PATH, form), urlencode(form)))
    return posts


def run_wrk(port: int, posts_file: Path, seconds: int, connections: int) -> dict:
    threads = min(2, connections)
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(ROOT / "bench" / "replay.lua"),
            f"http://127.0.0.1:{port}",
            "--",
            str(posts_file),
            str(threads),
            PATH,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    unit = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
    latency = {
        m[0]: float(m[1]) * unit[m[2]]
        for m in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    }
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency["50"],
        "p99": latency["99"],
        "total": total,
        "non2xx": int(errors.group(1)) if errors else 0,
    }


def run_python(port: int, posts: list[tuple[str, str]], seconds: int, connections: int) -> dict:
    """The same load without wrk: one keep-alive connection per thread, disjoint slices."""
    latencies: list[float] = []
    non2xx = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(slot: int) -> None:
        mine = posts[slot::connections]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        local, bad, i = [], 0, 0
        while time.monotonic() < stop:
            signature, body = mine[i % len(mine)]
            i += 1
            t0 = time.perf_counter()
            conn.request(
                "POST",
                PATH,
                body,
                {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
            )
            response = conn.getresponse()
            response.read()
            local.append(time.perf_counter() - t0)
            bad += response.status >= 300
        with lock:
            latencies.extend(local)
            non2xx[0] += bad

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(k,)) for k in range(connections)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    ms = [x * 1000 for x in latencies]
    return {
        "rps": len(ms) / elapsed,
        "p50": percentile(ms, 50),
        "p99": percentile(ms, 99),
        "total": len(ms),
        "non2xx": non2xx[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--requests", type=int, default=6000, help="open requests (5 replies each)")
    parser.add_argument("--python-load", action="store_true", help="use the Python generator even if wrk is there")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None and not args.python_load

    with Stack("webhook", telephony="twilio") as stack:
        replies = seed_offers(stack, args.requests)
        posts = signed_posts(stack, replies)
        posts_file = stack.tmp / "posts.tsv"
        posts_file.write_text("".join(f"{sig}\t{body}\n" for sig, body in posts))
        say(
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.requests} open requests, "
            f"{len(posts)} signed replies; gunicorn -w 4 --threads 4; load: "
            f"{'wrk' if use_wrk else 'Python threads'}, {args.connections} connections, {args.seconds} s each"
        )

        def load(port: int) -> dict:
            if use_wrk:
                return run_wrk(port, posts_file, args.seconds, args.connections)
            return run_python(port, posts, args.seconds, args.connections)

        bare_port = stack.web_port + 1 if stack.web_port < 65000 else stack.web_port - 1
        bare = stack.start_web("bench.bare_app:app", port=bare_port)
        load(bare_port)  # warm-up
        bare_result = load(bare_port)
        stack.stop(bare)

        from floor import CREATE_FLOOR_TABLE

        with stack.engine.begin() as conn:
            conn.execute(text(CREATE_FLOOR_TABLE))
        floor = stack.start_web("bench.floor:app", port=bare_port)
        load(bare_port)  # warm-up
        floor_result = load(bare_port)
        stack.stop(floor)

        stack.start_standin()
        stack.start_web()
        warm = min(len(posts) // 10, 200)
        conn = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=10)
        for signature, body in posts[-warm:]:  # warm-up on the last replies (not replayed by the run first)
            conn.request(
                "POST",
                PATH,
                body,
                {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
            )
            conn.getresponse().read()
        real = load(stack.web_port)
        workers_started = time.monotonic()
        stack.start_worker()
        stack.start_worker()

        from redis import Redis
        from rq import Queue
        from rq.registry import FailedJobRegistry, StartedJobRegistry

        queue = Queue(QUEUE_NAME, connection=Redis.from_url(stack.redis.url))

        def unhandled_texts() -> int:
            with stack.sessionmaker() as session:
                return session.scalar(
                    select(func.count()).select_from(WebhookReceipt).where(WebhookReceipt.handled_at.is_(None))
                )

        deadline = workers_started + 600
        while unhandled_texts() and time.monotonic() < deadline:
            time.sleep(0.2)
        drained_s = time.monotonic() - workers_started
        while (queue.count or StartedJobRegistry(queue=queue).count) and time.monotonic() < deadline:
            time.sleep(0.2)  # the notices and calls those texts decided
        failed_jobs = FailedJobRegistry(queue=queue).count

        with stack.sessionmaker() as session:
            accepted = session.scalar(
                select(func.count()).select_from(CareRequest).where(CareRequest.status == "accepted")
            )
            doubles = session.execute(
                select(Offer.request_id)
                .where(Offer.status == "accepted")
                .group_by(Offer.request_id)
                .having(func.count() > 1)
            ).all()
            answered = session.scalar(select(func.count()).select_from(Offer).where(Offer.answered_at.is_not(None)))
            received = session.scalar(select(func.count()).select_from(WebhookReceipt))
            unhandled = session.scalar(
                select(func.count()).select_from(WebhookReceipt).where(WebhookReceipt.handled_at.is_(None))
            )

    say("")
    rows = (
        ("bare Flask, empty TwiML", bare_result),
        ("floor: bare Flask + one INSERT", floor_result),
        ("POST /webhooks/sms (OUI/NON)", real),
    )
    for label, r in rows:
        say(
            f"{label:30} {r['rps']:8.0f} req/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms  "
            f"({r['total']} requests, {r['non2xx']} non-2xx)"
        )
    wrapped = real["total"] > len(posts)
    rate = (received - unhandled) / drained_s
    say(
        f"texts received {received}, handled by 2 workers in {drained_s:.1f} s ({rate:.0f}/s), unhandled {unhandled}; "
        f"failed jobs {failed_jobs}; offers answered {answered}, requests accepted {accepted}, "
        f"double assignments {len(doubles)}{' (replies replayed: some posts were repeats)' if wrapped else ''}"
    )
    say(f"floor / bare throughput {floor_result['rps'] / bare_result['rps']:.2f}")
    ratio = real["rps"] / bare_result["rps"]
    say(
        f"throughput ratio {ratio:.2f} (target >= 0.5): {'MET' if ratio >= 0.5 else 'MISSED'}; "
        f"p99 {real['p99']:.1f} ms (target < 50 ms): {'MET' if real['p99'] < 50 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()

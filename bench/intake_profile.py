"""Issue 17: where an intake's time goes, in-process, layer by layer (no HTTP server, no queue hop).

On PostgreSQL and a redis-server of its own, with 2,000 nurses in the Loire and the Twilio stand-in
in this process (TELEPHONY=twilio, the real SDK): ``POST /api/v1/requests`` to the busiest commune
through Flask's test client, then the wave job each request enqueued (``workers.jobs.run_wave``,
called here as the worker would, its texts sent to the stand-in), then signed ``POST /webhooks/sms``.
For each: wall and CPU time per call (p50), SQL statements per call, and cProfile's top functions
by own time over all the calls. Run it on two checkouts one after the other to compare them.

    .venv/bin/python bench/intake_profile.py [--calls 200] [--nurses 2000] [--top 15] [--tag x]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import time

from common import Stack, busy_communes, communes_of, say, seed_nurses, seed_requester
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from tests.support.twilio_standin import TwilioStandin


class Counted:
    """Statements sent by any engine while active."""

    def __init__(self):
        self.count = 0

    def __enter__(self):
        event.listen(Engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(Engine, "before_cursor_execute", self._count)

    def _count(self, *args):
        self.count += 1


PROFILED = 20
SORT = ["tottime"]


def measure(label: str, calls: list, top: int) -> None:
    """Two calls to warm up, then the calls timed, then the last ``PROFILED`` under cProfile."""
    for fn in calls[:2]:
        fn()
    walls, cpus = [], []
    profile = cProfile.Profile()
    with Counted() as counted:
        for fn in calls[2:-PROFILED]:
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
    profile.enable()  # cProfile's overhead kept out of the times above
    for fn in calls[-PROFILED:]:
        fn()
    profile.disable()
    n = len(walls)
    say(
        f"\n## {label}: {n} calls, wall p50 {statistics.median(walls) * 1000:.2f} ms, "
        f"CPU p50 {statistics.median(cpus) * 1000:.2f} ms, {counted.count / n:.1f} statements a call"
    )
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(SORT[0]).print_stats(top)
    for line in out.getvalue().splitlines():
        if line.strip() and not line.startswith(("   Ordered", "         ", "   List")):
            say("  " + line.replace(os.getcwd() + "/", "")[:180])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--nurses", type=int, default=2000)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sort", default="tottime", help="cProfile's order: tottime or cumulative")
    parser.add_argument("--only", default="post,job,webhook")
    parser.add_argument("--tag", default="x", help="names the scratch database: sio_intake_prof_<tag>")
    args = parser.parse_args()
    SORT[0] = args.sort
    stack = Stack("intake_profile", telephony="twilio")
    stack.db_name = f"sio_intake_prof_{args.tag}"
    stack.database_url = stack.database_url.rsplit("/", 1)[0] + "/" + stack.db_name
    with stack:
        with stack.sessionmaker() as session:
            seed_nurses(stack.engine, args.nurses, communes_of(session, ("42",)))
            zones = busy_communes(session, 3)
            from models import NurseZone

            largest = session.scalar(
                select(NurseZone.insee).group_by(NurseZone.insee).order_by(func.count().desc()).limit(1)
            )
        token = seed_requester(stack.sessionmaker)
        standin = TwilioStandin(port=stack.standin_port).start()
        env = stack.env()
        os.environ.update(env)
        from dispatch.app.factory import create_app

        app = create_app(env)
        app.config["RATELIMIT_API"] = "1000000/minute"  # the limiter still counts every call in Redis
        client = app.test_client()
        say(
            f"load average {os.getloadavg()[0]:.1f}; {args.nurses} nurses in the Loire, {len(zones)} communes "
            f"with 3+ nurses, the busiest {largest}; PostgreSQL, TELEPHONY=twilio -> the stand-in in this process"
        )
        headers = {"Authorization": f"Bearer {token}"}
        body = json.dumps({"insee": largest, "care_type": "pansement", "callback_phone": "04 77 00 00 01"})
        references: list[str] = []

        def post():
            answer = client.post("/api/v1/requests", data=body, headers=headers, content_type="application/json")
            assert answer.status_code == 201, answer.status_code
            references.append(answer.get_json()["reference"])

        wanted = args.only.split(",")
        if "post" in wanted or "job" in wanted:
            measure("POST /api/v1/requests (test client)", [post] * (args.calls + 2 + PROFILED), args.top)
        if "job" in wanted:
            job(stack, standin, references, args.top)
        if "webhook" in wanted:
            webhook(stack, client, args)
        say(f"\n{len(standin.requests)} texts reached the stand-in")
        standin.stop()


def job(stack: Stack, standin, references: list[str], top: int) -> None:
    from models import CareRequest
    from workers.jobs import run_wave

    with stack.sessionmaker() as session:
        ids = session.scalars(
            select(CareRequest.id).where(CareRequest.reference.in_(references)).order_by(CareRequest.id)
        ).all()
    # The plan's share (another engineer's part of issue 17) against the rest of the job.
    from dispatch.matching import waves

    planned, plan_s = waves.plan_next_wave, []

    def timed_plan(*a, **k):
        t0 = time.perf_counter()
        try:
            return planned(*a, **k)
        finally:
            plan_s.append(time.perf_counter() - t0)

    waves.plan_next_wave = timed_plan
    first_text_s = []

    def one(request_id: int) -> None:
        seen, t0 = len(standin.requests), time.time()
        run_wave(request_id, 0)
        first_text_s.append(standin.requests[seen].at - t0)

    jobs = [lambda i=i: one(i) for i in ids]
    measure("the first wave's job (workers.jobs.run_wave, texts to the stand-in)", jobs, top)
    waves.plan_next_wave = planned
    plan, first = statistics.median(plan_s[2:-PROFILED]), statistics.median(first_text_s[2:-PROFILED])
    say(
        f"  job start -> first text at the stand-in p50 {first * 1000:.2f} ms, "
        f"of which plan_next_wave p50 {plan * 1000:.2f} ms"
    )


def webhook(stack: Stack, client, args) -> None:
    validator, base, path = RequestValidator(stack.auth_token), stack.public_base_url, "/webhooks/sms"

    def reply(i: int):
        form = {"MessageSid": f"SM{i:032x}", "From": "+33612345678", "To": "+33900000000", "Body": "NON 123456"}
        signature = {"X-Twilio-Signature": validator.compute_signature(base + path, form)}
        return lambda: client.post(path, data=form, headers=signature, base_url=base).status_code == 200 or 1 / 0

    measure(
        "POST /webhooks/sms (signed, test client; no worker)",
        [reply(i) for i in range(args.calls * 3 + 2 + PROFILED)],
        args.top,
    )


if __name__ == "__main__":
    main()

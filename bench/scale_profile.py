"""Issue 17 (3): where the time of ``bench/scale.py``'s measures goes, on the region after a year.

Builds the history database as ``bench/scale.py`` does (same seed), then for each measure:
cProfile of one call (top functions by cumulative time), and every SELECT it sent, captured with
its parameters and run again under ``EXPLAIN (ANALYZE, BUFFERS)``: the slowest plans are printed.

    .venv/bin/python bench/scale_profile.py [--quick] [--only plan,post,search,import,purge,board,request,summary]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from pathlib import Path

import scale
import scale_seed as seedmod
from common import Stack, say
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from dispatch.clock import utcnow


class Captured:
    """The SELECTs any engine sends while active (the script's and the app's), with their parameters."""

    def __init__(self):
        self.engine, self.statements = Engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._keep)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._keep)

    def _keep(self, conn, cursor, statement, parameters, context, executemany):
        if not executemany and statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, parameters))


def explain(engine, statements, top: int = 3) -> None:
    plans = []
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for statement, parameters in statements:
            with raw.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                lines = [r[0] for r in cur.fetchall()]
            raw.rollback()
            total = next((float(x.split()[2]) for x in lines if x.startswith("Execution Time")), 0.0)
            plans.append((total, statement, lines))
    plans.sort(key=lambda p: -p[0])
    say(f"  {len(statements)} SELECTs, {sum(p[0] for p in plans):.1f} ms of execution in all; the slowest:")
    for total, statement, lines in plans[:top]:
        say(f"  --- {total:.2f} ms: {' '.join(statement.split())[:400]}")
        for line in lines[:25]:
            say(f"      {line}")


EXPLAIN_TOP = 3


def profiled(label: str, fn, engine, *, explain_top: int | None = None, rows: int = 30) -> None:
    explain_top = EXPLAIN_TOP if explain_top is None else explain_top
    say(f"\n## {label}")
    fn()  # warm
    with Captured() as captured:
        profile = cProfile.Profile()
        t0 = time.perf_counter()
        profile.enable()
        fn()
        profile.disable()
        elapsed = time.perf_counter() - t0
    say(f"  one call: {elapsed * 1000:.1f} ms (under cProfile)")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(rows)
    for line in out.getvalue().splitlines():
        if line.strip() and not line.startswith(("   Ordered", "         ")) and "site-packages/werkzeug" not in line:
            say("  " + line[:200])
    if captured.statements and explain_top:
        explain(engine, captured.statements, explain_top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--case", choices=("region", "nation"), default="region")
    parser.add_argument("--only", default="plan,post,search,board,request,summary,import,purge")
    parser.add_argument("--explain", type=int, default=3, help="slowest SELECTs to explain per measure")
    args = parser.parse_args()
    case = (scale.QUICK if args.quick else scale.CASES)[args.case]
    wanted = set(args.only.split(","))
    global EXPLAIN_TOP
    EXPLAIN_TOP = args.explain
    with Stack(f"scale_profile_{case.name}", telephony="twilio") as stack:
        communes = [c for c in seedmod.communes_table() if not case.departments or c[2] in case.departments]
        side = scale.Side("after history", stack)
        scale.build(side, case, communes, history=True)
        say(f"load average {os.getloadavg()[0]:.1f}; {case.name} built in {side.build_s:.0f} s: {side.counts}")
        engine = stack.engine
        scale.login(side)
        if "plan" in wanted:
            plan = scale.plan_fn(side)
            say(f"policy: {side.policy}")
            profiled("plan_next_wave, adaptive, largest zone", plan, engine)
        if "post" in wanted:
            import json

            body = {"insee": side.largest, "care_type": "pansement", "callback_phone": "04 77 00 00 01"}
            headers = {"Authorization": f"Bearer {side.token}"}

            def post():
                answer = side.client.post("/api/v1/requests", data=json.dumps(body), headers=headers,
                                          content_type="application/json")  # fmt: skip
                assert answer.status_code == 201, answer.status_code

            profiled("POST /api/v1/requests (test client, in-process)", post, engine)
        for key, label, path in (
            ("search", "nurses search", "/status/nurses?q=Infirmi%C3%A8re+12"),
            ("board", "board fragment", "/status/fragment"),
            ("request", "request page, 100 offers", f"/status/requests/{side.big_reference}"),
            ("summary", "day summary", "/status/summary"),
        ):
            if key in wanted:
                profiled(label, scale.page(side, path), engine)
        if "import" in wanted:
            from dispatch.people.imports import import_nurses

            data = Path(scale.import_csv(side)).read_bytes()

            def run_import():
                with stack.sessionmaker() as session:
                    result = import_nurses(session, data)
                    session.commit()
                    assert not result.errors

            profiled("sio nurses import (import_nurses in-process)", run_import, engine, explain_top=2, rows=25)
        if "purge" in wanted:
            from datetime import timedelta

            from dispatch.requests.retention import purge

            with engine.connect() as conn:
                say(f"\nrows: {conn.execute(text('SELECT count(*) FROM events')).scalar()} events")
            say("\n## sio purge --older-than 90d (purge in-process, once)")
            profile = cProfile.Profile()
            t0 = time.perf_counter()
            with stack.sessionmaker() as session:
                profile.enable()
                result = purge(session, timedelta(days=90), utcnow())
                session.commit()
                profile.disable()
            say(f"  {time.perf_counter() - t0:.1f} s: {result}")
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
            for line in out.getvalue().splitlines():
                if line.strip():
                    say("  " + line[:200])


if __name__ == "__main__":
    main()

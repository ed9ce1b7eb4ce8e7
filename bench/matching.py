"""Issue 3 benchmark (b): candidate selection for one request among 100,000 nurses.

``dispatch.matching.rank_candidates`` and ``dispatch.waves.plan_next_wave`` on PostgreSQL with
the full communes table, 100,000 nurses (each serving 1-4 neighbouring communes, skills and
weekly hours as in a real region) and 200,000 past offers (the fairness ranking reads them).
Baseline, same run: the naive way, loading every nurse with her zones, skills, absences and
offers into Python and filtering there. Targets: p50 <= 5 ms, and >= 100x faster than naive.

    .venv/bin/python bench/matching.py [--nurses 100000] [--runs 300]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import timedelta

from common import Stack, communes_of, say, seed_nurses, summary_ms
from sqlalchemy import func, insert, select, text

from dispatch.clock import utcnow
from dispatch.config import load_settings
from dispatch.matching import FAIRNESS_WINDOW, is_available, rank_candidates, request_communes
from dispatch.vocab import required_skill
from dispatch.waves import plan_next_wave
from models import CareRequest, Nurse, NurseAbsence, NurseSkill, NurseZone, Offer


def seed_history(engine, nurses: int, requests: int, per_request: int, communes: list[str], seed: int = 2) -> None:
    """Past requests and their offers, spread over the last 60 days."""
    rng = random.Random(seed)
    now = utcnow()
    req_rows, offer_rows = [], []
    for r in range(requests):
        at = now - timedelta(minutes=rng.randint(60, 60 * 24 * 60))
        req_rows.append(
            {
                "id": r + 1,
                "reference": f"{100000 + r}",
                "channel": "api",
                "insee": rng.choice(communes),
                "care_type": "pansement",
                "status": "confirmed",
                "wave": 1,
                "created_at": at,
                "updated_at": at,
            }
        )
        winner = rng.randrange(per_request)
        for k, nurse in enumerate(rng.sample(range(1, nurses + 1), per_request)):
            offer_rows.append(
                {
                    "request_id": r + 1,
                    "nurse_id": nurse,
                    "wave": 1,
                    "created_at": at,
                    "sent_at": at,
                    "status": "accepted" if k == winner else "declined",
                    "answered_at": at,
                }
            )
    absences = [
        {"nurse_id": n, "starts_on": (now - timedelta(days=2)).date(), "ends_on": (now + timedelta(days=5)).date()}
        for n in rng.sample(range(1, nurses + 1), nurses // 50)
    ]
    with engine.begin() as conn:
        for rows, model in ((req_rows, CareRequest), (offer_rows, Offer), (absences, NurseAbsence)):
            for chunk in range(0, len(rows), 10_000):
                conn.execute(insert(model), rows[chunk : chunk + 10_000])
        conn.execute(text("SELECT setval('care_requests_id_seq', (SELECT max(id) FROM care_requests))"))
        conn.execute(text("UPDATE nurses SET paused_until = now() + interval '3 days' WHERE id % 97 = 0"))
        conn.execute(text("UPDATE nurses SET opted_out_at = now() WHERE id % 211 = 0"))
        conn.execute(text("ANALYZE"))


def naive_candidates(session, request: CareRequest, now, local_moment, limit: int) -> list[int]:
    """Load every nurse, zone, skill, absence and offer (plain rows, no ORM objects), filter and
    rank in Python: what a first version without SQL filtering would do."""
    communes = set(request_communes(session, request))
    skill = required_skill(request.care_type)
    today = local_moment.date()
    zones: dict[int, set[str]] = {}
    for nurse_id, insee in session.execute(select(NurseZone.nurse_id, NurseZone.insee)):
        zones.setdefault(nurse_id, set()).add(insee)
    skills: dict[int, set[str]] = {}
    for nurse_id, name in session.execute(select(NurseSkill.nurse_id, NurseSkill.skill)):
        skills.setdefault(nurse_id, set()).add(name)
    absent = {
        n
        for n, start, end in session.execute(
            select(NurseAbsence.nurse_id, NurseAbsence.starts_on, NurseAbsence.ends_on)
        )
        if start <= today <= end
    }
    asked: set[int] = set()
    accepted: dict[int, int] = {}
    last: dict[int, float] = {}
    for nurse_id, request_id, status, answered_at, created_at in session.execute(
        select(Offer.nurse_id, Offer.request_id, Offer.status, Offer.answered_at, Offer.created_at)
    ):
        if request_id == request.id:
            asked.add(nurse_id)
        if status == "accepted" and answered_at and answered_at >= now - FAIRNESS_WINDOW:
            accepted[nurse_id] = accepted.get(nurse_id, 0) + 1
        last[nurse_id] = max(last.get(nurse_id, float("-inf")), created_at.timestamp())
    chosen = [
        nurse_id
        for nurse_id, availability, paused_until, opted_out_at in session.execute(
            select(Nurse.id, Nurse.availability, Nurse.paused_until, Nurse.opted_out_at)
        )
        if communes & zones.get(nurse_id, set())
        and opted_out_at is None
        and (paused_until is None or paused_until <= now)
        and nurse_id not in absent
        and nurse_id not in asked
        and (not skill or skill in skills.get(nurse_id, set()))
        and is_available(availability, local_moment)
    ]
    chosen.sort(key=lambda n: (accepted.get(n, 0), last.get(n, float("-inf")), n))
    return chosen[:limit]


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nurses", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--naive-runs", type=int, default=3)
    args = parser.parse_args()

    with Stack("matching") as stack:
        t0 = time.monotonic()
        with stack.sessionmaker() as session:
            communes = communes_of(session)
            seed_nurses(stack.engine, args.nurses, communes)
            seed_history(stack.engine, args.nurses, 20_000, 10, [c.insee for c in communes])
            counts = dict(session.execute(select(NurseZone.insee, func.count()).group_by(NurseZone.insee)).all())
        say(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start")
        say(
            f"seeded {args.nurses} nurses, {len(communes)} communes, 20,000 past requests, 200,000 offers "
            f"in {time.monotonic() - t0:.0f} s"
        )
        settings = load_settings({**stack.env(), "SIO_INSTANCE_PATH": str(stack.tmp)})
        busiest = max(counts, key=counts.get)
        typical = sorted(counts, key=counts.get)[len(counts) // 2]
        sparse = min((c for c in counts if counts[c] >= 1), key=counts.get)
        now = utcnow()
        with stack.sessionmaker() as session:
            cases = []
            for label, insee, care in (
                ("busiest commune", busiest, "pansement"),
                ("median commune", typical, "pansement"),
                ("median commune, perfusion", typical, "perfusion"),
                ("sparse commune (radius steps)", sparse, "sortie"),
            ):
                request = CareRequest(
                    reference=f"9{len(cases):05d}",
                    channel="api",
                    insee=insee,
                    care_type=care,
                    status="open",
                    wave=1,
                    created_at=now,
                    updated_at=now,
                )
                session.add(request)
                session.flush()
                cases.append((label, request, counts[insee]))
            session.commit()
            local = now.astimezone(settings.timezone)
            results = {}
            for label, request, declared in cases:

                def rank(request=request):
                    return rank_candidates(session, request, now, local, limit=10, radius_steps=settings.radius_km)

                def plan(request=request):
                    return plan_next_wave(session, settings, request, now)

                rank()  # warm the plan cache and the connection
                r_times, p_times = timed(rank, args.runs), timed(plan, args.runs)
                found = len(rank())
                say(
                    f"\n{label} ({request.insee}, {declared} nurses declare it, care {request.care_type}, "
                    f"{found} candidates returned)"
                )
                say(f"  rank_candidates(limit=10) {summary_ms(r_times)}")
                say(f"  plan_next_wave            {summary_ms(p_times)}")
                results[label] = (r_times, p_times)

            label, request, _ = cases[1]  # a request its commune's nurses can fill: radius 0, as naive does
            naive = []
            for _ in range(args.naive_runs):
                session.expunge_all()
                t1 = time.perf_counter()
                ids = naive_candidates(session, request, now, local, 10)
                naive.append(time.perf_counter() - t1)
            expected = [c.nurse_id for c in rank_candidates(session, request, now, local, limit=10)]
            r0_times = timed(lambda: rank_candidates(session, request, now, local, limit=10), args.runs)
            say(f"  rank_candidates(limit=10, radius 0 only) {summary_ms(r0_times)}")
            say(f"\nnaive load-everything, {label}: {summary_ms(naive)}")
            say(f"  same nurses as rank_candidates at radius 0: {set(ids) == set(expected)}")
            p50_rank = statistics.median(r0_times)
            p50_all = max(statistics.median(r) for r, _ in results.values())
            ratio = statistics.median(naive) / p50_rank
            say(
                f"\nrank_candidates p50 (median commune) = {p50_rank * 1000:.2f} ms; worst case p50 over the cases = "
                f"{p50_all * 1000:.2f} ms (target <= 5 ms): {'MET' if p50_all <= 0.005 else 'MISSED'}"
            )
            say(f"naive / rank_candidates = {ratio:.0f}x (target >= 100x): {'MET' if ratio >= 100 else 'MISSED'}")


if __name__ == "__main__":
    main()

"""Cost of planning one adaptive wave, and the proof that the faster code plans the same waves.

    .venv/bin/python -m bench.adaptive_plan [--history-days 14] [--seed 7] [--repeats 3]
        [--db PATH] [--baseline REV] [--postgres URL] [--no-replay]

The simulator's default region (``bench.simulate``: the Loire, 1,500 nurses, the warm-up days
run with the fixed waves; ``--db`` keeps the built SQLite file and reuses it), then:

1. **Timing**: ``dispatch.matching.waves.plan_next_wave`` under ``DISPATCH_POLICY=adaptive`` for requests
   of the largest zone and of the median zone (by nurses declaring the commune), at :17 past
   each hour from 8:00 to 19:00 of the measured day: the first wave, and the second with the
   first one's nurses silent for 3 minutes. The baseline is ``dispatch/matching/{estimates,
   history,policy}.py`` as they were at ``--baseline`` (read with git), run in the same process
   on the same database, interleaved with the current code; p50/p95 of each.
2. **Same plans**: each of those plans by both codes (nurses, order, wait), and the fitted chances
   of the zone's nurses at every hour (within 1e-3: since issue 17 the current code reads the
   nurses' summary rows, counted first as the sweeper would have by the measured day's start,
   plus their uncounted offers, silent exposures binned; ``bench/plan_agreement.py`` measures the
   agreement over a simulated week).
3. **Replay** (unless ``--no-replay``): the measured day under the adaptive policy through
   ``bench.sim_engine``, every wave of every request planned by both codes and compared; the
   day's row as ``bench.simulate`` prints it.

``--postgres URL`` copies the region into that (own, scratch) database and times there too.
Prints figures; exit status 1 if any plan or figure differs. Not run by the tests.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dispatch.matching.waves
from bench.sim_engine import Simulation
from bench.sim_region import load_places, make_nurses
from bench.sim_report import measure, percentile, table
from bench.simulate import TIMEZONE, Options, build_base, copy_database, day_requests, strategy_settings
from dispatch.app.migrate import upgrade
from dispatch.lifecycle import care_window
from dispatch.matching import estimates, history, policy
from dispatch.matching.answer_stats import count_offers
from dispatch.matching.candidates import rank_candidates
from models import CareRequest, NurseZone, Offer, make_engine, make_sessionmaker
from models.base import Base

ROOT = Path(__file__).resolve().parent.parent
BASELINE_REV = "9b52c9a"  # main before the plans read the nurses' summary rows (issue 17)
MODULES = ("estimates", "history", "policy")  # in import order
COPIED = ("nurses", "nurse_zones", "nurse_skills", "nurse_absences", "care_requests", "offers", "nurse_answer_stats")


def baseline_modules(rev: str) -> dict[str, types.ModuleType]:
    """``dispatch.matching.{estimates,history,policy}`` as they were at ``rev``, importing one another."""
    loaded: dict[str, types.ModuleType] = {}
    saved = {name: sys.modules[f"dispatch.matching.{name}"] for name in MODULES}
    try:
        for name in MODULES:
            source = subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{rev}:dispatch/matching/{name}.py"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            module = types.ModuleType(f"baseline_{name}")
            module.__file__ = f"{rev}:dispatch/matching/{name}.py"
            sys.modules[module.__name__] = module  # dataclasses look their module up
            sys.modules[f"dispatch.matching.{name}"] = module  # what the next module's imports find
            exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own code at rev
            loaded[name] = module
    finally:
        sys.modules.update({f"dispatch.matching.{name}": module for name, module in saved.items()})
    return loaded


@contextmanager
def policy_module(module: types.ModuleType):
    """``plan_next_wave`` imports ``dispatch.matching.policy`` when it runs: make that ``module``."""
    saved, sys.modules["dispatch.matching.policy"] = sys.modules["dispatch.matching.policy"], module
    try:
        yield
    finally:
        sys.modules["dispatch.matching.policy"] = saved


def region(options: Options, db: Path | None, workdir: Path) -> tuple[Path, list, list]:
    """The base database (built, or reused from ``db``), the nurses and the measured day's requests."""
    if db is not None and db.exists():
        with make_sessionmaker(make_engine(f"sqlite:///{db}"))() as session:
            places = load_places(session, list(options.departments), options.seed)
        nurses = make_nurses(places, options.nurses, options.seed)
        return db, nurses, day_requests(places, nurses, options, 0)
    started = time.perf_counter()
    path, nurses, requests = build_base(workdir, options)
    print(f"built the region and {options.warmup_days} days of history in {time.perf_counter() - started:.0f} s")
    if db is not None:
        copy_database(path, db)
    return path, nurses, requests


def copy_to_postgres(sqlite_path: Path, url: str) -> None:
    """The tables planning reads, copied into a scratch PostgreSQL database (emptied first)."""
    source, target = make_engine(f"sqlite:///{sqlite_path}"), make_engine(url)
    upgrade(target)
    tables = [Base.metadata.tables[name] for name in COPIED]
    with source.connect() as read, target.begin() as write:
        write.execute(text(f"TRUNCATE {', '.join(COPIED)} CASCADE"))
        for table_ in tables:
            rows = [dict(row._mapping) for row in read.execute(table_.select())]
            for start in range(0, len(rows), 5000):
                write.execute(table_.insert(), rows[start : start + 5000])
            if "id" in table_.c:
                name = table_.name
                write.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), max(id)) FROM {name}"))
        write.execute(text("ANALYZE"))
    source.dispose()
    target.dispose()


def zones(session) -> list[tuple[str, int]]:
    """The largest and the median zone: (commune, nurses declaring it)."""
    counts = session.execute(
        select(NurseZone.insee, func.count()).group_by(NurseZone.insee).order_by(func.count().desc(), NurseZone.insee)
    ).all()
    return [tuple(counts[0]), tuple(counts[len(counts) // 2])]


def _request(session, insee: str, now: datetime, reference: str) -> CareRequest:
    request = CareRequest(
        reference=reference, channel="api", insee=insee, care_type="pansement", status="open", wave=0,
        created_at=now, dispatch_started_at=now,
    )  # fmt: skip
    session.add(request)
    session.flush()
    return request


def compare_figures(session, old: dict, ids: list[int], now: datetime, request_id: int) -> str:
    """The zone's fitted chances of a yes within the first wave's horizon, every nurse at every
    hour, by the baseline (every offer read one by one) and by the current code (the nurses'
    summary rows and their uncounted offers, silent exposures binned): "same" when none moves
    by 1e-3 or more, else "DIFFERENT" (issue 17: the same model on sums, not bit for bit)."""
    a = old["history"].load_history(session, ids, now, TIMEZONE, request_id=request_id)
    b = history.load_history(session, ids, now, TIMEZONE, request_id=request_id)
    if a.recent_offers != b.recent_offers or {n: c for n, c in a.accepted_today.items() if c} != b.accepted_today:
        return "DIFFERENT"
    fa, fb = old["estimates"].fit(a.records), estimates.fit(b.records)
    worst = max(
        abs(fa.estimate(n, h).chance(policy.HORIZON_S, fa.sigma) - fb.estimate(n, h).chance(policy.HORIZON_S, fb.sigma))
        for n in [*ids, 0]
        for h in range(24)
    )
    return "same" if worst < 1e-3 else "DIFFERENT"


def count_history(url: str, settings, now: datetime) -> None:
    """What the sweeper would have done by ``now``: every offer due counted into its nurse's row."""
    engine = make_engine(url)
    started, total = time.perf_counter(), 0
    with make_sessionmaker(engine)() as session:
        while True:
            with session.begin():
                counted, retired = count_offers(session, settings, now)
            total += counted
            if not counted and not retired:
                break
    engine.dispose()
    print(f"  {total} offers counted into the nurses' rows in {time.perf_counter() - started:.1f} s")


def time_zones(url: str, settings, old: dict, repeats: int, options_day) -> bool:
    """Part 1 and 2 on one database; True when every plan and figure agreed."""
    engine = make_engine(url)
    agreed = True
    with make_sessionmaker(engine)() as session:
        for index, (insee, declared) in enumerate(zones(session)):
            times: dict[str, list[float]] = {"baseline": [], "current": []}
            reads: list[tuple[int, bool]] = []  # the current code's: offers read, ring read
            differ, figures = 0, Counter()
            for hour in range(8, 20):
                now = datetime.combine(options_day, datetime.min.time(), TIMEZONE).replace(hour=hour, minute=17)
                request = _request(session, insee, now, f"Z{index}{hour:02d}")
                # The sweeper's pass, as every 30 s in production: offers a day old counted,
                # those 60 days old retired (in this transaction, rolled back with it).
                while count_offers(session, settings, now) != (0, 0):
                    pass
                for wave in (0, 1):
                    plans = {}
                    for _ in range(repeats):
                        for name, module in (("baseline", old["policy"]), ("current", policy)):
                            with policy_module(module):
                                started = time.perf_counter()
                                plans[name] = dispatch.matching.waves.plan_next_wave(session, settings, request, now)
                                times[name].append(time.perf_counter() - started)
                    differ += plans["baseline"] != plans["current"]
                    with counting_reads(reads):  # once more, untimed
                        dispatch.matching.waves.plan_next_wave(session, settings, request, now)
                    if wave == 0:
                        window = care_window(settings, request, now)
                        pool = rank_candidates(session, request, now, window, limit=policy.ZONE_POOL)
                        figures[compare_figures(session, old, [c.nurse_id for c in pool], now, request.id)] += 1
                        # The second wave: the first one's nurses texted 3 minutes ago, silent.
                        session.add_all(
                            Offer(request_id=request.id, nurse_id=n, wave=1, status="sent", created_at=now, sent_at=now)
                            for n in plans["current"].nurse_ids
                        )
                        request.wave = 1
                        session.flush()
                        now += timedelta(minutes=3)
            base, new = (sorted(times[k]) for k in ("baseline", "current"))
            offers = sorted(n for n, _ in reads)
            print(
                f"  zone {insee} ({declared} nurses declare it): {len(reads)} plans, each timed {repeats}x by "
                f"each code; {sum(ring for _, ring in reads)} of them read the rings too, "
                f"{offers[0]}-{offers[-1]} nurses with answers read (median {offers[len(offers) // 2]})\n"
                f"    baseline p50 {_ms(base, 0.5):.1f} ms, p95 {_ms(base, 0.95):.1f} ms; "
                f"current p50 {_ms(new, 0.5):.1f} ms, p95 {_ms(new, 0.95):.1f} ms; "
                f"{_ms(base, 0.5) / _ms(new, 0.5):.1f}x at p50\n"
                f"    plans different: {differ} of {len(reads)}; zone's figures at the first waves: "
                + ", ".join(f"{verdict} {count}" for verdict, count in sorted(figures.items()))
            )
            agreed &= "DIFFERENT" not in figures  # plans may differ where a chance moved a hair
        session.rollback()
    engine.dispose()
    return agreed


@contextmanager
def counting_reads(reads: list[tuple[int, bool]]):
    """Note the offers a plan of the current code read (the zone's, the rings' too if read)."""
    load, extend, read, ring = policy.load_history, policy.extend_history, [], []
    policy.load_history = lambda *args, **kwargs: read.append(load(*args, **kwargs)) or read[-1]
    policy.extend_history = lambda *args, **kwargs: ring.append(extend(*args, **kwargs)) or ring[-1]
    try:
        yield
    finally:
        policy.load_history, policy.extend_history = load, extend
    last = (read + ring)[-1:]  # the zone's history, or the zone's and the rings'
    reads.append((sum(len(history_.records) for history_ in last), bool(ring)))


def _ms(values_s: list[float], q: float) -> float:
    return 1000 * percentile(values_s, q)


def replay(base: Path, workdir: Path, nurses: list, requests: list, options: Options, old: dict) -> bool:
    """Part 3: the measured day, each wave planned by both codes; the current plan is sent."""
    path = workdir / "replay.db"
    copy_database(base, path)
    url = f"sqlite:///{path}"
    settings = strategy_settings("adaptive", url, workdir, options)
    plan = dispatch.matching.waves.plan_next_wave
    times: dict[str, list[float]] = {"baseline": [], "current": []}
    differ: list[str] = []
    usual = []

    def both(session, settings_, request, now):
        plans = {}
        for name, module in (("baseline", old["policy"]), ("current", policy)):
            with policy_module(module):
                started = time.perf_counter()
                plans[name] = plan(session, settings_, request, now)
                times[name].append(time.perf_counter() - started)
        if plans["baseline"] != plans["current"]:
            differ.append(f"{request.reference} wave {request.wave + 1}: {plans['baseline']} != {plans['current']}")
        if plans["current"].usual:  # the usual nurse alone: no adaptive plan to time
            usual.append((times["baseline"].pop(), times["current"].pop()))
        return plans["current"]

    dispatch.matching.waves.plan_next_wave = both
    simulation = Simulation(url, settings, nurses, delivery=options.delivery)
    try:
        ids = simulation.run(requests)
        with simulation.sessions() as session:
            result = measure(session, "adaptive", ids, len(nurses), settings.sio_name)
    finally:
        dispatch.matching.waves.plan_next_wave = plan
        simulation.close()
    base_s, new_s = sorted(times["baseline"]), sorted(times["current"])
    print(
        f"  {len(new_s) + len(usual)} waves planned by both codes, {len(differ)} different; "
        f"timed: the {len(new_s)} not for the usual nurse alone\n"
        f"    baseline p50 {_ms(base_s, 0.5):.1f} ms, p95 {_ms(base_s, 0.95):.1f} ms, total {sum(base_s):.1f} s; "
        f"current p50 {_ms(new_s, 0.5):.1f} ms, p95 {_ms(new_s, 0.95):.1f} ms, total {sum(new_s):.1f} s"
    )
    for line in differ[:10]:
        print("    DIFFERENT", line)
    print(table([result]))
    return not differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.adaptive_plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--history-days", type=int, default=14, help="warm-up days run with the fixed waves")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3, help="times each plan is timed, per code")
    parser.add_argument("--db", type=Path, help="SQLite file: reused if it exists (built with the same options)")
    parser.add_argument("--baseline", default=BASELINE_REV, help="git revision of the baseline code")
    parser.add_argument("--postgres", help="a scratch PostgreSQL database URL to time on too (its tables emptied)")
    parser.add_argument("--no-replay", action="store_true", help="skip the replay of the measured day")
    args = parser.parse_args(argv)
    options = Options(warmup_days=args.history_days, seed=args.seed, jobs=1)
    old = baseline_modules(args.baseline)
    workdir = Path(tempfile.mkdtemp(prefix="sio-adaptive-plan-"))
    try:
        base, nurses, requests = region(options, args.db, workdir)
        day_start = datetime.combine(options.day, datetime.min.time(), TIMEZONE)
        count_history(
            f"sqlite:///{base}", strategy_settings("adaptive", f"sqlite:///{base}", workdir, options), day_start
        )
        agreed = True
        targets = [("SQLite", f"sqlite:///{base}")]
        if args.postgres:
            started = time.perf_counter()
            copy_to_postgres(base, args.postgres)
            print(f"copied to PostgreSQL in {time.perf_counter() - started:.0f} s")
            targets.append(("PostgreSQL", args.postgres))
        for name, url in targets:
            print(f"{name}, seed {args.seed}, {args.history_days} days of history, baseline {args.baseline}:")
            settings = strategy_settings("adaptive", url, workdir, options)
            agreed &= time_zones(url, settings, old, args.repeats, options.day)
        if not args.no_replay:
            print(f"Replay of the measured day (SQLite, {args.history_days} days of history):")
            agreed &= replay(base, workdir, nurses, requests, options, old)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("every plan the same, and every figure (up to ties, where said)" if agreed else "DIFFERENT plans or figures")
    return 0 if agreed else 1


if __name__ == "__main__":
    sys.exit(main())

"""Plans from the nurses' summary rows against plans from every offer read one by one (issue 17).

    .venv/bin/python -m bench.plan_agreement [--seed 7] [--warmup-days 14] [--days 2]
        [--nurses 1500] [--requests 150]

The week simulation's region and history (``bench.simulate_week.build_base``: the warm-up days run
under the adaptive policy, with the sweeper, hence with ``answer_stats.count_offers``, every ten
simulated minutes as production's sweeper would), then the week's first ``--days`` days under the
adaptive policy, the sweeper still counting. Every wave is planned twice, at its moment, on the
same database: by the reference (``history.reference_history``: every offer of the last 60 days
read one by one, silent exposures exact, open offers until now) and by the summary
(``history.load_history``: the candidates' rows plus their uncounted offers); the summary's plan
is sent. Printed: the share of plans with the same nurses in the same order, the same set, the
same size and the same wait, and the median and largest |Δ chance| of a yes within the first
wave's horizon over the nurses either plan asked. Prints figures only; not run by the tests.
"""

from __future__ import annotations

import argparse
import copy
import pickle
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from statistics import median

if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dispatch.matching.waves
from bench.sim_engine import Simulation
from bench.simulate import copy_database, strategy_settings
from bench.simulate_week import SWEEP_EVERY, WeekOptions, build_base, week_start
from dispatch.matching import history, policy

READS = {"reference": history.reference_history, "summary": history.load_history}


def _reference_extend(session, known, nurse_ids, now, tz, *, request_id=None):
    """The reference reads the zone and its rings at once (the same figures: see extend_history)."""
    return history.reference_history(session, nurse_ids, now, tz, request_id=request_id)


def _base(workdir: Path, options: WeekOptions, keep: Path | None):
    """The week simulation's base (built, or read back from ``keep`` when built with the same options)."""
    saved = (
        keep / f"base-{options.seed}-{options.warmup_days}-{options.nurses}-{options.requests}.pickle" if keep else None
    )
    if saved is not None and saved.exists():
        base = pickle.loads(saved.read_bytes())  # noqa: S301 - our own file
        print(f"history read back from {saved}")
        return base
    started = time.perf_counter()
    base = build_base(workdir, options)
    print(f"region and {options.warmup_days} days of history built in {time.perf_counter() - started:.0f} s")
    if saved is not None:
        keep.mkdir(parents=True, exist_ok=True)
        copy_database(base.path, saved.with_suffix(".db"))
        saved.write_bytes(pickle.dumps(replace(base, path=saved.with_suffix(".db"))))
    return base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.plan_agreement", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--warmup-days", type=int, default=14)
    parser.add_argument("--days", type=float, default=2.0, help="days of the week planned both ways")
    parser.add_argument("--nurses", type=int, default=1500)
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--keep", type=Path, help="a folder to keep the built history in, and reuse it from")
    args = parser.parse_args(argv)
    options = WeekOptions(
        seed=args.seed, warmup_days=args.warmup_days, nurses=args.nurses, requests=args.requests,
        strategies=("adaptive",), jobs=1,
    )  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="sio-plan-agreement-"))
    plan = dispatch.matching.waves.plan_next_wave
    saved = (policy.load_history, policy.extend_history, policy.fit)
    compared: list[tuple] = []  # (same order, same set, same size, same wait, [|Δ chance|])
    times = {"reference": [], "summary": []}
    try:
        base = _base(workdir, options, args.keep)
        path = workdir / "agreement.db"
        copy_database(base.path, path)
        url = f"sqlite:///{path}"
        settings = strategy_settings("adaptive", url, workdir, options)
        models: list = []

        def fitting(records, *a, **k):
            models.append(saved[2](records, *a, **k))
            return models[-1]

        def both(session, settings_, request, now):
            plans, fitted = {}, {}
            for name, read in READS.items():
                policy.load_history = read
                policy.extend_history = _reference_extend if name == "reference" else saved[1]
                policy.fit = fitting
                models.clear()
                clock = time.perf_counter()
                plans[name] = plan(session, settings_, request, now)
                times[name].append(time.perf_counter() - clock)
                fitted[name] = models[-1] if models else None
            policy.load_history, policy.extend_history, policy.fit = saved
            a, b = plans["reference"], plans["summary"]
            if not a.usual and not b.usual and fitted["reference"] is not None and fitted["summary"] is not None:
                hour = now.astimezone(settings_.timezone).hour
                deltas = [
                    abs(
                        fitted["reference"].estimate(n, hour).chance(policy.HORIZON_S, fitted["reference"].sigma)
                        - fitted["summary"].estimate(n, hour).chance(policy.HORIZON_S, fitted["summary"].sigma)
                    )
                    for n in set(a.nurse_ids) | set(b.nurse_ids)
                ]
                compared.append(
                    (
                        a.nurse_ids == b.nurse_ids,
                        set(a.nurse_ids) == set(b.nurse_ids),
                        len(a.nurse_ids) == len(b.nurse_ids),
                        a.wait_s == b.wait_s,
                        deltas,
                    )
                )
            return b

        dispatch.matching.waves.plan_next_wave = both
        simulation = Simulation(
            url, settings, base.nurses, delivery=options.delivery, direct_answers=True,
            sweep_every=SWEEP_EVERY, state=copy.deepcopy(base.state),
        )  # fmt: skip
        try:
            simulation.add(base.week)
            simulation.run_until(week_start(options) + timedelta(days=args.days))
        finally:
            simulation.close()
    finally:
        dispatch.matching.waves.plan_next_wave = plan
        policy.load_history, policy.extend_history, policy.fit = saved
        shutil.rmtree(workdir, ignore_errors=True)
    n = len(compared)
    if not n:
        print("no adaptive plan to compare")
        return 1
    share = [100.0 * sum(c[i] for c in compared) / n for i in range(4)]
    deltas = [d for c in compared for d in c[4]] or [0.0]
    ms = {k: 1000 * median(v) for k, v in times.items() if v}
    print(
        f"seed {args.seed}, {args.warmup_days} days of history, {args.days:g} days planned both ways: "
        f"{n} adaptive plans compared\n"
        f"  same nurses in the same order {share[0]:.1f}%, same set {share[1]:.1f}%, "
        f"same size {share[2]:.1f}%, same wait {share[3]:.1f}%\n"
        f"  |Δ chance of a yes within {policy.HORIZON_S} s| over the nurses asked: "
        f"median {median(deltas):.2e}, max {max(deltas):.2e}\n"
        f"  plan p50 (every plan, the usual nurse's included): reference {ms['reference']:.1f} ms, "
        f"summary {ms['summary']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Simulate a week of the region under several strategies, side by side (issue 12).

    .venv/bin/python -m bench.simulate_week [--monday 2024-05-06] [--seed 7] [--nurses 1500]
        [--requests 150] [--warmup-days 14] [--strategies broadcast,fixed,adaptive] [--jobs 2]
        [--out bench/results]

The region is the day simulator's (``bench.sim_region``), its nurses given weekly hours, absences
and nights, and its requests the week's four kinds (``bench.sim_week``). One SQLite database gets
the nurses and a history: the ``--warmup-days`` before the Monday, run through the project's code
under the default policy (as production's history would be) on one continuous clock, stopped at
Monday 00:00 with whatever is still under way (open requests, texts held for the morning, answers
to come). Each strategy then gets its own copy of that database and of the engine's queue, runs
the week, and goes on until nothing is left to happen. The table (``bench.sim_week_report``) is
printed with MET/MISSED against the issue's targets, and written to ``--out`` as ``week.csv`` and
``week.svg``.
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sim_engine import Counts, Simulation, State
from bench.sim_region import SimNurse, SimRequest, make_nurses
from bench.sim_week import week_nurses, week_requests
from bench.sim_week_report import WeekResult, measure_week
from bench.sim_week_table import tables, verdicts, write
from bench.simulate import (
    STRATEGIES,
    TIMEZONE,
    UsageError,
    _insert_nurses,
    add_common_arguments,
    common_options,
    copy_database,
    new_database,
    strategy_names,
    strategy_settings,
)
from dispatch.config import ConfigError
from models import Event, Message

DEFAULT_STRATEGIES = ("broadcast", "fixed 3,5,10", "adaptive")
DEFAULT_POLICY = "adaptive"  # DISPATCH_POLICY's default: the strategy the targets are for
SETTLE_DAYS = 5  # after Sunday, how long the clock may run on (planned starts, late answers)
SWEEP_EVERY = timedelta(minutes=10)  # the sweeper's round (every 30 s in production: the same catch, later)


@dataclass(frozen=True)
class WeekOptions:
    departments: tuple[str, ...] = ("42",)
    nurses: int = 1500
    requests: int = 150  # on a weekday; fewer at weekends and on public holidays
    warmup_days: int = 14
    seed: int = 7
    monday: date = date(2024, 5, 6)  # Wednesday 8 May and Thursday 9 May (Ascension) are public holidays
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    warmup_strategy: str = DEFAULT_POLICY
    texting_hours: str = "07:30-20:30"
    jobs: int = 2
    delivery: str = "direct"
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WeekBooks:
    """The engine's own counts next to what the code wrote, from the week's start on."""

    counts: Counts
    texts_sent_rows: int  # outbound rows marked sent with sent_at from the week's start on
    replies_sent_rows: int  # of which direct answers
    texts_left_queued: int  # outbound rows never delivered
    accepted_events: int
    withdrawn_events: int
    cancelled_events: int
    events_left: int  # still in the engine's queue when the clock stopped (0: the week ran out)


@dataclass(frozen=True)
class WeekRun:
    result: WeekResult
    books: WeekBooks


@dataclass
class Base:
    """What every strategy starts from."""

    path: Path
    nurses: list[SimNurse]
    history: list[SimRequest]
    week: list[SimRequest]
    state: State


def week_start(options: WeekOptions) -> datetime:
    return datetime.combine(options.monday, datetime.min.time(), TIMEZONE)


def build_base(workdir: Path, options: WeekOptions) -> Base:
    """Database, nurses and history, the engine paused at Monday 00:00."""
    if options.monday.weekday() != 0:
        raise ValueError(f"--monday {options.monday} is not a Monday")
    path, url, places = new_database(workdir / "base.db", options)
    first = options.monday - timedelta(days=options.warmup_days)
    drawn = make_nurses(places, options.nurses, options.seed)
    nurses = week_nurses(drawn, first, options.warmup_days + 7, options.seed)
    _insert_nurses(url, nurses, datetime.combine(first - timedelta(days=1), datetime.min.time(), TIMEZONE))

    def day(offset: int) -> list[SimRequest]:
        on = options.monday + timedelta(days=offset)
        return week_requests(places, nurses, offset, on, options.requests, options.seed, TIMEZONE)

    history = [r for offset in range(-options.warmup_days, 0) for r in day(offset)]
    settings = strategy_settings(options.warmup_strategy, url, workdir, options)
    warmup = Simulation(url, settings, nurses, delivery=options.delivery, direct_answers=True, sweep_every=SWEEP_EVERY)
    warmup.add(history)
    warmup.run_until(week_start(options))
    warmup.close()
    return Base(path, nurses, history, [r for offset in range(7) for r in day(offset)], warmup.pause())


def run_strategy(job: tuple) -> WeekRun:
    """One strategy's week on its own copy of the base database and of the engine's queue."""
    name, base, workdir, options = job
    started = time.perf_counter()
    path = workdir / f"week-{name.replace(' ', '_').replace(',', '-')}.db"
    copy_database(base.path, path)
    url = f"sqlite:///{path}"
    settings = strategy_settings(name, url, workdir, options)
    state = copy.deepcopy(base.state)  # in-process runs must not share it
    simulation = Simulation(
        url,
        settings,
        base.nurses,
        delivery=options.delivery,
        direct_answers=True,
        sweep_every=SWEEP_EVERY,
        state=state,
    )
    start = week_start(options)
    try:
        simulation.add(base.week)
        left = simulation.run_until(start + timedelta(days=7 + SETTLE_DAYS))
        with simulation.sessions() as session:
            week = dict(zip(simulation.ids(base.week), base.week, strict=True))
            result = measure_week(session, name, week, base.history, base.nurses, settings, start)
            books = _books(session, simulation.counts, start, left)
    finally:
        simulation.close()
    runtime = round(time.perf_counter() - started, 1)
    return WeekRun(replace(result, swept=simulation.counts.swept, runtime_s=runtime), books)


def _books(session, counts: Counts, since: datetime, left: int) -> WeekBooks:
    sent = dict(
        session.execute(
            select(Message.kind, func.count())
            .where(Message.direction == "out", Message.status == "sent", Message.sent_at >= since)
            .group_by(Message.kind)
        ).all()
    )
    events = dict(
        session.execute(
            select(Event.kind, func.count())
            .where(Event.at >= since, Event.kind.in_(("accepted", "withdrawn", "cancelled")))
            .group_by(Event.kind)
        ).all()
    )
    queued = session.scalar(select(func.count()).where(Message.direction == "out", Message.status == "queued"))
    return WeekBooks(
        counts=counts,
        texts_sent_rows=sum(sent.values()),
        replies_sent_rows=sent.get("reply", 0),
        texts_left_queued=queued,
        accepted_events=events.get("accepted", 0),
        withdrawn_events=events.get("withdrawn", 0),
        cancelled_events=events.get("cancelled", 0),
        events_left=left,
    )


def simulate_week(options: WeekOptions, workdir: Path | None = None) -> list[WeekRun]:
    """Build the region and its history once, then run every strategy's week (in parallel)."""
    unknown = [s for s in (*options.strategies, options.warmup_strategy) if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategy {unknown[0]!r}; expected one of {', '.join(STRATEGIES)}")
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="sio-week-")) if own else workdir
    try:
        base = build_base(workdir, options)
        jobs = [(name, base, workdir, options) for name in options.strategies]
        if options.jobs > 1 and len(jobs) > 1:
            # Spawned, not forked (see bench.simulate); the slowest strategy first.
            jobs.sort(key=lambda job: job[0] != "broadcast")
            with multiprocessing.get_context("spawn").Pool(min(options.jobs, len(jobs))) as pool:
                runs = pool.map(run_strategy, jobs, chunksize=1)
            return sorted(runs, key=lambda run: options.strategies.index(run.result.strategy))
        return [run_strategy(job) for job in jobs]
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench.simulate_week", description=__doc__.split("\n\n")[0])
    add_common_arguments(
        parser,
        WeekOptions(),
        strategies="broadcast,fixed,adaptive",
        requests="requests on a weekday (fewer at weekends and on public holidays)",
        warmup="days of history run first, once, by --warmup-strategy",
    )
    parser.add_argument("--monday", type=date.fromisoformat, default=WeekOptions().monday, help="the measured week")
    parser.add_argument("--warmup-strategy", default="adaptive", help="the history's strategy (default: the default)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    try:  # a bad option (UsageError), not a Monday, an unknown department or a bad --set value
        warmup = strategy_names(args.warmup_strategy)
        if len(warmup) != 1:
            raise UsageError(f"--warmup-strategy {args.warmup_strategy!r}: one strategy")
        options = WeekOptions(**common_options(args), monday=args.monday, warmup_strategy=warmup[0])
        runs = simulate_week(options)
    except (ValueError, ConfigError) as err:
        print(err, file=sys.stderr)
        return 2
    results = [run.result for run in runs]
    title = (
        f"A simulated week from {options.monday}: departments {', '.join(options.departments)}, "
        f"{options.nurses} nurses, {options.requests} requests a weekday (seed {options.seed})"
    )
    write(results, args.out, title)
    print(title)
    print(tables(results))
    for verdict in verdicts(results, DEFAULT_POLICY):
        print(verdict)
    for run in runs:
        if run.books.events_left:
            print(f"{run.result.strategy}: the clock stopped with {run.books.events_left} events still queued")
    print(f"({time.perf_counter() - started:.0f} s; written to {args.out}/week.csv and .svg)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Simulate a region's day of dispatch under several strategies, side by side (issue 7).

    .venv/bin/python -m bench.simulate [--departments 42] [--nurses 1500] [--requests 150]
        [--warmup-days 14] [--seed 7] [--out bench/results] [--jobs 2]

One SQLite database is built in a temporary folder (migrated by ``dispatch.app.migrate.upgrade``,
so it holds every French commune), filled with the synthetic nurses of ``bench.sim_region``,
and given a history: the previous days run through the same code with the fixed waves. Then
each strategy gets its own copy of that database and runs the measured day's requests. The
table is printed and written to ``--out`` as ``simulation.csv`` and ``simulation.svg``.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sim_engine import Simulation
from bench.sim_plot import write_svg
from bench.sim_region import Place, SimNurse, SimRequest, load_places, make_nurses, make_requests
from bench.sim_report import DayResult, measure, table, verdicts, write_csv
from dispatch.app.migrate import upgrade
from dispatch.config import ConfigError, Settings, load_settings
from models import Message, Nurse, NurseAbsence, NurseSkill, NurseZone, make_engine, make_sessionmaker

TIMEZONE = ZoneInfo("Europe/Paris")
# name → the settings that make it (DISPATCH_* variables of DESIGN §4).
STRATEGIES: dict[str, dict[str, str]] = {
    # Every nurse who declared the request's commune, at once (what texting platforms do).
    "broadcast": {"DISPATCH_WAVE_SIZES": "100000", "DISPATCH_RADIUS_KM": "0"},
    # Every nurse within the widest DISPATCH_RADIUS_KM too, at once (~300 texts a request: not run by default).
    "broadcast+radius": {"DISPATCH_WAVE_SIZES": "100000"},
    "one at a time": {"DISPATCH_WAVE_SIZES": "1"},
    "fixed 3,5,10": {"DISPATCH_WAVE_SIZES": "3,5,10"},
    "adaptive": {"DISPATCH_POLICY": "adaptive"},
}
WARMUP_STRATEGY = "fixed 3,5,10"
SHORT_NAMES = {
    "broadcast": "broadcast",
    "broadcast-radius": "broadcast+radius",
    "one": "one at a time",
    "fixed": "fixed 3,5,10",
    "adaptive": "adaptive",
}
DEFAULT_STRATEGIES = ("broadcast", "one at a time", "fixed 3,5,10", "adaptive")


@dataclass(frozen=True)
class Options:
    departments: tuple[str, ...] = ("42",)
    nurses: int = 1500
    requests: int = 150
    warmup_days: int = 14
    seed: int = 7
    day: date = date(2024, 6, 11)  # a Tuesday, no public holiday around it
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    texting_hours: str = "07:30-20:30"
    jobs: int = 2
    delivery: str = "direct"
    settings: dict[str, str] = field(default_factory=dict)  # more DISPATCH_* overrides for every strategy


@dataclass(frozen=True)
class Bookkeeping:
    """The simulator's own counts next to what the code wrote: they must agree."""

    texts_delivered: int  # texts the simulator delivered, each message id once
    texts_sent_rows: int  # outbound message rows of the day's requests marked sent
    texts_left_queued: int  # outbound message rows of the day's requests never delivered


@dataclass(frozen=True)
class StrategyRun:
    result: DayResult
    books: Bookkeeping


def strategy_settings(name: str, url: str, workdir: Path, options: Options) -> Settings:
    """Settings as the service would load them, for one strategy on one database."""
    env = {
        "SIO_INSTANCE_PATH": str(workdir / "instance"),
        "DATABASE_URL": url,
        "TELEPHONY": "simulator",
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_AUTH_TOKEN": "",
        "SECRET_KEY": "simulation",
        "PUBLIC_BASE_URL": "http://sio.sim",
        "NURSE_TEXTING_HOURS": options.texting_hours,
        "DISPATCH_POLICY": "fixed",
        **options.settings,
        **STRATEGIES[name],
    }
    return load_settings(env)


def _insert_nurses(url: str, nurses: list[SimNurse], since: datetime) -> None:
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        for nurse in nurses:
            row = Nurse(phone=nurse.phone, name=nurse.name, availability=nurse.availability, created_at=since)
            row.zones = [NurseZone(insee=z) for z in nurse.zones]
            row.skills = [NurseSkill(skill=s) for s in nurse.skills]
            row.absences = [NurseAbsence(starts_on=start, ends_on=end) for start, end in nurse.absences]
            session.add(row)
    engine.dispose()


def day_requests(places, nurses, options: Options, day: int) -> list[SimRequest]:
    return make_requests(
        places, nurses, day, options.day + timedelta(days=day), options.requests, options.seed, TIMEZONE
    )


@functools.cache
def _migrated_template() -> Path:
    """An empty migrated database (communes loaded), made once per process and copied for each run."""
    folder = tempfile.TemporaryDirectory(prefix="sio-sim-template-")
    _TEMPLATES.append(folder)  # removed when the process exits
    path = Path(folder.name) / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


_TEMPLATES: list[tempfile.TemporaryDirectory] = []


def new_database(path: Path, options) -> tuple[Path, str, list[Place]]:
    """A migrated database at ``path`` (communes loaded), its URL, and the departments' places."""
    url = f"sqlite:///{path}"
    copy_database(_migrated_template(), path)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        places = load_places(session, list(options.departments), options.seed)
    engine.dispose()
    return path, url, places


def build_base(workdir: Path, options: Options) -> tuple[Path, list[SimNurse], list[SimRequest]]:
    """The shared starting point: migrated database, nurses, and the warm-up days already run."""
    path, url, places = new_database(workdir / "base.db", options)
    nurses = make_nurses(places, options.nurses, options.seed)
    first_day = datetime.combine(options.day - timedelta(days=options.warmup_days + 1), datetime.min.time(), TIMEZONE)
    _insert_nurses(url, nurses, first_day)
    warmup = Simulation(
        url, strategy_settings(WARMUP_STRATEGY, url, workdir, options), nurses, delivery=options.delivery
    )
    for day in range(-options.warmup_days, 0):
        warmup.run(day_requests(places, nurses, options, day))
    warmup.close()
    return path, nurses, day_requests(places, nurses, options, 0)


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (WAL included) through SQLite's backup API."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def run_strategy(job: tuple) -> StrategyRun:
    """One strategy's measured day on its own copy of the base database."""
    name, base, workdir, nurses, requests, options = job
    started = time.perf_counter()
    path = workdir / f"{name.replace(' ', '_').replace(',', '-')}.db"
    copy_database(base, path)
    url = f"sqlite:///{path}"
    settings = strategy_settings(name, url, workdir, options)
    simulation = Simulation(url, settings, nurses, delivery=options.delivery)
    try:
        ids = simulation.run(requests)
        with simulation.sessions() as session:
            result = measure(session, name, ids, len(nurses), settings.sio_name)
            counts = dict(
                session.execute(
                    select(Message.status, func.count())
                    .where(Message.request_id.in_(ids), Message.direction == "out")
                    .group_by(Message.status)
                ).all()
            )
    finally:
        simulation.close()
    books = Bookkeeping(simulation.counts.texts, counts.get("sent", 0), counts.get("queued", 0))
    return StrategyRun(replace(result, runtime_s=round(time.perf_counter() - started, 1)), books)


def simulate(options: Options, workdir: Path | None = None) -> list[StrategyRun]:
    """Build the region and its history once, then run every strategy's day (in parallel)."""
    unknown = [s for s in options.strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategy {unknown[0]!r}; expected one of {', '.join(STRATEGIES)}")
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="sio-sim-")) if own else workdir
    try:
        base, nurses, requests = build_base(workdir, options)
        jobs = [(name, base, workdir, nurses, requests, options) for name in options.strategies]
        if options.jobs > 1 and len(jobs) > 1:
            # Spawned, not forked: a fork copies the locks other threads hold (a test run has many)
            # and a child may wait on one forever.
            with multiprocessing.get_context("spawn").Pool(min(options.jobs, len(jobs))) as pool:
                return pool.map(run_strategy, jobs, chunksize=1)
        return [run_strategy(job) for job in jobs]
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


class UsageError(ValueError):
    """A bad command-line option; the message is the line to print."""


def add_common_arguments(parser: argparse.ArgumentParser, defaults, *, strategies: str, requests: str, warmup: str):
    """The options the day and the week simulators share, with their defaults from ``defaults``."""
    parser.add_argument(
        "--departments",
        default=",".join(defaults.departments),
        help="department codes, comma-separated (default: %(default)s, the Loire)",
    )
    parser.add_argument("--nurses", type=int, default=defaults.nurses)
    parser.add_argument("--requests", type=int, default=defaults.requests, help=requests)
    parser.add_argument("--warmup-days", type=int, default=defaults.warmup_days, help=warmup)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--strategies", default=strategies, help="comma-separated among: " + ", ".join(SHORT_NAMES))
    parser.add_argument(
        "--texting-hours",
        default=defaults.texting_hours,
        help="NURSE_TEXTING_HOURS (00:00-24:00 for always; '' is the default 07:30-20:30)",
    )
    parser.add_argument("--jobs", type=int, default=defaults.jobs, help="strategies run in parallel")
    parser.add_argument(
        "--delivery",
        choices=("direct", "outbox"),
        default=defaults.delivery,
        help="mark texts sent in bulk, or call dispatch.telephony.outbox.deliver_message for each",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="DISPATCH_NAME=VALUE",
        help="a DISPATCH_* setting for every strategy (a strategy's own settings win), e.g. DISPATCH_WAVE_WAIT_S=300",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")


def strategy_names(text: str) -> tuple[str, ...]:
    """``broadcast,fixed`` → the strategies' full names; raises UsageError for an unknown one."""
    try:
        return tuple(SHORT_NAMES[s.strip()] for s in text.split(",") if s.strip())
    except KeyError as err:
        raise UsageError(f"unknown strategy {err.args[0]!r}; expected among: {', '.join(SHORT_NAMES)}") from None


def common_options(args: argparse.Namespace) -> dict:
    """The shared options' values, checked (:func:`add_common_arguments`); raises UsageError."""
    strategies = strategy_names(args.strategies)
    overrides = dict(item.partition("=")[::2] for item in args.set)
    bad = [name for name in overrides if not name.startswith("DISPATCH_")]
    if bad:
        raise UsageError(f"--set {bad[0]}: only DISPATCH_* settings can be changed")
    if args.nurses < 1 or args.requests < 1 or args.warmup_days < 0:
        raise UsageError("--nurses and --requests must be at least 1, --warmup-days at least 0")
    return {
        "departments": tuple(d.strip() for d in args.departments.split(",") if d.strip()),
        "nurses": args.nurses,
        "requests": args.requests,
        "warmup_days": args.warmup_days,
        "seed": args.seed,
        "strategies": strategies,
        "texting_hours": args.texting_hours,
        "jobs": args.jobs,
        "delivery": args.delivery,
        "settings": overrides,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench.simulate", description=__doc__.split("\n\n")[0])
    add_common_arguments(
        parser,
        Options(),
        strategies="broadcast,one,fixed,adaptive",
        requests="requests on the measured day",
        warmup="days of history run first, with the fixed waves, for every strategy alike",
    )
    parser.add_argument("--date", type=date.fromisoformat, default=Options().day, help="the measured day")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    try:  # a bad option (UsageError), an unknown department or a bad --set value
        options = Options(**common_options(args), day=args.date)
        runs = simulate(options)
    except (ValueError, ConfigError) as err:
        print(err, file=sys.stderr)
        return 2
    results = [run.result for run in runs]
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(results, args.out / "simulation.csv")
    title = (
        f"A simulated day: departments {', '.join(options.departments)}, {options.nurses} nurses, "
        f"{options.requests} requests (seed {options.seed})"
    )
    write_svg(results, args.out / "simulation.svg", title)
    print(title)
    print(table(results))
    for verdict in verdicts(results):
        print(verdict)
    print(f"({time.perf_counter() - started:.0f} s; written to {args.out}/simulation.csv and .svg)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

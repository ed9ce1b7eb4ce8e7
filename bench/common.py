"""Shared plumbing for the benchmarks: a PostgreSQL database and a redis-server of their own,
service processes (gunicorn, ``sio worker``, the Twilio stand-in), bulk seeding, statistics.

Everything runs on 127.0.0.1 and is torn down at the end (the database dropped), so a run
never touches another engineer's data. ``BENCH_PG`` overrides the PostgreSQL server
(default ``postgresql://postgres@127.0.0.1:5432``).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from dispatch.app.migrate import upgrade  # noqa: E402
from dispatch.config import TWILIO_VARIABLES, simulator_auth_token  # noqa: E402
from dispatch.people.tokens import issue_token  # noqa: E402
from models import Commune, Nurse, NurseSkill, NurseZone, Requester, make_engine, make_sessionmaker  # noqa: E402
from tests.support.redis_server import RedisServer, free_port  # noqa: E402
from tests.support.twilio_standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN  # noqa: E402

BIN = Path(sys.executable).parent
PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def say(line: str) -> None:
    print(line, flush=True)


# --- statistics --------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(values_s: list[float]) -> str:
    ms = [v * 1000 for v in values_s]
    return (
        f"n={len(ms)} p50={percentile(ms, 50):.2f} ms p95={percentile(ms, 95):.2f} ms "
        f"p99={percentile(ms, 99):.2f} ms mean={statistics.fmean(ms):.2f} ms"
    )


# --- processes ---------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 (127.0.0.1 only)
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer in {timeout:.0f} s") from None
            time.sleep(0.1)


@dataclass
class Stack:
    """A database, a redis-server and the service processes of one benchmark run."""

    name: str
    telephony: str = "simulator"
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix=f"sio-bench-{self.name}-"))
        # Its own database per run: two benches on one PostgreSQL (two people, or two helpers on a
        # shared machine) must not drop each other's database mid-build.
        self.db_name = f"sio_bench_{self.name}_{os.getpid()}"
        self.database_url = f"{PG.replace('postgresql://', 'postgresql+psycopg://')}/{self.db_name}"
        self.redis = RedisServer(self.tmp)
        self.web_port = free_port()
        self.standin_port = free_port()

    # life cycle
    def __enter__(self) -> Stack:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self.engine = make_engine(self.database_url)
        upgrade(self.engine)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.redis.start()
        return self

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.redis.stop()
        self.engine.dispose()
        for attempt in range(3):  # the server may be restarting (someone's fault test): try again
            try:
                with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
                return
            except psycopg.OperationalError:
                time.sleep(2 * (attempt + 1))

    @property
    def public_base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "SIO_INSTANCE_PATH": str(self.tmp / "instance"),
            "SECRET_KEY": "bench-secret",
            "PUBLIC_BASE_URL": self.public_base_url,
            # Texts may leave at any hour: a bench measures the way to the first text whenever it
            # runs ('' would mean the default 07:30-20:30, and every evening run would time out).
            "NURSE_TEXTING_HOURS": "00:00-24:00",
            "LOG_LEVEL": "WARNING",
            "TELEPHONY": self.telephony,
            # The service processes can import bench modules (the floors of issues 3 and 6).
            "PYTHONPATH": str(ROOT),
        }
        if self.telephony == "twilio":
            env.update(
                TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
                TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
                TWILIO_API_BASE_URL=f"http://127.0.0.1:{self.standin_port}",
                TWILIO_PHONE_NUMBER="+33900000000",
            )
        else:
            for key in TWILIO_VARIABLES:
                env.pop(key, None)
        env.update(self.extra_env)
        return env

    @property
    def auth_token(self) -> str:
        return DEFAULT_AUTH_TOKEN if self.telephony == "twilio" else simulator_auth_token("bench-secret")

    def spawn(self, argv: list[str], **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=kwargs.pop("stderr", subprocess.DEVNULL),
            **kwargs,
        )
        self.processes.append(process)
        return process

    def start_web(self, app: str = "wsgi:app", workers: int = 4, threads: int = 4, port: int | None = None):
        """gunicorn as in deploy/Procfile."""
        port = port or self.web_port
        process = self.spawn(
            [
                str(BIN / "gunicorn"),
                "-w",
                str(workers),
                "--threads",
                str(threads),
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                app,
            ]
        )
        wait_http(f"http://127.0.0.1:{port}/healthz")
        return process

    def start_worker(self) -> subprocess.Popen:
        return self.spawn([str(BIN / "sio"), "worker"])

    def start_standin(self) -> subprocess.Popen:
        process = self.spawn(
            [sys.executable, str(ROOT / "tests" / "support" / "twilio_standin.py"), "--port", str(self.standin_port)]
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.standin_port), 0.2):
                return process
            if time.monotonic() > deadline:
                raise RuntimeError("the Twilio stand-in did not start")
            time.sleep(0.05)

    def stop(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGTERM)
        process.wait(15)


# --- seeding ---------------------------------------------------------------------------------------


def nurse_phone(i: int) -> str:
    return f"+336{i:08d}"


def communes_of(session, departments: tuple[str, ...] | None = None) -> list[Commune]:
    query = select(Commune).order_by(Commune.insee)
    if departments:
        query = query.where(Commune.department.in_(departments))
    return list(session.scalars(query))


def seed_nurses(
    engine, count: int, communes: list[Commune], *, seed: int = 1, zones: tuple[int, int] = (1, 4), start: int = 0
) -> None:
    """``count`` nurses, each serving her home commune and a few of its nearest neighbours.

    Skills and availability vary as in a real region: a third do infusions, a fifth discharges,
    a quarter work weekdays only. Bulk inserts: 100,000 nurses take a few seconds.
    """
    rng = random.Random(seed)
    grid: dict[tuple[int, int], list[Commune]] = {}
    for c in communes:
        grid.setdefault((int(c.lat * 10), int(c.lon * 10)), []).append(c)

    def neighbours(c: Commune, n: int) -> list[str]:
        cell = (int(c.lat * 10), int(c.lon * 10))
        near = [o for dx in (-1, 0, 1) for dy in (-1, 0, 1) for o in grid.get((cell[0] + dx, cell[1] + dy), [])]
        near.sort(key=lambda o: (o.lat - c.lat) ** 2 + (o.lon - c.lon) ** 2)
        return [o.insee for o in near[:n]]

    nurses, zone_rows, skill_rows = [], [], []
    for i in range(start, start + count):
        home = rng.choice(communes)
        nurses.append(
            {
                "id": i + 1,
                "phone": nurse_phone(i),
                "name": f"Infirmière {i}",
                "availability": "mon-fri 07:00-19:00" if rng.random() < 0.25 else "",
            }
        )
        for insee in neighbours(home, rng.randint(*zones)) or [home.insee]:
            zone_rows.append({"nurse_id": i + 1, "insee": insee})
        if rng.random() < 0.33:
            skill_rows.append({"nurse_id": i + 1, "skill": "perfusion"})
        if rng.random() < 0.2:
            skill_rows.append({"nurse_id": i + 1, "skill": "sortie"})
    with engine.begin() as conn:
        for rows, model in ((nurses, Nurse), (zone_rows, NurseZone), (skill_rows, NurseSkill)):
            for chunk in range(0, len(rows), 10_000):
                conn.execute(insert(model), rows[chunk : chunk + 10_000])
        conn.execute(text("SELECT setval('nurses_id_seq', (SELECT max(id) FROM nurses))"))
        conn.execute(text("ANALYZE"))


def seed_requester(sessionmaker) -> str:
    """One establishment and its API token."""
    with sessionmaker.begin() as session:
        requester = Requester(name="CHU Bench", kind="hopital", postcode="42000")
        session.add(requester)
        session.flush()
        return issue_token(session, requester)


def busy_communes(session, minimum: int) -> list[str]:
    """Communes declared by at least ``minimum`` nurses (requests there always find a first wave)."""
    from sqlalchemy import func

    rows = session.execute(
        select(NurseZone.insee).group_by(NurseZone.insee).having(func.count() >= minimum).order_by(NurseZone.insee)
    ).all()
    return [r[0] for r in rows]

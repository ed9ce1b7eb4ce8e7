"""The coordinators' pages on day one and after a year of history (issue 17, the pages' share).

Builds a database (SQLite file, or a PostgreSQL database of its own, dropped at the end) with
``--nurses`` nurses in the Loire and the Rhône, today's work (``--open`` open requests with a few
offers each, one request with 100 offers and its texts, today's closed requests), times the pages
through Flask's test client, logged in; then adds ``--days`` days of history (``--per-day``
requests a day with their offers, events and texts) and times them again.

    .venv/bin/python bench/pages_history.py --db sqlite
    .venv/bin/python bench/pages_history.py --db pg   # BENCH_PG, default postgresql://postgres@127.0.0.1:5432

Prints the median (ms) of ``--runs`` requests per page, on day one and with history, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from dispatch.app.factory import create_app  # noqa: E402
from dispatch.app.migrate import upgrade  # noqa: E402
from dispatch.config import TWILIO_VARIABLES  # noqa: E402
from dispatch.services import reset_services  # noqa: E402
from models import (  # noqa: E402
    CareRequest,
    Commune,
    Event,
    Message,
    Nurse,
    NurseZone,
    Offer,
    make_engine,
    make_sessionmaker,
)
from tests.support.browser import login, make_coordinator  # noqa: E402

FIRST = ["Sophie", "Céline", "Émilie", "Julie", "Hélène", "Anaïs", "Chloé", "Marie", "Léa", "Inès", "Zoé", "Noémie"]
LAST = ["Martin", "Moreau", "Fournier", "Béranger", "Dupré", "Lefèvre", "Roux", "Girard", "Mercier", "Faure"]
ANSWERS = ("accepted", "declined", "declined", "taken", "withdrawn", "sent")


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Builder:
    def __init__(self, engine, nurses: int, seed: int = 17):
        self.engine = engine
        self.sessionmaker = make_sessionmaker(engine)
        self.random = random.Random(seed)
        self.reference = 100000
        self.nurses = nurses

    def _ref(self) -> str:
        self.reference += 1
        return str(self.reference)

    def seed_people(self) -> None:
        with self.sessionmaker.begin() as session:
            self.communes = list(
                session.scalars(
                    select(Commune.insee).where(Commune.department.in_(("42", "69"))).order_by(Commune.insee)
                )
            )
            rows = [
                {
                    "phone": f"+336{10000000 + i:08d}",
                    "name": f"{self.random.choice(FIRST)} {self.random.choice(LAST)} {i}",
                    "availability": "",
                    "created_at": now_utc() - timedelta(days=400),
                }
                for i in range(self.nurses)
            ]
            session.execute(insert(Nurse), rows)
            self.nurse_ids = list(session.scalars(select(Nurse.id).order_by(Nurse.id)))
            zones = {(n, self.random.choice(self.communes)) for n in self.nurse_ids for _ in range(2)}
            zones |= {(n, "42218") for n in self.nurse_ids[:300]}  # Saint-Étienne
            session.execute(insert(NurseZone), [{"nurse_id": n, "insee": z} for n, z in zones])
        with self.sessionmaker() as session:
            make_coordinator(session)

    def add_requests(self, session, created: list[tuple[datetime, str]], offers: int, texts: bool = True) -> list[int]:
        """Requests (created at, status) with ``offers`` offers each, 4 events and a text per offer."""
        rows = []
        for at, status in created:
            insee = self.random.choice(self.communes)
            rows.append(
                {
                    "reference": self._ref(),
                    "channel": "api",
                    "callback_phone": "+33477000001",
                    "postcode": None,
                    "insee": insee,
                    "care_type": "pansement",
                    "status": status,
                    "start_at": at + timedelta(hours=self.random.choice((2, 20, 48))),
                    "has_start_time": True,
                    "wave": 2,
                    "created_at": at,
                    "updated_at": at + timedelta(hours=2),
                    "closed_at": at + timedelta(hours=2) if status in ("confirmed", "cancelled", "unfilled") else None,
                }
            )
        ids = list(session.scalars(insert(CareRequest).returning(CareRequest.id), rows))
        offer_rows, event_rows = [], []
        for request_id, (at, status) in zip(ids, created, strict=True):
            for nurse_id in self.random.sample(self.nurse_ids, offers):
                answer = self.random.choice(ANSWERS) if status != "open" else "sent"
                offer_rows.append(
                    {
                        "request_id": request_id,
                        "nurse_id": nurse_id,
                        "wave": 1,
                        "round": 1,
                        "status": answer,
                        "created_at": at,
                        "sent_at": at,
                        "answered_at": at + timedelta(minutes=20)
                        if answer in ("accepted", "declined", "taken")
                        else None,
                    }
                )
            for minutes, kind in ((0, "created"), (1, "wave"), (30, "accepted"), (60, "confirmed")):
                event_rows.append(
                    {
                        "request_id": request_id,
                        "actor": "system",
                        "kind": kind,
                        "data": {},
                        "at": at + timedelta(minutes=minutes),
                    }
                )
        session.execute(insert(Offer), offer_rows)
        session.execute(insert(Event), event_rows)
        if texts:
            session.execute(
                insert(Message),
                [
                    {
                        "direction": "out",
                        "kind": "offer",
                        "to_phone": f"+336{10000000 + o['nurse_id']:08d}",
                        "body": "Proposition de soin",
                        "status": "delivered",
                        "request_id": o["request_id"],
                        "nurse_id": o["nurse_id"],
                        "created_at": o["created_at"],
                        "updated_at": o["created_at"],
                    }
                    for o in offer_rows
                ],
            )
        return ids

    def seed_today(self, open_requests: int) -> str:
        """Today's work: open requests with a few offers, one with 100 offers, today's closed ones."""
        now = now_utc()
        with self.sessionmaker.begin() as session:
            self.add_requests(
                session,
                [(now - timedelta(minutes=self.random.randint(1, 110)), "open") for _ in range(open_requests)],
                5,
            )
            [big] = self.add_requests(session, [(now - timedelta(minutes=90), "open")], 100)
            midnight = now.replace(hour=0, minute=0, second=0)
            span = max(int((now - midnight).total_seconds()) - 60, 60)
            self.add_requests(
                session,
                [
                    (
                        midnight + timedelta(seconds=self.random.randint(0, span)),
                        self.random.choice(("confirmed", "unfilled", "cancelled")),
                    )
                    for _ in range(60)
                ],
                8,
            )
            return session.get(CareRequest, big).reference

    def seed_history(self, days: int, per_day: int) -> None:
        now = now_utc()
        for day in range(2, days + 2):  # from the day before yesterday: the board shows the same last day
            with self.sessionmaker.begin() as session:
                start = now - timedelta(days=day)
                statuses = self.random.choices(("confirmed", "unfilled", "cancelled"), (75, 15, 10), k=per_day)
                self.add_requests(
                    session, [(start + timedelta(seconds=self.random.randint(0, 86000)), s) for s in statuses], 8
                )


class Statements:
    """With ``--statements``: each page's slowest SQL statements (time, text), once."""

    def __init__(self):
        self.times: dict[str, float] = {}
        self.on = False
        event.listen(Engine, "before_cursor_execute", self.before)
        event.listen(Engine, "after_cursor_execute", self.after)

    def before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["started"] = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, executemany):
        if self.on:
            key = " ".join(statement.split())[:400]
            self.times[key] = self.times.get(key, 0.0) + (time.perf_counter() - conn.info["started"]) * 1000

    def show(self, client, path: str) -> float:
        self.times, self.on = {}, True
        client.get(path)
        self.on = False
        total = sum(self.times.values())
        print(f"  {path}: {len(self.times)} statements, {total:.1f} ms in SQL")
        for key, ms in sorted(self.times.items(), key=lambda item: -item[1])[:4]:
            print(f"    {ms:7.1f} ms  {key[:300]}")
        return total


STATEMENTS: Statements | None = None


PAGES = {
    "board fragment": "/status/fragment",
    "board, Non pourvues": "/status?statut=unfilled",
    "request page (100 offers)": "/status/requests/{reference}",
    "nurses (no query)": "/status/nurses",
    "nurses ?q=etienne": "/status/nurses?q=etienne",
    "nurses ?q=martin": "/status/nurses?q=martin",
    "day summary": "/status/summary",
}


def time_pages(envs: list[dict[str, str]], reference: str, runs: int) -> dict[str, list[tuple[float, float | None]]]:
    """Each page on each database, the databases taking turns request by request (the machine's
    load then weighs on both alike): per page, per database, (median ms, ms in SQL once)."""
    clients = []
    for env in envs:
        client = create_app(env).test_client()
        login(client)
        clients.append(client)
    figures = {}
    for name, pattern in PAGES.items():
        path = pattern.format(reference=reference)
        times: list[list[float]] = [[] for _ in clients]
        for client in clients:
            for _ in range(2):  # warm up
                assert client.get(path).status_code == 200, path
        for run in range(runs):
            order = list(enumerate(clients))
            for index, client in order if run % 2 == 0 else reversed(order):
                started = time.perf_counter()
                response = client.get(path)
                times[index].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
        figures[name] = [
            (statistics.median(mine), STATEMENTS.show(client, path) if STATEMENTS else None)
            for mine, client in zip(times, clients, strict=True)
        ]
    reset_services()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("--nurses", type=int, default=3000)
    parser.add_argument("--open", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=int, default=100)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--statements", action="store_true", help="print each page's slowest statements")
    args = parser.parse_args()
    global STATEMENTS
    STATEMENTS = Statements() if args.statements else None
    workdir = Path(tempfile.mkdtemp(prefix="sio-pages-"))
    admin, names, urls = None, [], []
    if args.db == "pg":
        server = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
        admin_url = make_url(server).set(drivername="postgresql+psycopg", database="postgres")
        admin = make_engine(admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
        for which in ("day_one", "year"):
            names.append(f"sio_pages_{which}_{uuid.uuid4().hex[:6]}")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{names[-1]}"'))
            urls.append(
                make_url(server)
                .set(drivername="postgresql+psycopg", database=names[-1])
                .render_as_string(hide_password=False)
            )
    else:
        urls = [f"sqlite:///{workdir / 'day_one.db'}", f"sqlite:///{workdir / 'year.db'}"]
    envs = [
        {
            "SIO_INSTANCE_PATH": str(workdir / "instance"),
            "DATABASE_URL": url,
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
            "SECRET_KEY": "bench",
            "TELEPHONY": "simulator",
            **dict.fromkeys(TWILIO_VARIABLES, ""),
            "PUBLIC_BASE_URL": "http://sio.test",
        }
        for url in urls
    ]
    engines = [make_engine(url) for url in urls]
    try:
        for engine in engines:  # the same nurses and the same day's work on both (same seed)
            upgrade(engine)
            builder = Builder(engine, args.nurses)
            builder.seed_people()
            reference = builder.seed_today(args.open)
        started = time.perf_counter()
        builder.seed_history(args.days, args.per_day)  # the second database only
        for engine in engines:
            analyze(engine)
        with engines[1].connect() as conn:
            counts = {t: conn.scalar(select(func.count()).select_from(t)) for t in (CareRequest, Offer, Event, Message)}
        print(
            f"history: {args.days} days in {time.perf_counter() - started:.0f} s: "
            + ", ".join(f"{t.__tablename__} {n}" for t, n in counts.items())
        )
        figures = time_pages(envs, reference, args.runs)
        print(f"\n{args.db}, {args.nurses} nurses, {args.open} open requests; median of {args.runs} (ms)")
        print(f"{'page':28} {'day one':>9} {'a year':>9} {'ratio':>7}   SQL ms: day one, a year")
        for page, ((first, first_sql), (later, later_sql)) in figures.items():
            sql = f"   {first_sql:6.1f} {later_sql:6.1f}" if first_sql is not None else ""
            print(f"{page:28} {first:9.1f} {later:9.1f} {later / first:7.2f}{sql}")
    finally:
        for engine in engines:
            engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                for name in names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def analyze(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


if __name__ == "__main__":
    main()

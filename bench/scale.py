"""Issue 17 (3): what the service costs after a year in a region, and after 60 days in the nation.

Two databases per case, side by side on PostgreSQL (migrated by Alembic as production's, then
bulk-loaded with ``COPY``, then ``ANALYZE``): *day one*, the nurses alone, and *after history*,
the same nurses (same seed) with the requests of the past days and everything their lives
wrote (``bench/scale_seed.py``). Both then get the same work of today: 200 open requests (the
board) and one request with 100 offers (its page). Every measure runs on both, interleaved, and
is reported with its ratio:

1. ``POST /api/v1/requests`` → 201 and → the first text at the Twilio stand-in, in the largest
   zone (gunicorn ``-w 4 --threads 4``, one ``sio worker``, TELEPHONY=twilio → the stand-in), and
   the floor of ``bench/floor.py`` (bare POST → job → text) served beside it;
2. a wave's plan (``plan_next_wave`` in-process, the adaptive policy; which one ran is printed);
3. the board's fragment ``/status/fragment``, 4. a request's page with 100 offers, 5. the nurses
   page search ``/status/nurses?q=``, 6. the day summary ``/status/summary`` (Flask's test client,
   logged in as a coordinator);
7. the sweeper's pass (``workers.sweep.overdue_work``, what ``sweep_once`` calls);
8. ``sio purge --older-than 90d`` (the CLI, last);
9. ``sio nurses import`` of every nurse (the CLI, a CSV in the import's format);
10. RSS of each gunicorn worker and of the ``sio worker`` at the end;
11. the reply webhook's throughput and p99 against ``bench/floor.py``'s one-INSERT floor
    (``bench/webhook.py``'s load, Python threads).

    .venv/bin/python bench/scale.py [--only region|nation] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
import scale_seed as seedmod
from common import BIN, Stack, child_pids, nurse_phone, percentile, rss_mb, say
from sqlalchemy import text

from dispatch import lifecycle
from dispatch.clock import utcnow
from dispatch.config import load_settings
from dispatch.matching.answer_stats import count_offers
from dispatch.matching.history import HISTORY
from dispatch.matching.policy import adaptive_wave
from dispatch.matching.waves import plan_next_wave
from dispatch.people.coordinators import hash_password
from dispatch.people.tokens import issue_token
from models import CareRequest, Coordinator, Requester
from workers.sweep import overdue_work

EMAIL, PASSWORD = "scale@sio.test", "correct horse battery staple"


@dataclass
class Case:
    name: str
    nurses: int
    per_day: int
    days: int
    departments: tuple[str, ...] | None
    texts: bool = True  # the texts, their receipts and delivery events too (False: lean, faster)


CASES = {
    "region": Case("region", 13_500, 100, 365, seedmod.REGION_DEPARTMENTS),
    "nation": Case("nation", 100_000, 3_000, 60, None, texts=False),
}
QUICK = {
    "region": Case("region", 2_000, 20, 100, seedmod.REGION_DEPARTMENTS),
    "nation": Case("nation", 6_000, 200, 20, None, texts=False),
}


@dataclass
class Side:
    """One database of a case: day one or after history."""

    label: str
    stack: Stack
    largest: str = ""
    token: str = ""
    big_reference: str = ""
    zones: dict = field(default_factory=dict)
    skills: dict = field(default_factory=dict)
    hours: dict = field(default_factory=dict)
    app: object = None
    client: object = None
    counts: dict = field(default_factory=dict)
    build_s: float = 0.0
    policy: str = ""
    counted: int = 0  # offers the counting pass caught up on after the build
    procs: dict = field(default_factory=dict)


def pg_url(stack: Stack) -> str:
    return stack.database_url.replace("postgresql+psycopg://", "postgresql://")


# --- building ------------------------------------------------------------------------------------


def build(side: Side, case: Case, communes, history: bool) -> None:
    t0 = time.monotonic()
    with psycopg.connect(pg_url(side.stack)) as conn:
        nurses = seedmod.seed_nurses_copy(conn, communes, case.nurses)
        seedmod.seed_requesters(conn)
        side.zones, side.skills, side.hours = nurses["zones"], nurses["skills"], nurses["hours"]
        largest = max(nurses["declared"], key=lambda c: len(nurses["declared"][c]))
        side.largest = communes[largest][0]
        h = seedmod.History(
            conn, communes, nurses, days=case.days if history else 0, per_day=case.per_day, texts=case.texts
        )
        tz = load_settings(_env(side.stack)).timezone
        midnight = seedmod.local_midnight(tz)
        if history:
            side.counts = h.run(time.time(), midnight, progress=say)
        today_work(h, side, nurses, largest)
        h.finish()
        side.counts = dict(h.copier.counts)
        conn.autocommit = True
        conn.execute("ANALYZE")
    side.counted = catch_up_counting(side) if history else 0
    with side.stack.sessionmaker.begin() as session:
        side.token = issue_token(session, session.get(Requester, 1))
        session.add(
            Coordinator(
                email=EMAIL, name="Bench Scale", phone="+33765648236", password_hash=hash_password(PASSWORD),
                on_duty=True, role="admin",
            )
        )  # fmt: skip
    side.build_s = time.monotonic() - t0


def today_work(h: seedmod.History, side: Side, nurses: dict, largest: int) -> None:
    """The same work of today in both databases: 200 open requests, one with 100 offers."""
    rng = random.Random(99)
    now = time.time()
    cand = h.candidates(largest)
    everyone = list(range(1, nurses["count"] + 1))
    for k in range(200):
        rid = h.next("request")
        commune = rng.choice(h.zone_pool)
        insee, postcode = h.communes[commune][0], h.communes[commune][1]
        created = now - rng.uniform(60, 3 * 3600)
        ref = f"{900000 + k}"
        h.event(rid, "created", created, actor="CHU", channel="api", care_type="pansement", insee=insee)
        pool = h.candidates(commune)[:3]
        h.event(rid, "wave_sent", created + 0.3, wave=1, offers=len(pool), wait_s=600)
        for n in pool:
            oid = h.next("offer")
            h.copier.add(
                "offers", oid, rid, n, 1, 1, "sent", None, seedmod.ts(created), seedmod.ts(created + 0.3), None
            )
            h.text_out(rid, n, oid, "offer", nurse_phone(n - 1), f"SIO: ref {ref}", created + 0.3)
            h.event(rid, "offer_sent", created + 0.3, nurse_id=n, wave=1)
        h.copier.add(
            "care_requests", rid, ref, 1, "+33477000001", "api", postcode, insee, "pansement", None, False, False,
            "Patient du jour", "open", 1, 1, seedmod.ts(now + 86400), seedmod.ts(created), None, None, None, None,
            False, None, seedmod.ts(created), seedmod.ts(created),
        )  # fmt: skip
    # One request with 100 offers (ten waves), in the largest zone.
    rid = h.next("request")
    side.big_reference = "990001"
    created = now - 2 * 3600
    h.event(rid, "created", created, actor="CHU", channel="api", care_type="pansement", insee=side.largest)
    ids = (cand + [n for n in everyone if n not in set(cand)])[:100]
    for w in range(10):
        sent = created + w * 600
        h.event(rid, "wave_sent", sent, wave=w + 1, offers=10, wait_s=600)
        for n in ids[w * 10 : w * 10 + 10]:
            oid = h.next("offer")
            declined = rng.random() < 0.5
            h.copier.add("offers", oid, rid, n, w + 1, 1, "declined" if declined else "delivered", None,
                         seedmod.ts(sent), seedmod.ts(sent), seedmod.ts(sent + 300) if declined else None)  # fmt: skip
            h.text_out(rid, n, oid, "offer", nurse_phone(n - 1), f"SIO: ref {side.big_reference}", sent)
            h.event(rid, "offer_sent", sent, nurse_id=n, wave=w + 1)
            if declined:
                h.text_in(rid, n, nurse_phone(n - 1), f"NON {side.big_reference}", sent + 300)
                h.event(rid, "declined", sent + 300, nurse_id=n, actor=f"infirmière Infirmière {n - 1}")
    h.copier.add(
        "care_requests", rid, side.big_reference, 1, "+33477000001", "api", None, side.largest, "pansement", None,
        False, False, "Patient du jour", "open", 10, 1, seedmod.ts(now + 86400), seedmod.ts(created), None, None,
        None, None, False, None, seedmod.ts(created), seedmod.ts(created),
    )  # fmt: skip


def _env(stack: Stack) -> dict:
    return {**stack.env(), "SIO_INSTANCE_PATH": str(stack.tmp / "instance")}


# --- timing ------------------------------------------------------------------------------------


def timed(fn, runs: int, limit_s: float = float("inf")) -> list[float]:
    """``runs`` calls, or fewer once they took ``limit_s`` (one at least)."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
        if sum(out) > limit_s:
            break
    return out


def interleaved(sides: list[Side], make, runs: int, blocks: int = 4, budget_s: float = 40.0) -> dict[str, list[float]]:
    """``make(side)`` → a function; run in ``blocks`` alternating blocks, after one warm-up call each.

    A slow measure (a warm-up over 5 s) runs in two blocks of one call; otherwise each side
    spends about ``budget_s`` at most.
    """
    fns = {s.label: make(s) for s in sides}
    warm = max(timed(fn, 1)[0] for fn in fns.values())
    if warm > 5:
        blocks, runs = 2, 2
    out = {s.label: [] for s in sides}
    per = max(1, runs // blocks)
    for _ in range(blocks):
        for s in sides:
            out[s.label] += timed(fns[s.label], per, budget_s / blocks)
    return out


def login(side: Side) -> None:
    from dispatch.app.factory import create_app

    side.app = create_app(_env(side.stack))
    side.client = side.app.test_client()
    html = side.client.get("/login").get_data(as_text=True)
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = side.client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code in (302, 303), answer.status_code


def page(side: Side, path: str):
    def fetch():
        answer = side.client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)

    return fetch


def catch_up_counting(side: Side) -> int:
    """What the sweeper's counting pass (``answer_stats.count_offers``, issue 17) has done after a
    year in production: offers older than 60 days retired (marked ``r``, in one UPDATE: their
    sums came and went), the rest counted into the nurses' rows by the pass itself, in batches."""
    settings = load_settings(_env(side.stack))
    now = utcnow()
    with side.stack.sessionmaker.begin() as session:
        session.execute(text("UPDATE offers SET counted = 'r' WHERE created_at < :cut"), {"cut": now - HISTORY})
    total = 0
    while True:
        with side.stack.sessionmaker.begin() as session:
            counted, retired = count_offers(session, settings, now, limit=20000)
        total += counted
        if not counted and not retired:
            break
    with psycopg.connect(pg_url(side.stack), autocommit=True) as conn:
        conn.execute("ANALYZE offers")
        conn.execute("ANALYZE nurse_answer_stats")
    say(f"{side.label}: {total} offers counted into the nurses' answer statistics, as the sweeper would have")
    return total


def plan_fn(side: Side, policy: str = "adaptive"):
    settings = load_settings({**_env(side.stack), "DISPATCH_POLICY": policy})
    session = side.stack.sessionmaker()
    now = utcnow()
    request = CareRequest(
        reference=f"98{len(side.label):02d}{len(policy):02d}", channel="api", insee=side.largest, care_type="pansement",
        status="open", wave=0, round=1, created_at=now, updated_at=now, dispatch_started_at=now, next_wave_at=now,
        callback_phone="+33477000001",
    )  # fmt: skip
    session.add(request)
    session.commit()
    window = lifecycle.care_window(settings, request, now)
    plan = adaptive_wave(session, settings, request, now, window)
    size = len(plan_next_wave(session, settings, request, now).nurse_ids)
    if policy == "adaptive":
        side.policy = "adaptive" if plan is not None else "fixed (history too thin)"
        side.policy += f", {size} nurses"
    return lambda: plan_next_wave(session, settings, request, utcnow())


def sweep_fn(side: Side):
    settings = load_settings(_env(side.stack))

    def sweep():
        with side.stack.sessionmaker() as session:
            overdue_work(session, utcnow())
        with side.stack.sessionmaker.begin() as session:  # sweep_once's second step (issue 17)
            count_offers(session, settings, utcnow())

    return sweep


def cli_timed(side: Side, args: list[str], timeout: float = 900) -> tuple[float, str]:
    """Seconds the ``sio`` command took and its last line; the timeout when it ran longer (killed)."""
    t0 = time.monotonic()
    try:
        done = subprocess.run(
            [str(BIN / "sio"), *args], env=_env(side.stack), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return timeout, f"still running after {timeout:.0f} s: stopped"
    elapsed = time.monotonic() - t0
    lines = (done.stdout + done.stderr).strip().splitlines()
    return elapsed, lines[-1] if lines else ""


IMPORTED = 13_500  # the region's nurses (the nation imports its first 13,500)


def import_csv(side: Side) -> str:
    path = side.stack.tmp / "nurses.csv"
    lines = ["name,phone,zones,skills,availability"]
    for nurse_id in sorted(side.zones)[:IMPORTED]:
        zones = " ".join(f"insee:{code}" for code in side.zones[nurse_id])  # as declared, not read as postcodes
        skills = " ".join(sorted(side.skills[nurse_id]))
        lines.append(f"Infirmière {nurse_id - 1},{nurse_phone(nurse_id - 1)},{zones},{skills},{side.hours[nurse_id]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


# --- HTTP -------------------------------------------------------------------------------------------


def start_services(side: Side) -> None:
    from floor import CREATE_FLOOR_TABLE

    from tests.support.twilio_standin import TwilioStandin

    with side.stack.engine.begin() as conn:
        conn.execute(text(CREATE_FLOOR_TABLE))
    side.procs["standin"] = TwilioStandin(port=side.stack.standin_port).start()
    side.procs["web"] = side.stack.start_web()
    port = side.stack.web_port + 1 if side.stack.web_port < 65000 else side.stack.web_port - 1
    side.procs["floor_port"] = port
    side.procs["floor"] = side.stack.start_web("bench.floor:app", port=port)
    side.procs["worker"] = side.stack.start_worker()


def post_and_text(side: Side) -> tuple[float, float, float]:
    """(→ 201, → first text, floor → text) of one request in the largest zone."""
    from dispatch_latency import first_text_at, post_floor

    standin = side.procs["standin"]
    t0 = time.time()
    tag = f"floor {side.label} {t0:.6f}"
    post_floor(side.procs["floor_port"], tag)
    floor = first_text_at(standin, tag) - t0
    time.sleep(0.05)
    body = json.dumps({"insee": side.largest, "care_type": "pansement", "callback_phone": "04 77 00 00 01"}).encode()
    request = urllib.request.Request(
        f"{side.stack.public_base_url}/api/v1/requests",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {side.token}", "Content-Type": "application/json"},
    )
    t0 = time.time()
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (127.0.0.1)
        assert response.status == 201
        reference = json.load(response)["reference"]
    answered = time.time() - t0
    first = first_text_at(standin, reference, timeout=30) - t0
    return answered, first, floor


def webhook_offers(side: Side, requests: int) -> list[tuple[str, str]]:
    """``requests`` open requests with five texted offers each (nurses of the table); the replies."""
    rng = random.Random(6)
    replies = []
    with psycopg.connect(pg_url(side.stack)) as conn:
        rid0 = conn.execute("SELECT coalesce(max(id), 0) FROM care_requests").fetchone()[0]
        oid0 = conn.execute("SELECT coalesce(max(id), 0) FROM offers").fetchone()[0]
        nurses = conn.execute("SELECT count(*) FROM nurses").fetchone()[0]
        copier = seedmod.Copier(conn)
        now = time.time()
        # References not taken yet: the API's requests drew theirs at random (create_request).
        taken = {row[0] for row in conn.execute("SELECT reference FROM care_requests WHERE reference >= '800000'")}
        free = (ref for ref in map(str, range(800000, 1000000)) if ref not in taken)
        for r in range(requests):
            rid, ref = rid0 + r + 1, next(free)
            copier.add(
                "care_requests", rid, ref, 1, "+33477000001", "api", "42400", "42207", "pansement", None, False,
                False, None, "open", 1, 1, seedmod.ts(now + 3600), seedmod.ts(now), None, None, None, None, False,
                None, seedmod.ts(now), seedmod.ts(now),
            )  # fmt: skip
            yes = rng.randrange(5)
            for k, n in enumerate(rng.sample(range(1, nurses + 1), 5)):
                copier.add("offers", oid0 + r * 5 + k + 1, rid, n, 1, 1, "sent", None, seedmod.ts(now),
                           seedmod.ts(now), None)  # fmt: skip
                replies.append((nurse_phone(n - 1), f"{'OUI' if k == yes else 'NON'} {ref}"))
        copier.flush()
        conn.execute(f"SELECT setval('care_requests_id_seq', {rid0 + requests})")
        conn.execute(f"SELECT setval('offers_id_seq', {oid0 + requests * 5})")
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE care_requests")
        conn.execute("ANALYZE offers")
    rng.shuffle(replies)
    return replies


def webhook_load(side: Side, seconds: int, requests: int) -> tuple[dict, dict]:
    """(floor, real) figures of ``bench/webhook.py``'s Python load, no worker running."""
    from webhook import run_python, signed_posts

    posts = signed_posts(side.stack, webhook_offers(side, requests))
    floor_port = side.procs["floor_port"]
    run_python(floor_port, posts, 2, 8)  # warm-up
    floor = run_python(floor_port, posts, seconds, 8)
    conn = http.client.HTTPConnection("127.0.0.1", side.stack.web_port, timeout=10)
    for signature, body in posts[-100:]:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        conn.request("POST", "/webhooks/sms", body, headers)
        conn.getresponse().read()
    real = run_python(side.stack.web_port, posts[:-100], seconds, 8)
    return floor, real


# --- report ---------------------------------------------------------------------------------------


def p(values: list[float], q: float) -> float:
    return percentile([v * 1000 for v in values], q)


class Table:
    def __init__(self):
        self.rows: list[tuple] = []

    def add(self, measure: str, day1: float, year: float, unit: str, target: str, met: bool | None) -> None:
        ratio = year / day1 if day1 else float("nan")
        self.rows.append((measure, day1, year, unit, ratio, target, met))

    def ratio_row(self, measure: str, unit: str, day1: list[float], year: list[float], q: float, extra=None):
        a, b = p(day1, q), p(year, q)
        met = b / a <= 1.5 if a else None
        target = "≤ 1.5× day one"
        if extra:
            target2, ok = extra(b)
            target, met = f"{target}; {target2}", bool(met) and ok
        self.add(measure, a, b, unit, target, met)

    def print(self, title: str) -> None:
        say(f"\n{title}")
        say(f"| {'measure':58} | {'day one':>10} | {'after history':>13} | {'ratio':>6} | target | verdict |")
        say(f"|{'-' * 60}|{'-' * 12}|{'-' * 15}|{'-' * 8}|---|---|")
        for measure, a, b, unit, ratio, target, met in self.rows:
            verdict = "—" if met is None else "**MET**" if met else "**MISSED**"
            say(f"| {measure:58} | {a:8.2f} {unit:<2}| {b:11.2f} {unit:<2}| {ratio:5.2f}× | {target} | {verdict} |")


def run_case(case: Case, args) -> None:
    say(f"\n=== {case.name}: {case.nurses} nurses, {case.per_day} requests a day for {case.days} days ===")
    say(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start")
    started = time.monotonic()
    with (
        Stack(f"scale_{case.name}_day1", telephony="twilio") as day1_stack,
        Stack(f"scale_{case.name}_hist", telephony="twilio") as hist_stack,
    ):
        everyone = seedmod.communes_table()
        communes = [c for c in everyone if not case.departments or c[2] in case.departments]
        day1, year = Side("day one", day1_stack), Side("after history", hist_stack)
        build(day1, case, communes, history=False)
        say(f"day one built in {day1.build_s:.0f} s; largest zone {day1.largest}")
        build(year, case, communes, history=True)
        rows = ", ".join(f"{t} {n:,}" for t, n in year.counts.items() if n)
        say(f"after history built in {year.build_s:.0f} s (COPY, then ANALYZE): {rows}")
        with psycopg.connect(pg_url(hist_stack)) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
            per_nurse = conn.execute(
                "SELECT count(*)::float / (SELECT count(*) FROM nurses) FROM offers "
                "WHERE created_at > now() - interval '60 days' AND answered_at IS NOT NULL"
            ).fetchone()[0]
        say(f"database size {size}; answered offers per nurse in the last 60 days {per_nurse:.1f}")
        sides = [day1, year]
        table = Table()
        runs = args.runs

        # 2. a wave's plan
        plans = interleaved(sides, plan_fn, runs)
        say(f"plan_next_wave policy: day one {day1.policy}; after history {year.policy}")
        target = (lambda b: ("p50 ≤ 10 ms", b <= 10)) if case.name == "nation" else None
        table.ratio_row(
            "2. wave plan (plan_next_wave, largest zone) p50",
            "ms",
            plans["day one"],
            plans["after history"],
            50,
            target,
        )
        table.ratio_row("2. wave plan p95", "ms", plans["day one"], plans["after history"], 95)
        fixed = interleaved(sides, lambda s: plan_fn(s, "fixed"), runs)
        table.ratio_row("2b. wave plan, DISPATCH_POLICY=fixed, p50", "ms", fixed["day one"], fixed["after history"], 50)

        # 3-6. pages
        for side in sides:
            login(side)
        for label, path in (
            ("3. board fragment /status/fragment (200+ open)", "/status/fragment"),
            ("4. request page, 100 offers", f"/status/requests/{day1.big_reference}"),
            ("5. nurses search /status/nurses?q=Infirmière 12", "/status/nurses?q=Infirmi%C3%A8re+12"),
            ("6. day summary /status/summary (today)", "/status/summary"),
        ):
            got = interleaved(sides, lambda s, path=path: page(s, path), max(8, runs // 2))
            table.ratio_row(f"{label} p50", "ms", got["day one"], got["after history"], 50)
            table.ratio_row(f"{label} p95", "ms", got["day one"], got["after history"], 95)
        yesterday = (datetime.now(load_settings(_env(hist_stack)).timezone) - timedelta(days=1)).date()
        got = interleaved(sides, lambda s: page(s, f"/status/summary?jour={yesterday.isoformat()}"), max(8, runs // 2))
        table.ratio_row(
            "6b. day summary, yesterday (a full day after history) p50", "ms", got["day one"], got["after history"], 50
        )

        # 7. the sweeper
        got = interleaved(sides, sweep_fn, runs)
        table.ratio_row(
            "7. sweeper pass (overdue_work + count_offers) p50", "ms", got["day one"], got["after history"], 50
        )

        # 1, 11. HTTP: POST → 201 → first text, the floor; the webhook
        if not args.no_http:
            for side in sides:
                start_services(side)
            time.sleep(1.0)
            for side in sides:  # warm-up
                for _ in range(3):
                    post_and_text(side)
            figures = {s.label: ([], [], []) for s in sides}
            for _ in range(args.posts):
                for side in sides:
                    for bucket, value in zip(figures[side.label], post_and_text(side), strict=True):
                        bucket.append(value)
                    time.sleep(0.3)
            a, b = figures["day one"], figures["after history"]
            table.ratio_row("1. POST /api/v1/requests → 201 p50", "ms", a[0], b[0], 50, lambda v: ("≤ 30 ms", v <= 30))
            table.ratio_row("1. POST → 201 p95", "ms", a[0], b[0], 95)
            table.ratio_row("1. POST → first text at the stand-in p50", "ms", a[1], b[1], 50)
            table.ratio_row("1. POST → first text p95", "ms", a[1], b[1], 95)
            table.ratio_row("11a. floor: bare POST → job → text p50", "ms", a[2], b[2], 50)
            r1 = statistics.median(a[1]) / statistics.median(a[2])
            r2 = statistics.median(b[1]) / statistics.median(b[2])
            table.add("11a. first text / floor (medians)", r1, r2, "×", "≤ 3× the floor", r2 <= 3 and r1 <= 3)
            rss = {}
            for side in sides:
                web = [rss_mb(pid) for pid in child_pids(side.procs["web"].pid)]
                rss[side.label] = (max(web, default=0), rss_mb(side.procs["worker"].pid))
            table.add("10. RSS, largest gunicorn worker", rss["day one"][0], rss["after history"][0], "MB", "< 150 MB",
                      rss["after history"][0] < 150 and rss["day one"][0] < 150)  # fmt: skip
            table.add("10. RSS, sio worker", rss["day one"][1], rss["after history"][1], "MB", "< 150 MB",
                      rss["after history"][1] < 150 and rss["day one"][1] < 150)  # fmt: skip
            hooks = {}
            for side in sides:
                side.stack.stop(side.procs["worker"])  # the load runs with no worker, as webhook.py's
                hooks[side.label] = webhook_load(side, args.seconds, args.webhook_requests)
            (fa, ra), (fb, rb) = hooks["day one"], hooks["after history"]
            table.add("11b. reply webhook throughput", ra["rps"], rb["rps"], "/s", "≥ 0.6× floor", None)
            table.add("11b. one-INSERT floor throughput", fa["rps"], fb["rps"], "/s", "", None)
            table.add("11b. webhook / floor throughput", ra["rps"] / fa["rps"], rb["rps"] / fb["rps"], "×",
                      "≥ 0.6×", rb["rps"] / fb["rps"] >= 0.6 and ra["rps"] / fa["rps"] >= 0.6)  # fmt: skip
            table.add(
                "11b. reply webhook p99", ra["p99"], rb["p99"], "ms", "< 50 ms", rb["p99"] < 50 and ra["p99"] < 50
            )
            for side in sides:
                side.procs["standin"].stop()

        # 9. import, then 8. purge (last: it changes the data)
        imports = {}
        for side in sides:
            imports[side.label] = cli_timed(side, ["nurses", "import", import_csv(side)])
        say(f"import: {imports['after history'][1]}")
        a, b = imports["day one"][0], imports["after history"][0]
        table.add(
            f"9. sio nurses import, {min(case.nurses, IMPORTED)} nurses",
            a,
            b,
            "s",
            "≤ 1.5×; ≤ 30 s",
            b <= 30 and b / a <= 1.5,
        )
        table.print(f"{case.name} before the purge (load average {os.getloadavg()[0]:.1f})")
        purges = {}
        for side in sides:
            purges[side.label] = cli_timed(side, ["purge", "--older-than", "90d"], args.purge_timeout)
        say(f"purge: {purges['after history'][1]}")
        a, b = purges["day one"][0], purges["after history"][0]
        table.add("8. sio purge --older-than 90d", a, b, "s", "≤ 60 s (day one: nothing to purge)", b <= 60)
        say(f"load average {os.getloadavg()[0]:.1f} at the end; {time.monotonic() - started:.0f} s in all")
        table.print(f"{case.name}: day one vs after {case.days} days ({case.per_day} requests a day)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("region", "nation"))
    parser.add_argument("--quick", action="store_true", help="small sizes, to test the script")
    parser.add_argument("--runs", type=int, default=40, help="calls per in-process measure")
    parser.add_argument("--posts", type=int, default=30, help="API requests per database")
    parser.add_argument("--seconds", type=int, default=8, help="webhook load, each")
    parser.add_argument("--webhook-requests", type=int, default=1000)
    parser.add_argument("--no-http", action="store_true", help="skip gunicorn measures (1, 10, 11)")
    parser.add_argument("--purge-timeout", type=float, default=600, help="stop sio purge after this (s)")
    args = parser.parse_args()
    cases = QUICK if args.quick else CASES
    if args.quick:
        args.runs, args.posts, args.seconds, args.webhook_requests = 10, 8, 3, 200
    for name in ("region", "nation"):
        if args.only in (None, name):
            run_case(cases[name], args)


if __name__ == "__main__":
    main()

"""Issue 17 (3): the databases of ``bench/scale.py``, bulk-loaded with PostgreSQL ``COPY``.

- :func:`seed_nurses_copy`: nurses living in communes weighted by population (a commune of the
  tables below weighs its population, any other a village's), each declaring her home commune
  and its nearest neighbours (1-4 communes, as ``common.seed_nurses``), skills and hours as there.
- :func:`seed_history`: ``per_day`` requests a day for ``days`` days before today's local
  midnight, each with the rows production writes for its life (``dispatch.requests.create``,
  ``dispatch.matching.waves``, ``dispatch.telephony.outbox``, ``dispatch.messaging.replies``,
  ``dispatch.messaging.deliveries``, ``dispatch.messaging.calls``, ``dispatch.requests.actions``):
  the request, its offers wave by wave, the offer texts, the nurses' replies (the inbound text,
  its ``sms_in`` event, the answer to her), "pourvue" notices, delivery statuses (two receipts
  per outbound text, one ``delivery`` event), the confirmation call, the coordinators' alert
  and call of an unfilled request, and the timeline events of every step.

Every id is written explicitly and the sequences set after; rows go in chunks of about ten
days so that memory stays bounded for the nation (180,000 requests).
"""

from __future__ import annotations

import csv
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
from common import ROOT, nurse_phone

REGION_DEPARTMENTS = ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74")

# Population in thousands of the larger towns (INSEE codes checked against dispatch/data/communes.csv).
CITIES = {
    # Auvergne-Rhône-Alpes
    "69381": 30, "69382": 31, "69383": 103, "69384": 36, "69385": 48, "69386": 52, "69387": 86,
    "69388": 86, "69389": 51, "42218": 173, "38185": 158, "69266": 156, "63113": 147, "74010": 130,
    "69259": 67, "26362": 64, "73065": 59, "69256": 52, "69290": 48, "69034": 43, "69029": 42,
    "26198": 40, "01053": 41, "38151": 37, "38421": 38, "42187": 34, "03185": 34, "74012": 37,
    "74281": 36, "26281": 33, "73008": 31, "03310": 25, "15014": 25, "43157": 19, "03190": 19,
    "69286": 30, "69264": 36, "69282": 35, "69149": 26, "38544": 30, "38053": 29, "42207": 35,
    "07010": 17, "07186": 8, "74081": 17, "01283": 22,
    # elsewhere (the nation)
    "75101": 16, "75102": 21, "75103": 34, "75104": 29, "75105": 58, "75106": 41, "75107": 50,
    "75108": 36, "75109": 60, "75110": 86, "75111": 145, "75112": 140, "75113": 178, "75114": 136,
    "75115": 230, "75116": 165, "75117": 166, "75118": 192, "75119": 184, "75120": 192,
    **{f"132{k:02d}": 54 for k in range(1, 17)},
    "31555": 500, "06088": 342, "44109": 320, "34172": 300, "67482": 290, "33063": 260,
    "59350": 235, "35238": 222, "51454": 180, "83137": 180, "76351": 165,
}  # fmt: skip
VILLAGE = 1.3  # thousands: the weight of any other commune (ARA: 8 M people, 4,079 communes)

CARE = ("pansement", "pansement", "injection", "injection", "toilette", "surveillance", "perfusion", "sortie", "autre")
CHANNELS = ("api", "api", "api", "voice", "voice", "sms", "coordinator")


def communes_table() -> list[tuple[str, str, str, float, float]]:
    """One row per commune (the CSV has one per postcode), its first postcode."""
    seen: dict[str, tuple] = {}
    with (ROOT / "dispatch" / "data" / "communes.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            seen.setdefault(r["insee"], (r["insee"], r["postcode"], r["department"], float(r["lat"]), float(r["lon"])))
    return list(seen.values())


# --- COPY text format ----------------------------------------------------------------------------

_days: dict[int, str] = {}
_HMS = [f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60)]


def ts(t: float | None) -> str:
    """Epoch seconds → a naive UTC ``timestamp`` literal (as ``models.base.UTCDateTime`` stores)."""
    if t is None:
        return "\\N"
    day, rest = divmod(t, 86400)
    text = _days.get(day)
    if text is None:
        text = _days[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d ")
    whole = int(rest)
    return f"{text}{_HMS[whole]}.{int((rest - whole) * 1e6):06d}"


def js(**data) -> str:
    """A JSON object of plain values (no quotes nor backslashes in them: checked by the caller's data)."""
    parts = []
    for k, v in data.items():
        if v is None:
            continue
        if isinstance(v, bool):
            parts.append(f'"{k}": {"true" if v else "false"}')
        elif isinstance(v, int | float):
            parts.append(f'"{k}": {v}')
        else:
            parts.append(f'"{k}": "{v}"')
    return "{" + ", ".join(parts) + "}"


def val(v) -> str:
    if v is None:
        return "\\N"
    if v is True:
        return "t"
    if v is False:
        return "f"
    return v if v.__class__ is str else str(v)


class Copier:
    """Rows per table, in memory until :meth:`flush` COPYs them (in dependency order)."""

    COLUMNS = {
        "nurses": "id, phone, name, availability, created_at",
        "nurse_zones": "nurse_id, insee",
        "nurse_skills": "nurse_id, skill",
        "requesters": "id, name, kind, postcode, created_at",
        "care_requests": (
            "id, reference, requester_id, callback_phone, channel, postcode, insee, care_type, start_at, "
            "has_start_time, urgent, notes, status, wave, round, next_wave_at, dispatch_started_at, "
            "accepted_nurse_id, accepted_at, confirmed_at, closed_at, needs_attention, attention_reason, "
            "created_at, updated_at"
        ),
        "offers": "id, request_id, nurse_id, wave, round, status, error_code, created_at, sent_at, answered_at",
        "messages": (
            "id, sid, direction, kind, from_phone, to_phone, body, status, error_code, request_id, nurse_id, "
            "offer_id, send_after, claimed_at, created_at, sent_at, updated_at"
        ),
        "calls": (
            "id, sid, direction, purpose, from_phone, to_phone, status, attempt, answered_by, request_id, "
            "send_after, claimed_at, created_at, updated_at"
        ),
        "events": "id, request_id, nurse_id, actor, kind, data, at",
        "webhook_receipts": "key, payload, handled_at, created_at",
    }

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self.rows: dict[str, list[str]] = {t: [] for t in self.COLUMNS}
        self.counts: dict[str, int] = dict.fromkeys(self.COLUMNS, 0)

    def add(self, table: str, *values) -> None:
        self.rows[table].append("\t".join(map(val, values)))

    def flush(self) -> None:
        for table, rows in self.rows.items():
            if not rows:
                continue
            with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({self.COLUMNS[table]}) FROM STDIN") as copy:
                for start in range(0, len(rows), 20_000):
                    copy.write("\n".join(rows[start : start + 20_000]) + "\n")
            self.counts[table] += len(rows)
            rows.clear()
        self.conn.commit()


# --- nurses ----------------------------------------------------------------------------------------


def choose_homes(communes, count: int, rng: random.Random) -> list[int]:
    weights = [CITIES.get(c[0], VILLAGE) for c in communes]
    return rng.choices(range(len(communes)), weights=weights, k=count)


def neighbour_lists(communes, depth: int = 40) -> list[list[int]]:
    """Each commune's nearest communes (itself first), by a 0.1° grid as ``common.seed_nurses``."""
    grid: dict[tuple[int, int], list[int]] = {}
    for i, c in enumerate(communes):
        grid.setdefault((int(c[3] * 10), int(c[4] * 10)), []).append(i)
    out = []
    for c in communes:
        cell = (int(c[3] * 10), int(c[4] * 10))
        near = [o for dx in (-1, 0, 1) for dy in (-1, 0, 1) for o in grid.get((cell[0] + dx, cell[1] + dy), [])]
        near.sort(key=lambda o: (communes[o][3] - c[3]) ** 2 + ((communes[o][4] - c[4]) * 0.7) ** 2)
        out.append(near[:depth])
    return out


def seed_nurses_copy(conn, communes, count: int, *, seed: int = 17) -> dict:
    """``count`` nurses; returns what the history needs: each commune's nurses (declared) and the
    nurses' zones, skills and phones."""
    rng = random.Random(seed)
    near = neighbour_lists(communes, 8)
    copier = Copier(conn)
    declared: dict[int, list[int]] = {}
    zones: dict[int, list[str]] = {}
    skills: dict[int, set[str]] = {}
    hours: dict[int, str] = {}
    created = time.time() - 400 * 86400
    for i, home in enumerate(choose_homes(communes, count, rng)):
        nurse_id = i + 1
        hours[nurse_id] = "mon-fri 07:00-19:00" if rng.random() < 0.25 else ""
        copier.add("nurses", nurse_id, nurse_phone(i), f"Infirmière {i}", hours[nurse_id], ts(created))
        for c in near[home][: rng.randint(1, 4)] or [home]:
            copier.add("nurse_zones", nurse_id, communes[c][0])
            zones.setdefault(nurse_id, []).append(communes[c][0])
            declared.setdefault(c, []).append(nurse_id)
        mine = set()
        if rng.random() < 0.33:
            mine.add("perfusion")
        if rng.random() < 0.2:
            mine.add("sortie")
        for skill in sorted(mine):
            copier.add("nurse_skills", nurse_id, skill)
        skills[nurse_id] = mine
    copier.flush()
    with conn.cursor() as cur:
        cur.execute("SELECT setval('nurses_id_seq', %s)", (count,))
    conn.commit()
    return {"declared": declared, "zones": zones, "skills": skills, "hours": hours, "count": count}


# --- history ---------------------------------------------------------------------------------------

SID = "SM{:032x}"
CALL_SID = "CA{:032x}"
ASK = 0.12  # chance that an offer's nurse says yes (same-day requests, the simulations' order)
NO = 0.45  # chance she says no
FAIL = 0.02  # undeliverable
PAYLOAD = '{"MessageStatus": "delivered", "AccountSid": "AC00000000000000000000000000000000"}'


class History:
    """The rows of ``per_day`` requests a day over ``days`` days (see the module's doc)."""

    def __init__(self, conn, communes, nurses: dict, *, days: int, per_day: int, seed: int = 18, texts: bool = True):
        self.conn, self.communes, self.days, self.per_day = conn, communes, days, per_day
        self.texts = texts  # False: no texts, receipts nor their events (the nation's lean build)
        self.rng = random.Random(seed)
        self.copier = Copier(conn)
        self.declared = nurses["declared"]
        self.ids = dict.fromkeys(("request", "offer", "message", "call", "event"), 0)
        # A request's commune: where nurses are (weighted by the nurses who declare it).
        self.zone_pool = [c for c, ns in self.declared.items() for _ in ns]
        self.near = neighbour_lists(communes, 30)
        self.requesters = 60

    def next(self, kind: str) -> int:
        self.ids[kind] += 1
        return self.ids[kind]

    def event(self, request_id, kind: str, at: float, *, nurse_id=None, actor: str = "system", **data) -> None:
        self.copier.add("events", self.next("event"), request_id, nurse_id, actor, kind, js(**data), ts(at))

    def text_out(self, request_id, nurse_id, offer_id, kind, to, body, at, *, delivered=True, event=True):
        """An outbound SMS sent at ``at``: the outbox row, its sent/delivered receipts and events."""
        if not self.texts:
            return
        mid = self.next("message")
        sid = SID.format(mid)
        status = "delivered" if delivered else "undelivered"
        code = None if delivered else 30003
        self.copier.add(
            "messages", mid, sid, "out", kind, "+33900000000", to, body, status, code, request_id, nurse_id,
            offer_id, ts(at), ts(at), ts(at - 0.05), ts(at), ts(at + 3),
        )  # fmt: skip
        self.copier.add("webhook_receipts", f"sms-status:{sid}:sent", PAYLOAD, ts(at + 1), ts(at + 1))
        self.copier.add("webhook_receipts", f"sms-status:{sid}:{status}", PAYLOAD, ts(at + 3), ts(at + 3))
        if request_id is not None and event:
            if offer_id is None:
                self.event(request_id, "sms_sent", at, to=to, text=kind)
            self.event(
                request_id, "delivery", at + 3, nurse_id=nurse_id, actor="Twilio", status=status, code=code, text=kind
            )

    def text_in(self, request_id, nurse_id, phone, body, at) -> None:
        if not self.texts:
            return
        mid = self.next("message")
        sid = SID.format(mid)
        self.copier.add(
            "messages", mid, sid, "in", "inbound", phone, "+33900000000", body, "received", None, request_id,
            nurse_id, None, None, None, ts(at), None, ts(at),
        )  # fmt: skip
        self.copier.add("webhook_receipts", f"sms:{sid}", '{"Body": "' + body + '"}', ts(at + 0.2), ts(at))
        self.event(None, "sms_in", at, nurse_id=nurse_id, actor=f"infirmière Infirmière {nurse_id - 1}", body=body)

    def call(self, request_id, purpose: str, to: str, at: float) -> None:
        cid = self.next("call")
        sid = CALL_SID.format(cid)
        self.copier.add(
            "calls", cid, sid, "out", purpose, "+33900000000", to, "completed", 1, "human", request_id,
            ts(at), ts(at), ts(at), ts(at + 60),
        )  # fmt: skip
        self.copier.add("webhook_receipts", f"call-status:{sid}:completed", PAYLOAD, ts(at + 60), ts(at + 60))
        self.event(request_id, "call_placed", at, purpose=purpose, attempt=1, to=to)
        self.event(request_id, "call_answered", at + 15, purpose=purpose, attempt=1, answered_by="human")

    def candidates(self, commune: int) -> list[int]:
        """The commune's nurses, then those of the nearest communes (the radius steps)."""
        seen, out = set(), []
        for c in self.near[commune]:
            for n in self.declared.get(c, ()):
                if n not in seen:
                    seen.add(n)
                    out.append(n)
            if len(out) >= 60:
                break
        return out

    def request(self, created: float) -> None:
        rng = self.rng
        rid = self.next("request")
        commune = rng.choice(self.zone_pool)
        insee, postcode = self.communes[commune][0], self.communes[commune][1]
        care = rng.choice(CARE)
        channel = rng.choice(CHANNELS)
        requester = rng.randint(1, self.requesters) if channel == "api" else None
        callback = f"+334770{rid % 100000:05d}"
        urgent = rng.random() < 0.05
        planned = rng.random() < 0.3
        start = created + (rng.randint(1, 3) * 86400 if planned else rng.randint(1, 6) * 3600)
        reference = f"{100000 + rid}"
        who = f"Requester {requester}" if requester else callback
        self.event(rid, "created", created, actor=who, channel=channel, care_type=care, postcode=postcode, insee=insee)
        # The outcome: mostly a nurse found and the requester told; some cancelled; a few unfilled.
        roll = rng.random()
        outcome = "confirmed" if roll < 0.88 else "cancelled" if roll < 0.94 else "unfilled"
        ask = 0.0 if outcome == "unfilled" else ASK
        pool = [n for n in self.candidates(commune) if not (care in ("perfusion", "sortie") and rng.random() < 0.5)]
        rng.shuffle(pool)
        body = f"SIO: patient a {insee}, soin {care}, ref {reference}. OUI {reference} pour accepter, NON sinon."
        t = created + rng.uniform(0.05, 0.5)
        cancel_at = created + rng.uniform(300, 5400) if outcome == "cancelled" else math.inf
        give_up = created + 7200
        wave, offers, winner = 0, [], None
        while pool and winner is None and t < give_up and t < cancel_at:
            wave += 1
            size = rng.choice((2, 3, 3, 4, 5)) if wave == 1 else (5 if wave == 2 else 10)
            wait = 180 if wave == 1 else 600
            chosen, pool = pool[:size], pool[size:]
            self.event(rid, "wave_sent", t, wave=wave, offers=len(chosen), wait_s=wait)
            for n in chosen:
                oid = self.next("offer")
                r = rng.random()
                fate = "failed" if r < FAIL else "yes" if r < FAIL + ask else "no" if r < FAIL + ask + NO else "silent"
                answer = t + rng.expovariate(1 / 420) + 20 if fate in ("yes", "no") else None
                offers.append([oid, n, wave, t, fate, answer])
            yeses = [o for o in offers if o[4] == "yes" and o[5] < min(t + wait, give_up, cancel_at)]
            if yeses:
                winner = min(yeses, key=lambda o: o[5])
            t += wait
        end = winner[5] if winner else min(cancel_at, give_up, t)
        status = outcome if winner is None or outcome != "unfilled" else "confirmed"
        if winner is None and outcome == "confirmed":
            status = "unfilled"  # nobody said yes in time
        accepted_at = confirmed_at = closed_at = accepted_nurse = None
        for oid, n, w, sent, fate, answer in offers:
            phone = nurse_phone(n - 1)
            self.copier.add("offers", oid, rid, n, w, 1, *self._offer_status(fate, answer, end, winner, oid), ts(sent),
                            ts(sent), ts(answer if answer is not None and answer <= end else None))  # fmt: skip
            self.text_out(rid, n, oid, "offer", phone, body, sent, delivered=fate != "failed")
            self.event(rid, "offer_sent", sent, nurse_id=n, wave=w)
            if fate == "failed":
                self.event(rid, "offer_failed", sent + 3, nurse_id=n, code=30003, reason="undelivered")
                continue
            if answer is not None and answer <= end:
                word = "OUI" if fate == "yes" else "NON"
                self.text_in(rid, n, phone, f"{word} {reference}", answer)
                kind = "accepted" if winner is not None and oid == winner[0] else "declined"
                self.event(rid, kind, answer, nurse_id=n, actor=f"infirmière Infirmière {n - 1}")
                self.text_out(rid, n, None, "reply", phone, f"SIO: merci, ref {reference}.", answer + 0.5)
            elif winner is not None or status == "cancelled":
                # still silent when it closed: told it is taken (or cancelled)
                notice = "pourvue" if winner is not None else "annulee"
                self.text_out(rid, n, None, "notice", phone, f"SIO: demande {reference} {notice}.", end + 1)
        if winner is not None:
            accepted_nurse, accepted_at = winner[1], winner[5]
            self.call(rid, "confirm", callback, accepted_at + 2)
            confirmed_at = accepted_at + 17
            self.event(rid, "confirmed", confirmed_at, answered_by="human")
        if status == "unfilled":
            self.event(rid, "unfilled", end, reason="plus aucune infirmiere a solliciter")
            self.text_out(rid, None, None, "alert", "+33765648236", f"SIO: demande {reference} sans infirmiere.", end)
            self.call(rid, "unfilled", callback, end + 1)
            # A coordinator closes it within the day (the board would carry it forever otherwise).
            closed_at = end + rng.uniform(600, 7200)
            status = "cancelled"
            self.event(rid, "cancelled", closed_at, actor="Martine Roche", reason="sans suite")
        elif status == "cancelled":
            closed_at = max(end, (confirmed_at or end) + rng.uniform(600, 86400) if winner else end)
            self.event(rid, "cancelled", closed_at, actor=who, reason="annule par le demandeur")
        updated = closed_at or confirmed_at or end
        self.copier.add(
            "care_requests", rid, reference, requester, callback, channel, postcode, insee, care, ts(start),
            planned, urgent, f"Patient {rid}, code porte {rid % 9999}", status, wave, 1, None, ts(created),
            accepted_nurse, ts(accepted_at), ts(confirmed_at), ts(closed_at), False, None, ts(created), ts(updated),
        )  # fmt: skip

    @staticmethod
    def _offer_status(fate, answer, end, winner, oid) -> tuple:
        if fate == "failed":
            return "failed", 30003
        if winner is not None and oid == winner[0]:
            return "accepted", None
        if answer is not None and answer <= end:
            return ("declined", None) if fate == "no" else ("taken", None)
        return ("taken" if winner is not None else "withdrawn"), None

    def run(self, now: float, tz_midnight: float, progress: Callable[[str], None] | None = None) -> dict:
        """``per_day`` requests each day of the ``days`` days before ``tz_midnight`` (today, local)."""
        rng = self.rng
        started = time.monotonic()
        for d in range(self.days, 0, -1):
            day0 = tz_midnight - d * 86400
            for _ in range(self.per_day):
                # Most requests in the day (8:00-19:00 local), some in the evening and the night.
                hour = rng.uniform(8, 19) if rng.random() < 0.85 else rng.uniform(0, 24)
                self.request(day0 + hour * 3600)
            if d % 10 == 0 or d == 1:
                self.copier.flush()
                if progress:
                    progress(f"  day -{d}: {self.ids['request']} requests, {time.monotonic() - started:.0f} s")
        self.finish()
        return dict(self.copier.counts)

    def finish(self) -> None:
        self.copier.flush()
        with self.conn.cursor() as cur:
            for table, kind in (("care_requests", "request"), ("offers", "offer"), ("messages", "message"),
                                ("calls", "call"), ("events", "event")):  # fmt: skip
                cur.execute(f"SELECT setval('{table}_id_seq', %s)", (max(self.ids[kind], 1),))
        self.conn.commit()


def seed_requesters(conn, count: int = 60) -> None:
    copier = Copier(conn)
    for i in range(1, count + 1):
        copier.add("requesters", i, f"Requester {i}", "hopital", "69003", ts(time.time() - 400 * 86400))
    copier.flush()
    with conn.cursor() as cur:
        cur.execute("SELECT setval('requesters_id_seq', %s)", (count,))
    conn.commit()


def local_midnight(tz) -> float:
    now = datetime.now(tz)
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)

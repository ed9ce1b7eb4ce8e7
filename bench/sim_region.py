"""A synthetic region for the day simulator: real communes, invented nurses and requests.

Everything here is drawn from ``random.Random`` seeded by the run's seed, so a seed gives the
same region, the same nurses (where they live, which communes they declared, how they answer)
and the same requests, whatever the strategy under test.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Commune

EARTH_KM = 6371.0
ZONE_RADIUS_KM = 15.0  # a nurse declares communes around where she lives, within this distance
# Requesters: 40% nursing homes, 40% hospital discharges home, 20% labs (issue 7).
KINDS = (("ehpad", 0.4), ("home", 0.4), ("labo", 0.2))
CARE_BY_KIND = {
    "ehpad": (("pansement", 0.35), ("injection", 0.25), ("surveillance", 0.2), ("perfusion", 0.1), ("toilette", 0.1)),
    "home": (("sortie", 0.5), ("pansement", 0.2), ("perfusion", 0.15), ("injection", 0.15)),
    "labo": (("injection", 1.0),),
}
USUAL_SHARE = {"ehpad": 0.25, "home": 0.35, "labo": 0.1}
# Local arrival time (hours): mean, spread. Hospital discharges make the morning peak.
ARRIVAL = {"ehpad": (12.5, 3.0), "home": (10.5, 1.3), "labo": (9.5, 1.0)}
FIRST_ARRIVAL, LAST_ARRIVAL = 8.0, 19.0
# Busy hours by working pattern: during her rounds a nurse reads texts later, and less often.
BUSY_HOURS = (
    frozenset([7, 8, 9, 10, 17, 18, 19]),  # rounds morning and evening
    frozenset([7, 8, 9, 10, 11]),  # mornings only
    frozenset([13, 14, 15, 16, 17, 18]),  # afternoons
)
BUSY_PATTERN_WEIGHTS = (0.6, 0.25, 0.15)


@dataclass(frozen=True)
class Place:
    insee: str
    lat: float
    lon: float
    weight: float  # share of the region's people (synthetic: the communes table has no population)


@dataclass(frozen=True)
class SimNurse:
    index: int
    phone: str
    name: str
    home: str
    zones: tuple[str, ...]
    skills: tuple[str, ...]
    availability: str
    reply_rate: float  # chance she answers an offer at all (outside her busy hours)
    willingness: float  # chance her answer is yes, with no patient taken yet today
    median_delay_s: float  # her typical time to answer (outside her busy hours)
    busy_hours: frozenset[int]
    capacity: int  # new patients she can take in a day
    # The week simulator's (bench.sim_week); the day simulator leaves them as they are here.
    absences: tuple[tuple[date, date], ...] = ()  # inclusive local dates, also written to the database
    sleeps: bool = False  # a text that reaches her at night waits for the morning
    keeps_hours: bool = False  # says no to care at a time outside her declared hours


@dataclass(frozen=True)
class SimRequest:
    key: str  # stable across strategies: seeds the nurses' answers to it
    day: int  # 0 is the measured day, negative days are the warm-up
    at: datetime  # arrival, aware UTC
    kind: str
    care_type: str
    insee: str
    usual_phone: str | None
    start_at: datetime | None
    has_start_time: bool
    callback_phone: str
    # The week simulator's (bench.sim_week); the day simulator leaves them as they are here.
    urgent: bool = False
    usual_reply: float | None = None  # how often the usual nurse answers (None: bench.sim_nurses.USUAL_REPLY)
    care_day: date | None = None  # the local day of the care, whose capacity a yes uses (None: ``day``)
    withdraw_after_s: float | None = None  # the first nurse to accept withdraws (DESISTE) this long after
    cancel_after_s: float | None = None  # the requester cancels this long after the request


def _distance(a: Place, b: Place) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(h))


def _pick(rng: random.Random, table) -> str:
    names, weights = zip(*table, strict=True)
    return rng.choices(names, weights)[0]


def load_places(session: Session, departments: list[str], seed: int) -> list[Place]:
    """The departments' communes, each weighted by a synthetic population.

    The communes table has no population, so sizes follow the rank-size rule (Zipf: the
    commune of rank r holds a share proportional to 1/r, which puts about a sixth of a
    department of 300 communes in its largest town, as Saint-Etienne is for the Loire), with
    the ranks shuffled by the seed.
    """
    rows = session.execute(
        select(Commune.insee, Commune.lat, Commune.lon)
        .where(Commune.department.in_(departments))
        .order_by(Commune.insee)
    ).all()
    if not rows:
        raise ValueError(f"no commune in department(s) {', '.join(departments)}")
    ranks = list(range(1, len(rows) + 1))
    random.Random(f"{seed}:places").shuffle(ranks)
    return [Place(r.insee, r.lat, r.lon, 1.0 / rank) for r, rank in zip(rows, ranks, strict=True)]


def make_nurses(places: list[Place], count: int, seed: int) -> list[SimNurse]:
    """``count`` nurses living where people live, each declaring 1 to 8 communes around home."""
    rng = random.Random(f"{seed}:nurses")
    weights = [p.weight for p in places]
    nurses = []
    for index in range(count):
        home = rng.choices(places, weights)[0]
        near = sorted((d, p.insee) for p in places if (d := _distance(home, p)) <= ZONE_RADIUS_KM)
        extra = rng.randint(0, 7)
        # Mostly the nearest communes, sometimes one a bit further: sample from twice as many.
        around = [insee for _, insee in near[1 : 1 + 2 * extra]]
        zones = (home.insee, *sorted(rng.sample(around, min(extra, len(around)))))
        skills = tuple(s for s, share in (("sortie", 0.5), ("perfusion", 0.35)) if rng.random() < share)
        availability = "mon-sat 07:00-13:00" if rng.random() < 0.1 else ""
        nurses.append(
            SimNurse(
                index=index,
                phone=f"+3361{index:07d}",
                name=f"Infirmière {index + 1}",
                home=home.insee,
                zones=zones,
                skills=skills,
                availability=availability,
                reply_rate=rng.betavariate(3.0, 1.5),
                willingness=rng.betavariate(2.0, 2.5),
                median_delay_s=60.0 * rng.lognormvariate(math.log(7.0), 0.9),
                busy_hours=rng.choices(BUSY_HOURS, BUSY_PATTERN_WEIGHTS)[0],
                capacity=rng.randint(1, 4),
            )
        )
    return nurses


def _arrival(rng: random.Random, kind: str) -> float:
    mean, spread = ARRIVAL[kind]
    while True:
        hour = rng.gauss(mean, spread)
        if FIRST_ARRIVAL <= hour <= LAST_ARRIVAL:
            return hour


def _local(day: date, hour: float, tz: ZoneInfo) -> datetime:
    minutes = round(hour * 60)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=tz)


def nurses_by_zone(nurses: list[SimNurse]) -> dict[str, list[SimNurse]]:
    """Each commune's nurses, those who declared it."""
    by_zone: dict[str, list[SimNurse]] = {}
    for nurse in nurses:
        for insee in nurse.zones:
            by_zone.setdefault(insee, []).append(nurse)
    return by_zone


def make_requests(
    places: list[Place], nurses: list[SimNurse], day: int, on: date, count: int, seed: int, tz: ZoneInfo
) -> list[SimRequest]:
    """One day's requests, in arrival order: where, what care, when, whose usual nurse."""
    rng = random.Random(f"{seed}:requests:{day}")
    weights = [p.weight for p in places]
    by_zone = nurses_by_zone(nurses)
    drafts = []
    for number in range(count):
        kind = _pick(rng, KINDS)
        care = _pick(rng, CARE_BY_KIND[kind])
        place = rng.choices(places, weights)[0]
        arrival = _local(on, _arrival(rng, kind), tz)
        usual = None
        if rng.random() < USUAL_SHARE[kind] and by_zone.get(place.insee):
            usual = rng.choice(by_zone[place.insee]).phone
        start, has_time = None, False
        if kind == "home" and rng.random() < 0.5:
            start, has_time = _local(on + timedelta(days=1), rng.choice((8.0, 8.5, 9.0, 10.0)), tz), True
        elif kind == "labo":
            start, has_time = _local(on + timedelta(days=1), 7.5, tz), True
        drafts.append(
            SimRequest(
                key=f"{seed}:{day}:{number}",
                day=day,
                at=arrival.astimezone(ZoneInfo("UTC")),
                kind=kind,
                care_type=care,
                insee=place.insee,
                usual_phone=usual,
                start_at=start.astimezone(ZoneInfo("UTC")) if start else None,
                has_start_time=has_time,
                callback_phone=f"+334770{rng.randrange(10**5):05d}",
            )
        )
    return sorted(drafts, key=lambda r: (r.at, r.key))

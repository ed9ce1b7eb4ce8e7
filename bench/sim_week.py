"""A synthetic week of the region for the week simulator (issue 12): nurses' weekly hours and
absences, and the week's requests of four kinds.

The nurses are the day simulator's (``bench.sim_region.make_nurses``: where they live, what they
declared, how they answer), given weekly hours, absences and nights (their own stream of draws).
The requests, each day of the week:

- **same-day** (08:00-19:00): nursing homes, discharges home and labs, as in the day simulator,
  for today, with no start time (as soon as possible);
- **evening/night** (made from 18:30 to 07:30 the next morning): a quarter urgent (as soon as
  possible, texted at any hour), the others for as soon as possible or a time the next morning;
- **planned timed** and **planned date-only**: hospital discharges decided 24 to 72 hours ahead
  (a date-only start is the day, stored as its local midnight, as the API and the IVR store it),
  half of them with a usual nurse who answers one text in two.

Weekends and public holidays have fewer requests. Some requests are cancelled by their
requester, and the first nurse to accept some of them withdraws (DESISTE) later. Everything is
drawn from the seed: the same seed gives the same week whatever the strategy.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from bench.sim_region import (
    CARE_BY_KIND,
    KINDS,
    USUAL_SHARE,
    Place,
    SimNurse,
    SimRequest,
    _arrival,
    _local,
    _pick,
    nurses_by_zone,
)

UTC = ZoneInfo("UTC")
SAME_DAY, EVENING, PLANNED_TIMED, PLANNED_DATE = "same-day", "evening/night", "planned timed", "planned date-only"
WEEK_KINDS = (SAME_DAY, EVENING, PLANNED_TIMED, PLANNED_DATE)
PLANNED = (PLANNED_TIMED, PLANNED_DATE)
# Requests of each kind, as shares of the weekday count (150 by default: 95 + 35 + 20), by day type.
VOLUME = {
    "weekday": {SAME_DAY: 95 / 150, "planned": 35 / 150, EVENING: 20 / 150},
    "saturday": {SAME_DAY: 55 / 150, "planned": 15 / 150, EVENING: 18 / 150},
    "sunday": {SAME_DAY: 35 / 150, "planned": 6 / 150, EVENING: 18 / 150},  # public holidays too
}
# Declared weekly hours (``""``: declares none, so always offered), with their shares.
WEEK_HOURS = (
    ("", 0.12),
    ("mon-fri 07:00-19:30", 0.40),
    ("mon-sat 07:00-19:30", 0.15),
    ("mon-sun 07:00-20:00", 0.13),
    ("thu-sun 07:00-20:00", 0.10),
    ("mon-sat 07:00-13:00", 0.10),
)
AWAKE_AT_NIGHT = 0.4  # of the nurses who declare no hours: the others read night texts at 07:00
ABSENCE_PER_WEEK = 0.08  # chance a nurse is away some days of a given week
ABSENCE_DAYS = (2, 7)
EVENING_URGENT = 0.25
PLANNED_CARE = (("sortie", 0.6), ("pansement", 0.15), ("perfusion", 0.15), ("injection", 0.1))
EVENING_CARE = (("injection", 0.3), ("pansement", 0.3), ("surveillance", 0.2), ("perfusion", 0.2))
PLANNED_USUAL = 0.5  # planned discharges with a usual nurse...
PLANNED_USUAL_REPLY = 0.5  # ...who answers one text in two
WITHDRAWN = 0.06  # requests whose first nurse withdraws after accepting
CANCELLED = 0.04  # requests their requester cancels
DISCHARGE_TIMES = (8.0, 8.5, 9.0, 9.5, 10.0, 10.5, 11.0, 11.5, 12.0, 14.0, 15.0)


def week_nurses(nurses: list[SimNurse], first_day: date, days: int, seed: int) -> list[SimNurse]:
    """The nurses with weekly hours, absences from ``first_day`` over ``days`` days, and nights."""
    rng = random.Random(f"{seed}:week-nurses")
    last_day = first_day + timedelta(days=days - 1)
    mondays = [first_day - timedelta(days=first_day.weekday()) + timedelta(weeks=w) for w in range(days // 7 + 2)]
    result = []
    for nurse in nurses:
        hours = _pick(rng, WEEK_HOURS)
        absences = []
        for monday in mondays:
            if rng.random() < ABSENCE_PER_WEEK:
                start = monday + timedelta(days=rng.randrange(7))
                end = start + timedelta(days=rng.randint(*ABSENCE_DAYS) - 1)
                if end >= first_day and start <= last_day:
                    absences.append((start, end))
        result.append(
            replace(
                nurse,
                availability=hours,
                absences=tuple(absences),
                sleeps=bool(hours) or rng.random() >= AWAKE_AT_NIGHT,
                keeps_hours=True,
            )
        )
    return result


def day_type(day: date) -> str:
    if day.weekday() == 6 or day in holidays_lib.France(years=day.year):
        return "sunday"
    return "saturday" if day.weekday() == 5 else "weekday"


def week_requests(
    places: list[Place], nurses: list[SimNurse], day: int, on: date, weekday_count: int, seed: int, tz: ZoneInfo
) -> list[SimRequest]:
    """One day's requests of the week (the evening's run into the next morning), in arrival order."""
    rng = random.Random(f"{seed}:week-requests:{day}")
    weights = [p.weight for p in places]
    by_zone = nurses_by_zone(nurses)
    volume = VOLUME[day_type(on)]
    counts = {kind: _count(rng, weekday_count * share) for kind, share in volume.items()}
    drafts: list[dict] = []
    for _ in range(counts[SAME_DAY]):
        kind = _pick(rng, KINDS)
        drafts.append(
            {
                "kind": SAME_DAY,
                "care": _pick(rng, CARE_BY_KIND[kind]),
                "at": _local(on, _arrival(rng, kind), tz),
                "usual_share": USUAL_SHARE[kind],
            }
        )
    for _ in range(counts[EVENING]):
        minutes = round(60 * (18.5 + 13.0 * rng.random() ** 1.5))  # to 07:30 the next morning, denser early
        at = _local(on + timedelta(days=minutes // 1440), (minutes % 1440) / 60, tz)
        draft = {"kind": EVENING, "care": _pick(rng, EVENING_CARE), "at": at, "usual_share": 0.2}
        if rng.random() < EVENING_URGENT:
            draft["urgent"] = True
        elif rng.random() < 0.5:
            morning = at.date() if at.hour < 12 else at.date() + timedelta(days=1)
            draft["start"], draft["timed"] = _local(morning, rng.choice((8.0, 8.5, 9.0, 10.0)), tz), True
        drafts.append(draft)
    for number in range(counts["planned"]):
        at = _local(on, min(17.5, max(9.0, rng.gauss(11.5, 2.0))), tz)
        timed = number % 2 == 0
        draft = {"kind": PLANNED_TIMED if timed else PLANNED_DATE, "care": _pick(rng, PLANNED_CARE), "at": at}
        draft["start"], draft["timed"] = _planned_start(rng, at, timed, tz), timed
        if rng.random() < PLANNED_USUAL:
            draft["usual_share"], draft["usual_reply"] = 1.0, PLANNED_USUAL_REPLY
        drafts.append(draft)
    requests = [
        _request(rng, places, weights, by_zone, draft, f"{seed}:{day}:{number}", day, tz)
        for number, draft in enumerate(drafts)
    ]
    return sorted(requests, key=lambda r: (r.at, r.key))


def _count(rng: random.Random, mean: float) -> int:
    """A whole number of requests around ``mean`` (the fraction drawn)."""
    return math.floor(mean) + (rng.random() < mean - math.floor(mean))


def _planned_start(rng: random.Random, at: datetime, timed: bool, tz: ZoneInfo) -> datetime:
    """A discharge 24 to 72 hours after ``at``: a time of that day, or the day alone (its midnight)."""
    if not timed:
        return datetime.combine(at.date() + timedelta(days=rng.randint(1, 3)), time(0, 0), tzinfo=tz)
    while True:
        start = _local(at.date() + timedelta(days=rng.randint(1, 3)), rng.choice(DISCHARGE_TIMES), tz)
        if timedelta(hours=24) <= start - at <= timedelta(hours=72):
            return start


def _request(rng, places, weights, by_zone, draft: dict, key: str, day: int, tz: ZoneInfo) -> SimRequest:
    place = rng.choices(places, weights)[0]
    usual = None
    if rng.random() < draft.get("usual_share", 0.0) and by_zone.get(place.insee):
        usual = rng.choice(by_zone[place.insee]).phone
    at, start = draft["at"], draft.get("start")
    care_day = (start or at).astimezone(tz).date()
    if start is None and not draft.get("urgent") and at.hour >= 18:
        care_day += timedelta(days=1)  # asked in the evening: the care is tomorrow morning
    withdraw_after = 60.0 * min(720.0, 10.0 + rng.lognormvariate(math.log(90.0), 1.0))
    cancel_after = _cancel_after(rng, at, start)
    return SimRequest(
        key=key,
        day=day,
        at=at.astimezone(UTC),
        kind=draft["kind"],
        care_type=draft["care"],
        insee=place.insee,
        usual_phone=usual,
        start_at=start.astimezone(UTC) if start else None,
        has_start_time=bool(draft.get("timed")),
        callback_phone=f"+334770{rng.randrange(10**5):05d}",
        urgent=bool(draft.get("urgent")),
        usual_reply=draft.get("usual_reply") if usual else None,
        care_day=care_day,
        withdraw_after_s=withdraw_after if rng.random() < WITHDRAWN else None,
        cancel_after_s=cancel_after if rng.random() < CANCELLED else None,
    )


def _cancel_after(rng: random.Random, at: datetime, start: datetime | None) -> float:
    """When a requester cancels: before the care starts (the patient stays in hospital...)."""
    if start is None:
        return 60.0 * rng.uniform(10.0, 240.0)
    room = (start - at).total_seconds() - 2 * 3600.0
    return max(600.0, rng.uniform(0.1, 1.0) * room)

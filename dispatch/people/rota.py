"""The duty rota: who is on duty when, and which coordinators hear of a request.

Nobody has to remember to flip a switch (grafana/oncall's schedules: rotations plus overrides,
"who is on call now" computed, never stored). A coordinator's weekly shifts say when she is on
duty; a date's exceptions take her off (holidays, the first half of a swap) or put her on (the
other half, an extra day); the service hours (``SERVICE_HOURS``, French public holidays closed)
cut everything. The manual switch of the status page overrides the rota until the end of the
shift (``switch_duty``); a standing "on duty" without an end (``sio coordinators create
--on-duty``) is kept for scripts.

Alerts and transferred calls go to the on-duty coordinators of the request's pole (found by the
department of its commune), and to the on-duty coordinators of no pole; when the pole has nobody
on duty, to every coordinator on duty rather than to nobody.

Times are minutes since local midnight (``1440``: the end of the day); instants are UTC and come
from local wall times, so a shift of 09:00-19:30 is 10 h 30 on the days the clocks change too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.config import Settings
from dispatch.hours import WeeklyHours
from dispatch.timeline import record
from models import Coordinator, Pole, RotaException, RotaShift

DAY_MINUTES = 1440
DEPARTMENT = re.compile(r"^(0[1-9]|[1-8]\d|9[0-5]|2A|2B|97[1-6])$")
#: How far "next on duty" looks ahead.
LOOKAHEAD_DAYS = 14
WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Shift:
    coordinator_id: int
    weekday: int
    starts: int
    ends: int


@dataclass(frozen=True)
class DateChange:
    coordinator_id: int
    day: date
    on_duty: bool
    starts: int | None = None
    ends: int | None = None


@dataclass(frozen=True)
class Duty:
    """A coordinator on duty from ``start`` to ``end`` (UTC)."""

    coordinator: Coordinator
    start: datetime
    end: datetime


# --- the pure rules ---------------------------------------------------------------------------


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def _subtract(intervals: list[tuple[int, int]], cut: tuple[int, int]) -> list[tuple[int, int]]:
    out = []
    for s, e in intervals:
        if cut[1] <= s or cut[0] >= e:
            out.append((s, e))
            continue
        if s < cut[0]:
            out.append((s, cut[0]))
        if cut[1] < e:
            out.append((cut[1], e))
    return out


def _instant(day: date, minutes: int, tz: tzinfo) -> datetime:
    local = datetime.combine(day, time(0, 0)) + timedelta(minutes=minutes)
    return local.replace(tzinfo=tz).astimezone(UTC)


def _hours_of(change: DateChange) -> tuple[int, int]:
    return (0, DAY_MINUTES) if change.starts is None else (change.starts, change.ends or DAY_MINUTES)


def day_minutes(shifts: Iterable[Shift], changes: Iterable[DateChange], day: date) -> dict[int, list[tuple[int, int]]]:
    """Each coordinator's rota of one local day in minutes, before the service hours cut it:
    her weekly shifts of that weekday and the day's "on" changes (without hours: the whole day,
    the service hours then cut it), less the day's "off" changes (without hours: the whole day)."""
    minutes: dict[int, list[tuple[int, int]]] = {}
    for shift in shifts:
        if shift.weekday == day.weekday():
            minutes.setdefault(shift.coordinator_id, []).append((shift.starts, shift.ends))
    todays = [c for c in changes if c.day == day]
    for change in todays:
        if change.on_duty:
            minutes.setdefault(change.coordinator_id, []).append(_hours_of(change))
    for change in todays:
        if not change.on_duty:
            minutes[change.coordinator_id] = _subtract(
                _merge(minutes.get(change.coordinator_id, [])), _hours_of(change)
            )
    return {cid: _merge(spans) for cid, spans in minutes.items() if spans}


def duty_spans(
    shifts: Iterable[Shift], changes: Iterable[DateChange], service_hours: WeeklyHours, tz: tzinfo, day: date
) -> dict[int, list[Span]]:
    """Each coordinator's on-duty periods of one local day, as UTC instants, within the service
    hours (none on a public holiday or a closed day)."""
    service = service_hours.day_spans(day, tz)
    spans: dict[int, list[Span]] = {}
    for cid, intervals in day_minutes(shifts, changes, day).items():
        for s, e in intervals:
            a, b = _instant(day, s, tz), _instant(day, e, tz)
            for open_a, open_b in service:
                lo, hi = max(a, open_a), min(b, open_b)
                if lo < hi:
                    spans.setdefault(cid, []).append((lo, hi))
    return spans


def departments_of(insee: str | None, postcode: str | None) -> set[str]:
    """The department(s) of a commune (INSEE code) or, without it, of a postcode."""
    code = (insee or postcode or "").strip().upper()
    if len(code) != 5:
        return set()
    if code.startswith("97"):
        return {code[:3]}
    if insee and code[:2] in ("2A", "2B"):
        return {code[:2]}
    if code.startswith("20"):  # a Corsican postcode (or an old INSEE code): either department
        return {"2A", "2B"}
    return {code[:2]}


def parse_departments(text: str) -> list[str]:
    """``42, 43 69`` as ``['42', '43', '69']``; raise ValueError naming a bad code (in French)."""
    codes = []
    for word in re.split(r"[\s,;]+", text.strip().upper()):
        if not word:
            continue
        if len(word) == 1 and word.isdigit():
            word = "0" + word
        if not DEPARTMENT.match(word):
            raise ValueError(f"« {word} » n'est pas un numéro de département (ex. 42, 2A, 974)")
        if word not in codes:
            codes.append(word)
    if not codes:
        raise ValueError("indiquez au moins un département (ex. 42 69)")
    return codes


def parse_minutes(text: str, *, end: bool = False) -> int:
    """``9:00``, ``09h30``, ``19:30`` in minutes since midnight (``24:00`` only as an end);
    raise ValueError in French."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*[:hH]\s*(\d{2})?\s*", text or "")
    if not match:
        raise ValueError("heure attendue au format HH:MM (ex. 09:00)")
    hours, minutes = int(match[1]), int(match[2] or 0)
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise ValueError("heure impossible")
    return hours * 60 + minutes


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- from the database ------------------------------------------------------------------------


def _rules(session: Session, days: list[date]) -> tuple[list[Shift], list[DateChange]]:
    shifts = [
        Shift(s.coordinator_id, s.weekday, s.starts, s.ends)
        for s in session.scalars(select(RotaShift).where(RotaShift.weekday.in_({d.weekday() for d in days})))
    ]
    changes = [
        DateChange(c.coordinator_id, c.on_date, c.on_duty, c.starts, c.ends)
        for c in session.scalars(select(RotaException).where(RotaException.on_date.in_(days)))
    ]
    return shifts, changes


def rota_spans(session: Session, settings: Settings, first: date, days: int = 1) -> dict[date, dict[int, list[Span]]]:
    """The rota's on-duty periods of ``days`` local days from ``first``."""
    dates = [first + timedelta(days=i) for i in range(days)]
    shifts, changes = _rules(session, dates)
    return {d: duty_spans(shifts, changes, settings.service_hours, settings.timezone, d) for d in dates}


def rota_now(session: Session, settings: Settings, now: datetime) -> dict[int, datetime]:
    """The coordinators the rota puts on duty at ``now``, with the end of their shift."""
    today = now.astimezone(settings.timezone).date()
    return {
        cid: b for cid, spans in rota_spans(session, settings, today)[today].items() for a, b in spans if a <= now < b
    }


def is_on_duty(coordinator: Coordinator, rota_until: datetime | None, now: datetime) -> bool:
    """The switch while it runs (until the end of the shift), a standing "on duty", or the rota."""
    if coordinator.disabled_at is not None:
        return False
    if coordinator.on_duty_until is not None and coordinator.on_duty_until > now:
        return coordinator.on_duty
    if coordinator.on_duty_until is None and coordinator.on_duty:
        return True
    return rota_until is not None


def on_duty_now(session: Session, settings: Settings, now: datetime) -> list[Coordinator]:
    """Every coordinator on duty at ``now``, by name."""
    rota = rota_now(session, settings, now)
    coordinators = session.scalars(
        select(Coordinator).where(Coordinator.disabled_at.is_(None)).order_by(Coordinator.name, Coordinator.id)
    )
    return [c for c in coordinators if is_on_duty(c, rota.get(c.id), now)]


def pole_for(session: Session, insee: str | None, postcode: str | None) -> Pole | None:
    """The pole whose departments hold the commune (or the postcode); None when no pole does."""
    wanted = departments_of(insee, postcode)
    if not wanted:
        return None
    for pole in session.scalars(select(Pole).order_by(Pole.id)):
        if wanted & set(pole.department_codes):
            return pole
    return None


def recipients(
    session: Session, settings: Settings, now: datetime, *, insee: str | None = None, postcode: str | None = None
) -> list[Coordinator]:
    """Who hears of a request (alerts, transferred calls): the on-duty coordinators of its pole and
    those of no pole; everyone on duty when its pole is unknown or has nobody on duty."""
    on_duty = on_duty_now(session, settings, now)
    pole = pole_for(session, insee, postcode)
    if pole is None:
        return on_duty
    own = [c for c in on_duty if c.pole_id == pole.id]
    if not own:
        return on_duty
    return own + [c for c in on_duty if c.pole_id is None]


def shift_end(session: Session, settings: Settings, coordinator: Coordinator, now: datetime) -> datetime:
    """When a switch flipped at ``now`` stops overriding the rota: the end of her shift, else the
    end of the service's open period, else (the service closed) its next opening."""
    mine = rota_now(session, settings, now).get(coordinator.id)
    if mine is not None:
        return mine
    local = now.astimezone(settings.timezone)
    for a, b in settings.service_hours.spans(local, local + timedelta(days=LOOKAHEAD_DAYS)):
        return b if a <= now else a
    return now + timedelta(hours=12)


def switch_duty(
    session: Session, settings: Settings, coordinator: Coordinator, on_duty: bool, now: datetime, *, actor: str
) -> datetime | None:
    """The status page's switch: on (or off) duty until the end of the shift, whatever the rota
    says; returns that end (None when she is disabled)."""
    if coordinator.disabled_at is not None:
        return None
    until = shift_end(session, settings, coordinator, now)
    coordinator.on_duty, coordinator.on_duty_until = on_duty, until
    kind = "coordinator_on_duty" if on_duty else "coordinator_off_duty"
    record(session, None, kind, now, actor=actor, coordinator=coordinator.name, until=until.isoformat())
    return until


def duties(session: Session, settings: Settings, now: datetime, days: int = LOOKAHEAD_DAYS) -> list[Duty]:
    """The rota's periods that have not ended, from today on, in order (the switch not counted)."""
    today = now.astimezone(settings.timezone).date()
    by_day = rota_spans(session, settings, today, days)
    people = {c.id: c for c in session.scalars(select(Coordinator).where(Coordinator.disabled_at.is_(None)))}
    found = [
        Duty(people[cid], a, b)
        for spans in by_day.values()
        for cid, periods in spans.items()
        if cid in people
        for a, b in periods
        if b > now
    ]
    return sorted(found, key=lambda d: (d.start, d.coordinator.name))


def next_on_duty(duties_ahead: list[Duty], now: datetime) -> list[Duty]:
    """The next change of guard: the periods starting at the first start after ``now``."""
    ahead = [d for d in duties_ahead if d.start > now]
    if not ahead:
        return []
    first = ahead[0].start
    return [d for d in ahead if d.start == first]

"""Weekly opening hours: ``mon-sat 09:00-19:30; sun 10:00-12:00``.

The format (DESIGN §4): parts separated by ``;``; each part is an optional day
or day range (``mon``…``sun``, ``mon-fri``, also ``mon,wed``) then ``HH:MM-HH:MM``.
``24:00`` is a valid end. A part with no day applies every day. An empty text
means "always". French public holidays are closed when ``closed_on_holidays``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import holidays as holidays_lib

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead ``next_open`` and ``add_open`` look before giving up on closed hours.
HORIZON = timedelta(days=400)
_PART = re.compile(r"^(?:(?P<days>[a-z,\-]+)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")


class HoursError(ValueError):
    """An hours text that cannot be read; the message says why, in English for operators."""


def _minutes(text: str, *, allow_24: bool) -> int:
    hours, minutes = (int(x) for x in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not allow_24)):
        raise HoursError(f"invalid time {text!r}")
    return hours * 60 + minutes


def _days(text: str) -> set[int]:
    result: set[int] = set()
    for chunk in text.split(","):
        if "-" in chunk:
            first, _, last = chunk.partition("-")
            if first not in DAYS or last not in DAYS:
                raise HoursError(f"unknown day range {chunk!r} (use mon…sun)")
            i, j = DAYS.index(first), DAYS.index(last)
            result.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif chunk in DAYS:
            result.add(DAYS.index(chunk))
        else:
            raise HoursError(f"unknown day {chunk!r} (use mon…sun)")
    return result


@dataclass(frozen=True)
class WeeklyHours:
    """Open intervals per weekday (0 = Monday), in minutes since local midnight."""

    intervals: tuple[tuple[int, int, int], ...] = ()  # (weekday, start_min, end_min)
    always: bool = False
    closed_on_holidays: bool = False
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str | None, *, closed_on_holidays: bool = False) -> WeeklyHours:
        """Parse the hours format; raise :class:`HoursError` naming the bad part."""
        text = (text or "").strip()
        if not text:
            return cls(always=True, closed_on_holidays=closed_on_holidays, text="")
        intervals: list[tuple[int, int, int]] = []
        for raw in text.lower().split(";"):
            part = " ".join(raw.split())
            if not part:
                continue
            match = _PART.match(part)
            if not match:
                raise HoursError(f"cannot read {raw.strip()!r} (expected e.g. 'mon-fri 08:00-19:00')")
            start = _minutes(match["start"], allow_24=False)
            end = _minutes(match["end"], allow_24=True)
            if end <= start:
                raise HoursError(f"{raw.strip()!r} ends before it starts")
            days = _days(match["days"]) if match["days"] else set(range(7))
            intervals.extend((d, start, end) for d in sorted(days))
        if not intervals:
            raise HoursError("no hours given")
        return cls(tuple(intervals), closed_on_holidays=closed_on_holidays, text=text)

    def is_holiday(self, day: date) -> bool:
        return self.closed_on_holidays and day in _french_holidays(day.year)

    def contains(self, local: datetime) -> bool:
        """True when the local (naive or aware, in the service's zone) time is inside the hours."""
        if self.always:
            return not self.is_holiday(local.date())
        if self.is_holiday(local.date()):
            return False
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        return any(d == weekday and s <= minute < e for d, s, e in self.intervals)

    def next_open(self, local: datetime) -> datetime:
        """The first instant at or after ``local`` (aware, local) inside the hours, in ``local``'s
        zone; ``local`` when never open within :data:`HORIZON`."""
        for start, _ in self.spans(local, local + HORIZON):
            return start.astimezone(local.tzinfo)
        return local

    def day_spans(self, day: date, tz: tzinfo) -> list[tuple[datetime, datetime]]:
        """The open periods of one local day in ``tz``, merged, as UTC instants (``24:00`` is the
        next midnight). On a clock change ``07:30-20:30`` is still 13 hours."""
        if self.is_holiday(day):
            return []
        minutes = [(0, 1440)] if self.always else sorted((s, e) for d, s, e in self.intervals if d == day.weekday())
        merged: list[list[int]] = []
        for s, e in minutes:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        midnight = datetime.combine(day, time(0, 0))
        return [
            (_instant(midnight + timedelta(minutes=s), tz), _instant(midnight + timedelta(minutes=e), tz))
            for s, e in merged
        ]

    def spans(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open periods between two aware datetimes, in order, cut to ``[start, end)``, as
        UTC instants; the days are ``start``'s time zone's (give local times)."""
        tz = start.tzinfo
        day = start.date() - timedelta(days=1)  # a span may begin the day before
        last = end.astimezone(tz).date()
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        while day <= last:
            for a, b in self.day_spans(day, tz):
                a, b = max(a, start), min(b, end)
                if a < b:
                    yield a, b
            day += timedelta(days=1)

    def open_seconds(self, start: datetime, end: datetime) -> float:
        """How many seconds between two aware instants fall inside the hours."""
        return sum((b - a).total_seconds() for a, b in self.spans(start, end)) if start < end else 0.0

    def add_open(self, start: datetime, seconds: float) -> datetime:
        """The instant (UTC) at which ``seconds`` of open time have passed since ``start`` (aware,
        local): the night, a Sunday or a holiday do not count when the hours are closed then."""
        left = seconds
        cursor = start
        while cursor < start + HORIZON:
            for a, b in self.spans(cursor, cursor + timedelta(days=7)):
                length = (b - a).total_seconds()
                if left <= length:
                    return a + timedelta(seconds=left)
                left -= length
            cursor += timedelta(days=7)
        return (start + timedelta(seconds=seconds)).astimezone(UTC)  # never open: plain time

    def open_before(self, end: datetime, seconds: float, not_before: datetime) -> datetime | None:
        """The latest instant (UTC) from which ``seconds`` of open time remain before ``end``
        (aware, local); None when there is not that much between ``not_before`` and ``end``."""
        spans = list(self.spans(not_before, end))
        left = seconds
        for a, b in reversed(spans):
            length = (b - a).total_seconds()
            if left <= length:
                return b - timedelta(seconds=left)
            left -= length
        return None

    def works_between(self, start: datetime, end: datetime) -> bool:
        """Whether the hours are open at some moment of ``[start, end)`` (aware)."""
        return next(self.spans(start, end), None) is not None


def _instant(local: datetime, tz: tzinfo) -> datetime:
    """A naive local wall time in ``tz`` as a UTC instant (a time skipped by a clock change
    moves forward with it). Instants, not wall times, so that differences are real seconds."""
    return local.replace(tzinfo=tz).astimezone(UTC)


_HOLIDAY_CACHE: dict[int, holidays_lib.HolidayBase] = {}


def _french_holidays(year: int) -> holidays_lib.HolidayBase:
    if year not in _HOLIDAY_CACHE:
        _HOLIDAY_CACHE[year] = holidays_lib.France(years=year)
    return _HOLIDAY_CACHE[year]


def parse_time_of_day(text: str) -> time:
    """``HH:MM`` to a :class:`time`."""
    minutes = _minutes(text, allow_24=False)
    return time(minutes // 60, minutes % 60)

"""Weekly opening hours: ``mon-sat 09:00-19:30; sun 10:00-12:00``.

The format (DESIGN §4): parts separated by ``;``; each part is an optional day
or day range (``mon``…``sun``, ``mon-fri``, also ``mon,wed``) then ``HH:MM-HH:MM``.
``24:00`` is a valid end. A part with no day applies every day. An empty text
means "always". French public holidays are closed when ``closed_on_holidays``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import holidays as holidays_lib

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
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
        """The first local time at or after ``local`` inside the hours (at most 15 days ahead)."""
        if self.contains(local):
            return local
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        for offset in range(16):
            day = day_start + timedelta(days=offset)
            if self.is_holiday(day.date()):
                continue
            starts = sorted(s for d, s, _ in self.intervals if d == day.weekday()) if not self.always else [0]
            for start in starts:
                candidate = day + timedelta(minutes=start)
                if candidate >= local:
                    return candidate
        return local


_HOLIDAY_CACHE: dict[int, holidays_lib.HolidayBase] = {}


def _french_holidays(year: int) -> holidays_lib.HolidayBase:
    if year not in _HOLIDAY_CACHE:
        _HOLIDAY_CACHE[year] = holidays_lib.France(years=year)
    return _HOLIDAY_CACHE[year]


def parse_time_of_day(text: str) -> time:
    """``HH:MM`` to a :class:`time`."""
    minutes = _minutes(text, allow_24=False)
    return time(minutes // 60, minutes % 60)

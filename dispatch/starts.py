"""When care starts, as every channel reads it (API, SMS, phone menu): one set of rules.

- A day and month without a year (``05/01``, ``0501`` on the keypad) is the nearest such date:
  on 3 December, ``05/01`` is next January and ``02/12`` is yesterday.
- A start on an earlier day is refused (each channel says so in French and asks again); a
  start earlier today is kept and means "as soon as possible" (a ward that calls at 10:00 for
  "ce matin 9h" still needs a nurse: ``dispatch.lifecycle`` treats it so).
- A start more than :data:`MAX_AHEAD` away is refused too: it is a typing mistake.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

MAX_AHEAD = timedelta(days=365)
PAST = "date dans le passé"
TOO_FAR = "date trop lointaine (plus d'un an)"


def nearest_date(day: int, month: int, today: date) -> date | None:
    """The date with this day and month nearest to ``today`` (None: no such date, e.g. 31/02)."""
    found = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            found.append(date(year, month, day))
        except ValueError:
            continue
    if not found:
        return None
    return min(found, key=lambda d: (abs((d - today).days), d < today))


def start_error(start_local: datetime | date, now_local: datetime) -> str | None:
    """Why a start cannot be taken (French, for a field or a text), or None when it can.

    ``start_local``: the local start (a datetime), or a day (a date).
    """
    day = start_local if not isinstance(start_local, datetime) else start_local.date()
    if day < now_local.date():
        return PAST
    if day > (now_local + MAX_AHEAD).date():
        return TOO_FAR
    return None

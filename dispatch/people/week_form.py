"""A nurse's weekly hours as a form of seven days with up to two slots each, to and from the hours
text that matching reads (DESIGN §4: ``mon-fri 07:00-12:00; mon-fri 16:00-20:00; sat 08:00-12:00``).

"At any time" is the empty text. A day with no slot is a day off. An end of ``00:00`` (or
``24:00``) is midnight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dispatch.hours import DAYS, HoursError, WeeklyHours

DAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
SLOTS = 2
MAX_TEXT = 200  # Nurse.availability is String(200)
_TIME = re.compile(r"^([01]?\d|2[0-4])[:h]([0-5]\d)$")

Slot = tuple[str, str]


@dataclass
class WeekForm:
    """What the form shows: ``always`` or, per day (Monday first), its slots as ``HH:MM`` pairs."""

    always: bool
    days: list[list[Slot]]


class WeekError(ValueError):
    """Bad hours: ``errors`` maps a day's index (or ``-1`` for the whole week) to a French message."""

    def __init__(self, errors: dict[int, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def form_from_text(text: str | None) -> WeekForm:
    """The form for a nurse's hours text (an unreadable one shows as "at any time", as matching reads it)."""
    try:
        hours = WeeklyHours.parse(text)
    except HoursError:
        return WeekForm(True, [[] for _ in DAYS])
    days: list[list[Slot]] = [[] for _ in DAYS]
    for day, start, end in sorted(hours.intervals):
        days[day].append((_hhmm(start), _hhmm(end % (24 * 60))))  # midnight: 00:00, as a time field shows it
    return WeekForm(hours.always, days)


def _minutes(text: str, *, end: bool) -> int | None:
    match = _TIME.match(text.strip())
    if not match:
        return None
    total = int(match[1]) * 60 + int(match[2])
    if total > 24 * 60 or (total == 24 * 60 and not end):
        return None
    return 24 * 60 if end and total == 0 else total


def text_from_form(always: bool, days: list[list[Slot]]) -> str:
    """The hours text for a filled form; raises :class:`WeekError` naming each bad day."""
    if always:
        return ""
    errors: dict[int, str] = {}
    per_day: list[tuple[tuple[int, int], ...]] = []
    for index, slots in enumerate(days[: len(DAYS)]):
        kept: list[tuple[int, int]] = []
        for start_text, end_text in slots[:SLOTS]:
            if not start_text.strip() and not end_text.strip():
                continue
            start, end = _minutes(start_text, end=False), _minutes(end_text, end=True)
            day = DAY_NAMES[index].capitalize()
            if start is None or end is None:
                errors[index] = f"{day} : indiquez le début et la fin au format HH:MM (ex. 07:30)."
                break
            if end <= start:
                errors[index] = f"{day} : la fin ({end_text.strip()}) doit venir après le début ({start_text.strip()})."
                break
            kept.append((start, end))
        kept.sort()
        if index not in errors and any(a[1] > b[0] for a, b in zip(kept, kept[1:], strict=False)):
            errors[index] = f"{DAY_NAMES[index].capitalize()} : les deux créneaux se chevauchent."
        per_day.append(tuple(kept))
    if errors:
        raise WeekError(errors)
    if not any(per_day):
        raise WeekError({-1: "Indiquez au moins un créneau, ou cochez « à toute heure, tous les jours »."})
    text = _compose(per_day)
    if len(text) > MAX_TEXT:
        raise WeekError({-1: "Trop de créneaux différents d'un jour à l'autre : regroupez-les un peu."})
    WeeklyHours.parse(text)  # what matching reads must read back
    return text


def _compose(per_day: list[tuple[tuple[int, int], ...]]) -> str:
    """``mon-fri 07:00-12:00; sat 08:00-12:00``: days with the same slot grouped, in week order."""
    groups: dict[tuple[int, int], list[int]] = {}
    for day, slots in enumerate(per_day):
        for slot in slots:
            groups.setdefault(slot, []).append(day)
    parts = sorted(groups.items(), key=lambda item: (item[1][0], item[0]))
    return "; ".join(f"{_day_list(days)} {_hhmm(s)}-{_hhmm(e)}" for (s, e), days in parts)


def _day_list(days: list[int]) -> str:
    """``mon-fri``, ``mon,wed``, ``mon-wed,sat``."""
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(DAYS[r[0]] if len(r) == 1 else f"{DAYS[r[0]]}-{DAYS[r[-1]]}" for r in runs)


def describe(text: str | None) -> list[str]:
    """Her hours in French, a line per day (``lundi : 07:00-12:00, 16:00-20:00``)."""
    form = form_from_text(text)
    if form.always:
        return ["à toute heure, tous les jours"]
    return [
        f"{DAY_NAMES[i]} : {', '.join(f'{s}-{e}' if e != '00:00' else f'{s}-minuit' for s, e in slots) or 'repos'}"
        for i, slots in enumerate(form.days)
    ]

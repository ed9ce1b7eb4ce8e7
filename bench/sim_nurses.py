"""How a simulated nurse answers an offer: whether, how fast, and yes or no.

The draws for one (request, nurse) pair come from a generator seeded by both keys, so a
nurse texted about the same request by two strategies reads it the same way: the strategies
differ only in whom they text and when (common random numbers). A second offer of the same
request (a later round, after a withdrawal) is a new draw, seeded by its rank too. Her yes
still depends on the moment: on her busy hours when the text arrives, and on how many patients
she already took for that day when she answers.

Week nurses (``bench.sim_week``) also sleep (a text that reaches her at night is read in the
morning) and say no to care at a time they do not work; the day simulator's nurses do neither.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench.sim_region import SimNurse
from dispatch.hours import WeeklyHours

BUSY_REPLY = 0.6  # during her rounds she answers less often...
BUSY_DELAY = 2.5  # ...and later
DELAY_SIGMA = 1.0  # spread of one answer's delay around her own median (lognormal)
NEVER_AFTER_S = 3 * 3600  # an answer later than this is never sent: she forgot it
USUAL_REPLY = 0.9  # a text about her own patient is rarely left unanswered
QUIET_HOUR = 12  # in nobody's busy hours: the hour at which "would she say yes" is judged
NIGHT = (22, 7)  # a sleeping nurse reads a text that arrives from 22:00 to 07:00 at 07:00


@dataclass(frozen=True)
class Reading:
    """What she will do about one offer, decided when it reaches her."""

    delay_s: float  # when she answers, after the text arrived (or after she woke up)
    u_yes: float  # her yes threshold draw, compared at answer time with her willingness then
    usual: bool  # the request's patient is hers already


def read_offer(
    nurse: SimNurse,
    request_key: str,
    local_hour: int,
    usual: bool,
    *,
    usual_reply: float | None = None,
    nth: int = 1,
) -> Reading | None:
    """Her reaction to her ``nth`` offer of a request texted at ``local_hour``; None when she never
    answers. ``usual_reply``: how often the usual nurse answers about her patient (default: at
    least ``USUAL_REPLY``)."""
    seed = f"{request_key}:{nurse.index}" if nth == 1 else f"{request_key}:{nurse.index}:{nth}"
    rng = random.Random(seed)
    u_reply, z, u_yes = rng.random(), rng.gauss(0.0, 1.0), rng.random()
    busy = local_hour in nurse.busy_hours
    if usual:
        reply_rate = max(nurse.reply_rate, USUAL_REPLY) if usual_reply is None else usual_reply
    else:
        reply_rate = nurse.reply_rate
    reply_rate *= BUSY_REPLY if busy else 1.0
    if u_reply >= reply_rate:
        return None
    delay = nurse.median_delay_s * (BUSY_DELAY if busy else 1.0) * math.exp(DELAY_SIGMA * z)
    if delay > NEVER_AFTER_S:
        return None
    return Reading(delay, u_yes, usual)


def willingness(nurse: SimNurse, usual: bool) -> float:
    """Her chance of a yes when she answers, with room for the patient."""
    if usual:
        return 1.0 - (1.0 - nurse.willingness) ** 3  # her own patient: she rarely refuses
    return nurse.willingness


def says_yes(nurse: SimNurse, reading: Reading, patients_today: int) -> bool:
    """Yes or no when she answers: less likely the more patients she took for that day."""
    room = max(0.0, 1.0 - patients_today / nurse.capacity)
    return reading.u_yes < willingness(nurse, reading.usual) * room


def would_say_yes(nurse: SimNurse, request_key: str, usual: bool, *, usual_reply: float | None = None) -> bool:
    """Whether her first offer of this request, texted at a quiet hour to a nurse with room, gets a yes."""
    reading = read_offer(nurse, request_key, QUIET_HOUR, usual, usual_reply=usual_reply)
    return reading is not None and reading.u_yes < willingness(nurse, usual)


def reads_at(nurse: SimNurse, arrived_local: datetime) -> datetime:
    """When she first looks at a text that reached her at ``arrived_local``: at once, or when
    she wakes up if she sleeps and it came at night."""
    if not nurse.sleeps:
        return arrived_local
    late, early = NIGHT
    if arrived_local.hour >= late:
        morning = arrived_local + timedelta(days=1)
    elif arrived_local.hour < early:
        morning = arrived_local
    else:
        return arrived_local
    return morning.replace(hour=early, minute=0, second=0, microsecond=0)


def works_for(hours: WeeklyHours, start_local: datetime, has_time: bool) -> bool:
    """Whether hours cover a care starting at ``start_local`` (a date-only start: any time that day)."""
    if has_time:
        return hours.contains(start_local)
    return hours.always or any(d == start_local.weekday() for d, _, _ in hours.intervals)

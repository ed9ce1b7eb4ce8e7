"""How a simulated nurse answers an offer: whether, how fast, and yes or no.

The draws for one (request, nurse) pair come from a generator seeded by both keys, so a
nurse texted about the same request by two strategies reads it the same way: the strategies
differ only in whom they text and when (common random numbers). Her yes still depends on the
moment: on her busy hours when the text arrives, and on how many patients she already took
that day when she answers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from bench.sim_region import SimNurse

BUSY_REPLY = 0.6  # during her rounds she answers less often...
BUSY_DELAY = 2.5  # ...and later
DELAY_SIGMA = 1.0  # spread of one answer's delay around her own median (lognormal)
NEVER_AFTER_S = 3 * 3600  # an answer later than this is never sent: she forgot it
USUAL_REPLY = 0.9  # a text about her own patient is rarely left unanswered


@dataclass(frozen=True)
class Reading:
    """What she will do about one offer, decided when it reaches her."""

    delay_s: float  # when she answers, after the text arrived
    u_yes: float  # her yes threshold draw, compared at answer time with her willingness then
    usual: bool  # the request's patient is hers already


def read_offer(nurse: SimNurse, request_key: str, local_hour: int, usual: bool) -> Reading | None:
    """Her reaction to an offer texted at ``local_hour``; None when she never answers."""
    rng = random.Random(f"{request_key}:{nurse.index}")
    u_reply, z, u_yes = rng.random(), rng.gauss(0.0, 1.0), rng.random()
    busy = local_hour in nurse.busy_hours
    reply_rate = max(nurse.reply_rate, USUAL_REPLY) if usual else nurse.reply_rate
    reply_rate *= BUSY_REPLY if busy else 1.0
    if u_reply >= reply_rate:
        return None
    delay = nurse.median_delay_s * (BUSY_DELAY if busy else 1.0) * math.exp(DELAY_SIGMA * z)
    if delay > NEVER_AFTER_S:
        return None
    return Reading(delay, u_yes, usual)


def says_yes(nurse: SimNurse, reading: Reading, patients_today: int) -> bool:
    """Yes or no when she answers: less likely the more patients she took today."""
    willingness = nurse.willingness
    if reading.usual:
        willingness = 1.0 - (1.0 - willingness) ** 3  # her own patient: she rarely refuses
    room = max(0.0, 1.0 - patients_today / nurse.capacity)
    return reading.u_yes < willingness * room

"""A care request's life in one place: its statuses, the one move that changes them, its clock.

**Statuses.** A request is ``open`` (searching), ``accepted`` (a nurse said yes, the requester not
told yet), ``confirmed`` (told), ``unfilled`` (nobody; coordinators alerted: a late yes still
wins), ``cancelled``, or ``review`` (a coordinator must look first). An offer is ``pending``
(written, text not out yet), ``sent``, ``delivered``, then ``accepted``, ``declined``,
``failed`` (undeliverable), ``withdrawn`` (closed before she saw it, or superseded by a later
round), or ``taken`` (someone else said yes first).

**Moves.** :func:`transition` is the only way a request's status changes: one guarded
``UPDATE ... WHERE status IN (...)`` (so two workers never both move it), the ORM object told
what was written, and the timeline event, in the caller's transaction. :data:`MOVES` lists
every move with the statuses it may start from.

**The clock.** What a request's times mean, computed here and nowhere else:

- Offers go out only inside ``NURSE_TEXTING_HOURS`` unless the request is urgent; so does the
  news to the requester and the coordinators. Other texts to a nurse ("pourvue", "annulée")
  wait for texting hours even for an urgent request; only the direct answer to her own text
  goes at any hour. Waiting for the morning is not searching: every wait
  of the search (the usual nurse's window, a wave's wait, ``DISPATCH_GIVE_UP_S``) counts only
  texting time (plain time for an urgent request).
- A request whose care starts later than that is searched for longer: until two hours of
  ``SERVICE_HOURS`` before its start (:data:`COORDINATOR_LEAD`), so that coordinators alerted
  then can still act before it; when the service hours leave no such time, until the start.
- Care that starts at a given time needs a nurse who works then; care on a given day (a date
  without a time) one who works some time that day; care as soon as possible (or whose time
  has already passed today) one who works within the next 24 hours.
- A new *round* (a nurse's withdrawal, a coordinator's relaunch) is a fresh search from now:
  the nurses who declined stay out, those who never answered may be asked again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from dispatch.config import Settings
from dispatch.hours import WeeklyHours
from dispatch.timeline import record
from models import CareRequest, Nurse


class RequestStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    UNFILLED = "unfilled"
    CANCELLED = "cancelled"
    REVIEW = "review"


class OfferStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"
    TAKEN = "taken"


# A request in these statuses still takes a nurse's yes.
ACCEPTING: tuple[RequestStatus, ...] = (RequestStatus.OPEN, RequestStatus.UNFILLED)
ACTIVE: tuple[RequestStatus, ...] = (
    RequestStatus.OPEN,
    RequestStatus.ACCEPTED,
    RequestStatus.UNFILLED,
    RequestStatus.REVIEW,
)
# A confirmed request can still be cancelled (the patient went back to hospital...).
CANCELLABLE: tuple[RequestStatus, ...] = (*ACTIVE, RequestStatus.CONFIRMED)
TAKEN_BY_A_NURSE: tuple[RequestStatus, ...] = (RequestStatus.ACCEPTED, RequestStatus.CONFIRMED)
CLOSED: tuple[RequestStatus, ...] = (RequestStatus.CONFIRMED, RequestStatus.CANCELLED, RequestStatus.UNFILLED)
# Offers still waiting for her answer; offers that end a wave early when all of a wave's are so.
AWAITING: tuple[OfferStatus, ...] = (OfferStatus.PENDING, OfferStatus.SENT, OfferStatus.DELIVERED)
FINISHED: tuple[OfferStatus, ...] = (OfferStatus.DECLINED, OfferStatus.FAILED, OfferStatus.WITHDRAWN)


class Move(NamedTuple):
    sources: tuple[RequestStatus, ...]
    target: RequestStatus


MOVES: dict[str, Move] = {
    # a nurse's yes (or a coordinator's, for her)
    "accepted": Move(ACCEPTING, RequestStatus.ACCEPTED),
    # the requester heard who will come
    "confirmed": Move((RequestStatus.ACCEPTED,), RequestStatus.CONFIRMED),
    # the search ended without a yes
    "unfilled": Move((RequestStatus.OPEN,), RequestStatus.UNFILLED),
    # the nurse gave it back: a new round
    "withdrawn": Move(TAKEN_BY_A_NURSE, RequestStatus.OPEN),
    # a coordinator starts a new round
    "relaunched": Move((RequestStatus.OPEN, RequestStatus.UNFILLED, RequestStatus.REVIEW), RequestStatus.OPEN),
    "cancelled": Move(CANCELLABLE, RequestStatus.CANCELLED),
}

# Coordinators are alerted this much service time before a planned start.
COORDINATOR_LEAD = timedelta(hours=2)
# A request starting more than this far ahead gives the usual nurse the planned window.
PLANNED_AHEAD = timedelta(hours=24)
# "As soon as possible" wants a nurse who works within this.
SOON = timedelta(hours=24)


def transition(
    session: Session,
    request: CareRequest,
    move: str,
    now: datetime,
    *,
    event: str | None = None,
    sources: tuple[RequestStatus, ...] | None = None,
    where: tuple = (),
    values: dict[str, Any] | None = None,
    actor: str = "system",
    nurse: Nurse | None = None,
    **data: Any,
) -> bool:
    """Move the request along ``MOVES[move]`` if it is still in one of the move's sources.

    One guarded UPDATE (``where``: more conditions, ``values``: more columns to write), the
    object synced with what was written, and the event ``event`` (the move's name by default)
    recorded. False, with nothing written, when another transaction moved the request first.
    ``sources`` narrows (or, for a coordinator's hand, widens) where the move may start.
    """
    rule = MOVES[move]
    written = {"status": rule.target.value, "updated_at": now, **(values or {})}
    moved = session.execute(
        update(CareRequest)
        .where(CareRequest.id == request.id, CareRequest.status.in_(sources or rule.sources), *where)
        .values(**written)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return False
    for key, value in written.items():  # the UPDATE wrote them: tell the ORM without reading the row again
        set_committed_value(request, key, value)
    record(session, request, event or move, now, actor=actor, nurse=nurse, **data)
    return True


# --- the clock ----------------------------------------------------------------------------------

_ALWAYS = WeeklyHours(always=True)


def offer_hours(settings: Settings, request: CareRequest) -> WeeklyHours:
    """When the request's offers and news may go out, and whose time its search spends."""
    return _ALWAYS if request.urgent else settings.nurse_texting_hours


def send_time(settings: Settings, request: CareRequest | None, now: datetime) -> datetime:
    """When an offer, or news about ``request`` to its requester or the coordinators, may leave:
    now for an urgent request, else within texting hours."""
    if request is not None and request.urgent:
        return now
    return nurse_notice_time(settings, now)


def nurse_notice_time(settings: Settings, now: datetime) -> datetime:
    """When a notice to a nurse may leave ("pourvue", "annulée"...: anything but an offer and the
    answer to her own text): within texting hours, even for an urgent request."""
    return settings.nurse_texting_hours.next_open(now.astimezone(settings.timezone)).astimezone(now.tzinfo)


def after(settings: Settings, request: CareRequest, start: datetime, seconds: float) -> datetime:
    """The instant ``seconds`` of the search's time after ``start`` (the night does not count)."""
    return offer_hours(settings, request).add_open(start.astimezone(settings.timezone), seconds)


def care_start(settings: Settings, request: CareRequest, now: datetime) -> datetime | None:
    """When care must start, if later than now: the start time, or the start day's midnight for
    a date without a time. None for "as soon as possible" (or a start already passed)."""
    if request.start_at is None:
        return None
    if request.has_start_time:
        return request.start_at if request.start_at > now else None
    day = request.start_at.astimezone(settings.timezone).date()
    return request.start_at if day > now.astimezone(settings.timezone).date() else None


@dataclass(frozen=True)
class CareWindow:
    """When the nurse must work to take the request (local, aware): a nurse is matched if her
    weekly hours are open at some moment of ``[start, end)``; her absences on ``start``'s day."""

    start: datetime
    end: datetime

    @classmethod
    def at(cls, moment: datetime) -> CareWindow:
        """An instant: the nurse must be at work at that minute."""
        return cls(moment, moment + timedelta(minutes=1))


def care_window(settings: Settings, request: CareRequest, now: datetime) -> CareWindow:
    """The window :func:`dispatch.matching.candidates.rank_candidates` matches nurses' hours against."""
    tz = settings.timezone
    start = care_start(settings, request, now)
    if start is None:  # as soon as possible
        here = now.astimezone(tz)
        return CareWindow(here, here + SOON)
    start = start.astimezone(tz)
    if request.has_start_time:
        return CareWindow.at(start)
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return CareWindow(midnight, midnight + timedelta(days=1))  # wall-clock days: 23 or 25 h on a clock change


def usual_nurse_wait_s(settings: Settings, request: CareRequest, now: datetime) -> int:
    """How long the usual nurse has the request alone (search time, see :func:`after`)."""
    start = care_start(settings, request, now)
    planned = start is not None and start - now > PLANNED_AHEAD
    return settings.usual_nurse_wait_planned_s if planned else settings.usual_nurse_wait_s


def recheck_s(settings: Settings, request: CareRequest, now: datetime) -> int:
    """How long a search with nobody left to ask waits before it looks again (for a nurse back
    from a pause or an absence, or newly registered): a wave's wait, or an hour for a request
    starting more than a day ahead (it may wait days)."""
    start = care_start(settings, request, now)
    planned = start is not None and start - now > PLANNED_AHEAD
    return max(settings.wave_wait_s, 3600) if planned else settings.wave_wait_s


def search_deadline(settings: Settings, request: CareRequest) -> datetime:
    """When the search of the current round ends and the request becomes ``unfilled``.

    ``DISPATCH_GIVE_UP_S`` of search time after the round began; for care that starts later,
    until :data:`COORDINATOR_LEAD` of service time before its start (or the start itself when
    the service is closed until then), whichever is later.
    """
    began = request.dispatch_started_at or request.created_at
    deadline = after(settings, request, began, settings.give_up_s)
    start = care_start(settings, request, began)
    if start is None or start <= deadline:
        return deadline
    tz = settings.timezone
    alert = settings.service_hours.open_before(
        start.astimezone(tz), COORDINATOR_LEAD.total_seconds(), began.astimezone(tz)
    )
    return max(deadline, alert if alert is not None else start)

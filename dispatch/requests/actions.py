"""What a coordinator does by hand from the status page, besides assigning, redispatching and
cancelling (``dispatch.requests.create``): telling the requester, calling back, the audit of views.

Every action is a guarded update where the state matters, and an event with the
coordinator's name as actor, so the timeline says who did what.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch.messaging.calls import confirm_request
from dispatch.phones import mask
from dispatch.timeline import record
from models import Call, CareRequest, Event

VIEW_EVERY = timedelta(minutes=10)


def mark_informed(session: Session, request: CareRequest, now: datetime, *, actor: str) -> bool:
    """The coordinator told the requester who will come: ``accepted`` becomes ``confirmed``.

    Confirmation calls still waiting to be placed are cancelled (the requester knows);
    a call already ringing finishes on its own. False when the request was not ``accepted``.
    """
    if not confirm_request(session, request, now, kind="requester_informed", actor=actor):
        return False
    session.execute(
        update(Call)
        .where(Call.request_id == request.id, Call.purpose == "confirm", Call.status == "queued")
        .values(status="canceled", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return True


def record_callback(
    session: Session, request: CareRequest, now: datetime, *, actor: str, note: str | None = None
) -> None:
    """The coordinator called the requester back (from her own phone): keep it in the timeline."""
    record(
        session,
        request,
        "called_back",
        now,
        actor=actor,
        to=mask(request.callback_phone),
        note=(note or "").strip()[:300] or None,
    )


def record_view(session: Session, request: CareRequest, now: datetime, *, actor: str) -> bool:
    """Audit trail: who opened the request's page (it shows health data and the recording).

    One event per coordinator per :data:`VIEW_EVERY`: the page reloads after each action,
    and a timeline full of "viewed" lines would hide what happened. False when skipped.
    """
    recent = session.scalar(
        select(Event.id)
        .where(
            Event.request_id == request.id, Event.kind == "viewed", Event.actor == actor, Event.at > now - VIEW_EVERY
        )
        .limit(1)
    )
    if recent is not None:
        return False
    record(session, request, "viewed", now, actor=actor)
    return True

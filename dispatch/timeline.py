"""The request's timeline: every offer, delivery, reply, call and state change is an event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models import CareRequest, Event, Nurse


def record(
    session: Session,
    request: CareRequest | None,
    kind: str,
    now: datetime,
    *,
    actor: str = "system",
    nurse: Nurse | None = None,
    **data: Any,
) -> Event:
    """Append one event (no commit: it belongs to the caller's transaction)."""
    event = Event(
        request_id=request.id if request is not None else None,
        nurse_id=nurse.id if nurse is not None else None,
        actor=actor,
        kind=kind,
        data={k: v for k, v in data.items() if v is not None},
        at=now,
    )
    session.add(event)
    if request is not None and "events" in request.__dict__:
        # Its timeline is in memory already (a request just written starts with an empty one):
        # keep it whole, so that showing it reads nothing again.
        request.events.append(event)
    return event


def nurse_actor(nurse: Nurse) -> str:
    return f"infirmière {nurse.name}"

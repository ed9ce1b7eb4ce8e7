"""Work the domain asks for after its transaction commits.

Domain functions return these instead of enqueueing: ``dispatch/`` knows no
Redis, and nothing is enqueued before the rows it points at are committed
(STYLE, mistake 5). The web and worker layers hand them to ``workers.queue``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SendMessage:
    """Send the queued text, not before ``at`` (None: now)."""

    message_id: int
    at: datetime | None = None


@dataclass(frozen=True)
class PlaceCall:
    call_id: int
    at: datetime | None = None


@dataclass(frozen=True)
class RunWave:
    """Start wave number ``wave + 1`` of the request if it is still at ``wave`` when due."""

    request_id: int
    wave: int
    at: datetime | None = None


@dataclass(frozen=True)
class HandleEvent:
    """Handle the webhook event received under ``key`` (``dispatch.intake.inbox``).

    ``payload``: the event itself, when the webhook could not write it (the database was
    unreachable): the job writes it first, then handles it.
    """

    key: str
    payload: dict[str, Any] | None = field(default=None, hash=False, compare=False)


Effect = SendMessage | PlaceCall | RunWave | HandleEvent

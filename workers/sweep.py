"""What the sweeper re-enqueues: work the database says is due but no job may be carrying.

Jobs are triggers, not truth (DESIGN §3): losing Redis loses jobs, never work.
Every job re-checks the state, so enqueueing one twice is harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from dispatch.effects import Effect, HandleEvent, PlaceCall, RunWave, SendMessage
from dispatch.lifecycle import RequestStatus
from dispatch.telephony.outbox import CLAIM_TIMEOUT
from models import Call, CareRequest, Message, WebhookReceipt

WAVE_GRACE = timedelta(seconds=5)
OUTBOX_GRACE = timedelta(seconds=20)
BATCH = 500


def overdue_work(session: Session, now: datetime) -> list[Effect]:
    effects: list[Effect] = []
    for request_id, wave in session.execute(
        select(CareRequest.id, CareRequest.wave)
        .where(CareRequest.status == RequestStatus.OPEN, CareRequest.next_wave_at <= now - WAVE_GRACE)
        .order_by(CareRequest.next_wave_at)
        .limit(BATCH)
    ):
        effects.append(RunWave(request_id, wave))
    effects += [SendMessage(i) for i in _outbox_due(session, Message, "sending", now)]
    effects += [PlaceCall(i) for i in _outbox_due(session, Call, "placing", now)]
    effects += [
        HandleEvent(key)
        for key in session.scalars(
            select(WebhookReceipt.key)
            .where(WebhookReceipt.handled_at.is_(None), WebhookReceipt.created_at <= now - OUTBOX_GRACE)
            .order_by(WebhookReceipt.created_at)
            .limit(BATCH)
        )
    ]
    return effects


def _outbox_due(session: Session, model, claimed: str, now: datetime) -> list[int]:
    """Outbound rows left queued past the grace, or claimed by a worker that died."""
    return list(
        session.scalars(
            select(model.id)
            .where(
                model.direction == "out",
                or_(
                    and_(model.status == "queued", model.send_after <= now - OUTBOX_GRACE),
                    and_(model.status == claimed, model.claimed_at < now - CLAIM_TIMEOUT),
                ),
            )
            .order_by(model.id)
            .limit(BATCH)
        )
    )

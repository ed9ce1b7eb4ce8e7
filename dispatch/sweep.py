"""What the sweeper re-enqueues: work the database says is due but no job may be carrying.

Jobs are triggers, not truth (DESIGN §3): losing Redis loses jobs, never work.
Every job re-checks the state, so enqueueing one twice is harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from dispatch.effects import Effect, PlaceCall, RunWave, SendMessage
from dispatch.outbox import CLAIM_TIMEOUT
from models import Call, CareRequest, Message

WAVE_GRACE = timedelta(seconds=5)
OUTBOX_GRACE = timedelta(seconds=20)
BATCH = 500


def overdue_work(session: Session, now: datetime) -> list[Effect]:
    effects: list[Effect] = []
    for request_id, wave in session.execute(
        select(CareRequest.id, CareRequest.wave)
        .where(CareRequest.status == "open", CareRequest.next_wave_at <= now - WAVE_GRACE)
        .order_by(CareRequest.next_wave_at)
        .limit(BATCH)
    ):
        effects.append(RunWave(request_id, wave))
    for (message_id,) in session.execute(
        select(Message.id)
        .where(
            Message.direction == "out",
            or_(
                and_(Message.status == "queued", Message.send_after <= now - OUTBOX_GRACE),
                and_(Message.status == "sending", Message.claimed_at < now - CLAIM_TIMEOUT),
            ),
        )
        .order_by(Message.id)
        .limit(BATCH)
    ):
        effects.append(SendMessage(message_id))
    for (call_id,) in session.execute(
        select(Call.id)
        .where(
            Call.direction == "out",
            or_(
                and_(Call.status == "queued", Call.send_after <= now - OUTBOX_GRACE),
                and_(Call.status == "placing", Call.claimed_at < now - CLAIM_TIMEOUT),
            ),
        )
        .order_by(Call.id)
        .limit(BATCH)
    ):
        effects.append(PlaceCall(call_id))
    return effects

"""Outbound calls' outcomes (the voice flow extends this with retries and the SMS fallback)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from dispatch.effects import Effect
from dispatch.timeline import record
from models import Call, CareRequest


def call_finished(session: Session, call: Call, status: str, now: datetime) -> list[Effect]:
    """Record a call's final status on the call and the request's timeline."""
    call.status = status
    request = session.get(CareRequest, call.request_id) if call.request_id else None
    if request is not None:
        record(session, request, "call_status", now, purpose=call.purpose, status=status, attempt=call.attempt)
    return []

"""``/webhooks/sms`` (incoming texts) and ``/webhooks/sms/status`` (delivery callbacks).

Each handler checks the signature, reads its fields, writes the event (a repeat is dropped
by its receipt key), enqueues the job that handles it after the commit, and answers an empty
TwiML: the answer to a text leaves through the outbox like every other text
(``dispatch.intake.inbox``). With Redis down the event is kept all the same; the sweeper hands it
to a job when Redis is back. With the database down, the event itself goes to Redis, in the
job that writes it when the database is back.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response
from twilio.twiml.messaging_response import MessagingResponse

from dispatch.app.context import DATABASE_DOWN, services
from dispatch.clock import utcnow
from dispatch.effects import HandleEvent
from dispatch.intake.inbox import receive_committed, sms_key, status_key
from webhooks.forms import field, query_id
from webhooks.security import twilio_only
from webhooks.twiml import twiml
from workers.queue import enqueue

bp = Blueprint("sms", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)
MAX_BODY = 1600
EMPTY = str(MessagingResponse())


@bp.post("/sms")
@twilio_only
def incoming_sms():
    sid = field("MessageSid")
    event = {
        "sid": sid,
        "from": field("From", 40),  # read into E.164 by the job
        "to": field("To", 40),
        "body": field("Body", MAX_BODY),
    }
    return _received(sms_key(sid), event)


@bp.post("/sms/status")
@twilio_only
def sms_status():
    sid, status, code = field("MessageSid"), field("MessageStatus", 20), field("ErrorCode", 10)
    event = {"sid": sid, "status": status, "code": int(code) if code.isdigit() else None, "message_id": query_id("m")}
    return _received(status_key(sid, status), event)


def _received(key: str, event: dict) -> Response:
    svc, now = services(), utcnow()
    settings = svc.settings
    try:
        new = receive_committed(svc.engine, key, event, now)
    except DATABASE_DOWN as err:
        # Twilio would not send the text again: keep it in Redis, for a job to write and
        # handle when the database is back. With Redis down too, say so (503).
        log.warning("webhooks.sms: database unavailable (%s); the event waits in Redis", type(err).__name__)
        return twiml(EMPTY) if enqueue(settings, [HandleEvent(key, event)]) else (twiml(EMPTY), 503)
    if new:
        enqueue(settings, [HandleEvent(key)])
    return twiml(EMPTY)

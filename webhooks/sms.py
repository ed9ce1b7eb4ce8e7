"""``/webhooks/sms`` (incoming texts) and ``/webhooks/sms/status`` (delivery callbacks).

Each handler: check the signature, drop a repeat by its receipt key, call one
``dispatch`` function inside one transaction, enqueue its jobs after commit,
answer TwiML.
"""

from __future__ import annotations

from flask import Blueprint
from twilio.twiml.messaging_response import MessagingResponse

from dispatch.app import db, services
from dispatch.clock import utcnow
from dispatch.deliveries import record_inbound, record_status
from dispatch.inbound import handle_sms
from dispatch.phones import try_normalize
from dispatch.receipts import first_time
from webhooks.forms import field, query_id
from webhooks.security import twilio_only
from webhooks.twiml import twiml
from workers.queue import enqueue

bp = Blueprint("sms", __name__, url_prefix="/webhooks")
MAX_BODY = 1600


@bp.post("/sms")
@twilio_only
def incoming_sms():
    sid, sender, body = field("MessageSid"), try_normalize(field("From", 40)), field("Body", MAX_BODY)
    settings, session, now = services().settings, db(), utcnow()
    response = MessagingResponse()
    with session.begin():
        if not first_time(session, f"sms:{sid}"):
            return twiml(response)
        outcome = handle_sms(session, settings, sender, body, now)
        record_inbound(
            session, sid, sender, settings.twilio_phone_number, body, outcome.reply, now, nurse=outcome.nurse
        )
    enqueue(settings, outcome.effects)
    if outcome.reply:
        response.message(outcome.reply)
    return twiml(response)


@bp.post("/sms/status")
@twilio_only
def sms_status():
    sid, status, code = field("MessageSid"), field("MessageStatus", 20), field("ErrorCode", 10)
    message_id = query_id("m")
    settings, session, now = services().settings, db(), utcnow()
    with session.begin():
        if not first_time(session, f"sms-status:{sid}:{status}"):
            return twiml(MessagingResponse())
        effects = record_status(session, message_id, sid, status, int(code) if code.isdigit() else None, now)
    enqueue(settings, effects)
    return twiml(MessagingResponse())

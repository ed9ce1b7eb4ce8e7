"""A nurse asks, from her space, that her data be erased (issue 16): her open offers count as
declined (the waves move on), she is never texted again, her personal data is erased at once,
the coordinators on duty are told by SMS, and what statistics need stays without her identity
(her offers and answers, the audit trail's actions, under an anonymous record)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from dispatch import texts
from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.lifecycle import TAKEN_BY_A_NURSE
from dispatch.messaging.replies import opt_out
from dispatch.people import rota
from dispatch.people.audit import note
from dispatch.people.space_access import end_all_sessions
from dispatch.telephony.outbox import queue_sms
from dispatch.timeline import record
from models import CareRequest, Event, Message, Nurse, NurseChange, NurseLink, NurseRegistration

ERASED_NAME = "Infirmière effacée"
ERASED_ACTOR = "infirmière (effacée)"


def erased_phone(nurse_id: int) -> str:
    """What replaces her number: unique (the column is), never a phone anyone can text or match."""
    return f"effacee-{nurse_id}"


def is_erased(nurse: Nurse) -> bool:
    return nurse.phone == erased_phone(nurse.id)


def erase_nurse(session: Session, settings: Settings, nurse: Nurse, now: datetime) -> list[Effect]:
    """Erase her personal data now; the alerts to send after commit. The caller commits."""
    name, phone = nurse.name, nurse.phone
    effects = list(opt_out(session, settings, nurse, now).effects)  # her awaiting offers: declined
    held = sorted(
        session.scalars(
            select(CareRequest.reference).where(
                CareRequest.accepted_nurse_id == nurse.id, CareRequest.status.in_(TAKEN_BY_A_NURSE)
            )
        )
    )
    end_all_sessions(session, nurse.id, now, actor=ERASED_ACTOR)
    session.execute(delete(NurseLink).where(NurseLink.phone == phone))
    # Texts still waiting to go to her never go; those kept lose her number and what she wrote.
    hers = or_(Message.nurse_id == nurse.id, Message.to_phone == phone, Message.from_phone == phone)
    for condition, values in (
        (Message.status == "queued", {"status": "canceled"}),
        (Message.direction == "in", {"from_phone": None, "body": ""}),
        (Message.direction == "out", {"to_phone": None}),
    ):
        session.execute(
            update(Message).where(hers, condition).values(**values).execution_options(synchronize_session=False)
        )
    session.execute(
        update(Event)
        .where(Event.nurse_id == nurse.id)
        .values(actor=ERASED_ACTOR)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Event)
        .where(Event.nurse_id == nurse.id, Event.kind == "sms_in")
        .values(data={})
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(NurseChange)
        .where(NurseChange.nurse_id == nurse.id, NurseChange.actor.startswith("infirmière"))
        .values(actor=ERASED_ACTOR)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(NurseRegistration)
        .where(NurseRegistration.phone == phone)
        .values(name=ERASED_NAME, phone=erased_phone(nurse.id), rpps="", zones=[], skills=[], availability="")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(CareRequest)
        .where(CareRequest.usual_nurse_id == nurse.id)
        .values(usual_nurse_phone=None)
        .execution_options(synchronize_session=False)
    )
    nurse.name, nurse.phone, nurse.availability = ERASED_NAME, erased_phone(nurse.id), ""
    nurse.zones, nurse.skills, nurse.absences = [], [], []
    nurse.paused_until = None
    nurse.opted_out_at = nurse.opted_out_at or now
    note(session, nurse.id, "erased", now, actor=ERASED_ACTOR, requests_held=held or None)
    record(session, None, "nurse_erased", now, actor=ERASED_ACTOR, nurse=nurse, requests_held=held or None)
    body = texts.coordinator_nurse_erased(settings.sio_name, name, held)
    for coordinator in rota.recipients(session, settings, now):  # on duty by the rota (or the switch)
        if coordinator.phone:
            effects.append(queue_sms(session, coordinator.phone, body, now, kind="alert"))
    return effects

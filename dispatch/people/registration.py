"""Registration by SMS (issue 16): ``INSCRIPTION`` from an unknown mobile texts a link to a form
(name, RPPS number, communes, care skills, weekly hours). The registration then waits for a
coordinator, who validates it (her :class:`models.Nurse` is created: offers may reach her) or
refuses it; she is texted either way. Until then she is no nurse: matching never sees her.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import texts
from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.people.audit import note
from dispatch.people.space import SpaceError, check_skills
from dispatch.people.space_access import REGISTER, issue_link, use_link
from dispatch.people.zone_search import ZoneError, resolve
from dispatch.telephony.outbox import queue_sms
from dispatch.timeline import record
from models import Nurse, NurseRegistration, NurseSkill, NurseZone

PENDING, VALIDATED, REFUSED = "pending", "validated", "refused"
NAME_MAX = 120
MAX_ZONE_LINES = 60


def rpps_problem(text: str) -> str | None:
    """Why ``text`` is not an RPPS number (11 digits, the last a Luhn check digit), or None."""
    digits = "".join(text.split())
    if not digits:
        return "Indiquez votre numéro RPPS (11 chiffres, sur votre carte CPS)."
    if not digits.isdigit() or len(digits) != 11:
        return "Le numéro RPPS compte 11 chiffres (sur votre carte CPS)."
    if not luhn_ok(digits):
        return "Ce numéro RPPS n'est pas valide (sa clé, le dernier chiffre, ne correspond pas) : vérifiez-le."
    return None


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


@dataclass
class RegistrationInput:
    """What the form holds, as typed (kept on the page when something is wrong)."""

    name: str = ""
    rpps: str = ""
    zones: str = ""  # one commune or postcode per line
    skills: list[str] = field(default_factory=list)
    availability: str = ""  # already checked by ``dispatch.people.week_form``


class RegistrationError(ValueError):
    """Bad fields: ``errors`` maps a field to its French message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def pending_for(session: Session, phone: str) -> NurseRegistration | None:
    return session.scalar(
        select(NurseRegistration).where(NurseRegistration.phone == phone, NurseRegistration.status == PENDING)
    )


def registration_link(session: Session, settings: Settings, phone: str, now: datetime) -> str:
    """The text answering ``INSCRIPTION`` from a mobile that is no nurse's."""
    name = settings.sio_name
    if pending_for(session, phone) is not None:
        return texts.registration_pending(name)
    url = issue_link(session, settings, REGISTER, phone, now)
    return texts.registration_link(name, url)


def check_fields(session: Session, form: RegistrationInput) -> tuple[str, str, list[str], list[str]]:
    """``(name, rpps, communes, skills)`` from the form; raises :class:`RegistrationError`."""
    errors: dict[str, str] = {}
    name = " ".join(form.name.split())
    if len(name) < 3:
        errors["name"] = "Indiquez votre prénom et votre nom."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Pas plus de {NAME_MAX} caractères."
    rpps = "".join(form.rpps.split())
    if problem := rpps_problem(rpps):
        errors["rpps"] = problem
    elif session.scalar(
        select(NurseRegistration.id).where(
            NurseRegistration.rpps == rpps, NurseRegistration.status.in_((PENDING, VALIDATED))
        )
    ):
        errors["rpps"] = "Ce numéro RPPS est déjà inscrit. Si c'est le vôtre, appelez le service."
    communes: list[str] = []
    lines = [line.strip() for line in form.zones.replace(";", "\n").splitlines() if line.strip()]
    if not lines:
        errors["zones"] = "Indiquez au moins une commune où vous intervenez."
    elif len(lines) > MAX_ZONE_LINES:
        errors["zones"] = f"Pas plus de {MAX_ZONE_LINES} lignes : une commune ou un code postal par ligne."
    else:
        problems = []
        for line in lines:
            try:
                communes += [p.insee for p in resolve(session, line) if p.insee not in communes]
            except ZoneError as err:
                problems.append(str(err))
        if problems:
            errors["zones"] = " ".join(problems[:3])
    try:
        skills = check_skills(form.skills)
    except SpaceError as err:
        errors["skills"], skills = str(err), []
    if errors:
        raise RegistrationError(errors)
    return name, rpps, communes, skills


def submit(
    session: Session, settings: Settings, signed: str, form: RegistrationInput, now: datetime
) -> NurseRegistration:
    """File a registration from the form behind a link (used once, by this call). Raises
    ``LinkProblem`` or :class:`RegistrationError`; nothing is written then. The caller commits."""
    name, rpps, communes, skills = check_fields(session, form)
    link = use_link(session, settings, signed, REGISTER, now)
    if session.scalar(select(Nurse.id).where(Nurse.phone == link.phone)):
        raise RegistrationError({"name": "Ce numéro de mobile est déjà celui d'une infirmière inscrite."})
    if pending_for(session, link.phone) is not None:
        raise RegistrationError({"name": "Une inscription de ce numéro attend déjà une coordinatrice."})
    registration = NurseRegistration(
        phone=link.phone,
        name=name,
        rpps=rpps,
        zones=communes,
        skills=skills,
        availability=form.availability,
        status=PENDING,
        created_at=now,
    )
    session.add(registration)
    record(session, None, "nurse_registration", now, actor=f"inscription {name}")
    return registration


def validate(
    session: Session, settings: Settings, registration: NurseRegistration, now: datetime, *, actor: str
) -> list[Effect]:
    """A coordinator accepts her: she becomes a nurse (offers may reach her at once) and is texted."""
    if registration.status != PENDING:
        raise RegistrationError({"status": "Cette inscription a déjà été traitée."})
    if session.scalar(select(Nurse.id).where(Nurse.phone == registration.phone)):
        raise RegistrationError({"status": "Ce numéro est déjà celui d'une infirmière inscrite (import ou saisie)."})
    nurse = Nurse(name=registration.name, phone=registration.phone, availability=registration.availability)
    nurse.zones = [NurseZone(insee=code) for code in registration.zones]
    nurse.skills = [NurseSkill(skill=s) for s in registration.skills]
    session.add(nurse)
    session.flush()
    registration.status, registration.decided_at, registration.decided_by = VALIDATED, now, actor[:160]
    registration.nurse_id = nurse.id
    note(session, nurse.id, "registered", now, actor=actor, rpps=registration.rpps, communes=len(registration.zones))
    record(session, None, "nurse_registered", now, actor=actor, nurse=nurse)
    body = texts.registration_validated(settings.sio_name)
    return [queue_sms(session, nurse.phone, body, now, kind="notice", nurse=nurse)]


def refuse(
    session: Session,
    settings: Settings,
    registration: NurseRegistration,
    now: datetime,
    *,
    actor: str,
    reason: str = "",
) -> list[Effect]:
    """A coordinator refuses it: she is texted (the reason stays on the page, not in the text)."""
    if registration.status != PENDING:
        raise RegistrationError({"status": "Cette inscription a déjà été traitée."})
    registration.status, registration.decided_at, registration.decided_by = REFUSED, now, actor[:160]
    registration.reason = " ".join(reason.split())[:300] or None
    record(session, None, "nurse_registration_refused", now, actor=actor)
    body = texts.registration_refused(settings.sio_name)
    return [queue_sms(session, registration.phone, body, now, kind="notice")]

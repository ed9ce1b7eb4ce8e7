"""What a nurse changes in her own space (issue 16): zones, care skills, weekly hours, absences,
pause and resume. Each change is written to her record, which matching reads on the next wave
(``dispatch.matching.candidates``), and to the audit trail (``dispatch.people.audit``).

Every function takes the session, the nurse, ``now`` and who acts (``actor``: herself, or a
coordinator); bad input raises :class:`SpaceError` (or ``ZoneError``) with a French message and
changes nothing. The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import geo
from dispatch.people import nurses
from dispatch.people.audit import note
from dispatch.people.zone_search import resolve
from dispatch.vocab import CARE_TYPES
from models import CareRequest, Nurse, NurseAbsence, NurseSkill, NurseZone, Offer

# The skills a nurse may declare (``autre`` is every nurse's).
SKILLS: tuple[str, ...] = tuple(c for c in CARE_TYPES if c != "autre")
MAX_ZONES = 300
MAX_ABSENCES = 50
ABSENCE_HORIZON = timedelta(days=2 * 366)
OFFERS_WINDOW = timedelta(days=30)


class SpaceError(ValueError):
    """A change refused; the message is French, for her page."""


def french_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


# --- zones ---------------------------------------------------------------------------------------


def add_zones(session: Session, nurse: Nurse, typed: str, now: datetime, *, actor: str) -> list[geo.Place]:
    """Add the communes meant by ``typed`` (a postcode: all its communes); the ones added."""
    places = resolve(session, typed)
    have = set(nurse.zone_codes)
    new = [p for p in places if p.insee not in have]
    if not new:
        names = ", ".join(p.name for p in places)
        raise SpaceError(f"{names} : déjà dans vos communes.")
    if len(have) + len(new) > MAX_ZONES:
        raise SpaceError(f"Pas plus de {MAX_ZONES} communes.")
    for place in new:
        nurse.zones.append(NurseZone(insee=place.insee))
        note(session, nurse.id, "zone_added", now, actor=actor, insee=place.insee, commune=place.name)
    return new


def remove_zone(session: Session, nurse: Nurse, insee: str, now: datetime, *, actor: str) -> str | None:
    """Remove one commune; its name, or None when she did not have it."""
    zone = next((z for z in nurse.zones if z.insee == insee), None)
    if zone is None:
        return None
    nurse.zones.remove(zone)
    place = geo.commune(session, insee)
    name = place.name if place else insee
    note(session, nurse.id, "zone_removed", now, actor=actor, insee=insee, commune=name)
    return name


def zone_list(session: Session, nurse: Nurse) -> list[tuple[str, str, str]]:
    """``(insee, name, postcodes)`` of her communes, by name."""
    rows = []
    for insee in nurse.zone_codes:
        place = geo.commune(session, insee)
        rows.append((insee, place.name if place else insee, ", ".join(geo.postcodes_of(session, insee))))
    return sorted(rows, key=lambda row: row[1])


# --- skills and hours ------------------------------------------------------------------------------


def check_skills(skills: list[str]) -> list[str]:
    unknown = [s for s in skills if s not in SKILLS]
    if unknown:
        raise SpaceError("Soin inconnu : " + ", ".join(s[:20] for s in unknown[:3]) + ".")
    return sorted(set(skills))


def set_skills(session: Session, nurse: Nurse, skills: list[str], now: datetime, *, actor: str) -> bool:
    """Her care skills become ``skills``; False when nothing changed."""
    wanted = check_skills(skills)
    if wanted == nurse.skill_names:
        return False
    nurse.skills = [NurseSkill(skill=s) for s in wanted]
    note(session, nurse.id, "skills_set", now, actor=actor, skills=wanted)
    return True


def set_hours(session: Session, nurse: Nurse, text: str, now: datetime, *, actor: str) -> bool:
    """Her weekly hours (an hours text, ``dispatch.people.week_form``); False when unchanged."""
    if text == (nurse.availability or ""):
        return False
    nurse.availability = text
    note(session, nurse.id, "hours_set", now, actor=actor, hours=text or "toujours")
    return True


# --- absences --------------------------------------------------------------------------------------


def check_absence(existing: list[NurseAbsence], starts_on: date, ends_on: date, today: date) -> None:
    """Raise :class:`SpaceError` when the period cannot be declared."""
    if ends_on < starts_on:
        raise SpaceError("La fin de l'absence doit être le même jour que le début, ou après.")
    if ends_on < today:
        raise SpaceError("Cette absence est déjà passée : indiquez une période qui n'est pas finie.")
    if starts_on > today + ABSENCE_HORIZON:
        raise SpaceError("Cette absence commence dans plus de deux ans : vérifiez l'année.")
    for other in existing:
        if starts_on <= other.ends_on and other.starts_on <= ends_on:
            raise SpaceError(
                f"Cette période chevauche votre absence du {french_date(other.starts_on)} "
                f"au {french_date(other.ends_on)} : modifiez l'une des deux."
            )
    if len(existing) >= MAX_ABSENCES:
        raise SpaceError(f"Pas plus de {MAX_ABSENCES} absences à venir.")


def add_absence(
    session: Session, nurse: Nurse, starts_on: date, ends_on: date, today: date, now: datetime, *, actor: str
) -> NurseAbsence:
    """Declare a period (inclusive local dates) without new patients."""
    check_absence(upcoming_absences(nurse, today), starts_on, ends_on, today)
    absence = NurseAbsence(starts_on=starts_on, ends_on=ends_on)
    nurse.absences.append(absence)
    note(
        session,
        nurse.id,
        "absence_added",
        now,
        actor=actor,
        starts_on=starts_on.isoformat(),
        ends_on=ends_on.isoformat(),
    )
    return absence


def remove_absence(session: Session, nurse: Nurse, absence_id: int, now: datetime, *, actor: str) -> bool:
    absence = next((a for a in nurse.absences if a.id == absence_id), None)
    if absence is None:
        return False
    nurse.absences.remove(absence)
    note(
        session,
        nurse.id,
        "absence_removed",
        now,
        actor=actor,
        starts_on=absence.starts_on.isoformat(),
        ends_on=absence.ends_on.isoformat(),
    )
    return True


def upcoming_absences(nurse: Nurse, today: date) -> list[NurseAbsence]:
    """Her absences not yet over, soonest first (past ones matter to nobody)."""
    return sorted((a for a in nurse.absences if a.ends_on >= today), key=lambda a: a.starts_on)


# --- pause -----------------------------------------------------------------------------------------


def pause(session: Session, nurse: Nurse, now: datetime, *, actor: str, days: int | None = None) -> None:
    """No offers for ``days`` days or until she resumes (the rule of ``dispatch.people.nurses``)."""
    try:
        nurses.pause(session, nurse, now, actor=actor, days=days)
    except ValueError as err:
        raise SpaceError(f"Pause refusée : {err}.") from None
    note(session, nurse.id, "paused", now, actor=actor, days=days)


def resume(session: Session, nurse: Nurse, now: datetime, *, actor: str) -> bool:
    resumed = nurses.resume(session, nurse, now, actor=actor)
    if resumed:
        note(session, nurse.id, "resumed", now, actor=actor)
    return resumed


def is_paused(nurse: Nurse, now: datetime) -> bool:
    return nurse.paused_until is not None and nurse.paused_until > now


# --- her offers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferLine:
    reference: str
    offered_at: datetime
    commune: str
    care_type: str
    status: str
    answered_at: datetime | None


def recent_offers(session: Session, nurse: Nurse, now: datetime, window: timedelta = OFFERS_WINDOW) -> list[OfferLine]:
    """Her offers of the last 30 days and her answers, newest first (no patient detail)."""
    rows = session.execute(
        select(Offer.created_at, Offer.status, Offer.answered_at, CareRequest.reference, CareRequest.insee)
        .join(CareRequest, CareRequest.id == Offer.request_id)
        .add_columns(CareRequest.care_type, CareRequest.postcode)
        .where(Offer.nurse_id == nurse.id, Offer.created_at >= now - window)
        .order_by(Offer.created_at.desc(), Offer.id.desc())
    ).all()
    lines = []
    for row in rows:
        place = geo.commune(session, row.insee) if row.insee else None
        commune = place.name if place else (row.postcode or "")
        lines.append(OfferLine(row.reference, row.created_at, commune, row.care_type, row.status, row.answered_at))
    return lines

"""Nurses and establishments edited on the status page: read a form, say in French what is wrong
field by field, write it with an event (the CLI imports, ``dispatch.people.imports``, stay for
files and scripts; the rules are the same: E.164 mobiles, zones as postcodes or INSEE codes,
the hours format, one establishment per phone number).

``read_*`` take the form's strings and return (values, errors); nothing is written when there
are errors. ``save_*`` write (the caller commits).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.hours import HoursError, WeeklyHours
from dispatch.people.imports import AVAILABILITY_MAX, NAME_MAX, _split_phones, fold, parse_kind
from dispatch.phones import PhoneError, normalize_phone
from dispatch.timeline import record
from dispatch.vocab import CARE_TYPES, REQUESTER_KINDS
from models import Commune, Nurse, NurseAbsence, NurseSkill, NurseZone, Postcode, Requester, RequesterPhone

_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
Errors = dict[str, str]


@dataclass
class NurseValues:
    name: str
    phone: str
    zones: list[str]
    skills: list[str]
    availability: str


@dataclass
class RequesterValues:
    name: str
    kind: str
    phones: list[str]
    postcode: str | None


def _name(value: str, errors: Errors) -> str:
    name = " ".join((value or "").split())
    if not name:
        errors["name"] = "Indiquez le nom."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Le nom est trop long ({len(name)} caractères, {NAME_MAX} au plus)."
    return name


def resolve_zones(session: Session, text: str) -> tuple[list[str], str | None]:
    """INSEE codes for ``42400 69700 insee:42207`` (a postcode stands for all its communes, as in
    the CSV import), or a French reason naming the first bad word."""
    codes: set[str] = set()
    words = [w for w in re.split(r"[\s;,]+", text or "") if w]
    if not words:
        return [], "Indiquez au moins une commune : code postal ou code INSEE (ex. 42400)."
    if len(words) > 300:
        return [], "Trop de communes d'un coup (300 au plus)."
    for word in words:
        prefix, _, code = word.rpartition(":")
        code, prefix = code.upper(), prefix.lower()
        if prefix not in ("", "insee", "cp"):
            return [], f"« {word} » : écrivez un code postal, un code INSEE ou insee:CODE."
        by_postcode = (
            [] if prefix == "insee" else list(session.scalars(select(Postcode.insee).where(Postcode.postcode == code)))
        )
        if by_postcode:
            codes.update(by_postcode)
        elif prefix != "cp" and _INSEE.match(code) and session.get(Commune, code) is not None:
            codes.add(code)
        elif re.fullmatch(r"\d{4}", code):
            return [], f"« {word} » n'a que 4 chiffres : manque-t-il un zéro devant (0{code}) ?"
        else:
            return [], f"« {word} » n'est ni un code postal ni un code INSEE connu."
    return sorted(codes), None


def zones_text(session: Session, codes: list[str]) -> str:
    """A nurse's zones written back for the form: INSEE codes, prefixed where a postcode has the same digits."""
    postcodes = set(session.scalars(select(Postcode.postcode).where(Postcode.postcode.in_(codes)))) if codes else set()
    return " ".join(f"insee:{c}" if c in postcodes else c for c in codes)


def read_nurse(session: Session, form: Mapping[str, str], skills: list[str], *, nurse: Nurse | None = None):
    """(NurseValues, errors) from the nurse form; ``skills`` are the boxes ticked."""
    errors: Errors = {}
    name = _name(form.get("name", ""), errors)
    phone = ""
    raw_phone = (form.get("phone") or "").strip()
    try:
        parsed = normalize_phone(raw_phone)
        if not parsed.is_mobile:
            errors["phone"] = "Ce n'est pas un portable : les propositions partent par SMS."
        else:
            phone = parsed.e164
            other = session.scalar(select(Nurse).where(Nurse.phone == phone))
            if other is not None and (nurse is None or other.id != nurse.id):
                errors["phone"] = f"Ce numéro est déjà celui de {other.name}."
    except PhoneError:
        errors["phone"] = "Numéro de portable attendu (ex. 06 12 34 56 78)." if raw_phone else "Indiquez le portable."
    zones, problem = resolve_zones(session, form.get("zones", ""))
    if problem:
        errors["zones"] = problem
    wanted = [fold(s) for s in skills]
    if any(s not in CARE_TYPES for s in wanted):
        errors["skills"] = "Soin inconnu."
    availability = " ".join((form.get("availability") or "").split())
    if len(availability) > AVAILABILITY_MAX:
        errors["availability"] = f"Trop long ({AVAILABILITY_MAX} caractères au plus)."
    else:
        try:
            WeeklyHours.parse(availability)
        except HoursError:
            errors["availability"] = (
                "Horaires illisibles : écrivez par exemple « mon-fri 07:00-19:00; sat 08:00-12:00 » "
                "(jours en anglais : mon tue wed thu fri sat sun ; une fin après le début)."
            )
    values = NurseValues(name, phone, zones, sorted(set(wanted) & set(CARE_TYPES)), availability)
    return values, errors


def _replace(collection: list, wanted: set[str], make, attr: str) -> None:
    current = {getattr(i, attr) for i in collection}
    for item in [i for i in collection if getattr(i, attr) not in wanted]:
        collection.remove(item)
    for key in sorted(wanted - current):
        collection.append(make(key))


def save_nurse(
    session: Session, values: NurseValues, now: datetime, *, actor: str, nurse: Nurse | None = None
) -> Nurse:
    """Create the nurse or change every field of hers; matching reads the result at once."""
    created = nurse is None
    if nurse is None:
        nurse = Nurse(phone=values.phone, name=values.name, availability=values.availability, created_at=now)
        session.add(nurse)
    nurse.name, nurse.phone, nurse.availability = values.name, values.phone, values.availability
    _replace(nurse.zones, set(values.zones), lambda code: NurseZone(insee=code), "insee")
    _replace(nurse.skills, set(values.skills), lambda skill: NurseSkill(skill=skill), "skill")
    session.flush()
    record(session, None, "nurse_created" if created else "nurse_updated", now, actor=actor, nurse=nurse)
    return nurse


def deactivate_nurse(session: Session, nurse: Nurse, now: datetime, *, actor: str) -> bool:
    """No offers to her any more (her history stays); False when she already was deactivated."""
    if nurse.deactivated_at is not None:
        return False
    nurse.deactivated_at = now
    record(session, None, "nurse_deactivated", now, actor=actor, nurse=nurse)
    return True


def reactivate_nurse(session: Session, nurse: Nurse, now: datetime, *, actor: str) -> bool:
    if nurse.deactivated_at is None:
        return False
    nurse.deactivated_at = None
    record(session, None, "nurse_reactivated", now, actor=actor, nurse=nurse)
    return True


def read_requester(session: Session, form: Mapping[str, str], *, requester: Requester | None = None):
    """(RequesterValues, errors) from the establishment form."""
    errors: Errors = {}
    name = _name(form.get("name", ""), errors)
    if name and "name" not in errors:
        other = session.scalar(select(Requester).where(Requester.name == name))
        if other is not None and (requester is None or other.id != requester.id):
            errors["name"] = "Un établissement porte déjà ce nom."
    kind = parse_kind(form.get("kind", "")) or ""
    if kind not in REQUESTER_KINDS:
        errors["kind"] = "Choisissez le type d'établissement."
    phones: list[str] = []
    for word in _split_phones(form.get("phones", "") or "")[:20]:
        try:
            e164 = normalize_phone(word).e164
        except PhoneError:
            errors["phones"] = f"« {word} » n'est pas un numéro de téléphone."
            break
        owner = session.scalar(select(Requester).join(RequesterPhone).where(RequesterPhone.phone == e164))
        if owner is not None and (requester is None or owner.id != requester.id):
            errors["phones"] = f"Le {word} est déjà le numéro de {owner.name} (un numéro par établissement)."
            break
        if e164 not in phones:
            phones.append(e164)
    postcode = (form.get("postcode") or "").replace(" ", "") or None
    if postcode is not None:
        if not re.fullmatch(r"\d{5}", postcode):
            errors["postcode"] = "Code postal à 5 chiffres attendu."
        elif session.scalar(select(Postcode.insee).where(Postcode.postcode == postcode).limit(1)) is None:
            errors["postcode"] = "Code postal inconnu."
    return RequesterValues(name, kind, phones, postcode), errors


def save_requester(
    session: Session, values: RequesterValues, now: datetime, *, actor: str, requester: Requester | None = None
) -> Requester:
    """Create the establishment or change it; its phones are replaced by the form's."""
    created = requester is None
    if requester is None:
        requester = Requester(name=values.name, kind=values.kind, postcode=values.postcode, created_at=now)
        session.add(requester)
    requester.name, requester.kind, requester.postcode = values.name, values.kind, values.postcode
    keep = set(values.phones)
    for phone in [p for p in requester.phones if p.phone not in keep]:
        requester.phones.remove(phone)
    session.flush()
    have = {p.phone for p in requester.phones}
    requester.phones.extend(RequesterPhone(phone=p) for p in values.phones if p not in have)
    session.flush()
    record(
        session, None, "requester_created" if created else "requester_updated", now, actor=actor, requester=values.name
    )
    return requester


def read_absence(session: Session, nurse: Nurse, starts: str, ends: str, today: date):
    """((first day, last day), errors) for an absence a coordinator declares for a nurse: dates in
    order, not over, within two years, not overlapping one she already has."""
    errors: Errors = {}
    days: list[date | None] = []
    for name, text in (("starts_on", starts), ("ends_on", ends)):
        try:
            days.append(date.fromisoformat((text or "").strip()))
        except ValueError:
            errors[name] = "Date attendue (JJ/MM/AAAA)."
            days.append(None)
    first, last = days
    if first and last:
        if last < first:
            errors["ends_on"] = "Le dernier jour vient avant le premier."
        elif last < today:
            errors["ends_on"] = "Cette absence est déjà passée."
        elif last > today + timedelta(days=730):
            errors["ends_on"] = "Trop lointain (deux ans au plus)."
        else:
            overlap = session.scalar(
                select(NurseAbsence).where(
                    NurseAbsence.nurse_id == nurse.id, NurseAbsence.starts_on <= last, NurseAbsence.ends_on >= first
                )
            )
            if overlap is not None:
                errors["starts_on"] = (
                    f"Chevauche l'absence du {overlap.starts_on:%d/%m/%Y} au {overlap.ends_on:%d/%m/%Y}."
                )
    return (first, last), errors


def add_absence(session: Session, nurse: Nurse, first: date, last: date, now: datetime, *, actor: str) -> None:
    """No offer to her on those days (matching reads it at once)."""
    session.add(NurseAbsence(nurse_id=nurse.id, starts_on=first, ends_on=last))
    record(
        session,
        None,
        "nurse_absence_added",
        now,
        actor=actor,
        nurse=nurse,
        starts_on=first.isoformat(),
        ends_on=last.isoformat(),
    )


def remove_absence(session: Session, absence: NurseAbsence, now: datetime, *, actor: str) -> None:
    nurse = session.get(Nurse, absence.nurse_id)
    record(
        session, None, "nurse_absence_removed", now, actor=actor, nurse=nurse, starts_on=absence.starts_on.isoformat()
    )
    session.delete(absence)

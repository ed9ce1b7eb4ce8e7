"""Colleagues managed on the status page by an admin: create one with a one-time password she
changes at first login, change her role or pole, disable her (her sessions end at once), give her
a new one-time password. Roles: ``admin`` manages coordinators and API tokens, ``coordinator``
does the rest. The last admin cannot be disabled nor lose the role (nobody could manage anyone).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.people import coordinators
from dispatch.phones import PhoneError, normalize_phone
from dispatch.timeline import record
from models import Coordinator, Pole

ROLES = ("coordinator", "admin")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or copied by hand


@dataclass
class ColleagueValues:
    email: str
    name: str
    phone: str | None
    role: str
    pole_id: int | None


def one_time_password() -> str:
    """``kq7m-2xwp-h9td``: 60 random bits, easy to read out over the phone."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3))


def admins_left(session: Session, *, besides: Coordinator | None = None) -> int:
    query = (
        select(func.count())
        .select_from(Coordinator)
        .where(Coordinator.role == "admin", Coordinator.disabled_at.is_(None))
    )
    if besides is not None:
        query = query.where(Coordinator.id != besides.id)
    return session.scalar(query) or 0


def read_colleague(session: Session, form: Mapping[str, str], *, colleague: Coordinator | None = None):
    """(ColleagueValues, errors in French by field) from the colleague form."""
    errors: dict[str, str] = {}
    email = (form.get("email") or "").strip().lower()[:200]
    if colleague is not None:
        email = colleague.email
    elif not EMAIL.match(email):
        errors["email"] = "Adresse e-mail attendue (ex. prenom.nom@sio.fr)."
    elif coordinators.find_by_email(session, email) is not None:
        errors["email"] = "Une coordinatrice ou un coordinateur a déjà cette adresse."
    name = " ".join((form.get("name") or "").split())
    if not name:
        errors["name"] = "Indiquez le nom."
    elif len(name) > 120:
        errors["name"] = "Le nom est trop long (120 caractères au plus)."
    phone = None
    raw = (form.get("phone") or "").strip()
    if raw:
        try:
            parsed = normalize_phone(raw)
            if not parsed.is_mobile:
                errors["phone"] = "Un portable : les alertes partent par SMS."
            else:
                phone = parsed.e164
        except PhoneError:
            errors["phone"] = "Numéro de portable attendu (ex. 06 12 34 56 78)."
    else:
        errors["phone"] = "Indiquez le portable (appels transférés et alertes)."
    role = form.get("role") or "coordinator"
    if role not in ROLES:
        errors["role"] = "Rôle inconnu."
    elif (
        colleague is not None
        and colleague.role == "admin"
        and role != "admin"
        and not admins_left(session, besides=colleague)
    ):
        errors["role"] = "C'est la dernière administratrice : nommez-en une autre d'abord."
    pole_id = None
    raw_pole = (form.get("pole_id") or "").strip()
    if raw_pole:
        pole = session.get(Pole, int(raw_pole)) if raw_pole.isdigit() and len(raw_pole) < 10 else None
        if pole is None:
            errors["pole_id"] = "Pôle inconnu."
        else:
            pole_id = pole.id
    return ColleagueValues(email, name, phone, role, pole_id), errors


def create_colleague(
    session: Session, values: ColleagueValues, now: datetime, *, actor: str
) -> tuple[Coordinator, str]:
    """A new coordinator with a one-time password (returned, shown once) to change at first login."""
    password = one_time_password()
    colleague = Coordinator(
        email=values.email,
        name=values.name,
        phone=values.phone,
        role=values.role,
        pole_id=values.pole_id,
        password_hash=coordinators.hash_password(password),
        must_change_password=True,
        on_duty=False,
        created_at=now,
    )
    session.add(colleague)
    session.flush()
    record(session, None, "coordinator_created", now, actor=actor, coordinator=values.name, role=values.role)
    return colleague, password


def update_colleague(session: Session, colleague: Coordinator, values: ColleagueValues, now: datetime, *, actor: str):
    colleague.name, colleague.phone, colleague.role, colleague.pole_id = (
        values.name,
        values.phone,
        values.role,
        values.pole_id,
    )
    record(session, None, "coordinator_updated", now, actor=actor, coordinator=values.name, role=values.role)


def reset_password(session: Session, colleague: Coordinator, now: datetime, *, actor: str) -> str:
    """A new one-time password (returned, shown once); her sessions end at once."""
    password = one_time_password()
    colleague.password_hash = coordinators.hash_password(password)
    colleague.must_change_password = True
    coordinators.end_all_sessions(session, colleague, now, actor=actor)
    record(session, None, "coordinator_password_reset", now, actor=actor, coordinator=colleague.name)
    return password


def disable_problem(session: Session, colleague: Coordinator, me: Coordinator) -> str | None:
    """Why this admin may not disable that colleague, in French; None when she may."""
    if colleague.id == me.id:
        return "Vous ne pouvez pas désactiver votre propre compte."
    if colleague.role == "admin" and not admins_left(session, besides=colleague):
        return "C'est la dernière administratrice active."
    return None


def change_own_password(
    session: Session, me: Coordinator, current: str, new: str, confirm: str, now: datetime
) -> dict[str, str]:
    """Her own new password (the one-time one included); errors in French by field. Her other
    sessions end; the caller opens a fresh one for this browser."""
    errors: dict[str, str] = {}
    if not coordinators.check_password(me, current):
        errors["current"] = "Mot de passe actuel incorrect."
    problem = coordinators.password_problem(new)
    if problem:
        errors["new"] = problem[0].upper() + problem[1:] + "."
    elif new != confirm:
        errors["confirm"] = "Les deux saisies ne sont pas identiques."
    elif new == current:
        errors["new"] = "Choisissez un mot de passe différent de l'actuel."
    if errors:
        return errors
    coordinators.set_password(session, me, new, now)
    me.must_change_password = False
    record(session, None, "coordinator_password_changed", now, actor=me.name)
    return {}

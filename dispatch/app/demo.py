"""Demo data: a small region around Saint-Étienne and the south of Lyon (``sio demo``).

About forty home-care nurses over fourteen communes of the Loire (42) and the Rhône (69),
three requesters and one coordinator (``demo@sio.local`` / ``demo``). The phone numbers
are made up; the demo is meant for the simulator, never for real texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from dispatch.clock import utcnow
from dispatch.phones import normalize_phone
from models import Commune, Coordinator, Nurse, NurseSkill, NurseZone, Pole, Requester, RequesterPhone, RotaShift

# INSEE code → name, as in dispatch/data/communes.csv (checked by the tests).
COMMUNES: dict[str, str] = {
    "42207": "Saint-Chamond",
    "42110": "L'Horme",
    "42103": "La Grand-Croix",
    "42123": "Lorette",
    "42186": "Rive-de-Gier",
    "42218": "Saint-Étienne",
    "42223": "Saint-Genest-Lerpt",
    "42189": "Roche-la-Molière",
    "42183": "La Ricamarie",
    "42095": "Firminy",
    "69091": "Givors",
    "69096": "Grigny",
    "69259": "Vénissieux",
    "69290": "Saint-Priest",
}

# Neighbouring communes a nurse's round covers.
GIER_WEST = ("42207", "42110", "42103")  # Saint-Chamond, L'Horme, La Grand-Croix
GIER_EAST = ("42103", "42123", "42186")  # La Grand-Croix, Lorette, Rive-de-Gier
GIER_RHONE = ("42186", "42123", "69091")  # Rive-de-Gier, Lorette, Givors
STE_NORTH = ("42218", "42223", "42189")  # Saint-Étienne, Saint-Genest-Lerpt, Roche-la-Molière
STE_SOUTH = ("42218", "42183", "42095")  # Saint-Étienne, La Ricamarie, Firminy
ONDAINE = ("42095", "42183", "42189")  # Firminy, La Ricamarie, Roche-la-Molière
STE_GIER = ("42207", "42218")  # Saint-Chamond, Saint-Étienne
GIVORS = ("69091", "69096")  # Givors, Grigny
EST_LYON = ("69259", "69290")  # Vénissieux, Saint-Priest
SUD_LYON = ("69259", "69096", "69091", "69290")  # Vénissieux, Grigny, Givors, Saint-Priest

WEEKDAYS = "mon-fri 07:00-19:30"
MORNINGS = "mon-sat 06:30-13:00"
SPLIT_DAY = "mon-fri 07:00-12:30; mon-fri 16:30-20:00"
WEEKENDS = "fri-sun 07:00-20:00"
LONG_WEEK = "mon-sat 07:00-20:00"
ALWAYS = ""

# (name, mobile, zones, skills, availability, paused)
NURSES: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], str, bool], ...] = (
    ("Sophie Martin", "06 04 33 21 81", GIER_WEST, (), WEEKDAYS, False),
    ("Nathalie Bernard", "06 86 37 94 02", GIER_WEST, ("perfusion",), LONG_WEEK, False),
    ("Isabelle Dubois", "07 54 23 51 16", GIER_WEST, (), MORNINGS, False),
    ("Céline Moreau", "06 55 94 07 81", STE_GIER, ("sortie",), ALWAYS, False),
    ("Sandrine Peyron", "06 34 13 16 47", GIER_EAST, (), WEEKDAYS, False),
    ("Valérie Chapuis", "06 27 64 83 50", GIER_EAST, ("perfusion", "sortie"), LONG_WEEK, False),
    ("Karine Thiollière", "06 05 64 13 95", GIER_EAST, (), SPLIT_DAY, False),
    ("Audrey Lefebvre", "06 76 72 42 38", GIER_RHONE, (), WEEKENDS, False),
    ("Émilie Roux", "07 96 96 53 28", GIER_RHONE, (), WEEKDAYS, False),
    ("Julie Fournier", "07 69 78 48 01", GIER_RHONE, ("sortie",), ALWAYS, True),
    ("Stéphanie Girard", "07 51 46 27 04", STE_NORTH, (), WEEKDAYS, False),
    ("Aurélie Bonnet", "06 81 48 93 25", STE_NORTH, ("perfusion",), MORNINGS, False),
    ("Marion Dupont", "06 88 09 57 01", STE_NORTH, (), LONG_WEEK, False),
    ("Laetitia Lambert", "07 43 03 91 17", STE_NORTH, (), SPLIT_DAY, False),
    ("Virginie Fontaine", "06 82 27 82 48", STE_SOUTH, ("sortie",), WEEKDAYS, False),
    ("Christelle Rousseau", "07 38 34 65 78", STE_SOUTH, (), ALWAYS, False),
    ("Delphine Vincent", "07 37 63 11 65", STE_SOUTH, ("perfusion",), LONG_WEEK, False),
    ("Caroline Muller", "07 67 01 06 51", STE_SOUTH, (), WEEKENDS, False),
    ("Élodie Faure", "06 33 87 26 24", ONDAINE, (), WEEKDAYS, False),
    ("Anne-Laure Blanc", "07 31 78 10 80", ONDAINE, (), MORNINGS, False),
    ("Mélanie Guérin", "06 32 67 73 60", ONDAINE, ("perfusion", "sortie"), LONG_WEEK, False),
    ("Hélène Boyer", "06 60 64 74 68", ONDAINE, (), SPLIT_DAY, False),
    ("Coralie Garnier", "06 21 91 36 19", STE_GIER, (), WEEKDAYS, False),
    ("Pauline Chevalier", "06 99 09 16 99", STE_GIER, (), ALWAYS, False),
    ("Fabienne Perrin", "07 43 53 46 24", GIVORS, (), WEEKDAYS, False),
    ("Laurence Morin", "07 51 07 99 11", GIVORS, ("perfusion",), LONG_WEEK, False),
    ("Sylvie Mathieu", "06 84 25 13 54", GIVORS, (), MORNINGS, False),
    ("Claire Clément", "06 78 49 80 84", EST_LYON, (), WEEKDAYS, False),
    ("Nadia Benali", "06 24 11 82 44", EST_LYON, ("sortie",), LONG_WEEK, False),
    ("Samira Haddad", "06 53 48 74 01", EST_LYON, (), SPLIT_DAY, False),
    ("Fatima Zerrouki", "07 40 05 24 27", SUD_LYON, ("perfusion",), WEEKDAYS, False),
    ("Maryline Gauthier", "07 80 11 28 05", SUD_LYON, (), ALWAYS, True),
    ("Jérôme Masson", "06 62 04 50 53", SUD_LYON, (), WEEKENDS, False),
    ("Thomas Robin", "06 15 86 92 32", GIER_WEST, (), LONG_WEEK, False),
    ("Nicolas Brun", "06 60 25 63 42", STE_NORTH, ("sortie",), WEEKDAYS, False),
    ("Karim Mansouri", "06 60 73 37 54", EST_LYON, (), ALWAYS, False),
    ("Florence Vial", "06 30 36 54 14", GIER_EAST, (), MORNINGS, False),
    ("Agnès Tissot", "07 86 85 01 42", STE_SOUTH, (), WEEKDAYS, False),
    ("Magali Granjon", "06 69 34 06 08", ONDAINE, (), LONG_WEEK, False),
    ("Cécile Royer", "06 56 15 95 14", GIVORS, ("sortie",), SPLIT_DAY, False),
)

# (name, kind, phones, postcode). 04 65 71 xx xx is a range ARCEP keeps for fiction.
REQUESTERS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("Ehpad Les Tilleuls", "ehpad", ("04 65 71 20 10",), "42400"),
    ("CHU Saint-Étienne, service de médecine", "hopital", ("04 65 71 30 20", "04 65 71 30 21"), "42270"),
    ("Laboratoire BioGier", "labo", ("04 65 71 40 30",), "42800"),
)

COORDINATOR_EMAIL = "demo@sio.local"
COORDINATOR_PASSWORD = "demo"  # noqa: S105 (the demo's published password)
COORDINATOR_NAME = "Martine Roche (démo)"
COORDINATOR_PHONE = "07 65 64 82 36"
# The demo region is one pole; its rota: the admin above Monday to Saturday, a colleague two
# afternoons (the service hours cut both: mon-sat 09:00-19:30 by default, holidays closed).
POLE = ("Saint-Chamond", "42 69")
ROTA: tuple[tuple[str, tuple[int, ...], str, str], ...] = (
    (COORDINATOR_EMAIL, (0, 1, 2, 3, 4, 5), "09:00", "19:30"),
    ("paul@sio.local", (1, 3), "14:00", "19:30"),
)
COLLEAGUE = ("paul@sio.local", "Paul Garnier (démo)", "07 65 64 82 37")


class DemoError(RuntimeError):
    """The demo cannot be seeded; the message says why."""


@dataclass(frozen=True)
class DemoSummary:
    nurses: int
    paused: int
    communes: int
    requesters: int
    coordinators: int

    def __str__(self) -> str:
        return (
            f"demo data loaded: {self.nurses} nurses ({self.paused} paused) over {self.communes} communes, "
            f"{self.requesters} requesters, coordinator {COORDINATOR_EMAIL} / password {COORDINATOR_PASSWORD}"
        )


def has_data(session: Session) -> bool:
    """True when any nurse, requester or coordinator exists: the demo goes into empty databases only."""
    return any(session.scalar(select(func.count()).select_from(model)) for model in (Nurse, Requester, Coordinator))


def seed_demo(session: Session, now: datetime | None = None) -> DemoSummary:
    """Add the demo region to an empty database (the caller commits).

    Raises :class:`DemoError` when the database already holds people, or when the
    communes are not loaded (``sio db upgrade`` first).
    """
    now = now or utcnow()
    if has_data(session):
        raise DemoError("the database already has nurses, requesters or coordinators: demo data not loaded")
    known = set(session.scalars(select(Commune.insee).where(Commune.insee.in_(list(COMMUNES)))))
    if known != set(COMMUNES):
        raise DemoError("the communes are not loaded: run `sio db upgrade` first")
    for name, phone, zones, skills, availability, paused in NURSES:
        nurse = Nurse(
            name=name,
            phone=normalize_phone(phone).e164,
            availability=availability,
            paused_until=now + timedelta(days=7) if paused else None,
        )
        nurse.zones = [NurseZone(insee=code) for code in sorted(set(zones))]
        nurse.skills = [NurseSkill(skill=skill) for skill in skills]
        session.add(nurse)
    for name, kind, phones, postcode in REQUESTERS:
        requester = Requester(name=name, kind=kind, postcode=postcode)
        requester.phones = [RequesterPhone(phone=normalize_phone(p).e164) for p in phones]
        session.add(requester)
    pole = Pole(name=POLE[0], departments=POLE[1], created_at=now)
    session.add(pole)
    session.flush()
    people = {}
    for email, name, phone, role in (
        (COORDINATOR_EMAIL, COORDINATOR_NAME, COORDINATOR_PHONE, "admin"),
        (*COLLEAGUE, "coordinator"),
    ):
        people[email] = Coordinator(
            email=email,
            name=name,
            phone=normalize_phone(phone).e164,
            password_hash=generate_password_hash(COORDINATOR_PASSWORD, method="scrypt"),
            role=role,
            pole_id=pole.id,
            on_duty=False,  # the rota says when
        )
        session.add(people[email])
    session.flush()
    for email, days, starts, ends in ROTA:
        start, end = (int(t[:2]) * 60 + int(t[3:]) for t in (starts, ends))
        session.add_all(RotaShift(coordinator_id=people[email].id, weekday=d, starts=start, ends=end) for d in days)
    session.flush()
    return DemoSummary(
        nurses=len(NURSES),
        paused=sum(1 for n in NURSES if n[5]),
        communes=len(COMMUNES),
        requesters=len(REQUESTERS),
        coordinators=len(people),
    )

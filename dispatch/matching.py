"""Who may be offered a request, in which order (DESIGN §6 "Dispatch").

Pure functions of a session and ``now``. Eligibility and fairness ranking run
in SQL (a region holds 100,000 nurses; a request's zone holds a few dozen);
only the weekly availability, a free-text hours rule, is checked in Python on
the few rows SQL returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from dispatch import geo
from dispatch.hours import HoursError, WeeklyHours
from dispatch.vocab import required_skill
from models import CareRequest, Nurse, NurseAbsence, NurseSkill, NurseZone, Offer

FAIRNESS_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Candidate:
    nurse_id: int
    distance_km: float  # 0 for nurses who declared the request's commune
    accepted_30d: int
    last_offer_at: datetime | None


def request_communes(session: Session, request: CareRequest) -> list[str]:
    """The request's zone: its commune when known, else every commune of its postcode."""
    if request.insee:
        return [request.insee]
    if request.postcode:
        return [p.insee for p in geo.communes_for_postcode(session, request.postcode)]
    return []


def nurse_is_reachable(session: Session, nurse: Nurse, now: datetime, today) -> bool:
    """Not paused, not opted out, not absent today (the usual nurse's test: zones don't matter)."""
    if nurse.opted_out_at is not None or (nurse.paused_until is not None and nurse.paused_until > now):
        return False
    absent = session.scalar(
        select(NurseAbsence.id).where(
            NurseAbsence.nurse_id == nurse.id, NurseAbsence.starts_on <= today, NurseAbsence.ends_on >= today
        )
    )
    return absent is None


@lru_cache(maxsize=4096)
def _hours(text: str) -> WeeklyHours | None:
    try:
        return WeeklyHours.parse(text)
    except HoursError:
        return None  # validated on import; an unreadable rule never blocks a nurse


def is_available(availability: str, local_moment: datetime) -> bool:
    hours = _hours(availability or "")
    return hours is None or hours.contains(local_moment)


def _eligible_nurses(request: CareRequest, now: datetime, today):
    """The SQL conditions every candidate meets, whatever her distance."""
    skill = required_skill(request.care_type)
    conditions = [
        Nurse.opted_out_at.is_(None),
        or_(Nurse.paused_until.is_(None), Nurse.paused_until <= now),
        ~exists().where(
            NurseAbsence.nurse_id == Nurse.id, NurseAbsence.starts_on <= today, NurseAbsence.ends_on >= today
        ),
        ~exists().where(Offer.nurse_id == Nurse.id, Offer.request_id == request.id),
    ]
    if skill:
        conditions.append(exists().where(NurseSkill.nurse_id == Nurse.id, NurseSkill.skill == skill))
    if request.usual_nurse_id:
        conditions.append(Nurse.id != request.usual_nurse_id)
    return conditions


def rank_candidates(
    session: Session,
    request: CareRequest,
    now: datetime,
    local_moment: datetime,
    *,
    limit: int,
    radius_steps: tuple[int, ...] = (0,),
) -> list[Candidate]:
    """Up to ``limit`` nurses to offer next, nearest step first, fairest first within a step.

    Step 0 is the nurses who declared one of the request's communes; each further
    step (km) adds nurses serving a commune within that distance. Within a step:
    fewest accepted offers in the last 30 days, then longest since their last offer.
    """
    communes = request_communes(session, request)
    if not communes or limit <= 0:
        return []
    today = local_moment.date()
    accepted_30d = (
        select(func.count(Offer.id))
        .where(Offer.nurse_id == Nurse.id, Offer.status == "accepted", Offer.answered_at >= now - FAIRNESS_WINDOW)
        .correlate(Nurse)
        .scalar_subquery()
    )
    last_offer = select(func.max(Offer.created_at)).where(Offer.nurse_id == Nurse.id).correlate(Nurse).scalar_subquery()
    centres: list[geo.Place] | None = None  # read only if a radius step is reached
    chosen: list[Candidate] = []
    seen: set[int] = set()
    for radius in sorted(set(radius_steps) | {0}):
        if radius == 0:
            distances = dict.fromkeys(communes, 0.0)
        else:
            if centres is None:
                centres = [p for p in (geo.commune(session, c) for c in communes) if p is not None]
            distances = geo.communes_within(session, centres, radius)
        if not distances:
            continue
        zone_match = select(NurseZone.nurse_id).where(NurseZone.insee.in_(list(distances)))
        rows = session.execute(
            select(Nurse.id, Nurse.availability, accepted_30d.label("acc"), last_offer.label("last")).where(
                Nurse.id.in_(zone_match), *_eligible_nurses(request, now, today)
            )
        ).all()
        if not rows:
            continue
        nurse_distance = {} if radius == 0 else _nearest_zone(session, [r.id for r in rows], distances)
        step: list[Candidate] = []
        for row in rows:
            if row.id in seen or not is_available(row.availability, local_moment):
                continue
            step.append(Candidate(row.id, nurse_distance.get(row.id, 0.0), row.acc or 0, row.last))
        step.sort(key=lambda c: (round(c.distance_km, 1), c.accepted_30d, _oldest_first(c.last_offer_at), c.nurse_id))
        for candidate in step:
            seen.add(candidate.nurse_id)
            chosen.append(candidate)
            if len(chosen) >= limit:
                return chosen
    return chosen


def _oldest_first(at: datetime | None) -> float:
    return at.timestamp() if at is not None else float("-inf")


def _nearest_zone(session: Session, nurse_ids: list[int], distances: dict[str, float]) -> dict[int, float]:
    result: dict[int, float] = {}
    rows = session.execute(
        select(NurseZone.nurse_id, NurseZone.insee).where(
            and_(NurseZone.nurse_id.in_(nurse_ids), NurseZone.insee.in_(list(distances)))
        )
    ).all()
    for nurse_id, insee in rows:
        d = distances[insee]
        if d < result.get(nurse_id, float("inf")):
            result[nurse_id] = d
    return result

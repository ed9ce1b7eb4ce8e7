"""Who may be offered a request, in which order (DESIGN §6 "Dispatch").

Pure functions of a session and ``now``. Eligibility runs in SQL (a region holds
100,000 nurses; a request's zone holds a few dozen, a 10 km ring a few hundred);
the weekly availability (a free-text hours rule), the distances and the order are
computed in Python on the rows SQL returns, and the fairness figures are read only
for the nurses that can make the list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import ARRAY, Integer, any_, bindparam, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from dispatch import geo
from dispatch.hours import HoursError, WeeklyHours
from dispatch.lifecycle import CareWindow, OfferStatus
from dispatch.vocab import required_skill
from models import CareRequest, Commune, Nurse, NurseAbsence, NurseSkill, NurseZone, Offer

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
    if nurse.deactivated_at is not None:  # deactivated by a coordinator
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


@lru_cache(maxsize=4096)
def is_available(availability: str, window: CareWindow) -> bool:
    """Whether her weekly hours are open at some moment of the care window (nurses share a few
    hours texts: one answer each per window)."""
    hours = _hours(availability or "")
    return hours is None or hours.works_between(window.start, window.end)


def rank_candidates(
    session: Session,
    request: CareRequest,
    now: datetime,
    window: CareWindow,
    *,
    limit: int,
    radius_steps: tuple[int, ...] = (0,),
) -> list[Candidate]:
    """Up to ``limit`` nurses to offer next, nearest step first, fairest first within a step.

    Eligible: not paused, opted out, absent on the window's day, nor kept out of the request's
    current round (``dispatch.matching.waves``: offered in it, or declined it once); working at some
    moment of ``window`` (``dispatch.lifecycle.care_window``); with the care's skill.

    Step 0 is the nurses who declared one of the request's communes; each further
    step (km) adds nurses serving a commune within that distance. Within a step:
    distance to 0.1 km, then fewest accepted offers in the last 30 days, then longest
    since their last offer, then id.

    Statements, and why: step 0 is one query that also returns the communes' points (its
    few nurses all tie at distance 0, so each needs her fairness figures: they come in the
    same query). The radius steps read the nurses around, outwards and only as far as the
    list needs (``_Ring``), without fairness figures: how many nurses a step gives does not
    depend on them, and only the nurses that can still make the list (every nurse of a step
    taken whole, and of the last step those nearer than the cut plus all those tied with
    the last one kept) need them, read in one last query. A request its own communes' nurses
    fill costs one statement; one that needs the radius steps, three to five in the benchmark.
    """
    communes = request_communes(session, request)
    if not communes or limit <= 0:
        return []
    query = _Query(session, request, now, window, communes)
    centres, declared = query.declared_zone()
    chosen = sorted(
        (
            Candidate(row.id, 0.0, row.acc or 0, row.last)
            for row in declared.values()
            if is_available(row.availability, window)
        ),
        key=_rank,
    )[:limit]
    radii = sorted(r for r in set(radius_steps) if r > 0)
    if len(chosen) >= limit or not radii or not centres:
        return chosen
    ring = _Ring(query, centres, set(declared), window)
    steps: list[list[tuple[float, int]]] = []
    wanted = limit - len(chosen)
    previous = -math.inf
    for radius in radii:
        step = ring.step(previous, radius, wanted)
        steps.append(_nearest_with_ties(step, wanted))
        wanted -= len(step)
        previous = radius
        if wanted <= 0:
            break
    fairness = query.fairness([n for step in steps for _, n in step])
    for step in steps:
        ranked = sorted((Candidate(n, d, *fairness.get(n, (0, None))) for d, n in step), key=_rank)
        chosen.extend(ranked[: limit - len(chosen)])
    return chosen


def _rank(c: Candidate) -> tuple:
    """The order within a step."""
    return (round(c.distance_km, 1), c.accepted_30d, _oldest_first(c.last_offer_at), c.nurse_id)


def _oldest_first(at: datetime | None) -> float:
    return at.timestamp() if at is not None else float("-inf")


def _nearest_with_ties(step: list[tuple[float, int]], wanted: int) -> list[tuple[float, int]]:
    """The ``wanted`` nearest (distance, nurse) pairs, plus every pair at the same 0.1 km as the
    last of them: fairness decides among those, so all of them need their figures."""
    if len(step) <= wanted:
        return step
    step.sort(key=lambda pair: round(pair[0], 1))
    cut = round(step[wanted - 1][0], 1)
    return [pair for pair in step if round(pair[0], 1) <= cut]


class _Query:
    """The three statements of ``rank_candidates``, with the request's parameters.

    Each statement is built once per shape (skill or not, usual nurse or not, how many
    communes' boxes) with bound parameters, and kept: building and hashing a select with
    its EXISTS clauses cost more client time than PostgreSQL takes to run it.
    """

    def __init__(self, session: Session, request: CareRequest, now: datetime, window: CareWindow, communes: list[str]):
        if session.autoflush:
            session.flush()  # as session.execute would: the statements below run on its connection
        self.connection = session.connection()
        self.skill = required_skill(request.care_type)
        self.params = {
            "now": now,
            "since": now - FAIRNESS_WINDOW,
            "today": window.start.date(),
            "request_id": request.id,
            "round": request.round,
            "skill": self.skill,
            "communes": communes,
        }

    def declared_zone(self) -> tuple[list[geo.Place], dict]:
        """The communes' points, and the eligible nurses declaring them with their fairness figures."""
        rows = self.connection.execute(_declared_statement(bool(self.skill)), self.params).all()
        centres = {r.insee: geo.Place(r.insee, r.name, r.department, r.lat, r.lon) for r in rows}
        declared = {r.id: r for r in rows if r.id is not None}  # a nurse declaring two of the communes: once
        return list(centres.values()), declared

    def ring(self, inner: list[geo.Box], boxes: list[geo.Box]):
        """(nurse, availability, commune, lat, lon) of the eligible nurses serving a commune in
        ``boxes`` but in none of ``inner`` (read by the previous step) nor named by the request."""
        statement = _ring_statement(bool(self.skill), len(boxes), bool(inner))
        params = {**self.params, **geo.box_parameters(boxes, "box"), **geo.box_parameters(inner, "inner")}
        return self.connection.execute(statement, params)

    def fairness(self, nurse_ids: list[int]) -> dict[int, tuple[int, datetime | None]]:
        if not nurse_ids:
            return {}
        statement = _fairness_statement(self.connection.dialect.name == "postgresql")
        rows = self.connection.execute(statement, {"since": self.params["since"], "nurse_ids": nurse_ids}).all()
        return {row.id: (row.acc or 0, row.last) for row in rows}


def _conditions(skill: bool) -> list:
    """The SQL conditions every candidate meets, whatever her distance (parameters: now, today,
    request_id, round, skill)."""
    today = bindparam("today")
    conditions = [
        Nurse.opted_out_at.is_(None),
        Nurse.deactivated_at.is_(None),
        or_(Nurse.paused_until.is_(None), Nurse.paused_until <= bindparam("now")),
        ~exists().where(
            NurseAbsence.nurse_id == Nurse.id, NurseAbsence.starts_on <= today, NurseAbsence.ends_on >= today
        ),
        # Asked in this round, or said no once: not again.
        ~exists().where(
            Offer.nurse_id == Nurse.id,
            Offer.request_id == bindparam("request_id"),
            or_(Offer.round == bindparam("round"), Offer.status == OfferStatus.DECLINED),
        ),
    ]
    if skill:
        conditions.append(exists().where(NurseSkill.nurse_id == Nurse.id, NurseSkill.skill == bindparam("skill")))
    return conditions


def _fairness_columns():
    """Accepted offers since ``since`` (30 days back) and the latest offer, of ``Nurse.id``.

    One index probe each: ``count(*)`` (not of a column) lets the count read
    ix_offers_nurse_status_answered alone, the latest offer is the end of ix_offers_nurse_created."""
    accepted_30d = (
        select(func.count())
        .where(
            Offer.nurse_id == Nurse.id, Offer.status == OfferStatus.ACCEPTED, Offer.answered_at >= bindparam("since")
        )
        .correlate(Nurse)
        .scalar_subquery()
    )
    last_offer = select(func.max(Offer.created_at)).where(Offer.nurse_id == Nurse.id).correlate(Nurse).scalar_subquery()
    return accepted_30d.label("acc"), last_offer.label("last")


# Where a request's commune is, as both declared-zone statements return it (a radius step
# needs no query of its own).
_PLACE_COLUMNS = (Commune.insee, Commune.name, Commune.department, Commune.lat, Commune.lon)


@lru_cache(maxsize=8)
def _declared_statement(skill: bool):
    """The request's communes, each outer-joined to its eligible nurses (none: one row of
    nulls), so that a radius step needs no query of its own to know where the request is."""
    communes = bindparam("communes", expanding=True)
    nurses = (
        select(NurseZone.insee, Nurse.id, Nurse.availability, *_fairness_columns())
        .join(Nurse, Nurse.id == NurseZone.nurse_id)
        .where(NurseZone.insee.in_(communes), *_conditions(skill))
        .subquery()
    )
    return (
        select(
            *_PLACE_COLUMNS,
            nurses.c.id,
            nurses.c.availability,
            nurses.c.acc,
            nurses.c.last,
        )
        .outerjoin(nurses, nurses.c.insee == Commune.insee)
        .where(Commune.insee.in_(communes))
    )


@lru_cache(maxsize=64)
def _ring_statement(skill: bool, boxes: int, inner: bool):
    query = (
        select(NurseZone.nurse_id, Nurse.availability, Commune.insee, Commune.lat, Commune.lon)
        .join(NurseZone, NurseZone.insee == Commune.insee)
        .join(Nurse, Nurse.id == NurseZone.nurse_id)
        .where(
            geo.in_boxes(boxes, "box"),
            Commune.insee.not_in(bindparam("communes", expanding=True)),
            *_conditions(skill),
        )
    )
    return query.where(~geo.in_boxes(boxes, "inner")) if inner else query


@lru_cache(maxsize=2)
def _fairness_statement(postgres: bool):
    """The fairness figures of a list of nurses. On PostgreSQL the list is one array parameter:
    the statement's text does not change with the list's length, so psycopg prepares it after
    a few runs on a connection (an IN list is a new statement, parsed and planned, per length)."""
    if postgres:
        ids = Nurse.id == any_(bindparam("nurse_ids", type_=ARRAY(Integer)))
    else:
        ids = Nurse.id.in_(bindparam("nurse_ids", expanding=True))
    return select(Nurse.id, *_fairness_columns()).where(ids)


class _Ring:
    """The nurses around the request's communes, read outwards only as far as needed.

    A read covers what a larger box adds to the boxes already read (the communes the
    request names are step 0's, never read here), and every row read is kept. A box holds
    the circle of its radius (``geo.bounding_box``), so once a radius is read every nurse
    with a zone within it is known, with her exact distance: the distance to her nearest
    zone, as the steps count it. A step is read in two halves when the first half may be
    enough: nearest first, so the nurses nearer than the half are all a step needs when
    they outnumber those still wanted, ties at the cut included.
    """

    def __init__(self, query: _Query, centres: list[geo.Place], declared: set[int], window: CareWindow):
        self.query = query
        self.centres = centres
        self.declared = declared  # step 0's eligible nurses: never in a radius step
        self.window = window
        self.known = -math.inf  # every commune within this many km has been read
        self.boxes: list[geo.Box] = []
        self.distance: dict[int, float] = {}  # nurse → km to her nearest zone read so far
        self.available: dict[int, bool] = {}
        self.commune_distance: dict[str, float] = {}

    def step(self, previous: float, radius: float, wanted: int) -> list[tuple[float, int]]:
        """(distance, nurse) for the available nurses beyond ``previous`` and within ``radius`` km:
        all of them, or, when that settles the step, those within the radius read so far."""
        while True:
            if self.known < radius:
                self._read(self._next_radius(previous, radius, wanted))
            found = [
                (d, n)
                for n, d in self.distance.items()
                if previous < d <= min(radius, self.known) and self.available[n]
            ]
            if self.known >= radius or _settled(found, wanted, self.known):
                return found

    def _next_radius(self, previous: float, radius: float, wanted: int) -> float:
        """Half the step when the density read so far (or nothing read yet) says it may hold
        twice the nurses wanted; else the whole step, sparing a statement."""
        start = max(previous, 0.0)
        half = start + (radius - start) / 2
        if self.known >= half:
            return radius
        if self.known > 0:
            seen = sum(1 for n, d in self.distance.items() if d <= self.known and self.available[n])
            if seen * (half**2 - start**2) < 2 * wanted * self.known**2:
                return radius
        return half

    def _read(self, radius: float) -> None:
        boxes = [geo.bounding_box(c, radius) for c in self.centres]
        for nurse_id, availability, insee, lat, lon in self.query.ring(self.boxes, boxes).all():
            if nurse_id in self.declared:
                continue
            d = self.commune_distance.get(insee)
            if d is None:
                d = self.commune_distance[insee] = geo.nearest_km(self.centres, lat, lon)
            if d < self.distance.get(nurse_id, math.inf):
                self.distance[nurse_id] = d
            if nurse_id not in self.available:
                self.available[nurse_id] = is_available(availability, self.window)
        self.boxes, self.known = boxes, radius


def _settled(found: list[tuple[float, int]], wanted: int, known: float) -> bool:
    """Whether the ``wanted`` nearest of ``found`` and all those tied with the last of them at
    0.1 km are surely among ``found``: that 0.1 km ends short of the radius read."""
    if len(found) < wanted:
        return False
    cut = round(sorted(d for d, _ in found)[wanted - 1], 1)
    return cut + 0.1 <= known


def anyone_to_ask(
    session: Session, request: CareRequest, now: datetime, window: CareWindow, *, radius_steps: tuple[int, ...] = (0,)
) -> bool:
    """Whether :func:`rank_candidates` would find anyone at all: the same eligibility (the same
    SQL conditions, ``_conditions``; the same weekly hours test; the same radius steps, read by
    the same ``_Ring``), but no fairness figure is read and no order is computed.

    The declared zone is one statement returning its communes' points and the distinct hours
    rules of its eligible nurses (nurses share a few), so a served zone costs one short
    statement; only when none of them works in ``window`` are the radius steps read, at once up
    to the widest (a nurse within any step is a candidate), stopping at the first half that
    holds one.
    """
    communes = request_communes(session, request)
    if not communes:
        return False
    query = _Query(session, request, now, window, communes)
    rows = query.connection.execute(_declared_hours_statement(bool(query.skill)), query.params).all()
    if any(row.present and is_available(row.availability, window) for row in rows):
        return True
    radii = [r for r in radius_steps if r > 0]
    centres = list({r.insee: geo.Place(r.insee, r.name, r.department, r.lat, r.lon) for r in rows}.values())
    if not radii or not centres:
        return False
    # The declared zone's eligible nurses are left out of rank_candidates' steps; here they
    # need not be: none of them works in the window, so none could count in a step either.
    return bool(_Ring(query, centres, set(), window).step(-math.inf, max(radii), 1))


@lru_cache(maxsize=4)
def _declared_hours_statement(skill: bool):
    """``_declared_statement`` without the fairness figures, one row per hours rule: the
    request's communes, each outer-joined to the distinct hours rules of its eligible nurses
    (``present`` is null for a commune nobody eligible declares)."""
    communes = bindparam("communes", expanding=True)
    hours = (
        select(NurseZone.insee, Nurse.availability, literal(1).label("present"))
        .join(Nurse, Nurse.id == NurseZone.nurse_id)
        .where(NurseZone.insee.in_(communes), *_conditions(skill))
        .distinct()
        .subquery()
    )
    return (
        select(
            *_PLACE_COLUMNS,
            hours.c.availability,
            hours.c.present,
        )
        .outerjoin(hours, hours.c.insee == Commune.insee)
        .where(Commune.insee.in_(communes))
    )

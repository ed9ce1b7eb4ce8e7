"""A coordinator steers a request (issue 15): who could take it, an offer to one nurse now.

:func:`who_could_take` lists the nurses the search would ask, in the order it would ask them
(``dispatch.matching.candidates.rank_candidates``, the same code as the waves), then those it
would not ask now, each with the reason (paused, absent, opted out, asked or declined already,
not this care, not working then), with what the offers table says of her: offers of the last
days, acceptances of the last 30 days, her last answer. :func:`propose_now` texts one of them
an offer at once, outside the waves, in the request's current round, through the outbox.
A yes given on the phone is ``dispatch.requests.actions.assign_nurse``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.lifecycle import ACCEPTING, OfferStatus, RequestStatus
from dispatch.matching.candidates import FAIRNESS_WINDOW, is_available, rank_candidates, request_communes
from dispatch.matching.waves import lock_request, offer_text
from dispatch.telephony.outbox import queue_sms
from dispatch.timeline import record
from dispatch.vocab import required_skill
from models import CareRequest, Nurse, NurseAbsence, NurseSkill, NurseZone, Offer

# The list: the search's next RANKED nurses, then those already asked and the others of the zone,
# SHOWN in all (a coordinator on the phone reads the top; the greyed ones say why not).
RANKED = 12
SHOWN = 40
RECENT_OFFERS = timedelta(days=7)
# Statuses in which a coordinator may give the request to a nurse by hand.
ASSIGNABLE: tuple[RequestStatus, ...] = (RequestStatus.OPEN, RequestStatus.UNFILLED, RequestStatus.REVIEW)


@dataclass(frozen=True)
class Answer:
    status: str  # an OfferStatus: accepted or declined
    at: datetime


@dataclass(frozen=True)
class CandidateRow:
    """One nurse of the list. ``blocked``: why the search would not ask her now (None: it would);
    ``rank``: her place in the search's order (None when it would not ask her)."""

    nurse: Nurse
    rank: int | None
    usual: bool
    in_zone: bool
    distance_km: float | None
    works: bool  # her weekly hours cover the care's time (or day)
    offers_recent: int  # offers texted to her in the last RECENT_OFFERS
    accepted_30d: int
    last_answer: Answer | None
    this_offer: str | None  # her offer of this request in the current round (its status)
    blocked: str | None  # opted_out, paused, absent, declined, asked, skill, hours
    until: date | datetime | None  # end of her pause or absence
    can_propose: bool
    can_assign: bool


def who_could_take(session: Session, settings: Settings, request: CareRequest, now: datetime) -> list[CandidateRow]:
    """The nurses who could take ``request``, best first, with those the search would skip greyed."""
    window = lifecycle.care_window(settings, request, now)
    ranked = rank_candidates(session, request, now, window, limit=RANKED, radius_steps=settings.radius_km)
    order = {c.nurse_id: i for i, c in enumerate(ranked)}
    distance = {c.nurse_id: c.distance_km for c in ranked}
    communes = request_communes(session, request)
    zone_ids = set(
        session.scalars(
            select(NurseZone.nurse_id).where(NurseZone.insee.in_(communes)).distinct().limit(SHOWN * 5)
        ).all()
        if communes
        else []
    )
    # Each nurse's latest offer of this request (a later round's wins).
    offered = {
        o.nurse_id: o
        for o in session.scalars(select(Offer).where(Offer.request_id == request.id).order_by(Offer.round, Offer.id))
    }
    ids = set(order) | zone_ids | set(offered)
    if request.usual_nurse_id:
        ids.add(request.usual_nurse_id)
    if not ids:
        return []
    nurses = {n.id: n for n in session.scalars(select(Nurse).where(Nurse.id.in_(ids)))}
    stats = _figures(session, list(nurses), now)
    skill = required_skill(request.care_type)
    skilled = _skilled(session, list(nurses), skill)
    day = window.start.date()
    absences = _absences(session, list(nurses), day)
    declined = set(
        session.scalars(
            select(Offer.nurse_id).where(Offer.request_id == request.id, Offer.status == OfferStatus.DECLINED)
        )
    )
    rows = []
    for nurse in nurses.values():
        this = offered.get(nurse.id)
        this_status = this.status if this is not None and this.round == request.round else None
        works = is_available(nurse.availability, window)
        blocked, until = _blocked(nurse, now, absences, declined, this_status, skill, skilled, works)
        if nurse.id in order:
            blocked, until = None, None
        elif blocked is None and nurse.id != request.usual_nurse_id:
            continue  # eligible but beyond the search's next RANKED: not worth a line
        reachable = nurse.opted_out_at is None
        rows.append(
            CandidateRow(
                nurse=nurse,
                rank=order.get(nurse.id),
                usual=nurse.id == request.usual_nurse_id,
                in_zone=nurse.id in zone_ids,
                distance_km=distance.get(nurse.id, 0.0 if nurse.id in zone_ids else None),
                works=works,
                offers_recent=stats[nurse.id][0],
                accepted_30d=stats[nurse.id][1],
                last_answer=stats[nurse.id][2],
                this_offer=this_status,
                blocked=blocked,
                until=until,
                can_propose=reachable
                and request.status in ACCEPTING
                and this_status is None
                and blocked not in ("paused", "absent", "opted_out", "declined")
                and bool(request.postcode or request.insee),
                can_assign=reachable and request.status in ASSIGNABLE,
            )
        )
    rows.sort(key=_order)
    return rows[:SHOWN]


def _order(row: CandidateRow) -> tuple:
    """The usual nurse first when she may be asked, then the search's order, then those asked
    already and waiting, then the rest by why not, by name."""
    if row.blocked is None:
        return (0, not row.usual, row.rank or 0, row.nurse.name)
    if row.blocked == "asked":
        return (1, not row.usual, 0, row.nurse.name)
    return (2, not row.usual, BLOCK_ORDER.index(row.blocked), row.nurse.name)


BLOCK_ORDER = ("hours", "skill", "paused", "absent", "declined", "opted_out", "asked")


def _blocked(nurse, now, absences, declined, this_status, skill, skilled, works):
    if nurse.opted_out_at is not None:
        return "opted_out", None
    if nurse.paused_until is not None and nurse.paused_until > now:
        return "paused", nurse.paused_until
    if nurse.id in absences:
        return "absent", absences[nurse.id]
    if nurse.id in declined:
        return "declined", None
    if this_status is not None:
        return "asked", None
    if skill and nurse.id not in skilled:
        return "skill", None
    if not works:
        return "hours", None
    return None, None


def _figures(session: Session, ids: list[int], now: datetime) -> dict[int, tuple[int, int, Answer | None]]:
    """(offers texted in the last days, offers accepted in the last 30 days, last answer) by nurse."""
    recent = dict(
        session.execute(
            select(Offer.nurse_id, func.count())
            .where(Offer.nurse_id.in_(ids), Offer.sent_at.is_not(None), Offer.created_at >= now - RECENT_OFFERS)
            .group_by(Offer.nurse_id)
        ).all()
    )
    accepted = dict(
        session.execute(
            select(Offer.nurse_id, func.count())
            .where(
                Offer.nurse_id.in_(ids),
                Offer.status == OfferStatus.ACCEPTED,
                Offer.answered_at >= now - FAIRNESS_WINDOW,
            )
            .group_by(Offer.nurse_id)
        ).all()
    )
    answers = {}
    for nurse_id, status, at in session.execute(
        select(Offer.nurse_id, Offer.status, Offer.answered_at).where(Offer.id.in_(_last_answers(session, ids)))
    ):
        # A yes that came second ("taken" with an answer) is a yes all the same.
        answers[nurse_id] = Answer(OfferStatus.ACCEPTED if status == OfferStatus.TAKEN else status, at)
    return {i: (recent.get(i, 0), accepted.get(i, 0), answers.get(i)) for i in ids}


def _last_answers(session: Session, ids: list[int]) -> list[int]:
    """Each nurse's last answered offer (a yes or a no): the first entry for her in the
    (nurse_id, answered_at, id) index, however long her history."""
    if not ids:
        return []
    last = (
        select(Offer.id)
        .where(
            Offer.nurse_id == Nurse.id,
            Offer.answered_at.is_not(None),
            Offer.status.in_((OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.TAKEN)),
        )
        .order_by(Offer.answered_at.desc(), Offer.id.desc())
        .limit(1)
        .correlate(Nurse)
        .scalar_subquery()
    )
    return [i for i in session.scalars(select(last).where(Nurse.id.in_(ids))) if i is not None]


def _skilled(session: Session, ids: list[int], skill: str | None) -> set[int]:
    if not skill:
        return set(ids)
    return set(
        session.scalars(select(NurseSkill.nurse_id).where(NurseSkill.nurse_id.in_(ids), NurseSkill.skill == skill))
    )


def _absences(session: Session, ids: list[int], day: date) -> dict[int, date]:
    """Nurse → the last day of her absence covering ``day``."""
    rows = session.execute(
        select(NurseAbsence.nurse_id, func.max(NurseAbsence.ends_on))
        .where(NurseAbsence.nurse_id.in_(ids), NurseAbsence.starts_on <= day, NurseAbsence.ends_on >= day)
        .group_by(NurseAbsence.nurse_id)
    ).all()
    return dict(rows)


@dataclass
class Proposal:
    """What :func:`propose_now` did: the offer's text (``effects``) and when it leaves, or why not."""

    effects: list[Effect]
    at: datetime | None = None
    refused: str | None = None  # closed, opted_out, paused, absent, declined, asked, no_place


def propose_now(
    session: Session, settings: Settings, request: CareRequest, nurse: Nurse, now: datetime, *, actor: str
) -> Proposal:
    """Text ``nurse`` an offer of ``request`` now, outside the waves (a coordinator thinks she
    may take it): an offer of the current round, the same text as a wave's, through the outbox
    (not before texting hours unless the request is urgent). Her yes then goes the usual way.

    Refused (nothing written) when the request takes no yes, when she cannot be texted an offer
    (opted out, paused, absent), declined it, or already has an offer of this round.
    """
    # Locked (and read again) like a wave job does: a wave, a yes or a colleague's proposal
    # to the same nurse waits for this transaction, then sees its offer.
    request = lock_request(session, request.id)
    if request is None or request.status not in ACCEPTING:
        return Proposal([], refused="closed")
    if not request.postcode and not request.insee:
        return Proposal([], refused="no_place")
    if nurse.opted_out_at is not None:
        return Proposal([], refused="opted_out")
    if nurse.paused_until is not None and nurse.paused_until > now:
        return Proposal([], refused="paused")
    day = lifecycle.care_window(settings, request, now).start.date()
    if _absences(session, [nurse.id], day):
        return Proposal([], refused="absent")
    previous = list(session.scalars(select(Offer).where(Offer.request_id == request.id, Offer.nurse_id == nurse.id)))
    if any(o.status == OfferStatus.DECLINED for o in previous):
        return Proposal([], refused="declined")
    if any(o.round == request.round for o in previous):
        return Proposal([], refused="asked")
    offer = Offer(
        request_id=request.id,
        nurse_id=nurse.id,
        wave=request.wave,
        round=request.round,
        status=OfferStatus.PENDING,
        created_at=now,
    )
    session.add(offer)
    session.flush()
    body = offer_text(session, settings, request, now)
    at = lifecycle.send_time(settings, request, now)
    effect = queue_sms(session, nurse.phone, body, now, kind="offer", request=request, nurse=nurse, offer=offer, at=at)
    record(session, request, "offer_proposed", now, actor=actor, nurse=nurse)
    return Proposal([effect], at=at if at > now else None)

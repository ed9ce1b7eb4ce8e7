"""Read models of the status page: the board's rows and a request's merged timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from dispatch.lifecycle import ACTIVE as ACTIVE_STATUSES
from dispatch.matching.candidates import request_communes
from dispatch.phones import PhoneError, normalize_phone
from models import Call, CareRequest, Commune, Coordinator, Event, Message, Nurse, NurseZone, Offer
from status import labels

RECENT = timedelta(hours=24)
MAX_ASSIGNABLE = 500
DETAIL_WORDS = {
    "wave": "vague",
    "offers": "propositions :",
    "reason": "motif :",
    "reason_text": "précision :",
    "note": "note :",
    "attempt": "tentative",
    "attempts": "tentatives :",
    "answered_by": "répondu par",
    "code": "code",
    "to": "vers",
    "care_type": "soin :",
    "postcode": "CP",
    "channel": "canal :",
    "days": "jours :",
    "via": "par",
    "sms": "SMS de secours :",
    "fields": "modifié :",
}
PHONE_KEYS = ("to", "phone")
ATTENTION_STATUSES = ("unfilled", "review")
ALERT_EVENTS = ("unfilled", "review", "offer_failed", "sms_failed", "late_yes", "requester_unreachable")


@dataclass
class OfferCounts:
    sent: int = 0
    declined: int = 0
    awaiting: int = 0
    undelivered: int = 0


@dataclass
class BoardRow:
    request: CareRequest
    commune: str
    counts: OfferCounts
    attention: bool

    @property
    def reference(self) -> str:
        return self.request.reference


@dataclass
class Board:
    attention: list[BoardRow] = field(default_factory=list)
    active: list[BoardRow] = field(default_factory=list)
    recent: list[BoardRow] = field(default_factory=list)
    page: int = 1  # of the "Non pourvues" filter
    older_page: int | None = None  # the next page of the "Non pourvues" filter, when there is one


def national(phone: str | None) -> str:
    """``04 77 00 00 01`` for an E.164 number (shown as is when it is not one)."""
    if not phone:
        return "?"
    try:
        return normalize_phone(phone).national
    except PhoneError:
        return phone


def commune_names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(session.execute(select(Commune.insee, Commune.name).where(Commune.insee.in_(codes))).all())


def offer_counts(session: Session, request_ids: list[int]) -> dict[int, OfferCounts]:
    counts = {rid: OfferCounts() for rid in request_ids}
    if not request_ids:
        return counts
    rows = session.execute(
        select(Offer.request_id, Offer.status, func.count(Offer.sent_at), func.count())
        .where(Offer.request_id.in_(request_ids))
        .group_by(Offer.request_id, Offer.status)
    ).all()
    for request_id, status, sent, total in rows:
        c = counts[request_id]
        c.sent += sent + (total - sent if status in ("delivered", "declined", "accepted", "taken") else 0)
        if status == "declined":
            c.declined += total
        elif status in ("pending", "sent", "delivered"):
            c.awaiting += total
        elif status == "failed":
            c.undelivered += total
    return counts


# The board's rule for an unfilled request (issue 17): see ``unfilled_on_board``.
UNFILLED_ON_BOARD = timedelta(days=7)
# The "Non pourvues" filter lists every unfilled request, newest first, this many a page.
UNFILLED_PAGE = 50
MOVING_STATUSES = ("open", "accepted", "review")
CLOSED_RECENTLY = ("confirmed", "cancelled")


def unfilled_on_board(now: datetime) -> ColumnElement[bool]:
    """Which unfilled requests the default board shows (in « À traiter »).

    An unfilled request stays on the board until a coordinator acts on it (relaunches it, gives it
    to a nurse or cancels it: it is then no longer ``unfilled``), or until ``UNFILLED_ON_BOARD``
    (7 days) after its care start (its ``start_at``, else its creation), whichever comes first.
    After that it leaves the default board but stays reachable: the status filter "Non pourvues"
    (``statut=unfilled``) lists them all, newest first, ``UNFILLED_PAGE`` a page; its own page
    and the day summary are unchanged. Read from the (status, start_at, created_at) index, so the
    board does not read a year of unfilled requests.
    """
    since = now - UNFILLED_ON_BOARD
    return and_(
        CareRequest.status == "unfilled",
        or_(
            CareRequest.start_at >= since,
            and_(CareRequest.start_at.is_(None), CareRequest.created_at >= since),
        ),
    )


def _in_department(query, department: str):
    in_department = select(Commune.insee).where(Commune.department == department)
    return query.where(
        or_(
            CareRequest.insee.in_(in_department),
            and_(CareRequest.insee.is_(None), CareRequest.postcode.like(department[:2] + "%")),
        )
    )


def board(
    session: Session,
    now: datetime,
    *,
    department: str | None = None,
    status: str | None = None,
    page: int = 1,
) -> Board:
    """Requests still moving (what needs a human first), then those closed in the last day;
    only those of a department (of the commune, else of the postcode) or a status when asked.

    Unfilled requests: those of ``unfilled_on_board`` by default; with ``status="unfilled"``,
    every one, newest first, page ``page`` of ``UNFILLED_PAGE``. Each part is read by its own
    indexed query (what it costs does not grow with the requests of the past)."""
    loaded = select(CareRequest).options(selectinload(CareRequest.requester), selectinload(CareRequest.accepted_nurse))
    parts = []
    result = Board(page=max(page, 1))
    if status in (None, "") or status in MOVING_STATUSES:
        parts.append(loaded.where(CareRequest.status.in_([status] if status else MOVING_STATUSES)))
    if not status:
        parts.append(loaded.where(unfilled_on_board(now)))
    if status in (None, "") or status in CLOSED_RECENTLY:
        parts.append(
            loaded.where(
                CareRequest.status.in_([status] if status else CLOSED_RECENTLY),
                CareRequest.updated_at >= now - RECENT,
            )
        )
    paged = None
    if status == "unfilled":
        paged = (
            loaded.where(CareRequest.status == "unfilled")
            .order_by(CareRequest.created_at.desc(), CareRequest.id.desc())
            .offset((result.page - 1) * UNFILLED_PAGE)
            .limit(UNFILLED_PAGE + 1)
        )
        parts.append(paged)
    requests: list[CareRequest] = []
    for query in parts:
        requests.extend(session.scalars(_in_department(query, department) if department else query))
    if paged is not None and len(requests) > UNFILLED_PAGE:
        requests = requests[:UNFILLED_PAGE]
        result.older_page = result.page + 1
    names = commune_names(session, {r.insee for r in requests if r.insee})
    counts = offer_counts(session, [r.id for r in requests])
    for r in requests:
        attention = r.status in ATTENTION_STATUSES or (r.needs_attention and r.status in ACTIVE_STATUSES)
        commune = names.get(r.insee or "", "") or (f"CP {r.postcode}" if r.postcode else "inconnue")
        row = BoardRow(r, commune, counts[r.id], attention)
        if attention:
            result.attention.append(row)
        elif r.status in ACTIVE_STATUSES:
            result.active.append(row)
        else:
            result.recent.append(row)
    if paged is None:  # the "Non pourvues" filter keeps its order: newest first
        result.attention.sort(key=lambda row: (not row.request.urgent, row.request.created_at))
    result.active.sort(key=lambda row: (row.request.status != "open", not row.request.urgent, row.request.created_at))
    result.recent.sort(key=lambda row: row.request.updated_at, reverse=True)
    return result


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # event, sms, call
    title: str
    actor: str
    detail: str = ""
    tone: str = ""  # css hint: in, out, alert


def _event_detail(event: Event) -> str:
    data = dict(event.data or {})
    parts = []
    if event.nurse is not None:
        parts.append(event.nurse.name)
    if "status" in data:
        status = data.pop("status")
        parts.append(labels.DELIVERY.get(status, labels.CALL_STATUS.get(status, status)))
    if "purpose" in data:
        parts.append(labels.CALL_PURPOSE.get(data.pop("purpose"), ""))
    if "care_type" in data:
        data["care_type"] = labels.care(data["care_type"])
    for key, words in labels.VALUES.items():
        if key in data:
            data[key] = words.get(str(data[key]), data[key])
    for key in PHONE_KEYS:  # full numbers on the coordinators' pages (masked in logs only)
        if isinstance(data.get(key), str) and data[key].startswith("+"):
            data[key] = national(data[key])
    for key, word in DETAIL_WORDS.items():
        if data.get(key) not in (None, ""):
            parts.append(f"{word} {data[key]}")
    return " · ".join(p for p in parts if p)


def request_timeline(session: Session, request: CareRequest, now: datetime) -> list[TimelineItem]:
    """Events, texts and calls of one request, oldest first.

    Only what is linked to the request by its keys: its events, the texts whose ``request_id``
    is this request's (offers, notices, a nurse's reply to its offer, the requester's request or
    cancellation, a text kept for the coordinators while it was pending for that phone) and its
    calls; never a text matched by number and time, which would mix in the requester's or the
    nurse's other requests.
    """
    items: list[TimelineItem] = []
    events = (
        select(Event)
        .where(Event.request_id == request.id)
        .order_by(Event.at, Event.id)
        .options(selectinload(Event.nurse))  # the nurses' names: one query, not one per event
    )
    for e in session.scalars(events):
        tone = "alert" if e.kind in ALERT_EVENTS else ""
        actor = "système" if e.actor == "system" else national(e.actor) if e.actor.startswith("+") else e.actor
        items.append(TimelineItem(e.at, "event", labels.event(e.kind), actor, _event_detail(e), tone))
    texts = Message.request_id == request.id
    offered = select(Offer.nurse_id).where(Offer.request_id == request.id)
    nurses = {n.id: n.name for n in session.scalars(select(Nurse).where(Nurse.id.in_(offered)))}
    coordinators = dict(session.execute(select(Coordinator.phone, Coordinator.name)).all())
    for m in session.scalars(select(Message).where(texts).order_by(Message.created_at, Message.id)):
        other = m.to_phone if m.direction == "out" else m.from_phone
        who = nurses.get(m.nurse_id or 0) or (
            "demandeur" if other == request.callback_phone else coordinators.get(other) or national(other)
        )
        title = f"SMS de {who}" if m.direction == "in" else f"SMS à {who} ({labels.MESSAGE_KIND.get(m.kind, m.kind)})"
        actor = who if m.direction == "in" else "service"
        items.append(
            TimelineItem(
                m.created_at,
                "sms",
                title,
                actor,
                f"« {m.body} » — {labels.DELIVERY.get(m.status, m.status)}",
                "in" if m.direction == "in" else "out",
            )
        )
    for c in session.scalars(select(Call).where(Call.request_id == request.id).order_by(Call.created_at)):
        way = "reçu" if c.direction == "in" else f"vers {national(c.to_phone)}"
        items.append(
            TimelineItem(
                c.created_at,
                "call",
                f"Appel {way} ({labels.CALL_PURPOSE.get(c.purpose, c.purpose)})",
                "demandeur" if c.direction == "in" else "service",
                f"tentative {c.attempt} — {labels.CALL_STATUS.get(c.status, c.status)}"
                + (f" — répondu par {labels.ANSWERED_BY.get(c.answered_by, c.answered_by)}" if c.answered_by else ""),
            )
        )
    items.sort(key=lambda item: item.at)
    return items


def assignable_nurses(session: Session, request: CareRequest) -> list[Nurse]:
    """Who a coordinator may give the request to: those already asked, the usual nurse, and every
    nurse of the request's communes (paused or not: she may have agreed on the phone). Without a
    known commune (a voicemail), every nurse: the coordinator knows where from the message."""
    communes = request_communes(session, request)
    query = select(Nurse).where(Nurse.opted_out_at.is_(None)).order_by(Nurse.name).limit(MAX_ASSIGNABLE)
    if not communes:
        return list(session.scalars(query))
    conditions = [
        Nurse.id.in_(select(Offer.nurse_id).where(Offer.request_id == request.id)),
        Nurse.id.in_(select(NurseZone.nurse_id).where(NurseZone.insee.in_(communes))),
    ]
    if request.usual_nurse_id:
        conditions.append(Nurse.id == request.usual_nurse_id)
    return list(session.scalars(query.where(or_(*conditions))))


def departments(session: Session) -> list[str]:
    """The departments of the communes the registered nurses serve (the board's filter)."""
    served = select(NurseZone.insee)
    return list(
        session.scalars(
            select(Commune.department).where(Commune.insee.in_(served)).distinct().order_by(Commune.department)
        )
    )

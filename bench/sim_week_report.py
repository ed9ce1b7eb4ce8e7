"""What a simulated week is judged on (issue 12), read back from the database the code wrote.

Every figure is over the requests made during the measured week (Monday 00:00 to Sunday 24:00,
local), after the simulation has run until nothing is left to happen:

- **fill rate** of a kind: requests holding a nurse at the end (``accepted``/``confirmed``) among
  those of that kind not cancelled by their requester.
- **time to the first yes**, median and p90 over the requests that got one: the seconds inside
  ``NURSE_TEXTING_HOURS`` between the request's creation and its first ``accepted`` event (a yes
  later withdrawn counts; waiting for the morning counts nothing); urgent requests in plain time.
- **planned discharges with a nurse before their start**: planned requests (timed and date-only)
  not cancelled before their start that hold an accepted nurse at their start (a timed start at its
  time, a date-only one at ``DATE_ONLY_BY`` that day), the last ``accepted``/``withdrawn`` event
  before it deciding. *Allowed* planned discharges are those for which at least one nurse would
  have said yes: a nurse of the zone who can take it (:class:`Eligibility`) or the usual nurse if
  she works that day and is not absent, whose first offer of it, texted at a quiet hour with room
  that day, gets a yes from her simulated draws (``bench.sim_nurses.would_say_yes``).
- **texts per request**: texts sent to nurses about the week's requests (offers and notices, each
  outbox row once) per request; the day targets use the same-day requests' figures.
- **texts outside texting hours**: texts sent to nurses (any request, or none) from the week's
  start on, at a local time outside ``NURSE_TEXTING_HOURS``, other than offers of urgent requests
  and direct answers (``Message.kind == "reply"``).
- **unfilled without an offer while a zone nurse was available**: the week's requests whose first
  ``unfilled`` event came before any offer text to anyone had left, and for which a nurse of the
  zone could take them (:class:`Eligibility`).
- **longest time a willing nurse went without an offer**: a *willing* nurse says yes to at least
  ``WILLING`` of the offers she reads outside her rounds (answer rate × yes rate). Between two
  consecutive offers texted to her (the history's start and the week's end count as offers), take
  the requests she could take (:class:`Eligibility`) made in between; when there are at least
  ``PASSED_OVER`` of them, the span from the first to the last, less the days she was absent
  within it (on leave she can take nothing, and is offered nothing), is a time she went without
  an offer while requests she could take kept coming. The longest such span that reaches into the
  measured week, over every willing nurse (the history before the week counts: it is the warm-up's
  policy's).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench.sim_nurses import works_for, would_say_yes
from bench.sim_region import SimNurse, SimRequest, nurses_by_zone
from bench.sim_report import percentile
from bench.sim_week import EVENING, PLANNED, PLANNED_DATE, PLANNED_TIMED, SAME_DAY
from dispatch import texts
from dispatch.hours import WeeklyHours
from dispatch.vocab import required_skill
from models import CareRequest, Event, Message, Nurse, Offer

FILLED = ("accepted", "confirmed")
DATE_ONLY_BY = time(8, 0)  # a date-only start is held "before its start" when held by 08:00 that day
WILLING = 0.3
PASSED_OVER = 3


def texting_seconds(hours: WeeklyHours, start: datetime, end: datetime, tz: ZoneInfo) -> float:
    """Seconds of ``[start, end]`` that fall inside the weekly hours."""
    if end <= start:
        return 0.0
    if hours.always and not hours.closed_on_holidays:
        return (end - start).total_seconds()
    total = 0.0
    day = start.astimezone(tz).date()
    while datetime.combine(day, time(0), tz) < end:
        if not hours.is_holiday(day):
            spans = [(0, 1440)] if hours.always else [(s, e) for d, s, e in hours.intervals if d == day.weekday()]
            for first, last in spans:
                opens = datetime.combine(day, time(0), tz) + timedelta(minutes=first)
                closes = datetime.combine(day, time(0), tz) + timedelta(minutes=last)
                total += max(0.0, (min(end, closes) - max(start, opens)).total_seconds())
        day += timedelta(days=1)
    return total


class Eligibility:
    """Which simulated nurses of a request's zone could take it: she declared its commune, gives
    its care, works at its start (a timed start), that day (a date-only start) or, with no start,
    when its first wave may go (at once if urgent, else at the next opening of texting hours), and
    is not absent that day."""

    def __init__(self, nurses: list[SimNurse], texting: WeeklyHours, tz: ZoneInfo):
        self.tz, self.texting = tz, texting
        self.hours = {n.index: WeeklyHours.parse(n.availability) for n in nurses}
        self.by_zone = nurses_by_zone(nurses)
        self.by_phone = {n.phone: n for n in nurses}

    def moment(self, sim: SimRequest) -> tuple[datetime, bool]:
        """The local time the request is matched at, and whether it is an instant (else a day)."""
        if sim.start_at is not None:
            return sim.start_at.astimezone(self.tz), sim.has_start_time
        made = sim.at.astimezone(self.tz)
        return (made if sim.urgent else self.texting.next_open(made)), True

    def free(self, nurse: SimNurse, sim: SimRequest) -> bool:
        """She works at the request's moment and is not absent that day."""
        moment, instant = self.moment(sim)
        day = moment.date()
        if any(start <= day <= end for start, end in nurse.absences):
            return False
        return works_for(self.hours[nurse.index], moment, instant)

    def can_take(self, nurse: SimNurse, sim: SimRequest) -> bool:
        skill = required_skill(sim.care_type)
        return sim.insee in nurse.zones and (skill is None or skill in nurse.skills) and self.free(nurse, sim)

    def takers(self, sim: SimRequest) -> list[SimNurse]:
        return [n for n in self.by_zone.get(sim.insee, ()) if self.can_take(n, sim)]

    def allowed(self, sim: SimRequest) -> bool:
        """Some nurse who can take it, or its usual nurse free then, would say yes to it."""
        usual = self.by_phone.get(sim.usual_phone or "")
        free = usual is not None and self.free(usual, sim)
        if free and would_say_yes(usual, sim.key, True, usual_reply=sim.usual_reply):
            return True
        return any(would_say_yes(n, sim.key, n is usual) for n in self.takers(sim) if n is not usual)


@dataclass(frozen=True)
class WeekResult:
    strategy: str
    requests: int
    cancelled: int
    fill_rate: float  # all kinds, among requests not cancelled
    fill_same_day: float | None
    fill_evening: float | None
    fill_planned_timed: float | None
    fill_planned_date: float | None
    median_first_yes_min: float | None  # texting time (urgent: plain time)
    p90_first_yes_min: float | None
    planned: int  # planned discharges not cancelled before their start
    planned_before_start: int
    planned_allowed: int
    planned_allowed_before_start: int
    texts_per_request: float
    texts_outside_hours: int
    outside_hours_detail: str  # by kind of text: offer, pourvue(-urgent: of an urgent request), annulee, other
    unfilled: int  # requests ever declared unfilled
    unfilled_no_offer: int
    unfilled_no_offer_available: int
    no_offer_detail: str  # the previous figure by kind of request
    longest_gap_days: float
    longest_gap_nurse: int | None  # her index in the simulated region
    willing_nurses: int
    same_day_median_min: float | None
    same_day_texts_per_request: float
    open_at_end: int
    withdrawals: int
    alerts_outside_service_hours: int  # first `unfilled` of a request outside SERVICE_HOURS
    swept: int = 0  # overdue waves and texts the simulated sweeper found (the engine's count)
    runtime_s: float = 0.0


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def measure_week(
    session: Session,
    strategy: str,
    week: dict[int, SimRequest],
    history: list[SimRequest],
    nurses: list[SimNurse],
    settings,
    week_start: datetime,
) -> WeekResult:
    """The week's figures (module docstring) for the requests ``week`` (database id → simulated)."""
    tz, texting = settings.timezone, settings.nurse_texting_hours
    eligibility = Eligibility(nurses, texting, tz)
    ids = list(week)
    rows = {r.id: r for r in session.execute(select(CareRequest).where(CareRequest.id.in_(ids))).scalars()}
    events: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for request_id, kind, at in session.execute(
        select(Event.request_id, Event.kind, Event.at)
        .where(Event.request_id.in_(ids), Event.kind.in_(("accepted", "withdrawn", "cancelled", "unfilled")))
        .order_by(Event.at, Event.id)
    ):
        events[request_id].append((at, kind))
    first_sent = dict(
        session.execute(
            select(Offer.request_id, func.min(Offer.sent_at))
            .where(Offer.request_id.in_(ids), Offer.sent_at.is_not(None))
            .group_by(Offer.request_id)
        ).all()
    )

    def first(request_id: int, kind: str) -> datetime | None:
        return next((at for at, k in events[request_id] if k == kind), None)

    cancelled = {i for i in ids if first(i, "cancelled") is not None}
    kept = [i for i in ids if i not in cancelled]
    by_kind = defaultdict(list)
    for i in kept:
        by_kind[week[i].kind].append(i)
    filled = {i for i in kept if rows[i].status in FILLED}

    def waits(which: list[int]) -> list[float]:
        result = []
        for i in which:
            yes = first(i, "accepted")
            if yes is not None:
                made = rows[i].created_at
                seconds = (yes - made).total_seconds() if rows[i].urgent else texting_seconds(texting, made, yes, tz)
                result.append(seconds / 60.0)
        return result

    all_waits, same_day = waits(ids), [i for i in ids if week[i].kind == SAME_DAY]
    planned = [i for i in ids if week[i].kind in PLANNED and not _cancelled_before(events[i], _due(week[i], tz))]
    held = {i for i in planned if _held_at(events[i], _due(week[i], tz))}
    allowed = [i for i in planned if eligibility.allowed(week[i])]
    unfilled = {i: at for i in ids if (at := first(i, "unfilled")) is not None}
    no_offer = [i for i, at in unfilled.items() if first_sent.get(i) is None or first_sent[i] > at]
    no_offer_free = Counter(week[i].kind for i in no_offer if eligibility.takers(week[i]))
    texts_about = _texts_to_nurses(session, ids)
    same_day_texts = sum(texts_about[i] for i in same_day)
    outside = _outside_hours(session, texting, tz, week_start, settings.sio_name)
    gap, gap_nurse, willing = longest_gap(session, nurses, eligibility, [*history, *week.values()], week_start)
    service = settings.service_hours
    return WeekResult(
        strategy=strategy,
        requests=len(ids),
        cancelled=len(cancelled),
        fill_rate=len(filled) / len(kept) if kept else 0.0,
        fill_same_day=_share(len(filled.intersection(by_kind[SAME_DAY])), len(by_kind[SAME_DAY])),
        fill_evening=_share(len(filled.intersection(by_kind[EVENING])), len(by_kind[EVENING])),
        fill_planned_timed=_share(len(filled.intersection(by_kind[PLANNED_TIMED])), len(by_kind[PLANNED_TIMED])),
        fill_planned_date=_share(len(filled.intersection(by_kind[PLANNED_DATE])), len(by_kind[PLANNED_DATE])),
        median_first_yes_min=percentile(all_waits, 0.5),
        p90_first_yes_min=percentile(all_waits, 0.9),
        planned=len(planned),
        planned_before_start=len(held),
        planned_allowed=len(allowed),
        planned_allowed_before_start=len(held.intersection(allowed)),
        texts_per_request=sum(texts_about.values()) / len(ids) if ids else 0.0,
        texts_outside_hours=sum(outside.values()),
        outside_hours_detail=" ".join(f"{k}:{v}" for k, v in sorted(outside.items())),
        unfilled=len(unfilled),
        unfilled_no_offer=len(no_offer),
        unfilled_no_offer_available=sum(no_offer_free.values()),
        no_offer_detail=" ".join(f"{k.replace(' ', '-')}:{v}" for k, v in sorted(no_offer_free.items())),
        longest_gap_days=gap,
        longest_gap_nurse=gap_nurse,
        willing_nurses=willing,
        same_day_median_min=percentile(waits(same_day), 0.5),
        same_day_texts_per_request=same_day_texts / len(same_day) if same_day else 0.0,
        open_at_end=sum(1 for i in ids if rows[i].status == "open"),
        withdrawals=sum(1 for i in ids for _, k in events[i] if k == "withdrawn"),
        alerts_outside_service_hours=sum(1 for at in unfilled.values() if not service.contains(at.astimezone(tz))),
    )


def _due(sim: SimRequest, tz: ZoneInfo) -> datetime:
    """When a planned discharge must hold a nurse: its start, or ``DATE_ONLY_BY`` on its day."""
    if sim.has_start_time:
        return sim.start_at
    return datetime.combine(sim.start_at.astimezone(tz).date(), DATE_ONLY_BY, tz)


def _cancelled_before(events: list[tuple[datetime, str]], due: datetime) -> bool:
    return any(kind == "cancelled" and at < due for at, kind in events)


def _held_at(events: list[tuple[datetime, str]], due: datetime) -> bool:
    state = False
    for at, kind in events:
        if at >= due:
            break
        if kind in ("accepted", "withdrawn"):
            state = kind == "accepted"
    return state


def _texts_to_nurses(session: Session, ids: list[int]) -> Counter:
    """Texts sent to nurses about each request (offers and notices, each outbox row once)."""
    return Counter(
        session.scalars(
            select(Message.request_id).where(
                Message.request_id.in_(ids),
                Message.direction == "out",
                Message.status.in_(("sent", "delivered")),
                Message.nurse_id.is_not(None),
            )
        ).all()
    )


def _outside_hours(session: Session, texting: WeeklyHours, tz: ZoneInfo, since: datetime, name: str) -> Counter:
    """Texts to nurses sent outside texting hours since ``since``, by kind, urgent offers and
    direct answers aside."""
    rows = session.execute(
        select(Message.kind, Message.body, Message.sent_at, CareRequest.reference, CareRequest.urgent)
        .outerjoin(CareRequest, CareRequest.id == Message.request_id)
        .where(
            Message.direction == "out",
            Message.status.in_(("sent", "delivered")),
            Message.nurse_id.is_not(None),
            Message.sent_at >= since,
            Message.kind != "reply",
        )
    ).all()
    found: Counter = Counter()
    for kind, body, sent_at, reference, urgent in rows:
        if (kind == "offer" and urgent) or texting.contains(sent_at.astimezone(tz)):
            continue
        if kind == "offer":
            found["offer"] += 1
        elif reference and body == texts.taken(name, reference):
            found["pourvue-urgent" if urgent else "pourvue"] += 1
        elif reference and body == texts.offer_cancelled(name, reference):
            found["annulee"] += 1
        else:
            found["other"] += 1
    return found


def longest_gap(
    session: Session,
    nurses: list[SimNurse],
    eligibility: Eligibility,
    requests: list[SimRequest],
    week_start: datetime,
) -> tuple[float, int | None, int]:
    """(days, nurse index, willing nurses): the longest span a willing nurse went without an offer
    while requests she could take kept coming (module docstring)."""
    willing = {n.index: n for n in nurses if n.reply_rate * n.willingness >= WILLING}
    ids = dict(session.execute(select(Nurse.phone, Nurse.id)).all())
    offered: dict[int, list[datetime]] = defaultdict(list)
    for nurse_id, sent_at in session.execute(
        select(Offer.nurse_id, Offer.sent_at).where(Offer.sent_at.is_not(None)).order_by(Offer.sent_at)
    ):
        offered[nurse_id].append(sent_at)
    could: dict[int, list[datetime]] = defaultdict(list)
    for sim in sorted(requests, key=lambda r: r.at):
        for nurse in eligibility.takers(sim):
            if nurse.index in willing:
                could[nurse.index].append(sim.at)
    history_start = min((r.at for r in requests), default=week_start)
    week_end = week_start + timedelta(days=7)
    best, who = 0.0, None
    for index, nurse in willing.items():
        made = could[index]
        marks = [history_start, *offered.get(ids[nurse.phone], []), week_end]
        for before, after in zip(marks, marks[1:], strict=False):
            if after <= week_start:
                continue
            inside = made[bisect.bisect_right(made, before) : bisect.bisect_left(made, min(after, week_end))]
            if len(inside) >= PASSED_OVER:
                span = (inside[-1] - inside[0]).total_seconds() / 86400.0 - _absent_days(nurse, inside[0], inside[-1])
                if span > best:
                    best, who = span, index
    return round(best, 2), who, len(willing)


def _absent_days(nurse: SimNurse, start: datetime, end: datetime) -> float:
    """The whole days of her absences between two instants (she could be offered nothing then)."""
    first, last = start.date(), end.date()
    days = 0
    for begin, finish in nurse.absences:
        overlap = (min(finish, last) - max(begin, first)).days + 1
        days += max(0, overlap)
    return float(days)

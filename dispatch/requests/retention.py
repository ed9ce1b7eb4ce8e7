"""Retention: ``sio purge --older-than 90d`` wipes what a closed request said about a patient.

What goes: the request's notes and recording URL, the bodies of every text about it, the
IVR sessions that took it, and free text kept in its timeline; the webhook events handled
before the cut-off (a text's fields wait there until a job handles it). What stays: the anonymous
statistics (status, times, care type, commune, waves, offers and their outcomes), so the
day summaries and fill rates still add up. A purged request gets ``purged_at``; running
the purge again changes nothing. Texts and IVR sessions tied to no request (a nurse's
reply, an abandoned call) are wiped once they are older than the same delay.

The recordings themselves are stored by Twilio: ``sio purge`` deletes them there first
(:func:`recordings_due`, :func:`delete_recordings`, before the purge's transaction). A request
whose recording could not be deleted (Twilio unreachable) is kept whole for the next purge, so
no recording outlives its link unnoticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import JSON, Text, and_, cast, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session

from dispatch.lifecycle import CLOSED, RequestStatus
from dispatch.telephony import Telephony, TelephonyError, recording_sid
from models import CareRequest, Event, IvrSession, Message, WebhookReceipt, is_postgres

# Statuses after which nothing more happens to a request, and the moment it got there.
CLOSED_STATUSES = (*CLOSED, RequestStatus.ACCEPTED)
# Event fields that may hold what a person typed or said (everything else is codes and times).
FREE_TEXT_KEYS = frozenset({"body", "notes", "note", "text", "transcript", "reason_text"})
BATCH = 500
_DURATION = re.compile(r"^\s*(\d+)\s*([dhm]?)\s*$", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "": "days"}


@dataclass(frozen=True)
class PurgeResult:
    requests: int
    messages: int
    ivr_sessions: int
    events: int
    receipts: int = 0
    recordings: int = 0  # deleted at the provider
    kept: int = 0  # requests left for the next purge: their recording could not be deleted

    def __str__(self) -> str:
        done = (
            f"purged {self.requests} requests, {self.messages} text bodies, {self.ivr_sessions} IVR sessions, "
            f"{self.events} timeline entries, {self.receipts} webhook events, {self.recordings} recordings"
        )
        if self.kept:
            done += f"; {self.kept} requests kept for the next purge: their recordings could not be deleted"
        return done


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m`` or a bare number of days; ValueError otherwise."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"{text!r}: expected a duration such as 90d, 12h or 30m")
    return timedelta(**{_UNITS[match[2].lower()]: int(match[1])})


def _closed_moment():
    return func.coalesce(
        CareRequest.closed_at, CareRequest.confirmed_at, CareRequest.accepted_at, CareRequest.updated_at
    )


def purge(session: Session, older_than: timedelta, now: datetime, *, keep: frozenset[int] = frozenset()) -> PurgeResult:
    """Wipe patient data of requests closed before ``now - older_than``, except the ``keep``
    ones (their recordings are still at the provider). The caller commits."""
    cutoff = now - older_than
    request_ids = list(
        session.scalars(
            select(CareRequest.id).where(
                CareRequest.status.in_(CLOSED_STATUSES), CareRequest.purged_at.is_(None), _closed_moment() < cutoff
            )
        )
    )
    request_ids = [i for i in request_ids if i not in keep]
    messages = ivr = events = 0
    for start in range(0, len(request_ids), BATCH):
        ids = request_ids[start : start + BATCH]
        session.execute(
            update(CareRequest)
            .where(CareRequest.id.in_(ids))
            .values(notes=None, recording_url=None, purged_at=now)
            .execution_options(synchronize_session=False)
        )
        messages += _wipe_bodies(session, Message.request_id.in_(ids))
        ivr += session.execute(delete(IvrSession).where(IvrSession.request_id.in_(ids))).rowcount
        events += _strip_events(session, Event.request_id.in_(ids))
    # What belongs to no request: a nurse's replies, an intake that never became a request.
    messages += _wipe_bodies(session, and_(Message.request_id.is_(None), Message.created_at < cutoff))
    ivr += session.execute(
        delete(IvrSession).where(IvrSession.request_id.is_(None), IvrSession.updated_at < cutoff)
    ).rowcount
    events += _strip_events(session, and_(Event.request_id.is_(None), Event.at < cutoff))
    receipts = session.execute(
        delete(WebhookReceipt).where(WebhookReceipt.handled_at.is_not(None), WebhookReceipt.created_at < cutoff)
    ).rowcount
    return PurgeResult(len(request_ids), messages, ivr, events, receipts)


def recordings_due(session: Session, older_than: timedelta, now: datetime) -> list[tuple[int, str]]:
    """(request id, recording sid) of the requests a purge would wipe now that have a recording."""
    rows = session.execute(
        select(CareRequest.id, CareRequest.recording_url).where(
            CareRequest.status.in_(CLOSED_STATUSES),
            CareRequest.purged_at.is_(None),
            CareRequest.recording_url.is_not(None),
            _closed_moment() < now - older_than,
        )
    )
    return [(request_id, sid) for request_id, url in rows if (sid := recording_sid(url))]


def delete_recordings(telephony: Telephony, due: list[tuple[int, str]]) -> tuple[int, frozenset[int]]:
    """Delete the recordings at the provider (outside any transaction: one HTTP call each): how
    many went, and the requests whose recording could not be deleted, to keep for next time."""
    kept = set()
    for request_id, sid in due:
        try:
            telephony.delete_recording(sid)
        except TelephonyError:
            kept.add(request_id)
    return len(due) - len(kept), frozenset(kept)


def _wipe_bodies(session: Session, where) -> int:
    return session.execute(
        update(Message).where(where, Message.body != "").values(body="").execution_options(synchronize_session=False)
    ).rowcount


def _strip_events(session: Session, where) -> int:
    """Drop the free-text keys (top level only, whatever their value, JSON null included) from
    the matching events' data in one UPDATE, in SQL; how many events had at least one."""
    keys = sorted(FREE_TEXT_KEYS)
    if is_postgres(session):
        # ``data`` is ``json``: the key operators are jsonb's, hence the casts.
        data = cast(Event.data, JSONB)
        names = literal(keys, ARRAY(Text))
        has_free_text = and_(func.jsonb_typeof(data) == "object", data.has_any(names))
        stripped = cast(data.op("-", return_type=JSONB)(names), JSON)
    else:
        has_free_text = and_(
            func.json_type(Event.data) == "object",
            or_(*(func.json_type(Event.data, f"$.{key}").is_not(None) for key in keys)),
        )
        stripped = func.json_remove(Event.data, *(f"$.{key}" for key in keys))
    return session.execute(
        update(Event).where(where, has_free_text).values(data=stripped).execution_options(synchronize_session=False)
    ).rowcount


def requests_to_purge(session: Session, older_than: timedelta, now: datetime) -> int:
    """How many requests a purge would wipe now (for a dry run)."""
    return session.scalar(
        select(func.count()).where(
            CareRequest.status.in_(CLOSED_STATUSES),
            CareRequest.purged_at.is_(None),
            _closed_moment() < now - older_than,
        )
    )

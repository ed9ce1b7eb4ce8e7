"""The purge's stripping of free text from the timeline: the same keys, in SQL, per batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select

from dispatch.requests.retention import FREE_TEXT_KEYS, purge
from models import Event
from tests.support.helpers import make_request_row

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=200)

# data written -> data after the purge (None: the event is left as it is)
CASES = [
    ({"to": "+33600000001", "text": "offer"}, {"to": "+33600000001"}),
    ({"body": "j'arrive", "note": "n", "notes": "ns", "transcript": "t", "reason_text": "r", "wave": 2}, {"wave": 2}),
    ({"text": None, "code": 30003}, {"code": 30003}),  # a JSON null is a key like any other
    ({"body": ""}, {}),
    ({"fields": {"body": "nested", "text": "stays"}, "wave": 1}, None),  # top-level keys only
    ({"status": "delivered", "Body": "case matters"}, None),
    ({}, None),
    ({"values": ["text", "body"]}, None),  # a value equal to a key's name is not a key
]


def _events(session, request_id, at):
    made = []
    for data, _ in CASES:
        made.append(Event(request_id=request_id, kind="k", data=data, at=at))
    session.add_all(made)
    session.flush()
    return [e.id for e in made]


def test_purge_strips_the_same_keys_as_before_and_counts_the_events_that_had_one(raw_session):
    session = raw_session
    closed = make_request_row(session, "42218", "42000", OLD, status="cancelled")
    closed.closed_at = OLD
    fresh = make_request_row(session, "42218", "42000", NOW, status="cancelled")
    fresh.closed_at = NOW
    old_ids = _events(session, closed.id, OLD)
    loose_old = _events(session, None, OLD)  # tied to no request, older than the cut-off
    loose_new = _events(session, None, NOW)
    kept_ids = _events(session, fresh.id, NOW)
    session.commit()

    with session.begin():
        result = purge(session, timedelta(days=90), NOW)
    changed = sum(1 for _, after in CASES if after is not None)
    assert result.requests == 1 and result.events == 2 * changed
    session.expire_all()
    data = {i: d for i, d in session.execute(select(Event.id, Event.data))}
    for ids in (old_ids, loose_old):
        assert [data[i] for i in ids] == [before if after is None else after for before, after in CASES]
    for ids in (loose_new, kept_ids):
        assert [data[i] for i in ids] == [before for before, _ in CASES]
    assert not any(FREE_TEXT_KEYS & data[i].keys() for i in old_ids + loose_old)
    session.rollback()

    with session.begin():
        assert purge(session, timedelta(days=90), NOW).events == 0  # nothing left to strip


def test_purge_strips_events_with_one_statement_per_batch_not_one_per_event(raw_session):
    session = raw_session
    for n in range(3):
        request = make_request_row(session, "42218", "42000", OLD, status="cancelled")
        request.closed_at = OLD
        _events(session, request.id, OLD)
    session.commit()
    updates: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE EVENTS"):
            updates.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        with session.begin():
            result = purge(session, timedelta(days=90), NOW)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert result.requests == 3 and result.events == 3 * sum(1 for _, a in CASES if a is not None)
    assert len(updates) == 2  # the requests' batch, and the events tied to no request

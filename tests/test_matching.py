"""Matching and ranking: pure domain functions on a real database, no Redis."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dispatch.config import load_settings
from dispatch.matching import rank_candidates, request_communes
from dispatch.waves import plan_next_wave
from models import CareRequest, NurseAbsence, Offer
from tests.helpers import make_nurse

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris
LOCAL = NOW.astimezone(load_settings({"SECRET_KEY": "x"}).timezone)
SAINT_CHAMOND, LORETTE, GRAND_CROIX, FIRMINY = "42207", "42123", "42103", "42095"


def settings(tmp_path, **env):
    # The fixed rule's order and sizes are under test here, not the (default) adaptive policy.
    base = {
        "SECRET_KEY": "x",
        "SIO_INSTANCE_PATH": str(tmp_path),
        "DISPATCH_WAVE_SIZES": "2,3",
        "DISPATCH_POLICY": "fixed",
    }
    return load_settings({**base, **env})


def make_request(session, insee=SAINT_CHAMOND, postcode="42400", care="pansement", **kw) -> CareRequest:
    request = CareRequest(
        reference=kw.pop("reference", "100001"),
        channel="api",
        postcode=postcode,
        insee=insee,
        care_type=care,
        status=kw.pop("status", "open"),
        created_at=NOW,
        **kw,
    )
    session.add(request)
    session.flush()
    return request


def ids(candidates):
    return [c.nurse_id for c in candidates]


def test_zone_nurses_with_skill_only(raw_session):
    a = make_nurse(raw_session, "A", "06 11 11 11 01", [SAINT_CHAMOND])
    b = make_nurse(raw_session, "B", "06 11 11 11 02", [SAINT_CHAMOND], skills=["perfusion"])
    make_nurse(raw_session, "C", "06 11 11 11 03", [FIRMINY], skills=["perfusion"])
    request = make_request(raw_session)
    assert sorted(ids(rank_candidates(raw_session, request, NOW, LOCAL, limit=10))) == [a.id, b.id]
    request.care_type = "perfusion"
    assert ids(rank_candidates(raw_session, request, NOW, LOCAL, limit=10)) == [b.id]


def test_paused_opted_out_absent_unavailable_and_already_offered_are_left_out(raw_session):
    ok = make_nurse(raw_session, "Ok", "06 11 11 11 01", [SAINT_CHAMOND])
    paused = make_nurse(raw_session, "Paused", "06 11 11 11 02", [SAINT_CHAMOND])
    paused.paused_until = NOW + timedelta(days=1)
    pause_over = make_nurse(raw_session, "PauseOver", "06 11 11 11 03", [SAINT_CHAMOND])
    pause_over.paused_until = NOW - timedelta(minutes=1)
    opted = make_nurse(raw_session, "Opted", "06 11 11 11 04", [SAINT_CHAMOND])
    opted.opted_out_at = NOW
    absent = make_nurse(raw_session, "Absent", "06 11 11 11 05", [SAINT_CHAMOND])
    raw_session.add(NurseAbsence(nurse_id=absent.id, starts_on=date(2026, 11, 20), ends_on=date(2026, 11, 25)))
    make_nurse(raw_session, "Weekend", "06 11 11 11 06", [SAINT_CHAMOND], availability="sat-sun 08:00-20:00")
    asked = make_nurse(raw_session, "Asked", "06 11 11 11 07", [SAINT_CHAMOND])
    request = make_request(raw_session)
    raw_session.add(Offer(request_id=request.id, nurse_id=asked.id, wave=1, status="declined", created_at=NOW))
    raw_session.flush()
    assert sorted(ids(rank_candidates(raw_session, request, NOW, LOCAL, limit=10))) == [ok.id, pause_over.id]


def test_fairness_fewest_accepted_then_longest_since_last_offer(raw_session):
    busy = make_nurse(raw_session, "Busy", "06 11 11 11 01", [SAINT_CHAMOND])
    recent = make_nurse(raw_session, "Recent", "06 11 11 11 02", [SAINT_CHAMOND])
    old = make_nurse(raw_session, "Old", "06 11 11 11 03", [SAINT_CHAMOND])
    never = make_nurse(raw_session, "Never", "06 11 11 11 04", [SAINT_CHAMOND])
    past = make_request(raw_session, reference="100002", status="confirmed")
    raw_session.add_all(
        [
            Offer(
                request_id=past.id,
                nurse_id=busy.id,
                wave=1,
                status="accepted",
                created_at=NOW - timedelta(days=3),
                answered_at=NOW - timedelta(days=3),
            ),
            Offer(request_id=past.id, nurse_id=recent.id, wave=1, status="taken", created_at=NOW - timedelta(hours=1)),
            Offer(request_id=past.id, nurse_id=old.id, wave=1, status="taken", created_at=NOW - timedelta(days=2)),
        ]
    )
    request = make_request(raw_session)
    assert ids(rank_candidates(raw_session, request, NOW, LOCAL, limit=10)) == [never.id, old.id, recent.id, busy.id]


def test_accepted_more_than_30_days_ago_does_not_count(raw_session):
    veteran = make_nurse(raw_session, "Veteran", "06 11 11 11 01", [SAINT_CHAMOND])
    other = make_nurse(raw_session, "Other", "06 11 11 11 02", [SAINT_CHAMOND])
    past = make_request(raw_session, reference="100002", status="confirmed")
    raw_session.add_all(
        [
            Offer(
                request_id=past.id,
                nurse_id=veteran.id,
                wave=1,
                status="accepted",
                created_at=NOW - timedelta(days=40),
                answered_at=NOW - timedelta(days=40),
            ),
            Offer(request_id=past.id, nurse_id=other.id, wave=1, status="taken", created_at=NOW - timedelta(days=1)),
        ]
    )
    request = make_request(raw_session)
    assert ids(rank_candidates(raw_session, request, NOW, LOCAL, limit=10)) == [veteran.id, other.id]


def test_radius_steps_nearest_first_after_declared_zone(raw_session):
    local = make_nurse(raw_session, "Local", "06 11 11 11 01", [SAINT_CHAMOND])
    near = make_nurse(raw_session, "Near", "06 11 11 11 02", [LORETTE])  # ~6 km
    far = make_nurse(raw_session, "Far", "06 11 11 11 03", [FIRMINY])  # ~20 km
    request = make_request(raw_session)
    assert ids(rank_candidates(raw_session, request, NOW, LOCAL, limit=10)) == [local.id]
    widened = rank_candidates(raw_session, request, NOW, LOCAL, limit=10, radius_steps=(0, 10, 30))
    assert ids(widened) == [local.id, near.id, far.id]
    assert widened[0].distance_km == 0 and 0 < widened[1].distance_km < 10 < widened[2].distance_km < 30


def test_postcode_with_several_communes_matches_each(raw_session):
    # 42400 covers Saint-Chamond only; 42800 covers several communes (Rive-de-Gier and others).
    request = make_request(raw_session, insee=None, postcode="42800")
    communes = request_communes(raw_session, request)
    assert len(communes) > 1
    a = make_nurse(raw_session, "A", "06 11 11 11 01", [communes[0]])
    b = make_nurse(raw_session, "B", "06 11 11 11 02", [communes[-1]])
    assert sorted(ids(rank_candidates(raw_session, request, NOW, LOCAL, limit=10))) == sorted([a.id, b.id])


def test_usual_nurse_alone_first_whatever_her_zones(raw_session, tmp_path):
    usual = make_nurse(raw_session, "Usual", "06 11 11 11 09", [FIRMINY])
    for i in range(4):
        make_nurse(raw_session, f"N{i}", f"06 11 11 11 2{i}", [SAINT_CHAMOND])
    request = make_request(raw_session, usual_nurse_id=usual.id)
    plan = plan_next_wave(raw_session, settings(tmp_path), request, NOW)
    assert plan.nurse_ids == [usual.id] and plan.usual and plan.wait_s == 600


def test_usual_nurse_wait_is_longer_for_planned_requests(raw_session, tmp_path):
    usual = make_nurse(raw_session, "Usual", "06 11 11 11 09", [SAINT_CHAMOND])
    request = make_request(raw_session, usual_nurse_id=usual.id, start_at=NOW + timedelta(days=2))
    assert plan_next_wave(raw_session, settings(tmp_path), request, NOW).wait_s == 7200


def test_paused_usual_nurse_is_skipped(raw_session, tmp_path):
    usual = make_nurse(raw_session, "Usual", "06 11 11 11 09", [SAINT_CHAMOND])
    usual.paused_until = NOW + timedelta(days=2)
    other = make_nurse(raw_session, "Other", "06 11 11 11 10", [SAINT_CHAMOND])
    request = make_request(raw_session, usual_nurse_id=usual.id)
    plan = plan_next_wave(raw_session, settings(tmp_path), request, NOW)
    assert plan.nurse_ids == [other.id] and not plan.usual


@pytest.mark.parametrize(("wave", "size"), [(0, 2), (1, 3), (2, 3), (5, 3)])
def test_wave_sizes_then_the_last_repeats(raw_session, tmp_path, wave, size):
    for i in range(12):
        make_nurse(raw_session, f"N{i}", f"06 11 11 11 {10 + i}", [SAINT_CHAMOND])
    request = make_request(raw_session, wave=wave)
    assert len(plan_next_wave(raw_session, settings(tmp_path), request, NOW).nurse_ids) == size

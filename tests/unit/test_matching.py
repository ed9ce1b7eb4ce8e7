"""Matching and ranking: pure domain functions on a real database, no Redis."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dispatch import geo
from dispatch.config import load_settings
from dispatch.lifecycle import CareWindow
from dispatch.matching.candidates import rank_candidates, request_communes
from dispatch.matching.waves import plan_next_wave
from models import CareRequest, NurseAbsence, Offer
from tests.support.helpers import make_nurse

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris
LOCAL = NOW.astimezone(load_settings({"SECRET_KEY": "x", "TELEPHONY": "simulator"}).timezone)
WINDOW = CareWindow.at(LOCAL)  # the nurses must work at that minute
SAINT_CHAMOND, LORETTE, GRAND_CROIX, FIRMINY = "42207", "42123", "42103", "42095"


def settings(tmp_path, **env):
    # The fixed rule's order and sizes are under test here, not the (default) adaptive policy.
    base = {
        "SECRET_KEY": "x",
        "TELEPHONY": "simulator",
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
    assert sorted(ids(rank_candidates(raw_session, request, NOW, WINDOW, limit=10))) == [a.id, b.id]
    request.care_type = "perfusion"
    assert ids(rank_candidates(raw_session, request, NOW, WINDOW, limit=10)) == [b.id]


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
    assert sorted(ids(rank_candidates(raw_session, request, NOW, WINDOW, limit=10))) == [ok.id, pause_over.id]


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
    assert ids(rank_candidates(raw_session, request, NOW, WINDOW, limit=10)) == [never.id, old.id, recent.id, busy.id]


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
    assert ids(rank_candidates(raw_session, request, NOW, WINDOW, limit=10)) == [veteran.id, other.id]


def test_radius_steps_nearest_first_after_declared_zone(raw_session):
    local = make_nurse(raw_session, "Local", "06 11 11 11 01", [SAINT_CHAMOND])
    near = make_nurse(raw_session, "Near", "06 11 11 11 02", [LORETTE])  # ~6 km
    far = make_nurse(raw_session, "Far", "06 11 11 11 03", [FIRMINY])  # ~20 km
    request = make_request(raw_session)
    assert ids(rank_candidates(raw_session, request, NOW, WINDOW, limit=10)) == [local.id]
    widened = rank_candidates(raw_session, request, NOW, WINDOW, limit=10, radius_steps=(0, 10, 30))
    assert ids(widened) == [local.id, near.id, far.id]
    assert widened[0].distance_km == 0 and 0 < widened[1].distance_km < 10 < widened[2].distance_km < 30


def test_postcode_with_several_communes_matches_each(raw_session):
    # 42400 covers Saint-Chamond only; 42800 covers several communes (Rive-de-Gier and others).
    request = make_request(raw_session, insee=None, postcode="42800")
    communes = request_communes(raw_session, request)
    assert len(communes) > 1
    a = make_nurse(raw_session, "A", "06 11 11 11 01", [communes[0]])
    b = make_nurse(raw_session, "B", "06 11 11 11 02", [communes[-1]])
    assert sorted(ids(rank_candidates(raw_session, request, NOW, WINDOW, limit=10))) == sorted([a.id, b.id])


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
    for w in range(1, wave + 1):  # the round's earlier waves (nurses elsewhere: the zone's stay candidates)
        elsewhere = make_nurse(raw_session, f"E{w}", f"06 11 11 12 {10 + w}", [FIRMINY])
        raw_session.add(Offer(request_id=request.id, nurse_id=elsewhere.id, wave=w, status="sent", created_at=NOW))
    raw_session.flush()
    assert len(plan_next_wave(raw_session, settings(tmp_path), request, NOW).nurse_ids) == size


# Around Saint-Chamond (distances from the communes table, great circle):
GRAND_CROIX_KM = 5.8407  # La Grand-Croix, 5.8 to 0.1 km
SAINT_PAUL, SORBIERS = "42271", "42302"  # 5.982 and 6.0001 km: both 6.0 to 0.1 km
UNIEUX, VEAUCHE = "42316", "42323"  # 19.526 and 19.536 km; Firminy 19.495: all three 19.5


def past_offer(session, nurse, days_ago: float, status="declined"):
    """An offer of a past request, ``days_ago`` days before NOW (answered then if accepted)."""
    at = NOW - timedelta(days=days_ago)
    past = make_request(session, reference=f"3{nurse.id % 100:02d}{int(days_ago * 10):03d}", status="confirmed")
    session.add(
        Offer(
            request_id=past.id,
            nurse_id=nurse.id,
            wave=1,
            status=status,
            created_at=at,
            answered_at=at if status == "accepted" else None,
        )
    )
    session.flush()


@pytest.fixture
def around_saint_chamond(raw_session):
    """Nurses around Saint-Chamond whose right order differs from the order of their exact
    distances, of their ids and of their fairness alone: each step is ranked by distance to
    0.1 km, then fewest accepted offers in 30 days, then oldest last offer, then id."""
    s = raw_session
    local = make_nurse(s, "Local", "06 11 11 12 01", [SAINT_CHAMOND, LORETTE])  # step 0 though busy, and once
    past_offer(s, local, 2, "accepted")
    past_offer(s, local, 3, "accepted")
    croix = make_nurse(s, "Croix", "06 11 11 12 02", [GRAND_CROIX])  # 5.8 km, one accepted
    past_offer(s, croix, 3, "accepted")
    two_zones = make_nurse(s, "TwoZones", "06 11 11 12 03", [FIRMINY, GRAND_CROIX])  # her nearest: 5.8 km
    sorbiers = make_nurse(s, "Sorbiers", "06 11 11 12 04", [SORBIERS])  # 6.0001 km, last offer 5 days ago
    past_offer(s, sorbiers, 5)
    saint_paul = make_nurse(s, "SaintPaul", "06 11 11 12 05", [SAINT_PAUL])  # 5.982 km, 1 day ago
    past_offer(s, saint_paul, 1)
    firminy = make_nurse(s, "Firminy", "06 11 11 12 06", [FIRMINY])  # 19.495 km, one accepted
    past_offer(s, firminy, 4, "accepted")
    unieux = make_nurse(s, "Unieux", "06 11 11 12 07", [UNIEUX])  # 19.526 km, never offered
    veauche = make_nurse(s, "Veauche", "06 11 11 12 08", [VEAUCHE])  # 19.536 km, 1 day ago
    past_offer(s, veauche, 1)
    # Left out whatever their distance: paused, offered this request already, away on Mondays.
    paused = make_nurse(s, "Paused", "06 11 11 12 09", [SAINT_PAUL])
    paused.paused_until = NOW + timedelta(days=1)
    asked = make_nurse(s, "Asked", "06 11 11 12 10", [SORBIERS])
    make_nurse(s, "Weekend", "06 11 11 12 11", [GRAND_CROIX], availability="sat-sun 08:00-20:00")
    request = make_request(s)
    s.add(Offer(request_id=request.id, nurse_id=asked.id, wave=1, status="declined", created_at=NOW))
    s.flush()
    names = [local, two_zones, croix, sorbiers, saint_paul, unieux, veauche, firminy]
    return request, {n.name: n.id for n in names}


ORDER = ["Local", "TwoZones", "Croix", "Sorbiers", "SaintPaul", "Unieux", "Veauche", "Firminy"]
# A 6 km step ends between Saint-Paul (5.982) and Sorbiers (6.0001): steps come before the tie.
ORDER_6 = ["Local", "TwoZones", "Croix", "SaintPaul", "Sorbiers", "Unieux", "Veauche", "Firminy"]


@pytest.mark.parametrize(
    ("steps", "order"),
    [((0, 10, 30), ORDER), ((0, 12, 30), ORDER), ((0, 3, 7, 19, 20, 30), ORDER), ((0, 6, 30), ORDER_6)],
)
def test_order_across_steps_and_ties_at_every_cut(raw_session, around_saint_chamond, steps, order):
    # Every limit cuts the same list at another place, so every tie at 0.1 km is cut through
    # at some limit (6.0 km with 12 km steps falls at the half of the step, read first).
    request, nurse = around_saint_chamond
    expected = [nurse[name] for name in order]
    for limit in range(1, len(expected) + 2):
        got = rank_candidates(raw_session, request, NOW, WINDOW, limit=limit, radius_steps=steps)
        assert ids(got) == expected[:limit], (steps, limit)
    full = rank_candidates(raw_session, request, NOW, WINDOW, limit=20, radius_steps=steps)
    assert [round(c.distance_km, 1) for c in full] == [0.0, 5.8, 5.8, 6.0, 6.0, 19.5, 19.5, 19.5]
    assert [c.accepted_30d for c in full] == [2, 0, 1, 0, 0, 0, 0, 1]
    assert full[1].distance_km == pytest.approx(GRAND_CROIX_KM, abs=1e-4)  # her nearest zone
    assert full[6].last_offer_at == NOW - timedelta(days=1) and full[5].last_offer_at is None


def test_fairness_does_not_cross_a_step(raw_session, around_saint_chamond):
    # 6 km nurses come before 19.5 km ones whatever their figures; a step stops at its radius.
    request, nurse = around_saint_chamond
    expected = [nurse[name] for name in ORDER]
    assert ids(rank_candidates(raw_session, request, NOW, WINDOW, limit=20, radius_steps=(0, 10))) == expected[:5]
    assert ids(rank_candidates(raw_session, request, NOW, WINDOW, limit=20, radius_steps=(0, 19))) == expected[:5]
    assert ids(rank_candidates(raw_session, request, NOW, WINDOW, limit=20)) == expected[:1]


def test_changes_not_yet_flushed_count(raw_session):
    nurse = make_nurse(raw_session, "Near", "06 11 11 11 02", [LORETTE])
    request = make_request(raw_session)
    nurse.paused_until = NOW + timedelta(days=1)  # pending in the session
    assert rank_candidates(raw_session, request, NOW, WINDOW, limit=5, radius_steps=(0, 10)) == []


@pytest.mark.parametrize("lat", [-21.3, 0.0, 16.2, 41.4, 46.8, 51.1, 70.0])
@pytest.mark.parametrize("radius", [1, 5, 10, 20, 50, 100])
def test_a_bounding_box_holds_the_circle_of_its_radius(lat, radius):
    # The radius steps read boxes and count every commune within the radius as read.
    centre = geo.Place("x", "x", "x", lat, 4.0)
    box = geo.bounding_box(centre, radius)
    eps = 1e-9
    for k in range(101):
        t = k / 100
        lat_k = box.lat_min + t * (box.lat_max - box.lat_min)
        lon_k = box.lon_min + t * (box.lon_max - box.lon_min)
        outside = [
            (lat_k, box.lon_min - eps),
            (lat_k, box.lon_max + eps),
            (box.lat_min - eps, lon_k),
            (box.lat_max + eps, lon_k),
        ]
        for point in outside:
            assert geo.distance_km(centre, geo.Place("y", "y", "y", *point)) > radius

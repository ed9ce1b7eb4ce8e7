"""The adaptive wave policy: estimates, sizing and ranking by hand-computable numbers, its one
SQL read of the offers table, and DISPATCH_POLICY=adaptive through ``dispatch.waves``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dispatch import policy
from dispatch.config import load_settings
from dispatch.matching import Candidate
from dispatch.policy import Smoothing, Tally
from dispatch.requests import NewRequest, create_request
from models import CareRequest, Offer
from tests.helpers import make_nurse

PARIS = ZoneInfo("Europe/Paris")
MONTBRISON = "42147"
SMOOTH = Smoothing(prior_p=0.2, prior_trials=10, band_trials=10, nurse_yes=1, nurse_band_trials=2)
# Nurse 1 said yes to 4 of 10 offers in the late morning (band 1); nurse 2 to none of 10 early (band 0).
TALLIES = {1: {1: Tally(10, 4)}, 2: {0: Tally(10, 0)}}


def test_bands_cover_the_day():
    assert [policy.band_of(h) for h in (0, 8, 9, 11, 12, 13, 14, 16, 17, 23)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    with pytest.raises(ValueError):
        policy.band_of(24)


def test_pooled_rates_shrink_toward_the_overall_rate():
    rates = policy.pooled_rates(TALLIES, SMOOTH)
    # overall (4 + 10*0.2) / (20 + 10) = 0.2; band 1: (4 + 10*0.2) / (10 + 10); band 0: (0 + 2) / 20.
    assert rates[1] == pytest.approx(0.3)
    assert rates[0] == pytest.approx(0.1)
    assert rates[2] == rates[3] == rates[4] == pytest.approx(0.2)


def test_pooled_rates_without_history_are_the_prior():
    assert policy.pooled_rates({}, SMOOTH) == pytest.approx({b: 0.2 for b in range(5)})


def test_estimate_by_nurse_and_band():
    p = policy.estimate(TALLIES, [1, 2, 3], band=1, smoothing=SMOOTH)
    # Nurse 1: 4 yes where the pool expects 10*0.3 = 3: ratio (4+1)/(3+1) = 1.25, so her prior
    # in band 1 is 0.3*1.25 = 0.375, and with her own 4/10 there: (4 + 2*0.375) / (10 + 2).
    assert p[1] == pytest.approx(4.75 / 12)
    # Nurse 2: 0 yes where 10*0.1 = 1 was expected: ratio 1/2; no offer in band 1: 0.3 * 0.5.
    assert p[2] == pytest.approx(0.15)
    # A newcomer gets the pool's rate for the band.
    assert p[3] == pytest.approx(0.3)


def test_estimate_never_reaches_certainty():
    p = policy.estimate({1: {1: Tally(500, 500)}}, [1], band=1)
    assert p[1] <= policy.MAX_P


def test_chance_of_a_yes_and_wave_size():
    assert policy.chance_of_a_yes([0.5, 0.5]) == pytest.approx(0.75)
    assert policy.chance_of_a_yes([]) == 0.0
    assert policy.wave_size([0.5, 0.5, 0.5, 0.5], 0.8) == 3  # 0.75 after two, 0.875 after three
    assert policy.wave_size([0.9, 0.1], 0.8) == 1
    assert policy.wave_size([0.1, 0.1], 0.8) == 2  # nobody left: everyone there is
    assert policy.wave_size([0.01] * 100, 0.8, cap=25) == 25
    assert policy.wave_size([], 0.8) == 0


def test_silent_nurses_of_earlier_waves_count_toward_the_target():
    assert policy.wave_size([0.5, 0.5, 0.5], 0.8, already=0.5) == 2  # 1 - 0.5 * 0.5 * 0.5
    assert policy.wave_size([0.5], 0.8, already=0.8) == 0
    # g: (1 late yes + 10 * 0.3) / (4 yeses + 10).
    tallies = {1: {1: Tally(10, 3, 1)}, 2: {3: Tally(5, 1, 0)}}
    assert policy.late_share(tallies, Smoothing(late_share=0.3, late_yes=10)) == pytest.approx(4 / 14)
    assert policy.silent_chance(0.4, 600, 600, 0.5) == pytest.approx(0.2)
    assert policy.silent_chance(0.4, 1200, 600, 0.5) == pytest.approx(0.1)
    assert policy.silent_chance(0.4, 30, 600, 0.5) == pytest.approx(0.2)  # never more than after one wait


def test_step_of_follows_the_radius_steps():
    steps = (0, 10, 20)
    assert [policy.step_of(d, steps) for d in (0.0, 0.1, 10.0, 10.5, 20.0, 25.0)] == [0, 1, 1, 2, 2, 3]


def test_priority_halves_with_accepted_work_and_recent_offers():
    assert policy.priority(0.4, 0, 0) == pytest.approx(0.4)
    assert policy.priority(0.4, int(policy.ACCEPTED_HALF), 0) == pytest.approx(0.2)
    assert policy.priority(0.4, 0, int(policy.OFFERS_HALF)) == pytest.approx(0.2)


def test_rank_keeps_distance_steps_and_fairness():
    near_busy = Candidate(1, 0.0, accepted_30d=2, last_offer_at=None)  # p 0.5, halved: 0.25
    near_free = Candidate(2, 0.0, accepted_30d=0, last_offer_at=None)  # p 0.3
    near_same = Candidate(3, 0.0, accepted_30d=0, last_offer_at=None)  # p 0.3, after 2 (given order)
    far_eager = Candidate(4, 8.0, accepted_30d=0, last_offer_at=None)  # p 0.9 but 8 km away
    ps = {1: 0.5, 2: 0.3, 3: 0.3, 4: 0.9}
    ordered = policy.rank([far_eager, near_busy, near_free, near_same], ps, {}, (0, 10, 20))
    assert [c.nurse_id for c in ordered] == [2, 3, 1, 4]
    # Four offers texted to nurse 2 in the last day halve her priority to 0.15, below nurse 1's 0.25.
    ordered = policy.rank([near_busy, near_free, near_same], ps, {2: 4}, (0, 10, 20))
    assert [c.nurse_id for c in ordered] == [3, 1, 2]


def _request(session, insee=MONTBRISON, at=None) -> CareRequest:
    request = CareRequest(
        reference=f"9{session.query(CareRequest).count():05d}",
        channel="api",
        insee=insee,
        postcode="42600",
        care_type="pansement",
        status="open",
        created_at=at or NOW,
    )
    session.add(request)
    session.flush()
    return request


def _offer(session, request, nurse, status, sent_at, answered_after_s=None, created_at=None) -> Offer:
    offer = Offer(
        request_id=request.id,
        nurse_id=nurse.id,
        wave=1,
        status=status,
        created_at=created_at or sent_at or NOW,
        sent_at=sent_at,
        answered_at=sent_at + timedelta(seconds=answered_after_s) if answered_after_s is not None else None,
    )
    session.add(offer)
    session.flush()
    return offer


# 10:00 in Paris (summer time): band 1.
NOW = datetime(2024, 6, 11, 8, 0, tzinfo=UTC)


def test_load_history_weighs_each_offer_by_what_is_known(raw_session):
    s = raw_session
    ann = make_nurse(s, "Ann", "06 10 00 00 01", [MONTBRISON])
    bea = make_nurse(s, "Bea", "06 10 00 00 02", [MONTBRISON])
    sent = NOW - timedelta(hours=1)  # 09:00 in Paris: band 1
    # Ann: a yes after 2 minutes (1 trial, 1 yes); a yes after 15 minutes (1 trial, no yes within
    # the 10-minute wait, a late one); a no (1 trial); an offer unanswered for 5 minutes (half a trial).
    _offer(s, _request(s), ann, "accepted", sent, 120)
    _offer(s, _request(s), ann, "accepted", sent, 900)
    _offer(s, _request(s), ann, "declined", sent, 60)
    _offer(s, _request(s), ann, "sent", NOW - timedelta(minutes=5))
    # Bea: taken by someone else 150 s after it reached her (a quarter of a trial); a late yes
    # 60 s in, after someone else's (a yes); a text that failed and one never sent (not counted);
    # and one offer of last month (outside the last 24 hours, at 05:00 in Paris: band 0).
    taken_request = _request(s)
    taken_request.status, taken_request.accepted_at = "accepted", sent + timedelta(seconds=150)
    _offer(s, taken_request, bea, "taken", sent)
    _offer(s, _request(s), bea, "taken", sent, 60)
    _offer(s, _request(s), bea, "failed", None)
    _offer(s, _request(s), bea, "pending", None)
    month_ago = NOW - timedelta(days=30, hours=5)
    _offer(s, _request(s), bea, "declined", month_ago, 30)
    # An old offer beyond the history window is ignored.
    _offer(s, _request(s), bea, "accepted", NOW - policy.HISTORY - timedelta(days=1), 10)
    s.flush()

    history = policy.load_history(s, [ann.id, bea.id], NOW, 600, PARIS)

    assert history.tallies[ann.id][1].trials == pytest.approx(3.5)
    assert history.tallies[ann.id][1].yes == pytest.approx(1)
    assert history.tallies[ann.id][1].late == pytest.approx(1)  # the yes after 15 minutes
    assert history.tallies[bea.id][1].trials == pytest.approx(1.25)
    assert history.tallies[bea.id][1].yes == pytest.approx(1)
    assert history.tallies[bea.id][0] == Tally(1.0, 0.0)
    assert history.recent_offers == {ann.id: 4, bea.id: 2}
    assert policy.load_history(s, [], NOW, 600, PARIS) == policy.History({}, {})


def _settings(tmp_path, database_url, policy_name):
    return load_settings(
        {
            "SIO_INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test",
            "TELEPHONY": "simulator",
            "TWILIO_ACCOUNT_SID": "",
            "TWILIO_AUTH_TOKEN": "",
            "NURSE_TEXTING_HOURS": "",
            "DISPATCH_POLICY": policy_name,
        }
    )


def _zone_with_history(s):
    """Six nurses in Montbrison; Ann said yes within two minutes to ten offers 40 days ago
    (outside the 30-day fairness window, inside the policy's history)."""
    ann = make_nurse(s, "Ann", "06 10 00 00 01", [MONTBRISON])
    others = [make_nurse(s, f"N{i}", f"06 10 00 00 1{i}", [MONTBRISON]) for i in range(5)]
    for day in range(10):
        past = NOW - timedelta(days=40 + day)
        _offer(s, _request(s, at=past), ann, "accepted", past, 90)
    s.flush()
    return ann, others


def test_adaptive_policy_sizes_the_wave_from_history(raw_session, tmp_path, database_url):
    ann, _ = _zone_with_history(raw_session)
    settings = _settings(tmp_path, database_url, "adaptive")
    request, effects = create_request(
        raw_session, settings, NewRequest(channel="api", care_type="pansement", insee=MONTBRISON), NOW
    )
    offers = raw_session.scalars(select(Offer).where(Offer.request_id == request.id)).all()
    # Her estimate is above 0.8 on her own: one text instead of the fixed policy's three.
    assert [o.nurse_id for o in offers] == [ann.id]
    assert request.wave == 1 and len(effects) == 2  # her offer's text, and the next wave's job


def test_adaptive_policy_without_history_texts_until_the_target(raw_session, tmp_path, database_url):
    for i in range(12):
        make_nurse(raw_session, f"N{i}", f"06 10 00 00 {i:02d}", [MONTBRISON])
    settings = _settings(tmp_path, database_url, "adaptive")
    request, _ = create_request(
        raw_session, settings, NewRequest(channel="api", care_type="pansement", insee=MONTBRISON), NOW
    )
    # Everyone gets the prior 0.15: 1 - 0.85^n reaches 0.8 at n = 10.
    assert raw_session.query(Offer).filter(Offer.request_id == request.id).count() == 10


def test_fixed_policy_is_unchanged_by_history(raw_session, tmp_path, database_url):
    _zone_with_history(raw_session)
    settings = _settings(tmp_path, database_url, "fixed")
    request, _ = create_request(
        raw_session, settings, NewRequest(channel="api", care_type="pansement", insee=MONTBRISON), NOW
    )
    assert raw_session.query(Offer).filter(Offer.request_id == request.id).count() == 3

"""The adaptive wave policy: sizing, waits and ranking by hand-computable numbers, its one SQL
read of the offers table, and DISPATCH_POLICY=adaptive through ``dispatch.matching.waves``."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dispatch import geo
from dispatch.config import load_settings
from dispatch.lifecycle import CareWindow
from dispatch.matching import history, policy
from dispatch.matching.candidates import Candidate
from dispatch.matching.estimates import Answers, OfferRecord, answers_of
from dispatch.matching.waves import advance
from dispatch.requests.create import NewRequest, create_request
from models import CareRequest, Commune, Event, Offer
from tests.support.helpers import make_nurse, make_request_row, run_first_wave

PARIS = ZoneInfo("Europe/Paris")
MONTBRISON = "42147"
# 10:00 in Paris (summer time).
NOW = datetime(2024, 6, 11, 8, 0, tzinfo=UTC)


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


def test_the_wait_lasts_until_a_yes_should_have_come():
    # A chance growing by 0.1 a minute reaches 0.65 at 6.5 minutes: the first 30-second step there.
    assert policy.choose_wait(lambda t: t / 600, 0.65, 600) == 390
    assert policy.choose_wait(lambda t: 0.9, 0.65, 600) == policy.MIN_WAIT_S
    assert policy.choose_wait(lambda t: 0.1, 0.65, 600) == 600  # never: the longest wait
    assert policy.choose_wait(lambda t: 0.9, 0.65, 20) == 20  # DISPATCH_WAVE_WAIT_S below the minimum


def test_step_of_follows_the_radius_steps():
    steps = (0, 10, 20)
    assert [policy.step_of(d, steps) for d in (0.0, 0.1, 10.0, 10.5, 20.0, 25.0)] == [0, 1, 1, 2, 2, 3]


def test_priority_halves_with_accepted_work_and_recent_offers():
    assert policy.priority(0.4, 0, 0) == pytest.approx(0.4)
    assert policy.priority(0.4, int(policy.ACCEPTED_HALF), 0) == pytest.approx(0.2)
    assert policy.priority(0.4, 0, int(policy.OFFERS_HALF)) == pytest.approx(0.2)


def test_rank_keeps_distance_steps_and_fairness():
    busy = int(policy.ACCEPTED_HALF)
    near_busy = Candidate(1, 0.0, accepted_30d=busy, last_offer_at=None)  # p 0.5, halved: 0.25
    near_free = Candidate(2, 0.0, accepted_30d=0, last_offer_at=None)  # p 0.3
    near_same = Candidate(3, 0.0, accepted_30d=0, last_offer_at=None)  # p 0.3, after 2 (given order)
    far_eager = Candidate(4, 8.0, accepted_30d=0, last_offer_at=None)  # p 0.9 but 8 km away
    ps = {1: 0.5, 2: 0.3, 3: 0.3, 4: 0.9}
    ordered = policy.rank([far_eager, near_busy, near_free, near_same], ps, {}, (0, 10, 20))
    assert [c.nurse_id for c in ordered] == [2, 3, 1, 4]
    # OFFERS_HALF offers texted to nurse 2 in the last day halve her priority to 0.15, below nurse 1's 0.25.
    ordered = policy.rank([near_busy, near_free, near_same], ps, {2: int(policy.OFFERS_HALF)}, (0, 10, 20))
    assert [c.nurse_id for c in ordered] == [3, 1, 2]


def _request(session, insee=MONTBRISON, at=None, status="open") -> CareRequest:
    return make_request_row(session, insee, "42600", at or NOW, status)


def _offer(session, request, nurse, status, sent_at, answered_after_s=None) -> Offer:
    offer = Offer(
        request_id=request.id,
        nurse_id=nurse.id,
        wave=1,
        status=status,
        created_at=sent_at or NOW,
        sent_at=sent_at,
        answered_at=sent_at + timedelta(seconds=answered_after_s) if answered_after_s is not None else None,
    )
    session.add(offer)
    session.flush()
    return offer


def test_load_history_reads_each_offer_as_what_is_known(raw_session):
    s = raw_session
    ann = make_nurse(s, "Ann", "06 10 00 00 01", [MONTBRISON])
    bea = make_nurse(s, "Bea", "06 10 00 00 02", [MONTBRISON])
    sent = NOW - timedelta(hours=1)  # 09:00 in Paris
    # Ann: a yes after 2 minutes (her first patient today), a no after a minute, and an offer
    # still unanswered after 5 minutes.
    _offer(s, _request(s), ann, "accepted", sent, 120)
    _offer(s, _request(s), ann, "declined", sent + timedelta(minutes=10), 60)
    _offer(s, _request(s), ann, "sent", NOW - timedelta(minutes=5))
    # Bea: taken by someone else 150 s after it reached her; a late yes 60 s in, after someone
    # else's; a text that failed and one never sent (not read); one offer of last month (05:00
    # in Paris); one beyond the history window; one of the request being dispatched (left out).
    taken = _request(s, status="accepted")
    taken.accepted_at = sent + timedelta(seconds=150)
    _offer(s, taken, bea, "taken", sent)
    _offer(s, _request(s), bea, "taken", sent, 60)
    _offer(s, _request(s), bea, "failed", None)
    _offer(s, _request(s), bea, "pending", None)
    _offer(s, _request(s), bea, "declined", NOW - timedelta(days=30, hours=5), 30)
    _offer(s, _request(s), bea, "accepted", NOW - history.HISTORY - timedelta(days=1), 10)
    current = _request(s)
    _offer(s, current, bea, "sent", NOW - timedelta(minutes=2))
    s.flush()

    read = history.load_history(s, [ann.id, bea.id], NOW, PARIS, request_id=current.id)

    assert read.records[ann.id] == Answers.of(
        [
            OfferRecord(hour=9, exposure_s=120, answered=True, yes=True, load=0),
            OfferRecord(hour=9, exposure_s=60, answered=True, yes=False, load=1),  # after her yes of 09:02
            OfferRecord(hour=9, exposure_s=300, answered=False, yes=False, load=1),
        ]
    )
    assert read.records[bea.id] == Answers.of(
        [
            OfferRecord(hour=5, exposure_s=30, answered=True, yes=False, load=0),
            OfferRecord(hour=9, exposure_s=150, answered=False, yes=False, load=0),
            OfferRecord(hour=9, exposure_s=60, answered=True, yes=True, load=0),
        ]
    )
    assert read.recent_offers == {ann.id: 3, bea.id: 2}
    assert read.accepted_today == {ann.id: 1}
    assert history.load_history(s, [], NOW, PARIS) == history.History({}, {}, {})


def _settings(tmp_path, database_url, policy_name, **extra):
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
            **extra,
        }
    )


def _zone_with_history(s, zone=MONTBRISON, days_ago=20):
    """Six nurses of the zone. Ann said yes within 90 s to ten offers; the five others said no
    to three offers each, after 20 minutes: 25 answers, more than two a candidate."""
    ann = make_nurse(s, "Ann", "06 10 00 00 01", [zone])
    others = [make_nurse(s, f"N{i}", f"06 10 00 00 1{i}", [zone]) for i in range(5)]
    for day in range(10):
        past = NOW - timedelta(days=days_ago + day)
        _offer(s, _request(s, zone, at=past, status="confirmed"), ann, "accepted", past, 90)
    for i, nurse in enumerate(others):
        for day in range(3):
            past = NOW - timedelta(days=days_ago + day, minutes=i)
            _offer(s, _request(s, zone, at=past, status="confirmed"), nurse, "declined", past, 1200)
    s.flush()
    return ann, others


def _new(session, settings, at=NOW, **fields):
    """A request taken at ``at``, and its first wave as the wave job plans it."""
    request, effects = create_request(
        session, settings, NewRequest(channel="api", care_type="pansement", insee=MONTBRISON, **fields), at
    )
    return request, run_first_wave(session, settings, request, effects, at)


def test_adaptive_first_wave_asks_the_quick_nurse_first_and_waits_what_the_estimates_say(
    raw_session, tmp_path, database_url
):
    ann, others = _zone_with_history(raw_session)
    settings = _settings(tmp_path, database_url, "adaptive")
    request, _ = _new(raw_session, settings)
    offers = raw_session.scalars(select(Offer).where(Offer.request_id == request.id).order_by(Offer.id)).all()
    assert offers[0].nurse_id == ann.id
    assert len(offers) < 1 + len(others)  # just enough, not the whole zone
    wave = raw_session.scalars(select(Event).where(Event.request_id == request.id, Event.kind == "wave_sent")).one()
    # The policy's wait, plumbed through WavePlan.wait_s to the next wave's deadline.
    assert request.next_wave_at == NOW + timedelta(seconds=wave.data["wait_s"])
    assert policy.MIN_WAIT_S <= wave.data["wait_s"] < settings.wave_wait_s


def test_adaptive_later_waves_go_at_the_usual_pace(raw_session, tmp_path, database_url):
    _zone_with_history(raw_session)
    for i in range(6):
        make_nurse(raw_session, f"M{i}", f"06 10 00 00 2{i}", [MONTBRISON])  # newcomers, no history
    settings = _settings(tmp_path, database_url, "adaptive")
    request, _ = _new(raw_session, settings)
    first = raw_session.scalars(select(Offer).where(Offer.request_id == request.id)).all()
    for offer in first:
        offer.status, offer.sent_at = "sent", NOW
    later = request.next_wave_at
    advance(raw_session, settings, request, later)
    assert request.wave == 2
    # Sized on a yes within DISPATCH_WAVE_WAIT_S, counting the first wave's silent nurses: the
    # wait never exceeds it.
    waited = (request.next_wave_at - later).total_seconds()
    assert policy.MIN_WAIT_S <= waited <= settings.wave_wait_s


def test_adaptive_policy_without_history_runs_the_fixed_waves(raw_session, tmp_path, database_url):
    for i in range(12):
        make_nurse(raw_session, f"N{i}", f"06 10 00 00 {i:02d}", [MONTBRISON])
    settings = _settings(tmp_path, database_url, "adaptive")
    request, _ = _new(raw_session, settings)
    assert raw_session.query(Offer).filter(Offer.request_id == request.id).count() == 3  # DISPATCH_WAVE_SIZES
    assert request.next_wave_at == NOW + timedelta(seconds=settings.wave_wait_s)


def _slow_refusers(s, zone, names, phone_prefix):
    """Nurses of ``zone`` who said no to three offers each, twenty minutes after the text."""
    nurses = [make_nurse(s, name, f"{phone_prefix}{i}", [zone]) for i, name in enumerate(names)]
    for nurse in nurses:
        for day in range(3):
            past = NOW - timedelta(days=20 + day)
            _offer(s, _request(s, zone, at=past, status="confirmed"), nurse, "declined", past, 1200)
    return nurses


def _nearest_other_commune(session, insee: str) -> str:
    centre = geo.commune(session, insee)
    others = session.scalars(select(Commune).where(Commune.department == centre.department, Commune.insee != insee))
    nearest = min(others, key=lambda c: geo.distance_km(centre, geo.commune(session, c.insee)))
    assert geo.distance_km(centre, geo.commune(session, nearest.insee)) <= 10
    return nearest.insee


def test_adaptive_policy_widens_to_the_next_commune_when_the_zone_falls_short(raw_session, tmp_path, database_url):
    neighbour = _nearest_other_commune(raw_session, MONTBRISON)
    zone = _slow_refusers(raw_session, MONTBRISON, ["Z0", "Z1"], "06 10 00 00 1")
    near = _slow_refusers(raw_session, neighbour, ["V0", "V1", "V2"], "06 10 00 00 2")
    settings = _settings(tmp_path, database_url, "adaptive", DISPATCH_RADIUS_KM="0,10")
    request, _ = _new(raw_session, settings)
    asked = [o.nurse_id for o in sorted(request.offers, key=lambda o: o.id)]
    # Two slow refusers cannot make a quick yes likely: the wave goes on to the neighbours, the
    # declared zone first.
    assert set(asked[:2]) == {n.id for n in zone}
    assert set(asked[2:]) == {n.id for n in near}


def test_fixed_policy_is_unchanged_by_history(raw_session, tmp_path, database_url):
    _zone_with_history(raw_session)
    settings = _settings(tmp_path, database_url, "fixed")
    request, _ = _new(raw_session, settings)
    assert raw_session.query(Offer).filter(Offer.request_id == request.id).count() == 3
    assert request.next_wave_at == NOW + timedelta(seconds=settings.wave_wait_s)


def test_the_estimates_read_from_history_favour_the_quick_nurse(raw_session):
    ann, others = _zone_with_history(raw_session)
    from dispatch.matching.estimates import fit

    model = fit(history.load_history(raw_session, [ann.id, *(n.id for n in others)], NOW, PARIS).records)
    quick = model.estimate(ann.id, 10).chance(policy.HORIZON_S, model.sigma)
    slow = max(model.estimate(n.id, 10).chance(policy.HORIZON_S, model.sigma) for n in others)
    assert quick > 10 * slow
    assert math.isclose(model.answers, 25)


def _straightforward_history(session, nurse_ids, now, tz, request_id):
    """``load_history`` as first written (aware datetimes, each offer's load by a scan, Records)."""
    rows = session.execute(
        select(Offer.nurse_id, Offer.status, Offer.sent_at, Offer.answered_at, CareRequest.accepted_at)
        .add_columns(CareRequest.closed_at)
        .join(CareRequest, CareRequest.id == Offer.request_id)
        .where(Offer.nurse_id.in_(nurse_ids), Offer.created_at >= now - history.HISTORY)
        .where(Offer.sent_at.is_not(None), Offer.status != "failed", Offer.request_id != request_id)
        .order_by(Offer.nurse_id, Offer.sent_at, Offer.id)
    ).all()
    accepted, records, recent = {}, {}, {}
    for row in rows:
        if row.status == "accepted" and row.answered_at is not None:
            accepted.setdefault(row.nurse_id, []).append(row.answered_at)
    for row in rows:
        if row.answered_at is not None:
            end, answered = row.answered_at, True
        else:
            closed = {"taken": row.accepted_at, "withdrawn": row.closed_at}.get(row.status)
            end, answered = min(closed or now, now), False
        local = row.sent_at.astimezone(tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        records.setdefault(row.nurse_id, []).append(
            OfferRecord(
                local.hour,
                max((end - row.sent_at).total_seconds(), 0.0),
                answered,
                answered and row.status in ("accepted", "taken"),
                sum(1 for at in accepted.get(row.nurse_id, ()) if midnight <= at < row.sent_at),
            )
        )
        if row.sent_at >= now - history.RECENT:
            recent[row.nurse_id] = recent.get(row.nurse_id, 0) + 1
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    return records, recent, {n: sum(1 for at in ats if at >= today) for n, ats in accepted.items()}


def test_load_history_is_the_straightforward_reading_and_extends_as_one_read(raw_session):
    # Four days of random offers around the night Paris moved its clocks forward (31 March 2024,
    # 01:00 UTC), several nurses texted the same second (ties in the order), every status.
    s, rng = raw_session, random.Random(5)
    nurses = [make_nurse(s, f"R{i}", f"06 10 00 00 3{i}", [MONTBRISON]) for i in range(4)]
    now = datetime(2024, 3, 31, 9, 30, tzinfo=UTC)
    for _ in range(60):
        sent = now - timedelta(minutes=rng.randrange(-30, 4 * 24 * 60))
        request = _request(s, at=sent, status="accepted")
        request.accepted_at = sent + timedelta(seconds=rng.randrange(1, 4000))
        request.closed_at = rng.choice([None, sent + timedelta(seconds=rng.randrange(1, 9000))])
        for nurse in rng.sample(nurses, rng.randint(1, 4)):
            status = rng.choice(["accepted", "accepted", "declined", "taken", "withdrawn", "sent", "failed"])
            late = status in ("accepted", "declined") or rng.random() < 0.2
            _offer(s, request, nurse, status, sent, rng.randrange(0, 9000) if late else None)
    # Edges: two offers texted to her the same second; a yes at local midnight exactly (counts
    # for the day's later offers); an offer closed under her after now (exposed until now).
    tie = now - timedelta(hours=5)
    for status, after in (("declined", 50), ("taken", None), ("declined", 20)):
        _offer(s, _request(s, at=tie, status="accepted"), nurses[0], status, tie, after)
    midnight = datetime(2024, 3, 29, 23, 0, tzinfo=UTC)  # 30 March, 00:00 in Paris
    _offer(s, _request(s, at=midnight, status="accepted"), nurses[1], "accepted", midnight, 0)
    _offer(s, _request(s, at=midnight, status="accepted"), nurses[1], "declined", midnight + timedelta(hours=8), 9)
    closing = _request(s, at=now, status="accepted")
    closing.accepted_at = now + timedelta(minutes=5)
    _offer(s, closing, nurses[2], "taken", now - timedelta(minutes=1))
    current = _request(s)
    _offer(s, current, nurses[0], "sent", now - timedelta(minutes=2))
    ids = [n.id for n in nurses]

    read = history.load_history(s, ids, now, PARIS, request_id=current.id)

    records, recent, accepted_today = _straightforward_history(s, ids, now, PARIS, current.id)
    one_by_one, recent_read, accepted_read = history.offer_records(s, ids, now, PARIS, request_id=current.id)
    assert list(one_by_one) == list(records)  # nurses in id order: the fit sums in that order
    assert {n: [repr(tuple(r)) for r in rs] for n, rs in one_by_one.items()} == {
        n: [repr(tuple(r)) for r in rs] for n, rs in records.items()
    }
    assert (recent_read, accepted_read) == (recent, accepted_today)
    # Nothing counted yet: the plan's read is every offer, read one by one, summed exactly.
    assert read.records == answers_of(records) and list(read.records) == list(records)
    assert read.recent_offers == recent
    assert read.accepted_today == {n: c for n, c in accepted_today.items() if c}
    assert any(r.load >= 2 for rs in records.values() for r in rs)  # the day loads are exercised
    # The radius ring's nurses added to the zone's: the same as reading them all at once.
    zone = history.load_history(s, ids[2:], now, PARIS, request_id=current.id)
    extended = history.extend_history(s, zone, ids, now, PARIS, request_id=current.id)
    assert list(extended.records) == list(read.records) and extended == read
    assert history.extend_history(s, read, ids[:2], now, PARIS, request_id=current.id) is read


def test_the_ring_reads_only_its_own_nurses_and_plans_as_a_full_read_would(
    raw_session, tmp_path, database_url, monkeypatch
):
    neighbour = _nearest_other_commune(raw_session, MONTBRISON)
    zone = _slow_refusers(raw_session, MONTBRISON, ["Z0", "Z1"], "06 10 00 00 1")
    near = _slow_refusers(raw_session, neighbour, ["V0", "V1", "V2"], "06 10 00 00 2")
    settings = _settings(tmp_path, database_url, "adaptive", DISPATCH_RADIUS_KM="0,10")
    request = _request(raw_session)
    reads = []
    load = history.load_history
    monkeypatch.setattr(
        history, "load_history", lambda s, ids, *a, **k: reads.append(sorted(ids)) or load(s, ids, *a, **k)
    )
    plan = policy.adaptive_wave(raw_session, settings, request, NOW, CareWindow.at(NOW.astimezone(PARIS)))
    assert reads == [sorted(n.id for n in near)]  # the zone's read (policy.load_history) is kept
    # Reading zone and ring again at once instead gives the same wave.
    monkeypatch.setattr(policy, "extend_history", lambda s, known, ids, *a, **k: load(s, ids, *a, **k))
    assert policy.adaptive_wave(raw_session, settings, request, NOW, CareWindow.at(NOW.astimezone(PARIS))) == plan
    assert set(plan.nurse_ids) == {n.id for n in zone + near}

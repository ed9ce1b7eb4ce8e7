"""Each nurse's answers summed in one row (issue 17, ``dispatch.matching.answer_stats``): what the
periodic pass counts and when, its retirement at 60 days, and plans from the rows as the full
reading of every offer plans them."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dispatch.config import load_settings
from dispatch.lifecycle import CareWindow
from dispatch.matching import answer_stats, estimates, history, policy
from dispatch.matching.answer_stats import count_offers
from dispatch.matching.estimates import BIN, Answers, OfferRecord, fit, key_of
from models import NurseAnswerStats, Offer
from tests.support.helpers import make_nurse, make_request_row

PARIS = ZoneInfo("Europe/Paris")
MONTBRISON = "42147"


@pytest.fixture
def settings(tmp_path, database_url):
    return load_settings(
        {
            "SIO_INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test",
            "TELEPHONY": "simulator",
            "TWILIO_ACCOUNT_SID": "",
            "TWILIO_AUTH_TOKEN": "",
            "NURSE_TEXTING_HOURS": "",
            "DISPATCH_POLICY": "adaptive",
        }
    )


def _request(session, at, status="confirmed"):
    return make_request_row(session, MONTBRISON, "42600", at, status)


def _offer(session, request, nurse, status, sent_at, answered_after_s=None, created_at=None):
    offer = Offer(
        request_id=request.id,
        nurse_id=nurse.id,
        wave=1,
        status=status,
        created_at=created_at or sent_at,
        sent_at=sent_at,
        answered_at=sent_at + timedelta(seconds=answered_after_s) if answered_after_s is not None else None,
    )
    session.add(offer)
    session.flush()
    return offer


def _row(session, nurse) -> dict | None:
    session.expire_all()
    return session.scalar(select(NurseAnswerStats.answers).where(NurseAnswerStats.nurse_id == nurse.id))


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def test_the_pass_counts_each_offer_a_day_after_its_text_with_what_it_tells(raw_session, settings):
    # The night Paris leaves summer time (27 October 2024, 03:00 → 02:00). Ann: a yes at 10:00
    # on the 26th (her first patient that day); a no at 23:30 local (21:30 UTC: the hour is 23,
    # her load 1); an offer still open; one taken by someone else 150 s in; a failed text.
    s = raw_session
    ann = make_nurse(s, "Ann", "06 10 00 00 01", [MONTBRISON])
    day = datetime(2024, 10, 26, 8, 0, tzinfo=UTC)  # 10:00 in Paris
    yes = _offer(s, _request(s, day), ann, "accepted", day, 120)
    late = datetime(2024, 10, 26, 21, 30, tzinfo=UTC)  # 23:30 in Paris, summer time
    no = _offer(s, _request(s, late), ann, "declined", late, 60)
    still = _offer(s, _request(s, day, "open"), ann, "sent", day + timedelta(hours=2))
    taken_request = _request(s, day, "accepted")
    taken_request.accepted_at = day + timedelta(hours=4, seconds=150)
    taken = _offer(s, taken_request, ann, "taken", day + timedelta(hours=4))
    failed = _offer(s, _request(s, day), ann, "failed", None, created_at=day)
    s.commit()

    # A day after the yes but not yet after the 23:30 text: only what is a day old.
    first = datetime(2024, 10, 27, 21, 0, tzinfo=UTC)
    assert count_offers(s, settings, first) == (2, 0)
    s.commit()
    expected_yes = key_of(OfferRecord(10, 120.0, True, True, 0))
    assert expected_yes == f"a|10|{math.log(120.0)!r}|1|0"
    assert {o.id: o.counted for o in s.scalars(select(Offer))} == {
        yes.id: expected_yes,
        no.id: None,  # texted less than a day before
        still.id: None,  # still open: read one by one by the plans, exposed until now
        taken.id: key_of(OfferRecord(14, 150.0, False)),
        failed.id: answer_stats.SKIPPED,
    }
    second = datetime(2024, 10, 28, 12, 0, tzinfo=UTC)
    assert count_offers(s, settings, second) == (1, 0)
    s.commit()
    s.expire_all()
    assert s.get(Offer, no.id).counted == key_of(OfferRecord(23, 60.0, True, False, 1))
    expected = Answers.of(
        [
            OfferRecord(10, 120.0, True, True, 0),
            OfferRecord(14, 150.0, False),
            OfferRecord(23, 60.0, True, False, 1),
        ],
        BIN,
    )
    assert _close(_row(s, ann), expected.to_json())
    # Idempotent: a second pass at the same moment changes nothing.
    before = {o.id: o.counted for o in s.scalars(select(Offer))}
    assert count_offers(s, settings, second) == (0, 0)
    s.commit()
    assert {o.id: o.counted for o in s.scalars(select(Offer))} == before
    assert _close(_row(s, ann), expected.to_json())


def test_offers_retire_at_60_days_and_the_row_returns_to_what_it_was(raw_session, settings):
    s = raw_session
    ann = make_nurse(s, "Ann", "06 10 00 00 01", [MONTBRISON])
    start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    early = [_offer(s, _request(s, start), ann, "declined", start + timedelta(minutes=i), 30 + i) for i in range(3)]
    s.commit()
    assert count_offers(s, settings, start + timedelta(days=2)) == (3, 0)
    s.commit()
    only_early = _row(s, ann)
    later_at = start + timedelta(days=10)
    later = [
        _offer(s, _request(s, later_at), ann, status, later_at + timedelta(minutes=i), after)
        for i, (status, after) in enumerate((("accepted", 200), ("declined", 7), ("declined", 4000)))
    ]
    s.commit()
    assert count_offers(s, settings, later_at + timedelta(days=2)) == (3, 0)
    s.commit()
    both = _row(s, ann)
    assert both != only_early
    # 60 days after the first three: they leave; the row is the later three's alone.
    assert count_offers(s, settings, start + history.HISTORY + timedelta(days=1)) == (0, 3)
    s.commit()
    assert {s.get(Offer, o.id).counted for o in early} == {answer_stats.RETIRED}
    alone = Answers()
    for offer in later:
        alone.apply(offer.counted)
    assert _close(_row(s, ann), alone.to_json())
    # And 60 days after the later ones: back to nothing.
    assert count_offers(s, settings, later_at + history.HISTORY + timedelta(days=1)) == (0, 3)
    s.commit()
    assert Answers.from_json(_row(s, ann)) == Answers()


def test_a_counted_offer_that_changes_is_recounted(raw_session, settings):
    s = raw_session
    ann = make_nurse(s, "Ann", "06 10 00 00 01", [MONTBRISON])
    sent = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
    offer = _offer(s, _request(s, sent), ann, "accepted", sent, 120)
    s.commit()
    count_offers(s, settings, sent + timedelta(days=2))
    s.commit()
    s.expire_all()
    assert offer.counted == key_of(OfferRecord(10, 120.0, True, True, 0))
    # Three days after the text she gives the patient back (DESISTE): her answer is now a no,
    # given then; her row follows.
    offer.status, offer.answered_at = "declined", sent + timedelta(days=3)
    answer_stats.recount(s, settings, offer, sent + timedelta(days=3))
    s.commit()
    s.expire_all()
    key = key_of(OfferRecord(10, timedelta(days=3).total_seconds(), True, False, 0))
    assert s.get(Offer, offer.id).counted == key
    assert _close(_row(s, ann), Answers.of([OfferRecord(10, 3 * 86400.0, True, False, 0)], BIN).to_json())


def _seeded_zone(s, rng, now, nurses=10, days=20):
    """Random offers of the zone's nurses over ``days``: quick and slow nurses, yeses and noes,
    silences closed under them or left open, some answers on a day she had taken a patient."""
    zone = [make_nurse(s, f"R{i}", f"06 10 00 01 {i:02d}", [MONTBRISON]) for i in range(nurses)]
    speed = {n.id: rng.choice([60, 300, 1500]) for n in zone}
    for _ in range(days * 12):
        sent = now - timedelta(minutes=rng.randrange(30, days * 24 * 60))
        request = _request(s, sent, "confirmed")
        request.accepted_at = sent + timedelta(seconds=rng.randrange(60, 3000))
        for nurse in rng.sample(zone, rng.randint(1, 4)):
            delay = rng.lognormvariate(math.log(speed[nurse.id]), 1.0)
            if rng.random() < 0.7 and sent + timedelta(seconds=delay) < now:
                status = "accepted" if rng.random() < 0.4 else "declined"
                _offer(s, request, nurse, status, sent, delay)
            else:
                _offer(s, request, nurse, rng.choice(["taken", "taken", "taken", "sent"]), sent)
    s.commit()
    return zone


def _count_all(s, settings, now):
    while count_offers(s, settings, now, limit=100) != (0, 0):
        s.commit()
    s.commit()


def test_a_plan_from_the_rows_is_the_plan_of_every_offer_read_one_by_one(raw_session, settings, monkeypatch):
    s, rng = raw_session, random.Random(17)
    now = datetime(2024, 6, 11, 8, 0, tzinfo=UTC)  # 10:00 in Paris
    _seeded_zone(s, rng, now)
    _count_all(s, settings, now)
    counted = s.scalars(select(Offer.counted)).all()
    assert sum(1 for c in counted if c is None) < len(counted) / 5  # the rows carry most of it
    request = _request(s, now, "open")
    window = CareWindow.at(now.astimezone(PARIS))
    plans = []
    for read in (history.load_history, history.reference_history):
        monkeypatch.setattr(policy, "load_history", read)
        monkeypatch.setattr(policy, "extend_history", lambda s_, known, ids, *a, read=read, **k: read(s_, ids, *a, **k))
        plans.append(policy.adaptive_wave(s, settings, request, now, window))
    summary, reference = plans
    assert summary is not None and summary.nurse_ids
    assert summary == reference  # the same nurses, in the same order, and the same wait


def test_the_request_being_planned_is_left_out_of_the_rows(raw_session, settings):
    # A request of three days ago relaunched now: its offers were counted into its nurses' rows;
    # its plan reads its nurses as if those offers were not there, as the full reading does.
    s, rng = raw_session, random.Random(3)
    now = datetime(2024, 6, 11, 8, 0, tzinfo=UTC)
    zone = _seeded_zone(s, rng, now, nurses=5, days=6)
    past = now - timedelta(days=3)
    relaunched = _request(s, past, "open")
    relaunched.closed_at = past + timedelta(minutes=40)  # its first round, withdrawn
    for i, nurse in enumerate(zone):
        _offer(s, relaunched, nurse, "declined" if i % 2 else "withdrawn", past, 90 if i % 2 else None)
    s.commit()
    _count_all(s, settings, now)
    assert all(o.counted not in (None, "-") for o in relaunched.offers)
    ids = [n.id for n in zone]
    summary = history.load_history(s, ids, now, PARIS, request_id=relaunched.id)
    reference = history.reference_history(s, ids, now, PARIS, request_id=relaunched.id)
    with_it = history.load_history(s, ids, now, PARIS)
    for nurse_id in ids:
        mine, full = summary.records[nurse_id], reference.records[nurse_id]
        assert mine.answers() == full.answers() and mine.yeses() == full.yeses()
        assert mine.silences() == full.silences()
    assert sum(a.answers() for a in with_it.records.values()) > sum(a.answers() for a in summary.records.values())


def test_a_nurse_without_a_row_gets_the_pools_figures(raw_session, settings):
    s, rng = raw_session, random.Random(5)
    now = datetime(2024, 6, 11, 8, 0, tzinfo=UTC)
    zone = _seeded_zone(s, rng, now, nurses=6, days=10)
    _count_all(s, settings, now)
    newcomer = make_nurse(s, "New", "06 10 00 09 99", [MONTBRISON])
    s.commit()
    read = history.load_history(s, [n.id for n in zone] + [newcomer.id], now, PARIS)
    assert newcomer.id not in read.records and newcomer.id in read.nurse_ids
    assert s.get(NurseAnswerStats, newcomer.id) is None
    model = fit(read.records)
    pool = estimates.Estimate(model.pool_reply[10], model.pool_mu[10], model.pool_yes)
    assert model.estimate(newcomer.id, 10) == pool

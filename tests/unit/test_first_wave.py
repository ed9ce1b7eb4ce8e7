"""A request's first wave is planned by the wave job, not by its intake (issue 17, part 2).

``create_request`` writes the request with its first wave due now and returns the job that plans
it (``RunWave(id, 0)``); only a search that would end at once (nobody at all to ask) ends in the
intake, so that the phone menu can say so during the call. On a database and a clock, no Flask.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dispatch.config import load_settings
from dispatch.effects import RunWave
from dispatch.lifecycle import RequestStatus
from dispatch.matching import waves
from dispatch.requests.create import NewRequest, create_request
from models import Event, NurseAbsence, Offer
from tests.support.helpers import make_nurse, no_planning

PARIS = ZoneInfo("Europe/Paris")
SAINT_CHAMOND, FIRMINY = "42207", "42095"
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)
MONDAY_22 = datetime(2026, 11, 23, 22, 0, tzinfo=PARIS)
TUESDAY_0730 = datetime(2026, 11, 24, 7, 30, tzinfo=PARIS)
MONDAY_21 = datetime(2026, 11, 23, 21, 0, tzinfo=PARIS)
TUESDAY_06 = datetime(2026, 11, 24, 6, 0, tzinfo=PARIS)
SUNDAY_10 = datetime(2026, 11, 29, 10, 0, tzinfo=PARIS)
CHRISTMAS_10 = datetime(2026, 12, 25, 10, 0, tzinfo=PARIS)  # a public holiday, a Friday


def _settings(database_url, tmp_path, **env):
    return load_settings(
        {
            "SECRET_KEY": "x",
            "SIO_INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": database_url,
            "TELEPHONY": "simulator",
            "TWILIO_ACCOUNT_SID": "",
            "TWILIO_AUTH_TOKEN": "",
            "DISPATCH_RADIUS_KM": "0",
            **env,
        }
    )


def _new(insee: str = SAINT_CHAMOND, **fields) -> NewRequest:
    fields = {"care_type": "pansement", **fields}
    return NewRequest(channel="api", insee=insee, callback_phone="+33477000001", **fields)


def _count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_taking_a_request_plans_nothing_and_its_wave_job_asks_the_usual_nurse_first(
    raw_session, database_url, tmp_path
):
    settings = _settings(database_url, tmp_path)
    for i in range(4):
        make_nurse(raw_session, f"N{i}", f"06 20 00 00 0{i}", [SAINT_CHAMOND])
    usual = make_nurse(raw_session, "Usual", "06 21 00 00 01", [FIRMINY])  # her zones don't matter
    with no_planning():
        request, effects = create_request(raw_session, settings, _new(usual_nurse_phone=usual.phone), MONDAY_10)
    assert effects == [RunWave(request.id, 0)]  # due now: the job plans the wave
    assert (request.status, request.wave, request.next_wave_at) == (RequestStatus.OPEN, 0, MONDAY_10)
    assert request.dispatch_started_at == MONDAY_10
    assert _count(raw_session, Offer) == 0 and _count(raw_session, Event, Event.kind == "wave_sent") == 0
    raw_session.commit()

    later = MONDAY_10 + timedelta(seconds=2)  # the job runs a moment after the commit
    effects = waves.run_wave(raw_session, settings, request.id, 0, later)
    raw_session.commit()
    offers = raw_session.scalars(select(Offer).where(Offer.request_id == request.id)).all()
    assert [(o.nurse_id, o.wave) for o in offers] == [(usual.id, 1)] and request.wave == 1
    assert RunWave(request.id, 1, at=request.next_wave_at) in effects
    assert request.next_wave_at == later + timedelta(seconds=settings.usual_nurse_wait_s)


def test_a_night_request_is_left_to_its_job_which_waits_for_the_morning(raw_session, database_url, tmp_path):
    settings = _settings(database_url, tmp_path)
    make_nurse(raw_session, "N0", "06 20 00 00 00", [SAINT_CHAMOND])
    with no_planning():
        request, effects = create_request(raw_session, settings, _new(), MONDAY_22)
    assert effects == [RunWave(request.id, 0)]
    assert _count(raw_session, Event, Event.kind == "waiting_texting_hours") == 0
    raw_session.commit()

    # The job, at 22:00: what the intake did before, texting hours closed: wait for 07:30.
    assert waves.run_wave(raw_session, settings, request.id, 0, MONDAY_22) == [RunWave(request.id, 0, at=TUESDAY_0730)]
    raw_session.commit()
    assert request.next_wave_at == TUESDAY_0730 and _count(raw_session, Offer) == 0
    assert _count(raw_session, Event, Event.kind == "waiting_texting_hours") == 1
    waves.run_wave(raw_session, settings, request.id, 0, TUESDAY_0730)
    raw_session.commit()
    assert request.wave == 1 and _count(raw_session, Offer, Offer.request_id == request.id) == 1


def test_nobody_to_ask_ends_the_search_in_the_intake(raw_session, database_url, tmp_path):
    settings = _settings(database_url, tmp_path)
    request, effects = create_request(raw_session, settings, _new(FIRMINY), MONDAY_10)  # nobody serves Firminy
    assert request.status == RequestStatus.UNFILLED and request.next_wave_at is None
    assert not any(isinstance(e, RunWave) for e in effects) and effects  # the call back with the news
    assert _count(raw_session, Event, Event.kind == "unfilled") == 1


# Each case: the world before the request, the request's fields, when it is made. The intake's
# cheap decision must be the one ``advance`` takes on the spot, whatever the case.
CASES = {
    "served zone": ({"zone": SAINT_CHAMOND}, {}, MONDAY_10),
    "nobody serves it": ({}, {}, MONDAY_10),
    "nobody, at night": ({}, {}, MONDAY_22),
    "nobody, urgent at night": ({}, {"urgent": True}, MONDAY_22),
    "a reachable usual nurse of another zone": ({"usual": {}}, {}, MONDAY_10),
    "a paused usual nurse": ({"usual": {"paused_until": MONDAY_10 + timedelta(days=1)}}, {}, MONDAY_10),
    "an opted-out usual nurse and a served zone": (
        {"zone": SAINT_CHAMOND, "usual": {"opted_out_at": MONDAY_10}},
        {},
        MONDAY_10,
    ),
    "a nurse without the care's skill": (
        {"zone": SAINT_CHAMOND, "skills": ["pansement"]},
        {"care_type": "perfusion"},
        MONDAY_10,
    ),
    "a nurse off at that time": ({"zone": SAINT_CHAMOND, "availability": "sat 08:00-12:00"}, {}, MONDAY_10),
    "a nurse within the radius": ({"zone": FIRMINY, "radius": "0,20"}, {}, MONDAY_10),
    "a nurse beyond the radius": ({"zone": FIRMINY, "radius": "0,1"}, {}, MONDAY_10),
    "no time left": ({"zone": SAINT_CHAMOND, "give_up_s": "1"}, {}, MONDAY_10),
    # Texting hours (07:30-20:30 every day, holidays too) decide whether "nobody" is known now.
    "nobody, at 21:00": ({}, {}, MONDAY_21),
    "nobody, at 06:00": ({}, {}, TUESDAY_06),
    "served zone, on a Sunday": ({"zone": SAINT_CHAMOND}, {}, SUNDAY_10),
    "nobody, on a Sunday": ({}, {}, SUNDAY_10),
    "nobody, on a public holiday": ({}, {}, CHRISTMAS_10),
    "served zone, starting in three days": (
        {"zone": SAINT_CHAMOND},
        {"start_at": MONDAY_10 + timedelta(days=3), "has_start_time": True},
        MONDAY_10,
    ),
    "a paused zone nurse": (
        {"zone": SAINT_CHAMOND, "nurse": {"paused_until": MONDAY_10 + timedelta(days=1)}},
        {},
        MONDAY_10,
    ),
    "an opted-out zone nurse": ({"zone": SAINT_CHAMOND, "nurse": {"opted_out_at": MONDAY_10}}, {}, MONDAY_10),
    "an absent zone nurse": ({"zone": SAINT_CHAMOND, "absent": True}, {}, MONDAY_10),
    "a weekday nurse, for a sunday": (
        {"zone": SAINT_CHAMOND, "availability": "mon-fri 08:00-18:00"},
        {"start_at": SUNDAY_10, "has_start_time": True},
        SUNDAY_10 - timedelta(hours=2),
    ),
    "a weekday nurse within the radius, for a monday": (
        {"zone": FIRMINY, "radius": "0,20", "availability": "mon-fri 08:00-18:00"},
        {"start_at": MONDAY_10 + timedelta(days=7), "has_start_time": True},
        MONDAY_10,
    ),
    "nobody, starting in three days": (
        {},
        {"start_at": MONDAY_10 + timedelta(days=3), "has_start_time": True},
        MONDAY_10,
    ),
}


@pytest.mark.parametrize("policy", ["adaptive", "fixed"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_intakes_decision_is_the_one_advance_takes(raw_session, database_url, tmp_path, policy, case):
    world, fields, now = CASES[case]
    env = {"DISPATCH_POLICY": policy, "DISPATCH_RADIUS_KM": world.get("radius", "0")}
    if "give_up_s" in world:
        env["DISPATCH_GIVE_UP_S"] = world["give_up_s"]
    settings = _settings(database_url, tmp_path, **env)
    if "zone" in world:
        zone_nurse = make_nurse(
            raw_session,
            "Zone",
            "06 20 00 00 00",
            [world["zone"]],
            skills=world.get("skills", ()),
            availability=world.get("availability", ""),
        )
        for key, value in world.get("nurse", {}).items():
            setattr(zone_nurse, key, value)
        if world.get("absent"):
            raw_session.add(NurseAbsence(nurse_id=zone_nurse.id, starts_on=now.date(), ends_on=now.date()))
    usual_phone = None
    if "usual" in world:
        usual = make_nurse(raw_session, "Usual", "06 21 00 00 01", [FIRMINY])  # her zones do not matter
        for key, value in world["usual"].items():
            setattr(usual, key, value)
        usual_phone = usual.phone
    new = _new(SAINT_CHAMOND, usual_nurse_phone=usual_phone, **fields)
    request, effects = create_request(raw_session, settings, new, now)
    ended_at_once = request.status == RequestStatus.UNFILLED
    if not ended_at_once:  # left to the wave job, due now: run it now, as the intake ran advance before
        assert effects == [RunWave(request.id, 0)] and _count(raw_session, Offer) == 0
        waves.run_wave(raw_session, settings, request.id, 0, now)
        assert request.status == RequestStatus.OPEN
    expected = {"nobody serves it", "a paused usual nurse", "a nurse without the care's skill"}
    expected |= {"a nurse off at that time", "a nurse beyond the radius", "no time left", "nobody, urgent at night"}
    expected |= {"nobody, on a Sunday", "nobody, on a public holiday", "nobody, starting in three days"}
    expected |= {
        "a paused zone nurse",
        "an opted-out zone nurse",
        "an absent zone nurse",
        "a weekday nurse, for a sunday",
    }
    assert ended_at_once == (case in expected)


# The existence query behind the intake's decision, against the ranking it stands for: for each
# world (one nurse, what keeps her out or lets her in) and each clock, ``anyone_to_ask`` must say
# what ``rank_candidates(limit=1)`` finds. ``expected``: the clocks at which she can be asked.
THREE_DAYS_AHEAD, FOR_SUNDAY = "for thursday 10:00", "for sunday 10:00"
SATURDAY_10 = datetime(2026, 11, 28, 10, 0, tzinfo=PARIS)
# When the request is made, and when the care starts (None: as soon as possible, 24 hours).
CLOCKS = {
    "monday 10:00": (MONDAY_10, None),
    "monday 21:00": (MONDAY_21, None),
    "tuesday 06:00": (TUESDAY_06, None),
    "sunday 10:00": (SUNDAY_10, None),
    "christmas 10:00": (CHRISTMAS_10, None),
    THREE_DAYS_AHEAD: (MONDAY_10, MONDAY_10 + timedelta(days=3)),
    FOR_SUNDAY: (SATURDAY_10, SUNDAY_10),
}
EVERY_CLOCK = set(CLOCKS)
WORLDS = {
    "a zone nurse": ({}, EVERY_CLOCK),
    "paused until tuesday": (
        {"paused_until": TUESDAY_06 - timedelta(hours=1)},
        EVERY_CLOCK - {"monday 10:00", "monday 21:00", THREE_DAYS_AHEAD},
    ),
    "opted out": ({"opted_out_at": MONDAY_10 - timedelta(days=30)}, set()),
    "deactivated": ({"deactivated_at": MONDAY_10 - timedelta(days=30)}, set()),
    "absent on monday": (
        {"absent": (MONDAY_10.date(), MONDAY_10.date())},
        EVERY_CLOCK - {"monday 10:00", "monday 21:00"},
    ),
    "absent on the thursday": (
        {"absent": (MONDAY_10.date() + timedelta(days=3),) * 2},
        EVERY_CLOCK - {THREE_DAYS_AHEAD},
    ),
    "without the care's skill": ({"skills": ["pansement"], "care_type": "perfusion"}, set()),
    "with the care's skill": ({"skills": ["perfusion"], "care_type": "perfusion"}, EVERY_CLOCK),
    # As soon as possible reaches 24 hours ahead: Monday's morning from Sunday 10:00 or Monday 21:00.
    "weekdays only": ({"availability": "mon-fri 08:00-18:00"}, EVERY_CLOCK - {FOR_SUNDAY}),
    "declined this request": ({"declined": True}, set()),
    "within the radius": ({"zone": FIRMINY, "radius": "0,10,20"}, EVERY_CLOCK),
    "within the radius, weekdays only": (
        {"zone": FIRMINY, "radius": "0,20", "availability": "mon-fri 08:00-18:00"},
        EVERY_CLOCK - {FOR_SUNDAY},
    ),
    "within the radius, mornings only": (
        {"zone": FIRMINY, "radius": "0,20", "availability": "mon-sun 07:00-09:00"},
        EVERY_CLOCK - {FOR_SUNDAY, THREE_DAYS_AHEAD},
    ),
    "within the radius, paused": (
        {"zone": FIRMINY, "radius": "0,20", "paused_until": CHRISTMAS_10 + timedelta(days=1)},
        set(),
    ),
    "beyond the radius": ({"zone": FIRMINY, "radius": "0,1"}, set()),
    "no radius": ({"zone": FIRMINY}, set()),
}


@pytest.mark.parametrize("world", list(WORLDS))
def test_anyone_to_ask_finds_whom_rank_candidates_would(raw_session, database_url, tmp_path, world):
    from dispatch import lifecycle
    from dispatch.lifecycle import OfferStatus
    from dispatch.matching.candidates import anyone_to_ask, rank_candidates
    from models import CareRequest

    traits, expected = WORLDS[world]
    settings = _settings(database_url, tmp_path, DISPATCH_RADIUS_KM=traits.get("radius", "0"))
    nurse = make_nurse(
        raw_session,
        "N",
        "06 20 00 00 00",
        [traits.get("zone", SAINT_CHAMOND)],
        skills=traits.get("skills", ()),
        availability=traits.get("availability", ""),
    )
    for key in ("paused_until", "opted_out_at", "deactivated_at"):
        setattr(nurse, key, traits.get(key))
    if "absent" in traits:
        raw_session.add(NurseAbsence(nurse_id=nurse.id, starts_on=traits["absent"][0], ends_on=traits["absent"][1]))
    found = set()
    for clock, (now, start_at) in CLOCKS.items():
        request = CareRequest(
            reference=f"7{len(found)}{list(CLOCKS).index(clock):04d}",
            channel="api",
            insee=SAINT_CHAMOND,
            postcode="42400",
            care_type=traits.get("care_type", "pansement"),
            start_at=start_at,
            has_start_time=start_at is not None,
            status=RequestStatus.OPEN,
            round=1,
            created_at=now,
        )
        raw_session.add(request)
        raw_session.flush()
        if traits.get("declined"):
            raw_session.add(
                Offer(
                    request_id=request.id,
                    nurse_id=nurse.id,
                    wave=1,
                    round=1,
                    status=OfferStatus.DECLINED,
                    created_at=now,
                )
            )
            request.round = 2  # a later round: she said no once, never again
        raw_session.flush()
        window = lifecycle.care_window(settings, request, now)
        ranked = rank_candidates(raw_session, request, now, window, limit=1, radius_steps=settings.radius_km)
        anyone = anyone_to_ask(raw_session, request, now, window, radius_steps=settings.radius_km)
        assert anyone == bool(ranked), clock
        if anyone:
            found.add(clock)
    assert found == expected

"""A request's clock over a real week (issue 12): evenings, nights, planned discharges, date-only
starts, withdrawals, relaunches, answering machines, texts at night, a starving policy.

Most tests drive the domain on a clock they turn (``tests/support/clockwork.py``): a request made on a
Monday evening is followed to Tuesday noon in milliseconds. Times are Paris times; the texting
hours are the default ``07:30-20:30``, the service hours ``mon-sat 09:00-19:30``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.config import load_settings
from dispatch.requests.actions import cancel_request, redispatch
from dispatch.requests.create import find_request
from models import CareRequest, Coordinator, NurseAbsence, Offer
from tests.support.clockwork import Clockwork
from tests.support.helpers import make_nurse

PARIS = ZoneInfo("Europe/Paris")
SAINT_CHAMOND, FIRMINY = "42207", "42095"
CALLBACK = "+33612000000"  # a mobile: news to the requester may go by text


def paris(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    """A Paris time of the week of Monday 23 November 2026."""
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def clock_settings(database_url, tmp_path, **env):
    base = {
        "SECRET_KEY": "x",
        "SIO_INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "TELEPHONY": "simulator",
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_AUTH_TOKEN": "",
        "DISPATCH_POLICY": "fixed",
        "DISPATCH_RADIUS_KM": "0",
        "DISPATCH_WAVE_SIZES": "2",
    }
    return load_settings({**base, **env})


@pytest.fixture
def week(database_url, tmp_path, raw_session):
    """A clock at Monday 23 November 2026, 10:00; ``week.nurses`` serve Saint-Chamond."""
    nurses = [make_nurse(raw_session, f"N{i}", f"06 20 00 00 {i:02d}", [SAINT_CHAMOND]) for i in range(6)]
    raw_session.add(Coordinator(email="c@sio.test", name="C", phone="+33765648236", password_hash="x", on_duty=True))
    raw_session.commit()
    clock = Clockwork(database_url, clock_settings(database_url, tmp_path), paris(23, 10))
    clock.nurses = [n.phone for n in nurses]
    clock.nurse_ids = [n.id for n in nurses]
    yield clock
    clock.close()


def offered_phones(week, reference: str) -> list[str]:
    return [t.to for t in week.sent if t.kind == "offer" and t.request_id == week.request(reference).id]


def unfilled_calls(week, reference: str) -> list:
    return [c for c in week.calls if c.body == "unfilled" and c.request_id == week.request(reference).id]


# --- 1. evening and night requests ------------------------------------------------------------


@pytest.mark.parametrize("made", [paris(23, 21, 0), paris(24, 2, 0), paris(24, 6, 0)])
def test_a_night_request_waits_for_the_morning_and_is_then_searched_in_full(week, made):
    week.now = made
    reference = week.create(insee=SAINT_CHAMOND)
    week.run_until(paris(24, 7, 29))
    assert week.request(reference).status == "open" and offered_phones(week, reference) == []
    week.run_until(paris(24, 7, 31))
    assert len(offered_phones(week, reference)) == 2  # the first wave, at 07:30
    # Nobody answers: the whole give-up span (2 h) is spent in texting time, from 07:30.
    week.run_until(paris(24, 9, 29))
    assert week.request(reference).status == "open" and len(offered_phones(week, reference)) == 6
    week.run_until(paris(24, 9, 31))
    assert week.request(reference).status == "unfilled"
    assert [c.at.astimezone(PARIS).hour for c in unfilled_calls(week, reference)] == [9]


def test_an_evening_request_keeps_the_rest_of_its_span_for_the_morning(week):
    week.now = paris(23, 19, 30)  # one hour of texting time left tonight
    reference = week.create(insee=SAINT_CHAMOND)
    week.run_until(paris(24, 8, 29))
    assert week.request(reference).status == "open"
    week.run_until(paris(24, 8, 31))  # 1 h in the evening + 1 h in the morning
    assert week.request(reference).status == "unfilled"


def test_an_urgent_request_is_searched_at_night(week):
    week.now = paris(23, 23, 0)
    reference = week.create(insee=SAINT_CHAMOND, urgent=True)
    assert len(offered_phones(week, reference)) == 2
    week.run_until(paris(24, 1, 1))
    assert week.request(reference).status == "unfilled"  # 2 h of plain time


# --- 2. planned discharges ----------------------------------------------------------------------


def test_a_planned_discharge_goes_to_the_zone_after_its_silent_usual_nurse(week, raw_session):
    usual = make_nurse(raw_session, "Usual", "06 21 00 00 01", [FIRMINY])
    raw_session.commit()
    start = paris(26, 10)  # Thursday 10:00, three days ahead
    reference = week.create(insee=SAINT_CHAMOND, care_type="sortie", start_at=start, has_start_time=True,
                            usual_nurse_phone=usual.phone)  # fmt: skip
    assert offered_phones(week, reference) == [usual.phone]  # she has it alone for 2 hours
    week.run_until(paris(23, 12, 1))
    assert week.request(reference).status == "open"
    assert len(offered_phones(week, reference)) == 1  # "sortie" needs the skill: nobody in the zone
    # A nurse with the skill registers: the next look (hourly for a planned request, while the
    # usual nurse may still answer) finds her.
    make_nurse(raw_session, "Skilled", "06 21 00 00 02", [SAINT_CHAMOND], skills=["sortie"])
    raw_session.commit()
    week.run_until(paris(23, 13, 1))
    assert "+33621000002" in offered_phones(week, reference)
    assert "est pour vous" in week.text("+33621000002", "OUI")
    assert week.request(reference).status == "accepted"


def test_a_planned_discharge_is_searched_until_two_service_hours_before_its_start(week):
    start = paris(26, 10)  # Thursday 10:00: service hours give 9:00-10:00 Thursday, 18:30-19:30 Wednesday
    reference = week.create(insee=SAINT_CHAMOND, start_at=start, has_start_time=True)
    week.run_until(paris(25, 18, 29))
    assert week.request(reference).status == "open"  # every nurse asked, all silent: still waiting
    assert len(offered_phones(week, reference)) == 6
    week.run_until(paris(25, 18, 31))
    assert week.request(reference).status == "unfilled"
    [alert] = [t for t in week.sent if t.kind == "alert"]
    assert alert.at == paris(25, 18, 30)  # coordinators have an hour of service left, and Thursday 9:00


def test_a_planned_start_on_monday_is_searched_through_the_weekend(week):
    week.now = paris(28, 11)  # a Saturday; the service is closed on Sunday
    reference = week.create(insee=SAINT_CHAMOND, start_at=paris(30, 8), has_start_time=True)
    week.run_until(paris(28, 17, 29))
    assert week.request(reference).status == "open"
    week.run_until(paris(28, 17, 31))  # two service hours before Saturday's closing
    assert week.request(reference).status == "unfilled"


# --- 3. date-only starts ------------------------------------------------------------------------


def test_a_date_only_start_matches_the_nurses_who_work_that_day(week, raw_session):
    weekdays = make_nurse(raw_session, "Weekdays", "06 22 00 00 01", [FIRMINY], availability="mon-fri 08:00-18:00")
    make_nurse(raw_session, "Weekends", "06 22 00 00 02", [FIRMINY], availability="sat-sun 08:00-18:00")
    raw_session.commit()
    tomorrow = paris(24, 0)  # a Tuesday, as "demain" or an API date are stored: local midnight, no time
    reference = week.create(insee=FIRMINY, start_at=tomorrow, has_start_time=False)
    assert offered_phones(week, reference) == [weekdays.phone]
    assert week.request(reference).status == "open"


def test_a_date_only_start_leaves_out_a_nurse_absent_that_day(week, raw_session):
    nurse = make_nurse(raw_session, "Away", "06 22 00 00 03", [FIRMINY])
    raw_session.add(NurseAbsence(nurse_id=nurse.id, starts_on=paris(25, 0).date(), ends_on=paris(25, 0).date()))
    raw_session.commit()
    reference = week.create(insee=FIRMINY, start_at=paris(25, 0), has_start_time=False)
    assert offered_phones(week, reference) == [] and week.request(reference).status == "unfilled"
    reference = week.create(insee=FIRMINY, start_at=paris(24, 0), has_start_time=False)
    assert offered_phones(week, reference) == [nurse.phone]


# --- 4. withdrawals ---------------------------------------------------------------------------


def test_a_withdrawal_late_in_the_day_reopens_a_fresh_search(week):
    reference = week.create(insee=SAINT_CHAMOND)
    first, second = offered_phones(week, reference)
    assert "vous refusez" in week.text(second, "NON")
    week.run_until(paris(23, 10, 11))
    third, fourth = offered_phones(week, reference)[2:4]
    assert "est pour vous" in week.text(third, "OUI")
    week.now = paris(23, 15)  # long after the give-up span of the first search
    assert "désistement noté" in week.text(third, "DESISTE")
    request = week.request(reference)
    assert request.status == "open" and request.accepted_nurse_id is None and request.round == 2
    again = offered_phones(week, reference)[4:]
    assert again and second not in again and third not in again  # never those who said no
    # A nurse who never answered the first round may take it with a bare yes.
    assert "est pour vous" in week.text(first, "OUI")
    assert week.request(reference).status == "accepted"


def test_a_bare_yes_after_the_reopening_counts_before_her_new_offer(week):
    reference = week.create(insee=SAINT_CHAMOND)
    first, second = offered_phones(week, reference)
    week.text(first, "OUI")
    week.text(first, "DESISTE")
    # ``second`` was told "pourvue"; the reopened search may not have texted her again yet.
    assert "est pour vous" in week.text(second, "OUI")


# --- 5. relaunch by a coordinator -------------------------------------------------------------


def test_a_relaunch_works_whatever_the_past_offers(week, raw_session):
    usual = make_nurse(raw_session, "Usual", "06 23 00 00 01", [SAINT_CHAMOND])
    raw_session.commit()
    reference = week.create(insee=SAINT_CHAMOND, usual_nurse_phone=usual.phone)
    week.run_until(paris(23, 13))
    assert week.request(reference).status == "unfilled"

    def relaunch(session, settings, now):
        return redispatch(session, settings, find_request(session, reference), now, actor="coordinatrice C")

    week.act(relaunch)
    request = week.request(reference)
    assert request.status == "open" and request.round == 2
    assert offered_phones(week, reference)[-1] == usual.phone  # the round's first wave: hers again


# --- 6. the adaptive policy explores ------------------------------------------------------------


def test_a_slow_but_willing_nurse_is_not_frozen_out(week, raw_session, database_url, tmp_path):
    """Nine nurses say yes in two minutes, one in 45; her last offer was 4 days ago."""
    slow = make_nurse(raw_session, "Slow", "06 24 00 00 09", [FIRMINY])
    fast = [make_nurse(raw_session, f"Fast{i}", f"06 24 00 00 0{i}", [FIRMINY]) for i in range(9)]
    past = paris(1, 10)
    for day in range(22):  # one request a day; everyone says yes, the fast ones first
        at = past + timedelta(days=day)
        request = CareRequest(reference=f"8{day:05d}", channel="api", insee=FIRMINY, postcode="42700",
                              care_type="pansement", status="confirmed", created_at=at, accepted_at=at)  # fmt: skip
        raw_session.add(request)
        raw_session.flush()
        for nurse in fast:
            raw_session.add(Offer(request_id=request.id, nurse_id=nurse.id, wave=1, status="taken",
                                  created_at=at, sent_at=at, answered_at=at + timedelta(minutes=2)))  # fmt: skip
        if day <= 18:  # her last offer: 19 November
            raw_session.add(Offer(request_id=request.id, nurse_id=slow.id, wave=1, status="taken", created_at=at,
                                  sent_at=at, answered_at=at + timedelta(minutes=45)))  # fmt: skip
    raw_session.commit()
    week.settings = clock_settings(database_url, tmp_path, DISPATCH_POLICY="adaptive")
    week.now = past + timedelta(days=22)  # Monday 23, 4 days after her last offer
    reference = week.create(insee=FIRMINY)
    week.run_until(week.now + timedelta(minutes=11))  # nobody answers: the next wave
    assert slow.phone in offered_phones(week, reference)


def test_a_nurse_too_little_known_is_explored(week, raw_session, database_url, tmp_path):
    """Nine nurses with a long, fast history; a tenth said no once, ten days ago: too little to
    judge her by, and her estimate alone would never pick her."""
    fast = [make_nurse(raw_session, f"Fast{i}", f"06 24 00 01 0{i}", [FIRMINY]) for i in range(9)]
    past = paris(1, 10)
    for day in range(22):
        at = past + timedelta(days=day)
        request = CareRequest(reference=f"7{day:05d}", channel="api", insee=FIRMINY, postcode="42700",
                              care_type="pansement", status="confirmed", created_at=at, accepted_at=at)  # fmt: skip
        raw_session.add(request)
        raw_session.flush()
        for nurse in fast:
            raw_session.add(Offer(request_id=request.id, nurse_id=nurse.id, wave=1, status="taken",
                                  created_at=at, sent_at=at, answered_at=at + timedelta(minutes=2)))  # fmt: skip
    newcomer = make_nurse(raw_session, "Newcomer", "06 24 00 01 19", [FIRMINY])
    once = past + timedelta(days=12)
    raw_session.add(Offer(request_id=request.id, nurse_id=newcomer.id, wave=2, status="declined", created_at=once,
                          sent_at=once, answered_at=once + timedelta(minutes=50)))  # fmt: skip
    raw_session.commit()
    week.settings = clock_settings(database_url, tmp_path, DISPATCH_POLICY="adaptive")
    week.now = past + timedelta(days=22)
    reference = week.create(insee=FIRMINY)
    week.run_until(week.now + timedelta(minutes=11))  # nobody answers: the next wave
    offered = offered_phones(week, reference)
    assert newcomer.phone in offered and len(offered) < 9  # one place, not the whole zone


# --- 8. texts at night ----------------------------------------------------------------------------


def test_notices_wait_for_the_morning_but_her_own_answer_does_not(week):
    week.now = paris(23, 20, 20)
    reference = week.create(insee=SAINT_CHAMOND, callback_phone=CALLBACK)
    first, second = offered_phones(week, reference)
    week.run_until(paris(23, 21, 15))
    assert "est pour vous" in week.text(first, "OUI")  # answered at once, at 21:15
    assert [t.at for t in week.texts_to(first, "reply")] == [paris(23, 21, 15)]
    week.run_until(paris(24, 7, 29))
    assert week.texts_to(second, "notice") == [] and week.calls == []
    week.run_until(paris(24, 7, 31))
    assert [t.at for t in week.texts_to(second, "notice")] == [paris(24, 7, 30)]  # "pourvue", in the morning
    assert [c.at for c in week.calls] == [paris(24, 7, 30)]  # the requester's call too


def test_a_cancellation_at_night_is_texted_in_the_morning(week):
    reference = week.create(insee=SAINT_CHAMOND)
    first, _ = offered_phones(week, reference)
    week.text(first, "OUI")
    week.now = paris(23, 22)

    def cancel(session, settings, now):
        return cancel_request(session, settings, find_request(session, reference), now, actor="demandeur")

    week.act(cancel)
    week.run_until(paris(24, 7, 29))
    assert [t for t in week.texts_to(first) if "annulée" in t.body] == []
    week.run_until(paris(24, 7, 30))
    assert [t.at for t in week.texts_to(first) if "annulée" in t.body] == [paris(24, 7, 30)]


def test_an_urgent_request_is_offered_at_night_and_its_notices_wait_for_the_morning(week):
    week.now = paris(23, 23)
    reference = week.create(insee=SAINT_CHAMOND, urgent=True, callback_phone=CALLBACK)
    first, second = offered_phones(week, reference)  # offers at 23:00: urgent
    assert "est pour vous" in week.text(first, "OUI")  # her answer at once
    assert [c.at for c in week.calls] == [paris(23, 23)]  # the requester hears it at once too
    week.run_until(paris(24, 7, 31))
    assert [t.at for t in week.texts_to(second, "notice")] == [paris(24, 7, 30)]  # "pourvue": the morning


# --- 9. smaller ---------------------------------------------------------------------------------


def test_the_usual_nurse_is_asked_once_back_from_her_pause(week, raw_session):
    usual = make_nurse(raw_session, "Usual", "06 25 00 00 01", [SAINT_CHAMOND])
    usual.paused_until = paris(30, 0)
    raw_session.commit()
    reference = week.create(insee=SAINT_CHAMOND, usual_nurse_phone=usual.phone)
    assert usual.phone not in offered_phones(week, reference)
    week.text(usual.phone, "DISPO")
    week.run_until(paris(23, 10, 11))
    assert usual.phone in offered_phones(week, reference)


def test_a_late_yes_on_a_cancelled_request_is_told_it_is_cancelled(week):
    reference = week.create(insee=SAINT_CHAMOND)
    first, _ = offered_phones(week, reference)

    def cancel(session, settings, now):
        return cancel_request(session, settings, find_request(session, reference), now, actor="demandeur")

    week.act(cancel)
    answer = week.text(first, f"OUI {reference}")
    assert "annulée" in answer and "pourvue" not in answer
    assert "annulée" in week.text(first, "OUI") and "pourvue" not in week.text(first, "OUI")


def test_a_reference_with_a_digit_missing_accepts_nothing(week):
    reference = week.create(insee=SAINT_CHAMOND)
    first, _ = offered_phones(week, reference)
    answer = week.text(first, f"oui {reference[:5]}")
    assert reference[:5] in answer and "est pour vous" not in answer
    assert week.request(reference).status == "open"


def test_nobody_is_called_with_bad_news_while_offers_may_still_be_answered(week):
    reference = week.create(insee=SAINT_CHAMOND)
    week.run_until(paris(23, 10, 40))  # three waves of two: every nurse asked, all silent
    assert len(offered_phones(week, reference)) == 6
    assert week.request(reference).status == "open" and unfilled_calls(week, reference) == []
    week.run_until(paris(23, 12, 1))
    assert week.request(reference).status == "unfilled" and len(unfilled_calls(week, reference)) == 1


def test_nobody_to_ask_and_nobody_to_answer_ends_the_search_at_once(week):
    reference = week.create(insee=FIRMINY)  # nobody serves Firminy
    assert week.request(reference).status == "unfilled"


# --- clock changes and holidays ---------------------------------------------------------------


def test_the_night_of_a_clock_change_counts_no_more_than_another(week):
    # Saturday 27 March 2027 21:00; clocks go forward that night. Texting resumes at 07:30 CEST.
    week.now = datetime(2027, 3, 27, 21, tzinfo=PARIS)
    reference = week.create(insee=SAINT_CHAMOND)
    week.run_until(datetime(2027, 3, 28, 9, 29, tzinfo=PARIS))
    assert week.request(reference).status == "open"
    assert min(t.at for t in week.sent if t.kind == "offer") == datetime(2027, 3, 28, 7, 30, tzinfo=PARIS)
    week.run_until(datetime(2027, 3, 28, 9, 31, tzinfo=PARIS))
    assert week.request(reference).status == "unfilled"


def test_a_holiday_is_not_a_service_day_for_the_coordinators_lead(week):
    # Friday 25 December 2026 is a public holiday: a start on Saturday 26 at 10:00 alerts
    # the coordinators two service hours before it: Thursday 24, 18:30 (then Saturday 9:00-10:00).
    week.now = paris(23, 10, month=12)
    reference = week.create(insee=SAINT_CHAMOND, start_at=paris(26, 10, month=12), has_start_time=True)
    week.run_until(paris(24, 18, 29, month=12))
    assert week.request(reference).status == "open"
    week.run_until(paris(24, 18, 31, month=12))
    assert week.request(reference).status == "unfilled"

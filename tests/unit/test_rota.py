"""The duty rota (dispatch.people.rota): who is on duty when, across weekends, public holidays and
the clock changes, and who hears of a request of which pole. Time is a parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.hours import WeeklyHours
from dispatch.people import rota
from dispatch.people.rota import DateChange, Shift
from dispatch.phones import normalize_phone
from models import Coordinator, Pole, RotaException, RotaShift

PARIS = ZoneInfo("Europe/Paris")
SERVICE = WeeklyHours.parse("mon-sat 09:00-19:30", closed_on_holidays=True)


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


def hours(spans) -> float:
    return sum((b - a).total_seconds() for a, b in spans) / 3600


def test_a_shift_is_cut_by_the_service_hours_closed_on_sundays_and_holidays():
    shifts = [Shift(1, d, 8 * 60, 21 * 60) for d in range(7)]
    saturday = rota.duty_spans(shifts, [], SERVICE, PARIS, date(2026, 12, 5))
    assert saturday == {1: [(paris(2026, 12, 5, 9, 0), paris(2026, 12, 5, 19, 30))]}
    assert rota.duty_spans(shifts, [], SERVICE, PARIS, date(2026, 12, 6)) == {}  # Sunday
    assert rota.duty_spans(shifts, [], SERVICE, PARIS, date(2026, 12, 25)) == {}  # Christmas, a Friday
    assert rota.duty_spans(shifts, [], SERVICE, PARIS, date(2026, 11, 11)) == {}  # 11 November, a Wednesday


def test_the_clock_changes_move_the_instants_not_the_local_hours():
    shifts = [Shift(1, 0, 9 * 60, 19 * 60 + 30)]
    before = rota.duty_spans(shifts, [], SERVICE, PARIS, date(2026, 3, 23))[1]
    after = rota.duty_spans(shifts, [], SERVICE, PARIS, date(2026, 3, 30))[1]
    assert before[0][0].hour == 8 and after[0][0].hour == 7  # 09:00 in Paris, winter then summer
    assert hours(before) == hours(after) == 10.5
    # A service open round the clock: the night of the change is 23 h in March, 25 h in October.
    always = WeeklyHours.parse("00:00-24:00")
    whole = [Shift(1, 6, 0, 1440)]
    assert hours(rota.duty_spans(whole, [], always, PARIS, date(2026, 3, 29))[1]) == 23
    assert hours(rota.duty_spans(whole, [], always, PARIS, date(2026, 10, 25))[1]) == 25


def test_a_date_takes_one_off_and_puts_another_on():
    shifts = [Shift(1, 1, 9 * 60, 19 * 60 + 30), Shift(2, 1, 14 * 60, 19 * 60 + 30)]
    tuesday = date(2026, 12, 8)
    changes = [
        DateChange(1, tuesday, False),  # a day of holiday
        DateChange(2, tuesday, True, 9 * 60, 14 * 60),  # she covers the morning too
        DateChange(3, tuesday, True),  # a swap, the whole day: the service hours cut it
        DateChange(1, tuesday + timedelta(days=7), False, 12 * 60, 14 * 60),  # a long lunch, next week
    ]
    assert rota.day_minutes(shifts, changes, tuesday) == {2: [(540, 1170)], 3: [(0, 1440)]}
    spans = rota.duty_spans(shifts, changes, SERVICE, PARIS, tuesday)
    assert set(spans) == {2, 3} and hours(spans[2]) == hours(spans[3]) == 10.5
    next_week = rota.day_minutes(shifts, changes, tuesday + timedelta(days=7))
    assert next_week[1] == [(540, 720), (840, 1170)]


@pytest.mark.parametrize(
    ("insee", "postcode", "expected"),
    [
        ("42207", None, {"42"}),
        (None, "42400", {"42"}),
        ("2A004", None, {"2A"}),
        (None, "20000", {"2A", "2B"}),
        ("97411", None, {"974"}),
        (None, "974", set()),
        (None, None, set()),
    ],
)
def test_departments_of_a_commune_or_postcode(insee, postcode, expected):
    assert rota.departments_of(insee, postcode) == expected


def test_reading_departments_and_times():
    assert rota.parse_departments("42, 43;69 1 2a") == ["42", "43", "69", "01", "2A"]
    with pytest.raises(ValueError, match="département"):
        rota.parse_departments("42 99")
    with pytest.raises(ValueError, match="au moins"):
        rota.parse_departments(" , ")
    assert rota.parse_minutes("9h") == 540 and rota.parse_minutes("19:30") == 1170
    assert rota.parse_minutes("24:00", end=True) == 1440
    for bad in ("24:00", "25:00", "9:75", "midi", ""):
        with pytest.raises(ValueError):
            rota.parse_minutes(bad)


@pytest.fixture
def region(session):
    """Two poles: Saint-Chamond (Loire, Rhône) and Clermont-Ferrand (Puy-de-Dôme). Anne takes the
    Loire Monday to Wednesday, Chloé Thursday to Saturday; Bruno takes Clermont all week; Denise,
    of no pole, has no shift."""
    loire = Pole(name="Saint-Chamond", departments="42 69")
    auvergne = Pole(name="Clermont-Ferrand", departments="63 03")
    session.add_all([loire, auvergne])
    session.flush()

    def coordinator(name, phone, pole, days):
        c = Coordinator(
            email=f"{name.lower()}@sio.test",
            name=name,
            phone=normalize_phone(phone).e164,
            password_hash="x",
            pole_id=pole.id if pole else None,
        )
        session.add(c)
        session.flush()
        session.add_all(RotaShift(coordinator_id=c.id, weekday=d, starts=9 * 60, ends=19 * 60 + 30) for d in days)
        return c

    people = {
        "anne": coordinator("Anne", "06 10 00 00 01", loire, [0, 1, 2]),
        "chloe": coordinator("Chloé", "06 10 00 00 02", loire, [3, 4, 5]),
        "bruno": coordinator("Bruno", "06 10 00 00 03", auvergne, range(6)),
        "denise": coordinator("Denise", "06 10 00 00 04", None, []),
    }
    session.commit()
    return people


def names(people) -> list[str]:
    return [c.name for c in people]


def test_requests_reach_the_pole_on_duty_at_that_time_of_the_week(session, settings, region):
    tuesday, friday = paris(2026, 12, 8, 10, 0), paris(2026, 12, 11, 18, 0)
    assert names(rota.recipients(session, settings, tuesday, insee="42207")) == ["Anne"]
    assert names(rota.recipients(session, settings, friday, postcode="69700")) == ["Chloé"]
    assert names(rota.recipients(session, settings, friday, postcode="63000")) == ["Bruno"]
    # No pole for Paris: everyone on duty rather than nobody.
    assert names(rota.recipients(session, settings, tuesday, postcode="75011")) == ["Anne", "Bruno"]
    # Sunday, and a weekday evening: nobody.
    assert rota.recipients(session, settings, paris(2026, 12, 13, 11, 0), insee="42207") == []
    assert rota.recipients(session, settings, paris(2026, 12, 8, 19, 30), insee="42207") == []


def test_holidays_and_swaps_change_who_is_called(session, settings, region):
    tuesday = date(2026, 12, 8)
    session.add_all(
        [
            RotaException(coordinator_id=region["anne"].id, on_date=tuesday, on_duty=False, note="congés"),
            RotaException(coordinator_id=region["chloe"].id, on_date=tuesday, on_duty=True, note="échange"),
        ]
    )
    session.commit()
    at = paris(2026, 12, 8, 10, 0)
    assert names(rota.recipients(session, settings, at, insee="42207")) == ["Chloé"]
    # A pole with nobody on duty: the others on duty hear of it.
    session.add(RotaException(coordinator_id=region["chloe"].id, on_date=tuesday, on_duty=False, starts=540, ends=720))
    session.commit()
    assert names(rota.recipients(session, settings, at, insee="42207")) == ["Bruno"]
    assert names(rota.recipients(session, settings, paris(2026, 12, 8, 12, 0), insee="42207")) == ["Chloé"]
    # Christmas Friday: the service is closed, the rota too.
    assert rota.recipients(session, settings, paris(2026, 12, 25, 10, 0), insee="42207") == []


def test_the_switch_overrides_the_rota_until_the_end_of_the_shift(session, settings, region):
    anne, denise = region["anne"], region["denise"]
    monday_10 = paris(2026, 12, 7, 10, 0)
    # Anne steps out at 10:00: off until the end of her shift, then the rota again.
    until = rota.switch_duty(session, settings, anne, False, monday_10, actor="Anne")
    assert until == paris(2026, 12, 7, 19, 30)
    assert "Anne" not in names(rota.on_duty_now(session, settings, monday_10))
    assert "Anne" in names(rota.on_duty_now(session, settings, paris(2026, 12, 8, 9, 0)))
    # Denise, of no pole and no shift, takes a Monday evening: until the service opens again.
    evening = paris(2026, 12, 7, 21, 0)
    assert rota.switch_duty(session, settings, denise, True, evening, actor="Denise") == paris(2026, 12, 8, 9, 0)
    assert names(rota.recipients(session, settings, evening, insee="42207")) == ["Denise"]
    # Saturday 12:00, she switches on in the service's hours: until the service closes.
    saturday = paris(2026, 12, 12, 12, 0)
    assert rota.switch_duty(session, settings, denise, True, saturday, actor="Denise") == paris(2026, 12, 12, 19, 30)
    assert names(rota.recipients(session, settings, saturday, insee="42207")) == ["Chloé", "Denise"]
    assert names(rota.recipients(session, settings, saturday, insee="63113")) == ["Bruno", "Denise"]
    # A standing "on duty" (the CLI's --on-duty) stays; a disabled coordinator never is.
    denise.on_duty, denise.on_duty_until = True, None
    assert "Denise" in names(rota.on_duty_now(session, settings, paris(2026, 12, 13, 3, 0)))
    denise.disabled_at = saturday
    assert rota.on_duty_now(session, settings, paris(2026, 12, 13, 3, 0)) == []
    assert rota.switch_duty(session, settings, denise, True, saturday, actor="Denise") is None


def test_now_and_next(session, settings, region):
    wednesday_evening = paris(2026, 12, 9, 20, 0)
    ahead = rota.duties(session, settings, wednesday_evening)
    following = rota.next_on_duty(ahead, wednesday_evening)
    assert {d.coordinator.name for d in following} == {"Chloé", "Bruno"}
    assert {d.start for d in following} == {paris(2026, 12, 10, 9, 0)}
    # Saturday afternoon: next is Monday 09:00 (Sunday closed).
    saturday = paris(2026, 12, 12, 15, 0)
    following = rota.next_on_duty(rota.duties(session, settings, saturday), saturday)
    assert {d.coordinator.name for d in following} == {"Anne", "Bruno"}
    assert following[0].start == paris(2026, 12, 14, 9, 0)

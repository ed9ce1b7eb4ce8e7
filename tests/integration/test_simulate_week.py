"""The week simulator's bookkeeping on a tiny region: Paris's 20 arrondissements, 60 nurses.

The targets are bench/README.md's (issue 12), not these tests'. Here: every text is counted once
(the engine's own count, the outbox rows, from the week's start on), the engine's yeses,
withdrawals and cancellations are the timeline's, the clock runs out, a text held for later
leaves at its time, and the figures of the table hold together.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bench import simulate, simulate_week
from bench.sim_engine import Simulation
from bench.sim_region import Place, make_nurses
from bench.sim_week import EVENING, PLANNED_DATE, PLANNED_TIMED, SAME_DAY, WEEK_KINDS, week_requests
from bench.sim_week_report import texting_seconds
from bench.sim_week_table import tables, verdicts, write
from dispatch.effects import SendMessage
from dispatch.hours import WeeklyHours
from dispatch.telephony.outbox import queue_sms
from models import Message

PARIS = ZoneInfo("Europe/Paris")
OPTIONS = simulate_week.WeekOptions(departments=("75",), nurses=60, requests=8, warmup_days=2, seed=3, jobs=1)


@pytest.fixture(scope="module")
def runs():
    return simulate_week.simulate_week(OPTIONS)


def test_every_text_is_counted_once_and_every_event_is_the_timelines(runs):
    assert [run.result.strategy for run in runs] == list(simulate_week.DEFAULT_STRATEGIES)
    for run in runs:
        books, counts = run.books, run.books.counts
        assert books.events_left == 0, run.result.strategy  # the clock ran out, nothing cut short
        assert books.texts_left_queued == 0
        assert counts.texts == books.texts_sent_rows > 0
        assert counts.replies == books.replies_sent_rows > 0
        assert counts.accepted == books.accepted_events > 0
        assert counts.withdrawals == books.withdrawn_events
        assert counts.cancellations == books.cancelled_events


def test_the_figures_hold_together(runs):
    for run in runs:
        r = run.result
        assert r.requests > 20
        assert 0 < r.cancelled < r.requests
        assert r.withdrawals <= run.books.withdrawn_events  # the week's requests among all
        assert r.planned_allowed_before_start <= min(r.planned_allowed, r.planned_before_start)
        assert r.planned_allowed <= r.planned
        assert r.unfilled_no_offer_available <= r.unfilled_no_offer <= r.unfilled
        assert r.texts_per_request * r.requests <= run.books.texts_sent_rows
        assert r.same_day_median_min is not None and r.median_first_yes_min is not None
        assert r.texts_outside_hours == _total(r.outside_hours_detail)
        assert r.unfilled_no_offer_available == _total(r.no_offer_detail)
        assert 0 < r.willing_nurses < OPTIONS.nurses
        assert r.longest_gap_days <= 2 + 7  # history and week
    by_name = {run.result.strategy: run.result for run in runs}
    assert by_name["broadcast"].same_day_texts_per_request > by_name["fixed 3,5,10"].same_day_texts_per_request


def test_the_table_the_verdicts_and_the_files(runs, tmp_path):
    results = [run.result for run in runs]
    printed = tables(results)
    for name in simulate_week.DEFAULT_STRATEGIES:
        assert f"| {name}" in printed
    lines = verdicts(results, "adaptive")
    assert len(lines) == 6 and all(line.startswith(("MET    adaptive", "MISSED adaptive")) for line in lines)
    write(results, tmp_path, "a tiny week")
    rows = list(csv.DictReader((tmp_path / "week.csv").open(encoding="utf-8")))
    assert [row["strategy"] for row in rows] == list(simulate_week.DEFAULT_STRATEGIES)
    assert (tmp_path / "week.svg").read_text(encoding="utf-8").startswith("<svg")


def test_the_same_seed_gives_the_same_week(runs):
    (again,) = simulate_week.simulate_week(replace(OPTIONS, strategies=("adaptive",)))
    first = next(run for run in runs if run.result.strategy == "adaptive")
    assert replace(again.result, runtime_s=0) == replace(first.result, runtime_s=0)


def test_delivery_through_the_outbox_gives_the_same_week(runs):
    (outbox,) = simulate_week.simulate_week(replace(OPTIONS, strategies=("fixed 3,5,10",), delivery="outbox"))
    direct = next(run for run in runs if run.result.strategy == "fixed 3,5,10")
    assert replace(outbox.result, runtime_s=0) == replace(direct.result, runtime_s=0)
    assert outbox.books == direct.books


def test_a_week_of_requests():
    nurses = make_nurses(_places(), 40, 1)
    monday = date(2024, 5, 6)
    days = {d: week_requests(_places(), nurses, d, monday + timedelta(days=d), 150, 1, PARIS) for d in range(7)}
    tuesday, wednesday_8_may = days[1], days[2]
    assert len(tuesday) == 150 and len(wednesday_8_may) < 80  # a public holiday: as a Sunday
    week = [r for day in days.values() for r in day]
    assert {r.kind for r in week} == set(WEEK_KINDS)
    for r in week:
        made = r.at.astimezone(PARIS)
        if r.kind == SAME_DAY:
            assert r.start_at is None and 8 <= made.hour < 19
        elif r.kind == EVENING:
            assert made.time() >= datetime.min.time().replace(hour=18, minute=30) or made.hour < 8
            assert not (r.urgent and r.start_at)
        elif r.kind == PLANNED_TIMED:
            assert r.has_start_time and timedelta(hours=24) <= r.start_at - r.at <= timedelta(hours=72)
        else:
            assert r.kind == PLANNED_DATE and not r.has_start_time
            assert r.start_at.astimezone(PARIS).time() == datetime.min.time()
    assert any(r.urgent for r in week) and any(r.withdraw_after_s for r in week) and any(r.cancel_after_s for r in week)


def test_texting_time():
    hours = WeeklyHours.parse("07:30-20:30")
    evening = datetime(2024, 5, 6, 20, 0, tzinfo=PARIS)
    assert texting_seconds(hours, evening, evening + timedelta(hours=12), PARIS) == 3600  # 20:00-20:30, 07:30-08:00
    assert texting_seconds(hours, evening, evening - timedelta(hours=1), PARIS) == 0
    assert texting_seconds(WeeklyHours.parse(""), evening, evening + timedelta(hours=12), PARIS) == 12 * 3600


@dataclass(frozen=True)
class _Later(SendMessage):
    """A SendMessage that carries a time not to send before (the engine reads ``at`` when present)."""

    at: datetime | None = None


def test_a_held_text_leaves_at_its_time(tmp_path: Path):
    path = tmp_path / "held.db"
    simulate.copy_database(simulate._migrated_template(), path)
    url = f"sqlite:///{path}"
    settings = simulate.strategy_settings("adaptive", url, tmp_path, simulate.Options())
    engine = Simulation(url, settings, [], direct_answers=True)
    now = datetime(2024, 5, 6, 22, 0, tzinfo=PARIS)
    morning, later = datetime(2024, 5, 7, 7, 30, tzinfo=PARIS), datetime(2024, 5, 7, 9, 0, tzinfo=PARIS)
    with engine.sessions() as session:
        with session.begin():
            by_row = queue_sms(session, "+33611111111", "pourvue", now)
            session.get(Message, by_row.message_id).send_after = morning
            by_effect = _Later(queue_sms(session, "+33622222222", "pourvue", now).message_id, at=later)
            at_once = queue_sms(session, "+33633333333", "details", now, kind="reply")
        engine._apply(session, [by_row, by_effect, at_once], now)
    assert engine.counts.texts == 1  # the direct answer, now
    assert engine.run_until() == 0
    with engine.sessions() as session:
        sent = dict(session.execute(select(Message.id, Message.sent_at)).all())
    engine.close()
    assert sent == {by_row.message_id: morning, by_effect.message_id: later, at_once.message_id: now}
    assert engine.counts.texts == 3


def test_bad_options_are_refused(capsys, tmp_path):
    tiny = ["--departments", "75", "--nurses", "5", "--requests", "2", "--warmup-days", "0", "--out", str(tmp_path)]
    assert simulate_week.main([*tiny, "--strategies", "fixed,nope"]) == 2
    assert "unknown strategy 'nope'" in capsys.readouterr().err
    assert simulate_week.main([*tiny, "--warmup-strategy", "fixed,adaptive"]) == 2
    assert "--warmup-strategy 'fixed,adaptive': one strategy" in capsys.readouterr().err
    assert simulate_week.main([*tiny, "--monday", "2024-05-07"]) == 2
    assert "2024-05-07 is not a Monday" in capsys.readouterr().err
    assert simulate_week.main([*tiny, "--set", "SECRET_KEY=x"]) == 2
    assert "only DISPATCH_* settings" in capsys.readouterr().err


def _total(detail: str) -> int:
    """The sum of a ``kind:count kind:count`` detail."""
    return sum(int(part.rpartition(":")[2]) for part in detail.split())


def _places() -> list[Place]:
    return [Place(f"750{n:02d}", 48.85 + n / 1000, 2.35 + n / 1000, 1.0 / n) for n in range(1, 21)]

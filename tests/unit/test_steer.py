"""A coordinator steers a request (issue 15) on a clock the test turns: who could take it (the
search's own order, the others greyed with why), an offer to one nurse now, a yes on the phone.

Paris times of the week of Monday 23 November 2026; texting hours 07:30-20:30.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from dispatch.lifecycle import care_window
from dispatch.matching.candidates import rank_candidates
from dispatch.requests.actions import assign_nurse
from dispatch.requests.create import find_request
from dispatch.requests.steer import RANKED, propose_now, who_could_take
from models import Event, Nurse, NurseAbsence, Offer
from tests.support.clockwork import Clockwork
from tests.support.helpers import make_nurse
from tests.unit.test_request_clock import SAINT_CHAMOND, clock_settings, paris

ACTOR = "coordinatrice C"
ST_ETIENNE = "42218"


@pytest.fixture
def region(database_url, tmp_path, raw_session):
    """Six nurses of Saint-Chamond (waves of 2, fixed policy) plus a few the search skips."""
    nurses = [make_nurse(raw_session, f"N{i}", f"06 20 00 00 {i:02d}", [SAINT_CHAMOND]) for i in range(6)]
    paused = make_nurse(raw_session, "Pauline en pause", "06 20 00 01 01", [SAINT_CHAMOND])
    paused.paused_until = paris(30, 8)
    absent = make_nurse(raw_session, "Amandine absente", "06 20 00 01 02", [SAINT_CHAMOND])
    raw_session.add(NurseAbsence(nurse_id=absent.id, starts_on=date(2026, 11, 20), ends_on=date(2026, 11, 27)))
    stopped = make_nurse(raw_session, "Odile sans SMS", "06 20 00 01 03", [SAINT_CHAMOND])
    stopped.opted_out_at = paris(1, 9)
    evenings = make_nurse(raw_session, "Eve du soir", "06 20 00 01 04", [SAINT_CHAMOND], availability="18:00-22:00")
    far = make_nurse(raw_session, "Fanny de Saint-Étienne", "06 20 00 01 05", [ST_ETIENNE])
    raw_session.commit()
    clock = Clockwork(database_url, clock_settings(database_url, tmp_path), paris(23, 10))
    clock.nurses = nurses
    clock.others = {"paused": paused, "absent": absent, "stopped": stopped, "evenings": evenings, "far": far}
    yield clock
    clock.close()


def rows_of(clock, reference):
    with clock.sessions() as session:
        request = find_request(session, reference)
        rows = who_could_take(session, clock.settings, request, clock.now)
        return {row.nurse.name: row for row in rows}, [row.nurse.name for row in rows]


def test_the_list_follows_the_search_and_greys_those_it_would_skip_with_why(region):
    reference = region.create(insee=SAINT_CHAMOND, start_at=paris(23, 14), has_start_time=True)
    rows, order = rows_of(region, reference)
    with region.sessions() as session:
        request = find_request(session, reference)
        window = care_window(region.settings, request, region.now)
        ranked = rank_candidates(session, request, region.now, window, limit=RANKED, radius_steps=(0,))
        expected = [session.get(Nurse, c.nurse_id).name for c in ranked]
    asked = [name for name, row in rows.items() if row.blocked == "asked"]
    assert len(asked) == 2  # the first wave of 2
    assert order[: len(expected)] == expected  # the search's next nurses, in its order
    assert order[len(expected) : len(expected) + 2] == sorted(asked)  # then those asked, awaiting
    assert all(rows[name].can_propose and rows[name].can_assign and rows[name].in_zone for name in expected)
    assert all(not rows[name].can_propose and rows[name].can_assign for name in asked)
    assert rows["Pauline en pause"].blocked == "paused" and rows["Pauline en pause"].until == paris(30, 8)
    assert rows["Amandine absente"].blocked == "absent" and rows["Amandine absente"].until == date(2026, 11, 27)
    assert rows["Odile sans SMS"].blocked == "opted_out" and not rows["Odile sans SMS"].can_assign
    assert rows["Eve du soir"].blocked == "hours" and not rows["Eve du soir"].works
    assert rows["Eve du soir"].can_propose  # the coordinator may know better than her hours
    assert "Fanny de Saint-Étienne" not in rows  # another commune, no radius: not a candidate
    assert not any(rows[n].can_propose for n in ("Pauline en pause", "Amandine absente", "Odile sans SMS"))
    assert order[-4:] == ["Eve du soir", "Pauline en pause", "Amandine absente", "Odile sans SMS"]


def test_figures_say_what_she_answered_lately(region):
    first = region.create(insee=SAINT_CHAMOND)
    [a, b] = [o.nurse_id for o in region.offers(first)]
    phones = {n.id: n.phone for n in region.nurses}
    region.now += timedelta(minutes=5)
    region.text(phones[b], f"NON {first}")
    region.now += timedelta(minutes=5)
    region.text(phones[a], f"OUI {first}")
    region.now += timedelta(hours=1)
    second = region.create(insee=SAINT_CHAMOND)
    rows, _ = rows_of(region, second)
    by_id = {row.nurse.id: row for row in rows.values()}
    assert by_id[a].accepted_30d == 1 and by_id[a].last_answer.status == "accepted"
    assert by_id[a].last_answer.at == paris(23, 10, 10)
    assert by_id[b].accepted_30d == 0 and by_id[b].last_answer.status == "declined"
    assert by_id[a].offers_recent >= 1 and by_id[b].offers_recent >= 1
    untouched = [row for row in rows.values() if row.nurse.name == "N5"][0]
    assert untouched.last_answer is None and untouched.accepted_30d == 0


def test_propose_now_texts_her_the_offer_in_the_current_round_and_her_yes_wins(region):
    reference = region.create(insee=SAINT_CHAMOND)
    wave_text = next(t.body for t in region.sent if t.kind == "offer")
    rows, order = rows_of(region, reference)
    chosen = rows[order[0]].nurse  # the search's next nurse, not asked yet
    region.now += timedelta(minutes=2)

    def propose(session, settings, now):
        request = find_request(session, reference)
        return propose_now(session, settings, request, session.get(Nurse, chosen.id), now, actor=ACTOR)

    proposal = region.act(propose)
    assert proposal.refused is None and proposal.at is None
    [text] = region.texts_to(chosen.phone, "offer")
    assert text.body == wave_text and text.at == paris(23, 10, 2)
    offer = [o for o in region.offers(reference) if o.nurse_id == chosen.id][0]
    assert offer.round == 1 and offer.status == "sent"
    again = region.act(propose)
    assert again.refused == "asked"  # one offer per nurse and round
    assert len(region.texts_to(chosen.phone, "offer")) == 1
    region.text(chosen.phone, f"OUI {reference}")
    request = region.request(reference)
    assert request.status == "accepted" and request.accepted_nurse_id == chosen.id
    with region.sessions() as session:
        [event] = session.scalars(
            select(Event).where(Event.request_id == request.id, Event.kind == "offer_proposed")
        ).all()
        assert event.actor == ACTOR and event.nurse_id == chosen.id


def test_propose_now_is_refused_when_she_cannot_be_offered_or_the_request_is_taken(region):
    reference = region.create(insee=SAINT_CHAMOND)
    others = region.others

    def propose_to(nurse):
        def action(session, settings, now):
            request = find_request(session, reference)
            return propose_now(session, settings, request, session.get(Nurse, nurse.id), now, actor=ACTOR)

        return region.act(action).refused

    assert propose_to(others["paused"]) == "paused"
    assert propose_to(others["absent"]) == "absent"
    assert propose_to(others["stopped"]) == "opted_out"
    [first, *_] = region.offers(reference)
    phone = next(n.phone for n in region.nurses if n.id == first.nurse_id)
    region.text(phone, f"OUI {reference}")
    assert propose_to(region.nurses[5]) == "closed"
    with region.sessions() as session:
        assert session.scalar(select(Offer).where(Offer.nurse_id == region.nurses[5].id)) is None


def test_an_offer_proposed_at_night_waits_for_texting_hours_unless_urgent(region):
    region.now = paris(23, 22)
    calm = region.create(insee=SAINT_CHAMOND)
    urgent = region.create(insee=SAINT_CHAMOND, urgent=True)
    nurse = region.nurses[5]

    def propose(reference):
        def action(session, settings, now):
            request = find_request(session, reference)
            return propose_now(session, settings, request, session.get(Nurse, nurse.id), now, actor=ACTOR)

        return action

    assert region.act(propose(calm)).at == paris(24, 7, 30)
    assert region.act(propose(urgent)).at is None
    assert [t.at for t in region.texts_to(nurse.phone, "offer")] == [paris(23, 22)]
    region.run_until(paris(24, 7, 31))
    assert [t.at for t in region.texts_to(nurse.phone, "offer")] == [paris(23, 22), paris(24, 7, 30)]


def test_a_yes_on_the_phone_is_an_acceptance_with_the_coordinators_note(region):
    reference = region.create(insee=SAINT_CHAMOND)
    nurse = region.others["paused"]  # paused for offers, yet she said yes on the phone

    def assign(session, settings, now):
        request = find_request(session, reference)
        return assign_nurse(
            session, settings, request, session.get(Nurse, nurse.id), now, actor=ACTOR, note="  à 14 h "
        )

    region.act(assign)
    request = region.request(reference)
    assert request.status == "accepted" and request.accepted_nurse_id == nurse.id
    with region.sessions() as session:
        [event] = session.scalars(select(Event).where(Event.request_id == request.id, Event.kind == "accepted"))
        assert event.actor == ACTOR and event.data["note"] == "à 14 h"
    assert region.texts_to(nurse.phone, "notice")  # she gets the details

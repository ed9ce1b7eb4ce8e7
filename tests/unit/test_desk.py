"""The coordinator's desk in the domain, on a clock the test turns (issue #15): the form read with
the API's rules (today, tomorrow, a date, a time or "dans la journée"), an edit texting the
nurses concerned once and within texting hours, the names found whatever their accents."""

from __future__ import annotations

import pytest

from dispatch.intake.desk_form import parse_desk_form, parse_edit_form
from dispatch.intake.lookup import find_commune, fold, nurse_phone
from dispatch.requests.actions import cancel_request
from dispatch.requests.create import find_request
from dispatch.requests.edit import edit_request
from models import Coordinator
from tests.support.clockwork import Clockwork
from tests.support.helpers import make_nurse
from tests.unit.test_request_clock import SAINT_CHAMOND, clock_settings, offered_phones, paris


@pytest.fixture
def week(database_url, tmp_path, raw_session):
    """A clock at Monday 23 November 2026, 10:00; ``week.nurses`` serve Saint-Chamond."""
    nurses = [make_nurse(raw_session, f"N{i}", f"06 20 00 00 {i:02d}", [SAINT_CHAMOND]) for i in range(6)]
    raw_session.add(Coordinator(email="c@sio.test", name="C", phone="+33765648236", password_hash="x", on_duty=True))
    raw_session.commit()
    clock = Clockwork(database_url, clock_settings(database_url, tmp_path), paris(23, 10))
    clock.nurses = [n.phone for n in nurses]
    yield clock
    clock.close()


FORM = {"place": "42400", "care_type": "pansement", "callback_phone": "04 77 00 00 01", "day": "today"}


def test_names_fold_accents_case_and_saint():
    assert fold("Saint-Étienne") == fold("st etienne") == fold("SAINT ETIENNE") == "saint etienne"
    assert fold("L'Horme") == "l horme"


def parsed(week, **form):
    with week.sessions() as session:
        desk, errors = parse_desk_form(session, week.settings, {**FORM, **form}, week.now)
        return desk.new if desk else None, errors


def test_the_days_and_times_of_the_form_are_the_apis_starts(week):
    week.now = paris(23, 10)  # Monday
    new, errors = parsed(week, day="tomorrow", time="9h30")
    assert errors == {} and new.start_at == paris(24, 9, 30) and new.has_start_time
    new, _ = parsed(week, day="today", time="")  # dans la journée
    assert new.start_at == paris(23, 0) and not new.has_start_time
    new, _ = parsed(week, day="date", date="2026-11-27", time="14")
    assert new.start_at == paris(27, 14) and new.has_start_time and new.channel == "coordinator"
    assert parsed(week, day="date", date="2026-11-20")[1] == {"day": "date dans le passé"}
    assert parsed(week, day="date", date="")[1] == {"date": "date obligatoire pour « une autre date »"}
    assert "time" in parsed(week, time="24h")[1] and "time" in parsed(week, time="midi")[1]
    assert parsed(week, day="yesterday")[1] == {"day": "choisissez aujourd'hui, demain ou une date"}


def test_the_form_finds_the_commune_the_nurse_and_the_requester(week):
    with week.sessions() as session:
        assert find_commune(session, "42400 Saint-Chamond") == ("42400", SAINT_CHAMOND, None)
        assert find_commune(session, "saint chamond")[1] == SAINT_CHAMOND
        assert find_commune(session, "")[2] == "commune ou code postal obligatoire"
        assert nurse_phone(session, "n3") == (week.nurses[3], None)
        assert nurse_phone(session, "N3 · 06 20 00 00 03") == (week.nurses[3], None)
        assert nurse_phone(session, "06 99 88 77 66") == ("+33699887766", None)
        assert nurse_phone(session, "Inconnue")[1].startswith("infirmière inconnue")
    new, errors = parsed(week, usual_nurse="06 12", requester="Dr Girard")
    assert new is None and errors == {"usual_nurse": errors["usual_nurse"]} and "numéro" in errors["usual_nurse"]


def edit(week, reference: str, **form):
    def change(session, settings, now):
        request = find_request(session, reference)
        changes, errors = parse_edit_form(session, settings, {**FORM, "day": "keep", **form}, request, now)
        assert errors == {}
        return edit_request(session, settings, request, changes, now, actor="coordinatrice C")

    return week.act(change)


def changed_texts(week, phone: str):
    return [t for t in week.texts_to(phone) if "modifiée" in t.body]


def test_an_edit_at_night_is_texted_in_the_morning_once_to_each_nurse_concerned(week):
    week.now = paris(23, 19)
    reference = week.create(insee=SAINT_CHAMOND)
    first, second = offered_phones(week, reference)
    week.text(first, "NON")  # she declined: nothing more to tell her
    week.now = paris(23, 22)
    edit(week, reference, care_type="injection", day="tomorrow", time="8h")
    week.run_until(paris(24, 7, 29))
    assert changed_texts(week, second) == []
    week.run_until(paris(24, 7, 31))
    [text] = changed_texts(week, second)
    assert text.at == paris(24, 7, 30) and f"demande {reference}" in text.body and "8h" in text.body
    assert changed_texts(week, first) == [] and all(changed_texts(week, p) == [] for p in week.nurses[2:])


def test_the_accepted_nurse_is_told_and_notes_alone_text_nobody(week):
    reference = week.create(insee=SAINT_CHAMOND)
    first, second = offered_phones(week, reference)
    week.text(first, "OUI")
    assert edit(week, reference, notes="2e étage, digicode 1234") == []  # no text for the notes
    assert changed_texts(week, first) == []
    effects = edit(week, reference, notes="2e étage, digicode 1234", day="tomorrow", time="")
    assert len(effects) == 1  # one text: the accepted nurse's
    [text] = changed_texts(week, first)
    assert "digicode" not in text.body and "demain" in text.body
    assert changed_texts(week, second) == []  # her offer was closed by the yes
    assert week.request(reference).notes == "2e étage, digicode 1234"


def test_a_closed_request_is_not_edited(week):
    reference = week.create(insee=SAINT_CHAMOND)
    week.act(lambda s, st, now: cancel_request(s, st, find_request(s, reference), now, actor="x"))
    assert edit(week, reference, care_type="injection") is None

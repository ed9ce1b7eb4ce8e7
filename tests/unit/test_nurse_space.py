"""A nurse's own space and registration (issue 16 points 1 and 2), on a clock the test turns:
PROFIL and INSCRIPTION by text, one-use links, every change read by matching at once, bad input
refused in French with nothing changed, erasure."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from dispatch.messaging.erasure import erase_nurse, erased_phone
from dispatch.messaging.grammar import parse_nurse_reply
from dispatch.people import registration as reg
from dispatch.people import space
from dispatch.people.my_data import export_csv
from dispatch.people.space_access import LinkProblem, check_link, open_space, session_nurse
from dispatch.people.week_form import WeekError, form_from_text, text_from_form
from dispatch.people.zone_search import ZoneError, resolve, suggest
from models import Message, Nurse, NurseChange, NurseRegistration, Offer
from tests.support.clockwork import Clockwork
from tests.support.helpers import make_nurse
from tests.unit.test_request_clock import PARIS, SAINT_CHAMOND, clock_settings, paris

LORETTE, FIRMINY = "42123", "42095"
SOPHIE = "+33604332181"
NEWCOMER = "+33611223344"
VALID_RPPS = "10123456781"


@pytest.fixture
def clock(database_url, tmp_path, raw_session):
    """Monday 23 November 2026, 10:00 (Paris); Sophie serves Saint-Chamond, a coordinator is on duty."""
    from models import Coordinator

    make_nurse(raw_session, "Sophie Martin", SOPHIE, [SAINT_CHAMOND])
    raw_session.add(Coordinator(email="c@sio.test", name="C", phone="+33765648236", password_hash="x", on_duty=True))
    raw_session.commit()
    clock = Clockwork(database_url, clock_settings(database_url, tmp_path), paris(23, 10))
    yield clock
    clock.close()


def link_in(text: str) -> str:
    return text.split("http://", 1)[1].split()[0].split("/", 1)[1].rsplit("/", 1)[1]


def sophie(session) -> Nurse:
    return session.scalar(select(Nurse).where(Nurse.phone == SOPHIE))


def offered_to(clock, reference: str, phone: str) -> bool:
    with clock.sessions() as session:
        nurse_id = session.scalar(select(Nurse.id).where(Nurse.phone == phone))
    return any(o.nurse_id == nurse_id for o in clock.offers(reference))


def change(clock, action) -> None:
    """``action(session, nurse, now)`` on Sophie's record, as her space does, in one transaction."""
    with clock.sessions() as session, session.begin():
        action(session, sophie(session), clock.now)


# --- grammar ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,kind",
    [
        ("PROFIL", "profile"),
        ("compte", "profile"),
        ("Bonjour Profil", "profile"),
        ("INSCRIPTION", "register"),
        ("inscription !", "register"),
        ("mon profil", "unknown"),
    ],
)
def test_space_words(body, kind):
    assert parse_nurse_reply(body).kind == kind


# --- PROFIL and the link --------------------------------------------------------------------------


def test_profil_texts_a_link_that_opens_her_space_once(clock):
    answer = clock.text(SOPHIE, "PROFIL")
    assert "/moi/lien/" in answer and "24h" in answer
    token = link_in(answer)
    with clock.sessions() as session, session.begin():
        nurse, cookie = open_space(session, clock.settings, token, clock.now)
        assert nurse.phone == SOPHIE
    with clock.sessions() as session:
        assert session_nurse(session, cookie, clock.now).phone == SOPHIE
        with pytest.raises(LinkProblem) as used:
            check_link(session, clock.settings, token, "profile", clock.now)
        assert used.value.code == "used" and "déjà servi" in str(used.value)
        assert session_nurse(session, cookie, clock.now + timedelta(hours=13)) is None  # the session ends too


def test_an_expired_or_forged_link_opens_nothing(clock):
    token = link_in(clock.text(SOPHIE, "COMPTE"))
    with clock.sessions() as session:
        with pytest.raises(LinkProblem) as expired:
            check_link(session, clock.settings, token, "profile", clock.now + timedelta(hours=24, seconds=1))
        assert expired.value.code == "expired" and "expiré" in str(expired.value)
        with pytest.raises(LinkProblem) as forged:
            check_link(session, clock.settings, token[:-2] + "xx", "profile", clock.now)
        assert forged.value.code == "invalid"
        with pytest.raises(LinkProblem):  # a profile link is no registration link
            check_link(session, clock.settings, token, "register", clock.now)


def test_profil_from_an_unknown_number_and_other_texts_keep_todays_help(clock):
    assert "INSCRIPTION" in clock.text("+33699887766", "PROFIL")
    assert "non compris" in clock.text(SOPHIE, "bonjour, une question")
    assert "déjà inscrite" in clock.text(SOPHIE, "INSCRIPTION")


# --- changes apply to matching at once --------------------------------------------------------------


def test_a_commune_added_by_name_brings_her_offers_at_once(clock):
    reference = clock.create(insee=LORETTE, postcode="42420")
    assert not offered_to(clock, reference, SOPHIE)
    change(clock, lambda s, n, now: space.add_zones(s, n, "lorette", now, actor="infirmière Sophie Martin"))
    assert offered_to(clock, clock.create(insee=LORETTE, postcode="42420"), SOPHIE)
    change(clock, lambda s, n, now: space.remove_zone(s, n, LORETTE, now, actor="x"))
    assert not offered_to(clock, clock.create(insee=LORETTE, postcode="42420"), SOPHIE)


def test_an_absence_or_a_pause_stops_her_offers_and_their_end_brings_them_back(clock):
    today = clock.now.astimezone(PARIS).date()
    change(clock, lambda s, n, now: space.add_absence(s, n, today, today + timedelta(days=2), today, now, actor="x"))
    assert not offered_to(clock, clock.create(insee=SAINT_CHAMOND, postcode="42400"), SOPHIE)
    with clock.sessions() as session, session.begin():
        nurse = sophie(session)
        space.remove_absence(session, nurse, nurse.absences[0].id, clock.now, actor="x")
    assert offered_to(clock, clock.create(insee=SAINT_CHAMOND, postcode="42400"), SOPHIE)
    change(clock, lambda s, n, now: space.pause(s, n, now, actor="x"))
    assert not offered_to(clock, clock.create(insee=SAINT_CHAMOND, postcode="42400"), SOPHIE)
    change(clock, lambda s, n, now: space.resume(s, n, now, actor="x"))
    assert offered_to(clock, clock.create(insee=SAINT_CHAMOND, postcode="42400"), SOPHIE)


def test_her_hours_decide_at_once(clock):
    evenings = text_from_form(False, [[("18:00", "21:00")]] * 7)
    change(clock, lambda s, n, now: space.set_hours(s, n, evenings, now, actor="x"))
    at_ten = clock.create(insee=SAINT_CHAMOND, postcode="42400", start_at=paris(23, 10, 30), has_start_time=True)
    assert not offered_to(clock, at_ten, SOPHIE)
    at_seven = clock.create(insee=SAINT_CHAMOND, postcode="42400", start_at=paris(23, 19), has_start_time=True)
    assert offered_to(clock, at_seven, SOPHIE)


def test_every_change_is_in_the_audit_trail(clock):
    today = clock.now.astimezone(PARIS).date()
    change(clock, lambda s, n, now: space.add_zones(s, n, "42700", now, actor="infirmière Sophie Martin"))
    change(clock, lambda s, n, now: space.set_skills(s, n, ["perfusion"], now, actor="infirmière Sophie Martin"))
    change(clock, lambda s, n, now: space.add_absence(s, n, today, today, today, now, actor="infirmière Sophie Martin"))
    with clock.sessions() as session:
        actions = session.scalars(select(NurseChange.action).order_by(NurseChange.id)).all()
        assert actions == ["zone_added", "skills_set", "absence_added"]
        assert (
            session.scalar(select(NurseChange.detail).where(NurseChange.action == "zone_added"))["commune"] == "Firminy"
        )


# --- bad input: a French message, nothing changed --------------------------------------------------


def test_bad_input_is_refused_in_french(clock):
    today = date(2026, 11, 23)
    with clock.sessions() as session:
        nurse = sophie(session)
        with pytest.raises(ZoneError, match="Commune inconnue"):
            space.add_zones(session, nurse, "Trifouilly-les-Oies", clock.now, actor="x")
        with pytest.raises(ZoneError, match="Code postal inconnu"):
            space.add_zones(session, nurse, "00000", clock.now, actor="x")
        with pytest.raises(ZoneError, match="Plusieurs communes"):
            space.add_zones(session, nurse, "Saint-Martin", clock.now, actor="x")
        with pytest.raises(space.SpaceError, match="déjà dans vos communes"):
            space.add_zones(session, nurse, "Saint-Chamond", clock.now, actor="x")
        with pytest.raises(space.SpaceError, match="le même jour que le début, ou après"):
            space.add_absence(session, nurse, today + timedelta(days=3), today, today, clock.now, actor="x")
        space.add_absence(
            session, nurse, today + timedelta(days=1), today + timedelta(days=5), today, clock.now, actor="x"
        )
        with pytest.raises(space.SpaceError, match="chevauche votre absence du 24/11/2026 au 28/11/2026"):
            space.add_absence(
                session, nurse, today + timedelta(days=5), today + timedelta(days=9), today, clock.now, actor="x"
            )
        session.rollback()
    with pytest.raises(WeekError) as bad_hours:
        text_from_form(False, [[("12:00", "08:00")]] + [[]] * 6)
    assert bad_hours.value.errors == {0: "Lundi : la fin (08:00) doit venir après le début (12:00)."}
    with clock.sessions() as session:
        assert sophie(session).zone_codes == [SAINT_CHAMOND] and sophie(session).absences == []
        assert session.scalar(select(func.count()).select_from(NurseChange)) == 0


def test_communes_are_found_as_people_type_them(clock):
    with clock.sessions() as session:
        assert "Saint-Chamond (42400)" in [e.label for e in suggest(session, "saint cham")]
        assert [p.name for p in resolve(session, "Saint-Chamond (42400)")] == ["Saint-Chamond"]
        assert [p.name for p in resolve(session, "st etienne")] == ["Saint-Étienne"]
        assert [e.name for e in suggest(session, "4242")] == ["Lorette"]


def test_the_week_form_reads_back_what_it_wrote():
    days = [[("07:00", "12:00"), ("16:00", "20:00")]] * 5 + [[("08:00", "12:00")], []]
    text = text_from_form(False, days)
    assert text == "mon-fri 07:00-12:00; mon-fri 16:00-20:00; sat 08:00-12:00"
    assert form_from_text(text).days == days
    assert text_from_form(True, days) == ""
    assert text_from_form(False, [[("20:00", "00:00")]] + [[]] * 6) == "mon 20:00-24:00"


# --- registration ----------------------------------------------------------------------------------


def test_rpps_check_digit():
    assert reg.rpps_problem(VALID_RPPS) is None
    assert reg.rpps_problem("101 234 567 81") is None
    assert "clé" in reg.rpps_problem("10123456782")
    assert "11 chiffres" in reg.rpps_problem("1012345678")


def registration_form(**fields) -> reg.RegistrationInput:
    values = {"name": "Claire Dubois", "rpps": VALID_RPPS, "zones": "Lorette\n42700", "skills": ["perfusion"]}
    return reg.RegistrationInput(**{**values, **fields}, availability="mon-fri 07:00-19:00")


def test_inscription_to_validation_to_a_first_offer(clock):
    answer = clock.text(NEWCOMER, "INSCRIPTION")
    assert "/inscription/" in answer
    token = link_in(answer)
    with clock.sessions() as session:
        with pytest.raises(reg.RegistrationError) as bad:
            reg.submit(
                session, clock.settings, token, registration_form(rpps="10123456782", zones="Nulle-Part"), clock.now
            )
        assert set(bad.value.errors) == {"rpps", "zones"}
        session.rollback()
        check_link(session, clock.settings, token, "register", clock.now)  # a refused form leaves the link usable
    with clock.sessions() as session, session.begin():
        reg.submit(session, clock.settings, token, registration_form(), clock.now)
    assert "attend la validation" in clock.text(NEWCOMER, "INSCRIPTION")
    pending = clock.create(insee=LORETTE, postcode="42420", care_type="perfusion")
    assert not offered_to(clock, pending, NEWCOMER)  # not a nurse yet: no offer
    with clock.sessions() as session, pytest.raises(LinkProblem):
        reg.submit(session, clock.settings, token, registration_form(rpps="10000000009"), clock.now)

    def validate(session, settings, now):
        registration = session.scalar(select(NurseRegistration))
        return reg.validate(session, settings, registration, now, actor="coordinatrice C")

    clock.act(validate)
    assert [t.body for t in clock.texts_to(NEWCOMER)][-1].startswith("SIO: votre inscription est validée")
    first = clock.create(insee=LORETTE, postcode="42420", care_type="perfusion")
    assert offered_to(clock, first, NEWCOMER)
    with clock.sessions() as session:
        nurse = session.scalar(select(Nurse).where(Nurse.phone == NEWCOMER))
        assert nurse.name == "Claire Dubois" and nurse.skill_names == ["perfusion"]
        assert sorted(nurse.zone_codes) == [FIRMINY, LORETTE]


def test_a_refused_registration_is_texted_and_never_a_nurse(clock):
    token = link_in(clock.text(NEWCOMER, "inscription"))
    with clock.sessions() as session, session.begin():
        reg.submit(session, clock.settings, token, registration_form(), clock.now)
    clock.act(
        lambda session, settings, now: reg.refuse(
            session, settings, session.scalar(select(NurseRegistration)), now, actor="C", reason="hors région"
        )
    )
    assert "n'a pas été validée" in clock.texts_to(NEWCOMER)[-1].body
    with clock.sessions() as session:
        assert session.scalar(select(Nurse).where(Nurse.phone == NEWCOMER)) is None


def test_inscription_from_a_landline_is_refused(clock):
    assert "mobile" in clock.text("+33477000099", "INSCRIPTION")


# --- her data ---------------------------------------------------------------------------------------


def test_her_data_as_csv_then_erased_with_statistics_kept(clock):
    reference = clock.create(insee=SAINT_CHAMOND, postcode="42400")
    clock.text(SOPHIE, "NON")
    with clock.sessions() as session:
        nurse = sophie(session)
        csv_text = export_csv(session, nurse, clock.now, PARIS, clock.now.date())
        assert f"{reference} : NON" in csv_text and "Saint-Chamond" in csv_text and "+33604332181" in csv_text
        nurse_id = nurse.id
    clock.act(lambda session, settings, now: erase_nurse(session, settings, sophie(session), now))
    with clock.sessions() as session:
        nurse = session.get(Nurse, nurse_id)
        assert nurse.phone == erased_phone(nurse_id) and nurse.name == "Infirmière effacée"
        assert nurse.zones == [] and nurse.opted_out_at is not None
        assert session.scalar(select(func.count()).select_from(Offer).where(Offer.nurse_id == nurse_id)) == 1
        assert session.scalar(select(func.count()).select_from(Message).where(Message.to_phone == SOPHIE)) == 0
        assert session.scalar(select(func.count()).select_from(Message).where(Message.from_phone == SOPHIE)) == 0
    alert = clock.texts_to("+33765648236", "alert")[-1].body
    assert "Sophie Martin a demandé l'effacement" in alert
    assert "INSCRIPTION" in clock.text(SOPHIE, "PROFIL")  # her number is no nurse's any more

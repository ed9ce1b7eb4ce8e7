"""The rota decides who hears of a request (issue #16 §4): a call transferred by the phone menu
rings the on-duty coordinator of the patient's pole, and the alert of the request it leaves goes
to her too, at two times of the week, through the signed webhooks. The webhooks' clock is set."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import webhooks.voice
from dispatch.matching.waves import mark_unfilled
from dispatch.phones import normalize_phone
from models import Coordinator, Message, Pole, RotaException, RotaShift
from tests.integration.test_ivr import Caller, action_of, spoken
from tests.support.helpers import make_request_row, make_requester

PARIS = ZoneInfo("Europe/Paris")
ANNE, CHLOE, BRUNO = "+33610000001", "+33610000002", "+33610000003"


@pytest.fixture
def poles(session):
    """Saint-Chamond (Loire, Rhône): Anne Monday-Wednesday, Chloé Thursday-Saturday;
    Clermont-Ferrand (Puy-de-Dôme): Bruno all week; 09:00-19:30."""
    loire = Pole(name="Saint-Chamond", departments="42 69")
    auvergne = Pole(name="Clermont-Ferrand", departments="63")
    session.add_all([loire, auvergne])
    session.flush()
    for name, phone, pole, days in (
        ("Anne", ANNE, loire, (0, 1, 2)),
        ("Chloé", CHLOE, loire, (3, 4, 5)),
        ("Bruno", BRUNO, auvergne, range(6)),
    ):
        c = Coordinator(email=f"{phone}@sio.test", name=name, phone=normalize_phone(phone).e164, password_hash="x")
        c.pole_id = pole.id
        session.add(c)
        session.flush()
        session.add_all(RotaShift(coordinator_id=c.id, weekday=d, starts=540, ends=1170) for d in days)
    make_requester(session)  # the Ehpad of Saint-Chamond (42400), calling from 04 77 00 00 01
    session.commit()


def at(monkeypatch, *when) -> datetime:
    now = datetime(*when, tzinfo=PARIS)
    monkeypatch.setattr(webhooks.voice, "utcnow", lambda: now)
    return now


def transferred(client, postcode: str | None) -> list[str]:
    """Call, give the postcode (or not), miss twice: the numbers the Dial rings."""
    call = Caller(client)
    call.dial_in()
    if postcode:
        call.press("1")
        call.press(postcode)
        call.press("8")  # not a care digit
    else:
        call.press("7")  # not a menu digit
    root = call.press("")
    [dial] = root.findall("Dial")
    numbers = [n.text for n in dial.findall("Number")]
    root = call.dial_ends("no-answer")
    assert action_of(root, "Record") == "/webhooks/voice/ivr/voicemail"
    call.record()  # a voicemail: the request is left for review, the on-duty coordinators alerted
    return numbers


def alerts(session) -> list[str]:
    session.rollback()
    phones = session.scalars(select(Message.to_phone).where(Message.kind == "alert").order_by(Message.id))
    found = list(phones)
    session.query(Message).filter(Message.kind == "alert").delete()
    session.commit()
    return found


def test_transfers_and_alerts_follow_the_rota_and_the_pole(client, session, settings, monkeypatch, poles):
    at(monkeypatch, 2026, 12, 8, 10, 0)  # a Tuesday morning: Anne for the Loire
    assert transferred(client, "42400") == [ANNE]
    assert alerts(session) == [ANNE]
    assert transferred(client, "63000") == [BRUNO]
    assert alerts(session) == [BRUNO]

    at(monkeypatch, 2026, 12, 11, 15, 30)  # a Friday afternoon: Chloé for the Loire
    assert transferred(client, "42400") == [CHLOE]
    assert alerts(session) == [CHLOE]
    # Before the postcode is said, the calling Ehpad's postcode (42400) decides.
    assert transferred(client, None) == [CHLOE]
    assert alerts(session) == [CHLOE]

    # Chloé takes that Friday off and Anne swaps in: the rota's exception decides.
    chloe = session.scalar(select(Coordinator).where(Coordinator.name == "Chloé"))
    anne = session.scalar(select(Coordinator).where(Coordinator.name == "Anne"))
    day = datetime(2026, 12, 11).date()
    session.add_all(
        [
            RotaException(coordinator_id=chloe.id, on_date=day, on_duty=False, note="congés"),
            RotaException(coordinator_id=anne.id, on_date=day, on_duty=True, note="échange"),
        ]
    )
    session.commit()
    assert transferred(client, "42400") == [ANNE]
    assert alerts(session) == [ANNE]


def test_nobody_on_duty_on_a_sunday_goes_straight_to_the_voicemail(client, session, monkeypatch, poles):
    at(monkeypatch, 2026, 12, 13, 11, 0)
    call = Caller(client)
    call.dial_in()
    call.press("1")
    call.press("42400")
    call.press("8")
    root = call.press("")
    assert root.findall("Dial") == [] and action_of(root, "Record") == "/webhooks/voice/ivr/voicemail"
    assert "Aucune coordinatrice" in spoken(root) or "message" in spoken(root)


def test_an_unfilled_request_alerts_its_pole_on_duty(session, settings, poles):
    tuesday = datetime(2026, 12, 8, 11, 0, tzinfo=PARIS)
    friday = datetime(2026, 12, 11, 11, 0, tzinfo=PARIS)
    for when, insee, postcode, expected in (
        (tuesday, "42207", "42400", ANNE),
        (friday, "42207", "42400", CHLOE),
        (friday, "63113", "63000", BRUNO),
    ):
        request = make_request_row(session, insee, postcode, when)
        mark_unfilled(session, settings, request, when, "plus personne")
        session.commit()
        assert alerts(session) == [expected]

"""Requesters' free-text SMS (DESIGN §6, "Intake by SMS")."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.intake.sms import RequesterSms, parse_requester_sms, resolve_start

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 23, 10, 15, tzinfo=PARIS)  # a Monday
KNOWN = {"42000", "42400", "69200", "42100", "63000", "74000"}


def known(postcode: str) -> bool:
    return postcode in KNOWN


def request(postcode, care="autre", day=None, at=None, phone=None):
    return RequesterSms("request", postcode, care, day, at, phone)


MON, TUE, WED, THU, FRI, SAT = (date(2026, 11, d) for d in range(23, 29))

MESSAGES = [
    ("42400 pansement demain 9h", request("42400", "pansement", TUE, time(9))),
    ("Bonjour, besoin d'une IDE pour une prise de sang à domicile, 69200 Vénissieux, aujourd'hui 14h30",
     request("69200", "injection", MON, time(14, 30))),
    ("bonjour besoin ide prise de sang a domicile 69200 venissieux aujourdhui 14h30",
     request("69200", "injection", MON, time(14, 30))),
    ("Pansement au 42 000 mercredi à 9 h", request("42000", "pansement", WED, time(9))),
    ("Sortie d'hospitalisation le 25/11 à 10h, patient à 63000, IDE habituelle 06 12 34 56 78",
     request("63000", "sortie", WED, time(10), "+33612345678")),
    ("perf ATB 74000 ce soir 20h", request("74000", "perfusion", MON, time(20))),
    ("42400 pensement demin 9H30", request("42400", "pansement", TUE, time(9, 30))),
    ("Patiente 0642400000, toilette 69200 lundi", request("69200", "toilette", MON, None, "+33642400000")),
    ("IDE habituelle 04 77 42 40 00, pansement 42100 jeudi 8h",
     request("42100", "pansement", THU, time(8), "+33477424000")),
    ("toilette 42100 lundi prochain", request("42100", "toilette", date(2026, 11, 30))),
    ("Piqûre d'insuline 42000 le 1er décembre à 8h", request("42000", "injection", date(2026, 12, 1), time(8))),
    ("PDS a jeun 42400 12/01 7h30", request("42400", "injection", date(2027, 1, 12), time(7, 30))),
    ("Retour à domicile 42400 après-demain 09:30, tel IDE +33 6 11 22 33 44",
     request("42400", "sortie", WED, time(9, 30), "+33611223344")),
    ("pansement + perfusion 42400 vendredi", request("42400", "perfusion", FRI)),
    ("Soins d'hygiène 63000 samedi midi", request("63000", "toilette", SAT, time(12))),
    ("surveillance traitement 42400 15h", request("42400", "surveillance", None, time(15))),
    ("Demande pour Mme X, 2 pansements, 42400, chambre 12, le 24/11", request("42400", "pansement", TUE)),
    ("cp:42400 injection ce jour", request("42400", "injection", MON)),
    ("dossier 12345 42400 pansement 23/11/2027 10h", request("42400", "pansement", date(2027, 11, 23), time(10))),
    ("Bilan sanguin 42400 dés que possible", request("42400", "injection")),
    ("42400", request("42400")),
    ("SORTIE HOSPITALISATION 74000 MARDI 14H", request("74000", "sortie", TUE, time(14))),
    ("hygiene 42400 mercredi 17 heures", request("42400", "toilette", WED, time(17))),
    ("Besoin IDE 06 12 34 56 78 pour pansement", RequesterSms("help")),
    ("pansement 75001 demain", RequesterSms("help")),
    ("Bonjour, comment ça marche ?", RequesterSms("help")),
    ("", RequesterSms("help")),
    ("ANNULER 123456", RequesterSms("cancel", reference="123456")),
    ("annuler la demande 123456 svp", RequesterSms("cancel", reference="123456")),
    ("Bonjour, merci d'annuler 654321, le patient est réhospitalisé", RequesterSms("cancel", reference="654321")),
    ("annulation", RequesterSms("help")),
]  # fmt: skip


@pytest.mark.parametrize("body,expected", MESSAGES)
def test_message(body, expected):
    assert parse_requester_sms(body, NOW, known) == expected


def test_table_is_large():
    assert len(MESSAGES) >= 22


def test_a_past_day_of_month_means_next_year():
    assert parse_requester_sms("42400 le 02/01", NOW, known).day == date(2027, 1, 2)
    assert parse_requester_sms("42400 le 23/11", NOW, known).day == MON


def test_an_impossible_date_is_ignored():
    assert parse_requester_sms("42400 le 31/02 demain", NOW, known).day == TUE


@pytest.mark.parametrize(
    "body,expected",
    [
        ("42400 pansement", (None, False)),
        ("42400 pansement demain", (datetime(2026, 11, 24, tzinfo=PARIS), False)),
        ("42400 pansement demain 9h", (datetime(2026, 11, 24, 9, tzinfo=PARIS), True)),
        ("42400 pansement 15h", (datetime(2026, 11, 23, 15, tzinfo=PARIS), True)),
        ("42400 pansement 8h", (datetime(2026, 11, 24, 8, tzinfo=PARIS), True)),  # 8h has passed at 10:15
    ],
)
def test_resolve_start(body, expected):
    assert resolve_start(parse_requester_sms(body, NOW, known), NOW) == expected


@given(st.text(max_size=1500))
@settings(max_examples=300)
def test_never_raises(body):
    sms = parse_requester_sms(body, NOW, known)
    assert sms.kind in ("request", "cancel", "help")
    assert sms.postcode is None or sms.postcode in KNOWN

"""Texts: GSM-7 only, offers in one segment whatever the commune (DESIGN §7)."""

from __future__ import annotations

import csv
import inspect
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch import texts
from dispatch.gsm import is_gsm7, segments, septets, to_gsm7
from dispatch.vocab import CARE_TYPES

NOW = datetime(2026, 11, 23, 10, 15)  # a Monday
WEEKDAY_START = datetime(2026, 11, 25, 14, 30)  # "mer. 25/11 14h30", the widest "when" with "dès que possible"
_ROOT = Path(__file__).resolve().parents[2]
# The packaged copy when there is one, else the shared data file beside the repository.
COMMUNES_CSV = next(
    (
        p
        for p in (_ROOT / "dispatch" / "data" / "communes.csv", _ROOT.parent / "shared" / "data" / "communes.csv")
        if p.exists()
    ),
    _ROOT / "dispatch" / "data" / "communes.csv",
)
# The longest names of the data file, so the test means something even without it.
KNOWN_LONG = [
    "Saint-Remy-en-Bouzemont-Saint-Genest-et-Isson",
    "Beaujeu-Saint-Vallier-Pierrejux-et-Quitteur",
    "Saint-Martin-de-Bienfaite-la-Cressonnière",
    "Castillon (Canton d'Arthez-de-Béarn)",
    "Villers-Chemin-et-Mont-lès-Étrelles",
]


def longest_communes(count: int = 20) -> list[tuple[str, str]]:
    if not COMMUNES_CSV.exists():
        return [(name, "51290") for name in KNOWN_LONG]
    with COMMUNES_CSV.open(encoding="utf-8") as f:
        rows = [(row["name"], row["postcode"]) for row in csv.DictReader(f)]
    return sorted(rows, key=lambda r: -len(r[0]))[:count]


def every_text() -> list[str]:
    when = datetime(2026, 11, 24, 9, 0)
    refs = ["123456", "234567", "345678", "456789", "567890"]
    long = KNOWN_LONG[0]
    return [
        texts.offer("SIO", long, "51290", "sortie", None, False, "123456", True, NOW),
        texts.accepted_details(
            "SIO",
            "123456",
            "Saint-Étienne",
            "injection",
            "Clinique Mutualiste, œnologie",
            "04 77 12 34 56",
            "https://sio.example.fr/d/abc?t=x_y-z",
        ),
        texts.taken("SIO", "123456"),
        texts.late_yes("SIO", "123456"),
        texts.declined_ack("SIO", "123456"),
        texts.pause_ack("SIO", None),
        texts.pause_ack("SIO", 1),
        texts.pause_ack("SIO", 3),
        texts.resume_ack("SIO"),
        texts.withdraw_ack("SIO", "123456"),
        texts.withdraw_nothing("SIO"),
        texts.opted_out_ack("SIO"),
        texts.opted_in_ack("SIO"),
        texts.help("SIO"),
        texts.unknown_reply("SIO", refs),
        texts.unknown_reply("SIO", []),
        texts.which_reference("SIO", refs[:2]),
        texts.which_reference("SIO", refs[:2], command="DESISTE"),
        texts.no_pending_offer("SIO"),
        texts.unknown_reference("SIO", "999999"),
        texts.offer_cancelled("SIO", "123456"),
        texts.coordinator_unfilled_alert("SIO", "123456", "Saint-Genès-Champanelle", "perfusion"),
        texts.coordinator_review_alert("SIO", "123456"),
        texts.request_changed("SIO", "123456", long, "perfusion", when, True, NOW),
        texts.requester_bad_date("SIO", when, "date dans le passé"),
        texts.requester_ack("SIO", "123456", "Saint-Chamond", "pansement", when, True, NOW),
        texts.requester_ack("SIO", "123456", "Saint-Chamond", "autre", None, False, NOW),
        texts.requester_usage("SIO"),
        texts.requester_cancelled("SIO", "123456"),
        texts.requester_cancel_unknown("SIO", "123456"),
        texts.requester_nurse_withdrew("SIO", "123456"),
        texts.requester_unfilled("SIO", "123456"),
        texts.confirmation("SIO", "123456", "Montbrison", "toilette", "Hélène Lefèvre-Dupré", "06 12 34 56 78"),
        texts.unknown_sender_help("SIO"),
        texts.requester_uncallable("SIO"),
        texts.coordinator_message("SIO", "Bien noté : ça ira à 18h30, la fenêtre côté jardin.\nMerci !"),
        texts.coordinator_message("SIO", "é" * 1000),
        texts.profile_link("SIO", "https://sio.example.fr/moi/lien/" + "x" * 52),
        texts.profile_unknown("SIO"),
        texts.registration_link("SIO", "https://sio.example.fr/inscription/" + "x" * 52),
        texts.registration_pending("SIO"),
        texts.registration_not_mobile("SIO"),
        texts.registration_already_nurse("SIO"),
        texts.registration_validated("SIO"),
        texts.registration_refused("SIO"),
        texts.coordinator_nurse_erased("SIO", "Hélène Lefèvre-Dupré", refs),
    ]


def test_every_text_function_is_exercised():
    functions = inspect.getmembers(texts, inspect.isfunction)
    public = {n for n, f in functions if f.__module__ == texts.__name__ and not n.startswith("_")}
    helpers = {"format_when", "format_time", "spell_digits", "shorten", "care_label"}
    source = inspect.getsource(every_text)
    assert {n for n in public - helpers if f"texts.{n}(" not in source} == set()


@pytest.mark.parametrize("text", every_text())
def test_every_text_is_gsm7_signed_and_short(text):
    assert is_gsm7(text), text
    assert text.startswith("SIO: ")
    assert segments(text) <= 2, text


def test_single_segment_texts():
    for text in (
        texts.requester_usage("SIO"),
        texts.unknown_sender_help("SIO"),
        texts.taken("SIO", "123456"),
        texts.requester_uncallable("SIO"),
    ):
        assert segments(text) == 1, text


@pytest.mark.parametrize("name,postcode", longest_communes())
@pytest.mark.parametrize("care_type", CARE_TYPES)
def test_offer_fits_one_segment_for_the_longest_communes(name, postcode, care_type):
    for start, has_time in ((WEEKDAY_START, True), (None, False)):
        text = texts.offer("SIO", name, postcode, care_type, start, has_time, "123456", True, NOW)
        assert is_gsm7(text) and septets(text) <= 160 and segments(text) == 1, text
        assert text.endswith("Répondez OUI 123456 ou NON 123456")
        assert "URGENT" in text and f"({postcode})" in text


def test_offer_shape():
    start = datetime(2026, 11, 23, 14, 30)
    text = texts.offer("SIO", "Saint-Chamond", "42400", "pansement", start, True, "123456", False, NOW)
    expected = "SIO: demande 123456, pansement à Saint-Chamond (42400), auj. 14h30. "
    assert text == expected + "Répondez OUI 123456 ou NON 123456"


def test_offer_shortens_the_commune_only():
    name = "Saint-Remy-en-Bouzemont-Saint-Genest-et-Isson-sur-la-Longue-Rivière-du-Nord"
    text = texts.offer("SIO", name, "51290", "sortie", WEEKDAY_START, True, "123456", True, NOW)
    assert "St-Remy-en-Bouzemont-St-Genest" in text and ". (51290)" in text
    assert "sortie d'hospitalisation" in text and "mer. 25/11 14h30" in text


@given(commune=st.text(max_size=300), urgent=st.booleans(), care_type=st.sampled_from(CARE_TYPES))
@settings(max_examples=300)
def test_offer_is_one_gsm7_segment_for_any_commune(commune, urgent, care_type):
    text = texts.offer("SIO", commune, "42400", care_type, WEEKDAY_START, True, "123456", urgent, NOW)
    assert is_gsm7(text)
    assert segments(text) == 1
    assert text.endswith("Répondez OUI 123456 ou NON 123456")


@given(st.text())
def test_to_gsm7_always_gives_gsm7(text):
    assert is_gsm7(to_gsm7(text))


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("fenêtre", "fenetre"),
        ("château", "chateau"),
        ("île", "ile"),
        ("hôpital", "hopital"),
        ("sûr", "sur"),
        ("ça", "ca"),
        ("Ça", "Ça"),
        ("Noël", "Noel"),
        ("naïf", "naif"),
        ("œuvre Œuvre", "oeuvre OEuvre"),
        ("l’été", "l'été"),
        ("“oui” «non»", '"oui" "non"'),
        ("9h–10h — fin", "9h-10h - fin"),
        ("attendez…", "attendez..."),
        ("é è à ù É Ç ñ ü ö ä ì ò", "é è à ù É Ç ñ ü ö ä ì ò"),
        ("À È Ù Ê", "A E U E"),
        ("ok 👍🏽", "ok "),
        ("e\u0301", "é"),  # decomposed é typed on some phones
        ("50 €", "50 €"),
        ("a\u00a0b", "a b"),
        ("中", "?"),
        ("bell\x07", "bell"),
    ],
)
def test_to_gsm7(raw, expected):
    assert to_gsm7(raw) == expected


@pytest.mark.parametrize(
    "text,gsm,count",
    [
        ("", True, 0),
        ("a" * 160, True, 1),
        ("a" * 161, True, 2),
        ("a" * 306, True, 2),
        ("a" * 307, True, 3),
        ("é" * 160, True, 1),
        ("€" * 80, True, 1),
        ("€" * 81, True, 2),
        ("a" * 152 + "€" + "a" * 152, True, 3),  # 306 septets, but the escape pair cannot straddle parts
        ("ê" * 70, False, 1),
        ("ê" * 71, False, 2),
        ("ê" * 134, False, 2),
        ("ê" * 135, False, 3),
        ("😀" * 35, False, 1),
        ("😀" * 36, False, 2),
    ],
)
def test_segments(text, gsm, count):
    assert is_gsm7(text) is gsm
    assert segments(text) == count


@pytest.mark.parametrize(
    "start,has_time,expected",
    [
        (None, False, "dès que possible"),
        (datetime(2026, 11, 23, 14, 30), True, "auj. 14h30"),
        (datetime(2026, 11, 23, 0, 0), False, "auj."),
        (datetime(2026, 11, 24, 9, 0), True, "demain 9h"),
        (datetime(2026, 11, 24, 0, 0), False, "demain"),
        (datetime(2026, 11, 30, 8, 5), True, "lun. 30/11 8h05"),
        (datetime(2026, 12, 6, 0, 0), False, "dim. 06/12"),
    ],
)
def test_format_when(start, has_time, expected):
    assert texts.format_when(start, has_time, NOW) == expected


def test_spell_digits():
    assert texts.spell_digits("123456") == "1 2 3 4 5 6"


def test_an_abbreviated_day_does_not_get_two_full_stops():
    from datetime import datetime

    now = datetime(2026, 11, 23, 10, 0)
    body = texts.offer("SIO", "Saint-Chamond", "42400", "pansement", now, False, "123456", False, now)
    assert "auj.." not in body and "auj. Répondez" in body


def test_a_coordinators_answer_is_what_she_typed_signed_on_one_line_and_cut():
    assert texts.coordinator_message("SIO", "  Bien noté,\n  à 18h30 ? ") == "SIO: Bien noté, à 18h30 ?"
    assert texts.coordinator_message("SIO", "ça côté être") == "SIO: ca coté etre"  # é is GSM-7; ç ô ê are not
    assert texts.coordinator_message("SIO", "x" * 400) == "SIO: " + "x" * texts.COORDINATOR_MESSAGE_MAX

"""Phone numbers: French input to E.164, mobile or not, and the reason when it is refused."""

from __future__ import annotations

import pytest

from dispatch.phones import PhoneError, find_phone_numbers, mask, normalize_phone, try_normalize

# (input, E.164, is mobile)
VALID = [
    ("06 12 34 56 78", "+33612345678", True),
    ("0612345678", "+33612345678", True),
    ("06.12.34.56.78", "+33612345678", True),
    ("06-12-34-56-78", "+33612345678", True),
    ("+33 6 12 34 56 78", "+33612345678", True),
    ("+33612345678", "+33612345678", True),
    ("0033 6 12 34 56 78", "+33612345678", True),
    ("0033612345678", "+33612345678", True),
    ("+33 (0)6 12 34 56 78", "+33612345678", True),
    ("  07 55 12 34 56  ", "+33755123456", True),
    ("612345678", "+33612345678", True),  # a spreadsheet dropped the leading 0
    ("04 77 12 34 56", "+33477123456", False),  # Saint-Étienne landline
    ("04 65 71 00 00", "+33465710000", False),
    ("01 99 00 12 34", "+33199001234", False),
    ("09 37 00 00 00", "+33937000000", False),  # platform number (VoIP)
    ("08 00 12 34 56", "+33800123456", False),  # toll-free
    ("+32 470 12 34 56", "+32470123456", True),  # Belgian mobile
    ("+1 202 555 0123", "+12025550123", True),  # US numbers may be either: counted as mobile
    ("+262 692 12 34 56", "+262692123456", True),  # Réunion mobile in international form
    # Overseas departments, typed as a French phone dials them (their own country codes)
    ("0692 12 34 56", "+262692123456", True),  # Réunion mobile
    ("02 62 12 34 56", "+262262123456", False),  # Réunion landline
    ("0690 12 34 56", "+590690123456", True),  # Guadeloupe mobile
    ("0694 20 12 34", "+594694201234", True),  # Guyane mobile
    ("0696 12 34 56", "+596696123456", True),  # Martinique mobile
]

# (input, the start of the French reason)
INVALID = [
    ("", "numéro manquant"),
    (None, "numéro manquant"),
    ("   ", "numéro manquant"),
    ("06 12 34 56 7", "numéro invalide"),  # 9 digits
    ("0612345678901", "numéro invalide"),  # 13 digits
    ("0612", "numéro invalide"),
    ("07 00 00 00 00", "numéro invalide"),  # unallocated range
    ("06 39 98 12 34", "numéro invalide"),  # ARCEP's fiction range: not a real number
    ("hello", "numéro illisible"),
    ("+", "numéro illisible"),
    ("0" * 41, "numéro trop long"),
]


@pytest.mark.parametrize(("text", "e164", "mobile"), VALID)
def test_valid_numbers(text, e164, mobile):
    phone = normalize_phone(text)
    assert phone.e164 == e164
    assert phone.is_mobile is mobile
    assert try_normalize(text) == e164


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_numbers(text, reason):
    with pytest.raises(PhoneError) as err:
        normalize_phone(text)
    assert str(err.value).startswith(reason)
    assert try_normalize(text) is None


def test_table_is_large_enough():
    assert len(VALID) + len(INVALID) >= 20


def test_national_form_and_mask():
    assert normalize_phone("+33612345678").national == "06 12 34 56 78"
    assert normalize_phone("+262692123456").national == "0692 12 34 56"
    assert mask("+33612345678") == "+33612****78"
    assert mask(None) == "-"


def test_find_numbers_in_free_text():
    text = "Patient à Saint-Chamond, infirmière habituelle 06 12 34 56 78, rappeler le 04.77.12.34.56 ou 0612345678"
    assert find_phone_numbers(text) == ["+33612345678", "+33477123456"]
    assert find_phone_numbers("42400 demain 9h") == []

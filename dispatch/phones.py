"""Phone numbers: the one place where typed numbers become E.164 (DESIGN §3, STYLE).

Everything that enters the system (CSV, API, IVR digits, SMS text, Twilio's
``From``) goes through :func:`normalize_phone`; only its ``e164`` is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
#: What the service may call (toll fraud, issue #14 §5): fixed lines, mobiles and the 09 "box"
#: lines; never premium-rate, shared-cost or other special numbers (08...).
_CALLABLE_TYPES = {*_MOBILE_TYPES, PhoneNumberType.FIXED_LINE, PhoneNumberType.VOIP}
#: Metropolitan France, the overseas departments, and the islands dialled like them.
CALLABLE_REGIONS = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF"})
#: Overseas departments dialled in the French ten-digit plan (0262 / 0692 Réunion and Mayotte,
#: 0590 / 0690 Guadeloupe and its islands, 0594 / 0694 Guyane, 0596 / 0696 Martinique, 0508
#: Saint-Pierre-et-Miquelon) but with their own country codes: a national number that is not a
#: metropolitan one is read in these, in turn.
_OVERSEAS = ("RE", "GP", "GF", "MQ", "PM")


class PhoneError(ValueError):
    """A number that cannot be used; the message is French, fit for a user."""


@dataclass(frozen=True)
class Phone:
    e164: str
    is_mobile: bool

    @property
    def national(self) -> str:
        """``06 12 34 56 78`` for display and speech."""
        return phonenumbers.format_number(phonenumbers.parse(self.e164), phonenumbers.PhoneNumberFormat.NATIONAL)


def normalize_phone(text: str | None, *, region: str = "FR") -> Phone:
    """Parse French input (``06 12 34 56 78``, ``+33 6…``, ``0033…``, dots, dashes) to E.164;
    ``0692 12 34 56`` is Réunion's ``+262 692 12 34 56``, as a French phone dials it.

    Raises :class:`PhoneError` with a French reason when the number is empty,
    unreadable or not a valid number.
    """
    raw = (text or "").strip()
    if not raw:
        raise PhoneError("numéro manquant")
    if len(raw) > 40:
        raise PhoneError("numéro trop long")
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise PhoneError(f"numéro illisible : {raw!r}") from None
    if not phonenumbers.is_valid_number(number) and region == "FR" and not raw.startswith("+"):
        number = next(
            (n for n in (phonenumbers.parse(raw, r) for r in _OVERSEAS) if phonenumbers.is_valid_number(n)), number
        )
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"numéro invalide : {raw!r}")
    number_type = phonenumbers.number_type(number)
    return Phone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        is_mobile=number_type in _MOBILE_TYPES,
    )


def callback_problem(e164: str) -> str | None:
    """A French reason why the service must not call this number, or None when it may: a fixed
    line or a mobile of France or its overseas departments. Premium-rate and foreign numbers
    would make the service (or the nurse who calls back) pay someone else (toll fraud)."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return "numéro illisible"
    if phonenumbers.region_code_for_number(number) not in CALLABLE_REGIONS:
        return "numéro étranger : donnez un numéro fixe ou mobile français (outre-mer compris)"
    if phonenumbers.number_type(number) not in _CALLABLE_TYPES:
        return "numéro surtaxé ou spécial (08...) : donnez un numéro fixe ou mobile"
    return None


def normalize_callback(text: str | None) -> Phone:
    """A number to call back (:func:`normalize_phone`, then :func:`callback_problem`).

    Raises :class:`PhoneError` with a French reason: a short number (3615, 112...) is not a
    callback number either.
    """
    digits = sum(c.isdigit() for c in text or "")
    if 0 < digits < 10 and not (text or "").strip().startswith(("+", "00")):
        raise PhoneError("numéro court : donnez un numéro à 10 chiffres")
    phone = normalize_phone(text)
    problem = callback_problem(phone.e164)
    if problem:
        raise PhoneError(problem)
    return phone


def try_normalize(text: str | None) -> str | None:
    """The E.164 form, or None when the text is not a valid number."""
    try:
        return normalize_phone(text).e164
    except PhoneError:
        return None


def mask(e164: str | None) -> str:
    """``+33612****78``: what logs may show of a number."""
    if not e164:
        return "-"
    return e164[:-6] + "****" + e164[-2:] if len(e164) > 6 else "****"


def find_phone_numbers(text: str) -> list[str]:
    """Every valid French phone number written inside free text, as E.164, in order."""
    found = []
    for match in phonenumbers.PhoneNumberMatcher(text, "FR"):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in found:
            found.append(e164)
    return found

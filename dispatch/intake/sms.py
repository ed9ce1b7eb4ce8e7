"""A requester's free-text SMS read as a request, a cancellation or a plea for help (DESIGN §6).

Decisions worth knowing:

* Phone numbers are found by :func:`dispatch.phones.find_phone_numbers`; the first one is the
  usual nurse. Phone-shaped digit runs are blanked before looking for the postcode, a date or a
  time, so ``04 77 42 40 00`` never yields postcode ``42400``.
* The postcode is the first standalone five-digit group (``42400`` or ``42 400``) that
  ``is_known_postcode`` accepts. None → ``help``.
* Care: perfusion and sortie (which need a skill) win over the other care words; otherwise the
  first care word in the text wins; none → ``autre``. Typos of one letter are tolerated.
* A weekday names its next occurrence; today's own name means today (``lundi prochain`` on a
  Monday: in a week). ``JJ/MM`` is the nearest such date (``dispatch.starts``): one just passed
  is refused by the caller, not moved to next year. A time with no day leaves ``day`` None:
  :func:`resolve_start` then picks today, or tomorrow when the time has passed.
* ``ANNULER`` (or any word starting ``annul``) with a reference is a cancel; without one, help.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dispatch.phones import find_phone_numbers
from dispatch.starts import nearest_date
from dispatch.vocab import REFERENCE_LENGTH

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = (
    "janvier", "fevrier", "mars", "avril", "mai", "juin",
    "juillet", "aout", "septembre", "octobre", "novembre", "decembre",
)  # fmt: skip
MAX_BODY = 1000

# A French number as people type it: 0X XX XX XX XX, +33 X.., 0033 X.., with spaces, dots or dashes.
_PHONE_SHAPE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)\s?33\s?(?:\(0\))?[\s.\-]?|0)[1-9](?:[\s.\-]?\d{2}){4}(?!\d)", re.ASCII
)
# "42400" first; "42 400" only when no other digits touch it (it could be part of a list of numbers).
_POSTCODES = (
    re.compile(r"(?<![\d/])(\d{2})(\d{3})(?![\d/])", re.ASCII),
    re.compile(r"(?<![\d/])(?<![\d/] )(\d{2}) (\d{3})(?![\d/])(?! \d)", re.ASCII),
)
_REFERENCE = re.compile(rf"(?<!\d)\d{{{REFERENCE_LENGTH}}}(?!\d)", re.ASCII)
_NUMERIC_DATE = re.compile(r"(?<![\d/])(\d{1,2})[/.\-](\d{1,2})(?:[/.\-](\d{4}|\d{2}))?(?![\d/])", re.ASCII)
_WORD_DATE = re.compile(r"(?<!\d)(\d{1,2}|1er) (" + "|".join(MONTHS) + r")\b", re.ASCII)
_TIME = re.compile(r"(?<![\d/])([01]?\d|2[0-3]) ?(?:h(?:eures?)?|:(?=\d\d)) ?([0-5]\d)?(?![\d])(?![a-z])", re.ASCII)
_NOON = re.compile(r"\bmidi\b")

# (care type, exact tokens, words matched with one typo, phrases); perfusion and sortie come first
# because they need a skill: a visit that includes one must go to a nurse who has it.
_CARE_WORDS: tuple[tuple[str, frozenset[str], tuple[str, ...], tuple[str, ...]], ...] = (
    ("perfusion", frozenset({"perf", "perfs", "picc"}), ("perfusion", "perfusions"), ()),
    (
        "sortie",
        frozenset({"rad"}),
        ("sortie", "hospitalisation"),
        ("retour a domicile", "retour au domicile", "retour domicile", "sortie d hopital"),
    ),
    (
        "pansement",
        frozenset({"plaie", "plaies", "escarre", "escarres", "ulcere"}),
        ("pansement", "pansements"),
        (),
    ),
    (
        "injection",
        frozenset({"inj", "pds", "insuline", "lovenox", "hbpm", "vaccin"}),
        ("injection", "injections", "piqure", "piqures", "prelevement", "prelevements"),
        ("prise de sang", "prises de sang", "bilan sanguin", "bilan sanguins"),
    ),
    ("toilette", frozenset({"douche"}), ("toilette", "toilettes", "hygiene", "nursing"), ()),
    ("surveillance", frozenset({"pilulier"}), ("surveillance", "traitement", "traitements", "medicaments"), ()),
)
_SKILLED_FIRST = ("perfusion", "sortie")
# "ce matin", "cet apres-midi", "ce soir": today.
_TODAY_PARTS = frozenset({"matin", "midi", "apres", "apresmidi", "soir"})


@dataclass(frozen=True)
class RequesterSms:
    """A parsed requester SMS; ``kind`` is ``request``, ``cancel`` or ``help``."""

    kind: str
    postcode: str | None = None
    care_type: str = "autre"
    day: date | None = None
    time: time | None = None
    usual_nurse_phone: str | None = None
    reference: str | None = None


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text).lower().replace("œ", "oe")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _within_one(word: str, target: str) -> bool:
    """True when ``word`` is ``target`` with at most one letter added, dropped or changed."""
    if abs(len(word) - len(target)) > 1:
        return False
    if len(word) == len(target):
        return sum(a != b for a, b in zip(word, target, strict=True)) <= 1
    short, long_ = sorted((word, target), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _matches(token: str, word: str) -> bool:
    # Short words are too easily confused ("samedi"/"sortie" are far apart, "mai"/"mais" are not).
    return token == word or (len(word) >= 6 and _within_one(token, word))


def _care_type(text: str, tokens: list[str]) -> str:
    found: list[tuple[int, str]] = []
    for care, exact, fuzzy, phrases in _CARE_WORDS:
        positions = [i for i, t in enumerate(tokens) if t in exact or any(_matches(t, w) for w in fuzzy)]
        positions += [len(text[: m.start()].split()) for p in phrases for m in re.finditer(rf"\b{p}\b", text)]
        if positions:
            found.append((min(positions), care))
    for care in _SKILLED_FIRST:
        if any(c == care for _, c in found):
            return care
    return min(found)[1] if found else "autre"


def _dated(day: int, month: int, year: int | None, today: date) -> date | None:
    """The date written; without a year, the nearest one (``dispatch.starts.nearest_date``)."""
    if year is None:
        return nearest_date(day, month, today)
    try:
        return date(year + 2000 if year < 100 else year, month, day)
    except ValueError:
        return None


def _day(text: str, tokens: list[str], today: date) -> date | None:
    if match := _NUMERIC_DATE.search(text):
        year = int(match.group(3)) if match.group(3) else None
        if found := _dated(int(match.group(1)), int(match.group(2)), year, today):
            return found
    if match := _WORD_DATE.search(text):
        number = 1 if match.group(1) == "1er" else int(match.group(1))
        if found := _dated(number, MONTHS.index(match.group(2)) + 1, None, today):
            return found
    joined = " ".join(tokens)
    if re.search(r"\bapres ?demain\b", joined):
        return today + timedelta(days=2)
    for i, word in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if _matches(word, "aujourdhui") or _matches(word, "aujourd") or word in ("auj", "ajd"):
            return today
        if (word == "ce" and following in ("jour", *_TODAY_PARTS)) or (word == "cet" and following in _TODAY_PARTS):
            return today
        if _matches(word, "demain"):
            return today + timedelta(days=1)
        for index, weekday in enumerate(WEEKDAYS):
            if _matches(word, weekday):
                ahead = (index - today.weekday()) % 7
                if ahead == 0 and following == "prochain":
                    ahead = 7
                return today + timedelta(days=ahead)
    return None


def _time(text: str) -> time | None:
    for match in _TIME.finditer(text):
        return time(int(match.group(1)), int(match.group(2) or 0))
    return time(12, 0) if _NOON.search(text) and not re.search(r"\bapres ?midi\b", text) else None


def parse_requester_sms(body: str, now_local: datetime, is_known_postcode: Callable[[str], bool]) -> RequesterSms:
    """Read a requester's SMS: ``42400 pansement demain 9h``, ``ANNULER 123456``...

    Never raises on odd text; see the module docstring for the choices made.
    """
    body = body[:MAX_BODY] if isinstance(body, str) else ""
    phones = find_phone_numbers(body)
    text = _PHONE_SHAPE.sub(" ", _plain(body))
    # Apostrophes and punctuation split words; digits, ':' '/' '.' stay for times and dates.
    words_text = " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())
    tokens = words_text.split()
    reference_match = _REFERENCE.search(text)
    reference = reference_match.group() if reference_match else None

    if any(t.startswith("annul") for t in tokens):
        return RequesterSms("cancel", reference=reference) if reference else RequesterSms("help")

    candidates = [m.group(1) + m.group(2) for pattern in _POSTCODES for m in pattern.finditer(text)]
    postcode = next((c for c in candidates if is_known_postcode(c)), None)
    if postcode is None:
        return RequesterSms("help")
    return RequesterSms(
        "request",
        postcode=postcode,
        care_type=_care_type(words_text, tokens),
        day=_day(text, tokens, now_local.date()),
        time=_time(text),
        usual_nurse_phone=phones[0] if phones else None,
    )


def resolve_start(sms: RequesterSms, now_local: datetime) -> tuple[datetime | None, bool]:
    """The wished start as ``(start_local, has_time)`` for :func:`dispatch.texts.format_when`.

    No day and no time → ``(None, False)`` (as soon as possible). A time alone is today, or
    tomorrow when that time has already passed. A day alone is midnight with ``has_time`` False.
    """
    if sms.day is None and sms.time is None:
        return None, False
    day = sms.day
    if day is None:
        day = now_local.date()
        if sms.time is not None and sms.time <= now_local.time():
            day += timedelta(days=1)
    start = datetime.combine(day, sms.time or time(0, 0), tzinfo=now_local.tzinfo)
    return start, sms.time is not None

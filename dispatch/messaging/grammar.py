"""What a nurse's SMS reply means (DESIGN §6, "Nurse replies").

Nurses type fast on a phone: case, accents, punctuation and extra spaces are
ignored, a greeting before the command is skipped, and a reference glued to the
command (``OUI123456``) still counts. The parser never raises: anything it does
not understand is ``unknown``, and the service answers with a short help.

Decisions worth knowing:

* The reference is the first run of exactly six digits; a phone number (ten digits,
  or pairs) or a date never matches. A yes, no or withdrawal followed by a run of four to
  nine digits that is not six (``OUI 12345``: a digit missed) names no request: its
  ``bad_reference`` is kept, so that the answer asks her to check it rather than guessing.
* A bare reference (``123456``) is ``unknown`` with that reference: it does not say
  yes or no, so the reply asks ``OUI 123456 ou NON 123456``. ``123456 oui`` is an accept.
* The short forms ``o``, ``n``, ``1``, ``2`` count only alone or followed by a reference,
  so ``2 jours`` or ``n'importe`` are not a refusal.
* ``ARRET maladie`` / ``ARRET de travail`` is a pause, not an opt-out: a nurse on sick leave
  still wants offers when she is back.
* Twilio's own keywords (CANCEL, END, QUIT, STOPALL, UNSUBSCRIBE) are stops when they reach
  us, so our record agrees with Twilio's block.
* ``PROFIL``/``COMPTE`` (her space) and ``INSCRIPTION`` (registration) are words of their own,
  clear of Twilio's reserved keywords; only as the first word (``compte rendu...`` is one too:
  the answer is a link to her own space, which harms nobody).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from dispatch.people.nurses import MAX_PAUSE_DAYS
from dispatch.vocab import REFERENCE_LENGTH

KINDS = ("accept", "decline", "pause", "resume", "withdraw", "stop", "start", "help", "profile", "register", "unknown")
# Longer bodies are pasted text, not a reply; the command and reference are always near the start.
MAX_BODY = 500

_REFERENCE = re.compile(rf"(?<!\d)\d{{{REFERENCE_LENGTH}}}(?!\d)", re.ASCII)
_SPLIT_DIGITS = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")
_GREETINGS = frozenset({"bonjour", "bonsoir", "salut", "coucou", "hello", "allo", "re", "alors", "euh", "hey"})
_NUMBER_WORDS = {
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5,
    "six": 6, "sept": 7, "huit": 8, "neuf": 9, "dix": 10, "quinze": 15,
}  # fmt: skip

# Leading phrases, longest first when they share a word; matched on normalised tokens.
_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("arret", "maladie"), "pause"),
    (("arret", "de", "travail"), "pause"),
    (("pas", "dispo"), "decline"),
    (("pas", "disponible"), "decline"),
    (("je", "prends"), "accept"),
    (("je", "la", "prends"), "accept"),
    (("j", "accepte"), "accept"),
    (("d", "accord"), "accept"),
    (("je", "refuse"), "decline"),
    (("je", "me", "desiste"), "withdraw"),
    (("de", "retour"), "resume"),
)
_WORDS: dict[str, str] = {
    **dict.fromkeys(("oui", "ok", "okay", "oki", "ouais", "yes", "accepte", "accepter", "dac", "daccord"), "accept"),
    **dict.fromkeys(("non", "no", "refuse", "refuser", "indisponible", "impossible"), "decline"),
    **dict.fromkeys(("pause",), "pause"),
    **dict.fromkeys(("dispo", "disponible", "disponibles", "reprise", "reprendre"), "resume"),
    **dict.fromkeys(("desiste", "desister", "desistement", "desistee", "annule", "annuler", "annulation"), "withdraw"),
    **dict.fromkeys(
        ("stop", "arret", "arrete", "arreter", "stopall", "unsubscribe", "cancel", "end", "quit", "desabonner"), "stop"
    ),
    **dict.fromkeys(("start", "unstop"), "start"),
    **dict.fromkeys(("aide", "help", "info", "infos"), "help"),
    # Her own space (issue 16): a personal link; and registration from an unknown mobile.
    **dict.fromkeys(("profil", "compte", "moncompte"), "profile"),
    **dict.fromkeys(("inscription", "inscrire", "inscris"), "register"),
}
# Single characters mean a command only alone or before a reference.
_SHORT: dict[str, str] = {"o": "accept", "1": "accept", "n": "decline", "2": "decline"}


@dataclass(frozen=True)
class NurseCommand:
    """One parsed reply: ``kind`` (see :data:`KINDS`), a six-digit ``reference``, PAUSE ``days``,
    and a mistyped reference (``bad_reference``)."""

    kind: str
    reference: str | None = None
    days: int | None = None
    bad_reference: str | None = None


def normalize(body: str) -> str:
    """Lower case, no accents, letters and digits only, single spaces, digits apart from letters."""
    decomposed = unicodedata.normalize("NFKD", body[:MAX_BODY]).lower()
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = re.sub(r"[^a-z0-9]+", " ", plain.replace("œ", "oe"))
    return " ".join(_SPLIT_DIGITS.sub(" ", plain).split())


def find_reference(text: str) -> str | None:
    """The first run of exactly ``REFERENCE_LENGTH`` digits in ``text``, or None."""
    match = _REFERENCE.search(text)
    return match.group() if match else None


def _pause_days(tokens: list[str]) -> int | None:
    """``3``, ``3 jours``, ``3j``, ``une semaine``, ``2 semaines`` after PAUSE; None means until DISPO."""
    for i, token in enumerate(tokens[:3]):
        count = int(token) if token.isdigit() and len(token) <= 4 else _NUMBER_WORDS.get(token)
        if count is None:
            continue
        unit = tokens[i + 1] if i + 1 < len(tokens) else ""
        if unit.startswith("semaine"):
            count *= 7
        elif unit.startswith("mois"):
            count *= 30
        # 0 or absurd spans are read as "until DISPO" rather than guessed.
        return count if 1 <= count <= MAX_PAUSE_DAYS else None
    if tokens[:1] == ["semaine"] or tokens[:2] == ["la", "semaine"] or tokens[:2] == ["cette", "semaine"]:
        return 7
    return None


def _command(tokens: list[str]) -> tuple[str, int]:
    """The kind named at the start of ``tokens`` and how many tokens it used."""
    for phrase, kind in _PHRASES:
        if tuple(tokens[: len(phrase)]) == phrase:
            return kind, len(phrase)
    first = tokens[0]
    if first in _WORDS:
        return _WORDS[first], 1
    if first in _SHORT and all(t.isdigit() and len(t) == REFERENCE_LENGTH for t in tokens[1:]):
        return _SHORT[first], 1
    return "unknown", 0


def parse_nurse_reply(body: str) -> NurseCommand:
    """Read a nurse's SMS: ``OUI 123456``, ``non``, ``PAUSE 3``, ``DISPO``, ``DESISTE``, ``ARRET``, ``AIDE``...

    Never raises; see the module docstring for the choices on ambiguous replies.
    """
    if not isinstance(body, str):
        return NurseCommand("unknown")
    if body.strip() and set(body.strip()) <= {"?", " "}:
        return NurseCommand("help")
    text = normalize(body)
    tokens = text.split()
    reference = find_reference(text)
    while tokens and tokens[0] in _GREETINGS:
        tokens = tokens[1:]
    # "123456 oui": the reference may come first; alone it stays unknown (yes or no is not said).
    if len(tokens) > 1 and tokens[0] == reference:
        tokens = tokens[1:]
    if not tokens:
        return NurseCommand("unknown", reference)
    kind, used = _command(tokens)
    if kind == "unknown" and ("pas dispo" in text or "pas disponible" in text):
        kind = "decline"
    if kind == "pause":
        # "arret maladie jusqu'au 30" names an end date, not a count of days: leave it open.
        open_ended = tokens[0] != "pause" or "jusqu" in tokens
        return NurseCommand("pause", None, None if open_ended else _pause_days(tokens[used:]))
    if kind in ("stop", "start", "help", "resume", "profile", "register"):
        return NurseCommand(kind)
    if reference is None and kind in ("accept", "decline", "withdraw"):
        typo = next((t for t in tokens[used:] if t.isdigit() and 4 <= len(t) <= 9), None)
        return NurseCommand(kind, None, bad_reference=typo)
    return NurseCommand(kind, reference)

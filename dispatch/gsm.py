"""GSM-7, the alphabet of a plain SMS (3GPP TS 23.038), and how many segments a text costs.

One character outside GSM-7 switches the whole message to UCS-2, where a
segment holds 70 characters instead of 160: an offer would then cost three
texts instead of one. Every text therefore goes through :func:`to_gsm7`.
"""

from __future__ import annotations

import unicodedata

# The default alphabet, in table order (0x00..0x7F); 0x1B is the escape to the extension table.
BASIC_CHARS: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape: each costs two septets.
EXTENSION_CHARS: frozenset[str] = frozenset("\f^{}\\[~]|€")

SINGLE_SEGMENT_GSM = 160
MULTI_SEGMENT_GSM = 153
SINGLE_SEGMENT_UCS2 = 70
MULTI_SEGMENT_UCS2 = 67

# Explicit choices where stripping the accent is not enough or would lose meaning.
_TRANSLITERATIONS: dict[str, str] = {
    "œ": "oe",
    "Œ": "OE",
    "ç": "c",  # Ç is in GSM-7, ç is not
    "‘": "'",
    "’": "'",
    "‚": "'",
    "′": "'",
    "`": "'",
    "´": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "«": '"',
    "»": '"',
    "‹": "'",
    "›": "'",
    "–": "-",
    "—": "-",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "…": "...",
    "•": "-",
    "·": ".",
    "°": "o",
    "\t": " ",
    "\u2028": "\n",
    "\u2029": "\n",
}
_REPLACEMENT = "?"


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the GSM-7 alphabet or its extension table."""
    return all(ch in BASIC_CHARS or ch in EXTENSION_CHARS for ch in text)


def septets(text: str) -> int:
    """Length of a GSM-7 text in septets: extension characters count two."""
    return sum(2 if ch in EXTENSION_CHARS else 1 for ch in text)


def _transliterate(ch: str) -> str:
    if ch in BASIC_CHARS or ch in EXTENSION_CHARS:
        return ch
    if ch in _TRANSLITERATIONS:
        return _TRANSLITERATIONS[ch]
    category = unicodedata.category(ch)
    if category.startswith("Z"):
        return " "
    # Controls, format characters (zero-width joiners), unpaired surrogates, combining marks
    # and symbols (emoji) carry no words: dropping them reads better than a row of '?'.
    if category in ("Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me", "Mc", "So", "Sk"):
        return ""
    # ê → e, Â → A, ı → i...: the base letter of a decomposition, when GSM-7 has it.
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if base and all(c in BASIC_CHARS or c in EXTENSION_CHARS for c in base):
        return base
    return _REPLACEMENT


def to_gsm7(text: str) -> str:
    """Rewrite ``text`` in GSM-7: keep what GSM-7 has (é è à ù É Ç ñ ü ö ä), transliterate
    the rest (ê→e, ç→c, œ→oe, ’→', « »→", –→-, …→...), drop emoji and controls, and put
    ``?`` for letters with no Latin reading."""
    composed = unicodedata.normalize("NFC", text)
    return "".join(_transliterate(ch) for ch in composed)


def segments(text: str) -> int:
    """How many SMS segments ``text`` costs as sent (0 for an empty text).

    GSM-7: 160 septets in a single segment, 153 per part once concatenated; an escape pair is
    never split across parts. Otherwise UCS-2: 70 UTF-16 units, 67 per part, surrogate pairs kept whole.
    """
    if not text:
        return 0
    if is_gsm7(text):
        sizes = [2 if ch in EXTENSION_CHARS else 1 for ch in text]
        single, multi = SINGLE_SEGMENT_GSM, MULTI_SEGMENT_GSM
    else:
        sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, multi = SINGLE_SEGMENT_UCS2, MULTI_SEGMENT_UCS2
    if sum(sizes) <= single:
        return 1
    parts, used = 1, 0
    for size in sizes:
        if used + size > multi:
            parts, used = parts + 1, 0
        used += size
    return parts

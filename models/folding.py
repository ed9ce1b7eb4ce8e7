"""Text folded for searching: what the nurses page compares, kept in columns the database searches."""

from __future__ import annotations

import re
import unicodedata

# The folded columns' length (a fold may be longer than its text: ``ß`` gives ``ss``).
FOLDED_LENGTH = 255


def fold(text: str | None) -> str:
    """Lower case without accents: « etienne » finds Saint-Étienne (hyphens and spaces are kept)."""
    return "".join(c for c in unicodedata.normalize("NFD", (text or "").casefold()) if unicodedata.category(c) != "Mn")


def folded(text: str | None) -> str:
    """What a folded column holds for ``text``."""
    return fold(text)[:FOLDED_LENGTH]


def search_words(text: str | None) -> str:
    """A place or a name as typed, for matching words: :func:`fold`, œ as oe, anything but letters
    and digits as one space, ``st``/``ste`` as ``saint``/``sainte`` (``Saint-Étienne``, ``st etienne``
    and ``SAINT ETIENNE`` all give ``saint etienne``)."""
    words = re.sub(r"[^a-z0-9]+", " ", fold(text).replace("œ", "oe")).split()
    return " ".join({"st": "saint", "ste": "sainte"}.get(w, w) for w in words)

"""Text folded for searching: what the nurses page compares, kept in columns the database searches."""

from __future__ import annotations

import unicodedata

# The folded columns' length (a fold may be longer than its text: ``ß`` gives ``ss``).
FOLDED_LENGTH = 255


def fold(text: str | None) -> str:
    """Lower case without accents: « etienne » finds Saint-Étienne (hyphens and spaces are kept)."""
    return "".join(c for c in unicodedata.normalize("NFD", (text or "").casefold()) if unicodedata.category(c) != "Mn")


def folded(text: str | None) -> str:
    """What a folded column holds for ``text``."""
    return fold(text)[:FOLDED_LENGTH]

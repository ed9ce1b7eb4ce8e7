"""Finding a commune as a nurse types it: a postcode, a commune's name (any case, with or without
accents and hyphens), or a suggestion picked from the list (``Saint-Chamond (42400)``).

Communes are reference data (``dispatch.geo``): their names are read once per database and
process, folded for comparison, and searched in memory (35,000 names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import geo
from models import Commune, Postcode
from models.folding import search_words as fold  # the desk's suggestions fold alike

SUGGESTIONS = 8
_WITH_CODE = re.compile(r"^(?P<name>.*?)\s*\((?P<code>\d{5}|\d{2}|2[AB]|\d{3})\)$")
_INDEX: dict[str, list[Entry]] = {}


class ZoneError(ValueError):
    """A commune that cannot be told from what was typed; the message is French, for her page."""


@dataclass(frozen=True)
class Entry:
    insee: str
    name: str
    department: str
    postcodes: tuple[str, ...]
    folded: str

    @property
    def label(self) -> str:
        """What the suggestion list shows and what picking it types: ``Saint-Chamond (42400)``."""
        return f"{self.name} ({self.postcodes[0] if self.postcodes else self.department})"


def _index(session: Session) -> list[Entry]:
    bind = session.get_bind()
    key = getattr(bind, "engine", bind).url.render_as_string()
    if key not in _INDEX:
        postcodes: dict[str, list[str]] = {}
        for postcode, insee in session.execute(select(Postcode.postcode, Postcode.insee)):
            postcodes.setdefault(insee, []).append(postcode)
        entries = [
            Entry(insee, name, department, tuple(sorted(postcodes.get(insee, []))), fold(name))
            for insee, name, department in session.execute(select(Commune.insee, Commune.name, Commune.department))
        ]
        if not entries:
            return []  # communes not loaded yet: ask again next time
        _INDEX[key] = sorted(entries, key=lambda e: (e.folded, e.postcodes))
    return _INDEX[key]


def suggest(session: Session, typed: str, limit: int = SUGGESTIONS) -> list[Entry]:
    """Communes for the list under the field: by postcode prefix, else by name (names that start
    with what was typed first, then names with a word that does)."""
    wanted = fold(typed[:80])
    if len(wanted) < 2:
        return []
    entries = _index(session)
    if wanted.isdigit():
        return [e for e in entries if any(p.startswith(wanted) for p in e.postcodes)][:limit]
    starts = [e for e in entries if e.folded.startswith(wanted)]
    if len(starts) < limit:
        inner = [e for e in entries if f" {wanted}" in f" {e.folded}" and not e.folded.startswith(wanted)]
        starts += inner[: limit - len(starts)]
    return starts[:limit]


def resolve(session: Session, typed: str) -> list[geo.Place]:
    """The communes meant by what she typed: all the communes of a postcode, the commune of a
    name or of a picked suggestion. Raises :class:`ZoneError` with a French reason."""
    text = " ".join((typed or "").split())[:120]
    if not text:
        raise ZoneError("Indiquez un code postal ou le nom d'une commune.")
    if re.fullmatch(r"\d{5}", text):
        places = geo.communes_for_postcode(session, text)
        if not places and (place := geo.commune(session, text)):
            places = [place]  # an INSEE code, as in the CSV import
        if not places:
            raise ZoneError(f"Code postal inconnu : {text}. Vérifiez les cinq chiffres.")
        return places
    entries = _index(session)
    match = _WITH_CODE.match(text)
    name = fold(match["name"] if match else text)
    same = [e for e in entries if e.folded == name]
    if match:
        code = match["code"]
        same = [e for e in same if code in e.postcodes or e.department == code]
    if not same:
        raise ZoneError(
            f"Commune inconnue : « {text} ». Tapez le début de son nom ou son code postal, "
            "puis choisissez-la dans la liste."
        )
    if len(same) > 1:
        choices = ", ".join(e.label for e in same[:4])
        raise ZoneError(f"Plusieurs communes s'appellent « {same[0].name} » : précisez laquelle ({choices}).")
    return [p for p in [geo.commune(session, same[0].insee)] if p is not None]

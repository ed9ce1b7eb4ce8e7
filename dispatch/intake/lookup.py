"""What a coordinator on the phone types, found: communes by postcode or name, registered nurses
and requesters by name or phone.

Names are compared folded (case, accents, hyphens and apostrophes do not matter, ``st`` is
``saint``), so "st etienne" finds Saint-Étienne. The database narrows with a LIKE whose
letters that may carry an accent are wildcards; Python keeps the true matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.phones import PhoneError, normalize_phone
from models import Commune, Nurse, Postcode, Requester, RequesterPhone
from models.folding import search_words as fold  # the nurse's space folds alike

MAX_SUGGESTIONS = 12
_ACCENTABLE = set("aceiouy")
_POSTCODE_FIRST = re.compile(r"^\s*(\d{5})\b\s*(.*)$")


def _like(folded: str) -> str:
    """A LIKE pattern that the stored (accented, hyphenated, any case) name matches."""
    return "%" + "".join("_" if c in _ACCENTABLE or c == " " else c for c in folded) + "%"


@dataclass(frozen=True)
class CommuneChoice:
    insee: str
    name: str
    postcode: str
    department: str

    @property
    def label(self) -> str:
        """What the form's field holds once chosen, and what ``find_commune`` reads back."""
        return f"{self.postcode} {self.name}"


def search_communes(session: Session, query: str, limit: int = MAX_SUGGESTIONS) -> list[CommuneChoice]:
    """Communes for a postcode (or its first digits), a name, or both (``42400 saint cham``)."""
    query = (query or "")[:100]
    digits = re.match(r"^\s*(\d{2,5})\b\s*(.*)$", query)
    code, name = (digits.group(1), digits.group(2)) if digits else ("", query)
    folded = fold(name)
    if not code and len(folded) < 2:
        return []
    rows = select(Commune.insee, Commune.name, Postcode.postcode, Commune.department).join(
        Postcode, Postcode.insee == Commune.insee
    )
    if code:
        rows = rows.where(Postcode.postcode.like(code + "%"))
    if folded:
        rows = rows.where(func.lower(Commune.name).like(_like(folded)))
    found = [CommuneChoice(*row) for row in session.execute(rows.order_by(Postcode.postcode, Commune.name).limit(2000))]
    if folded:
        found = [c for c in found if folded in fold(c.name)]
        found.sort(key=lambda c: (not fold(c.name).startswith(folded), len(c.name), c.name, c.postcode))
    return found[:limit]


def find_commune(session: Session, text: str) -> tuple[str | None, str | None, str | None]:
    """The form's commune field as (postcode, insee, error): ``42400``, ``42400 Saint-Chamond``
    (a suggestion as chosen) or a name alone when it names one commune."""
    text = (text or "").strip()[:100]
    if not text:
        return None, None, "commune ou code postal obligatoire"
    first = _POSTCODE_FIRST.match(text)
    if first:
        postcode, name = first.group(1), fold(first.group(2))
        if not name:
            return postcode, None, None  # the API's rules take it from here (unknown, several communes)
        communes = search_communes(session, postcode, limit=200)
        same = [c for c in communes if fold(c.name) == name] or [c for c in communes if fold(c.name).startswith(name)]
        if len(same) == 1:
            return postcode, same[0].insee, None
        return None, None, "commune inconnue pour ce code postal : choisissez-la dans la liste"
    folded = fold(text)
    matches = [c for c in search_communes(session, text, limit=200) if fold(c.name) == folded]
    communes = {c.insee for c in matches}
    if len(communes) == 1:
        return matches[0].postcode if len({c.postcode for c in matches}) == 1 else None, matches[0].insee, None
    if communes:
        return None, None, "plusieurs communes portent ce nom : précisez le code postal"
    return None, None, "commune inconnue : tapez son code postal ou choisissez-la dans la liste"


@dataclass(frozen=True)
class PersonChoice:
    id: int
    name: str
    phone: str

    @property
    def label(self) -> str:
        return f"{self.name} · {normalize_phone(self.phone).national}"


def _digits_query(query: str) -> str | None:
    """The E.164 prefix a typed (partial) phone number stands for, when the query is one."""
    digits = re.sub(r"[\s.\-]", "", query or "")
    if len(digits) < 4 or not re.fullmatch(r"\+?\d+", digits):
        return None
    if digits.startswith("+"):
        return digits
    return "+33" + digits[1:] if digits.startswith("0") else "+" + digits


def search_nurses(session: Session, query: str, limit: int = MAX_SUGGESTIONS) -> list[PersonChoice]:
    """Registered nurses (not opted out) whose name or number matches what was typed."""
    prefix = _digits_query(query)
    rows = select(Nurse.id, Nurse.name, Nurse.phone).where(Nurse.opted_out_at.is_(None))
    if prefix:
        rows = rows.where(Nurse.phone.like(prefix + "%"))
    else:
        folded = fold(query)
        if len(folded) < 2:
            return []
        rows = rows.where(func.lower(Nurse.name).like(_like(folded)))
    found = [PersonChoice(*row) for row in session.execute(rows.order_by(Nurse.name).limit(500))]
    if not prefix:
        found = [p for p in found if fold(query) in fold(p.name)]
    return found[:limit]


def search_requesters(session: Session, query: str, limit: int = MAX_SUGGESTIONS) -> list[PersonChoice]:
    """Registered requesters by name or by one of their numbers (one line per number)."""
    prefix = _digits_query(query)
    rows = select(Requester.id, Requester.name, RequesterPhone.phone).join(
        RequesterPhone, RequesterPhone.requester_id == Requester.id
    )
    if prefix:
        rows = rows.where(RequesterPhone.phone.like(prefix + "%"))
    else:
        folded = fold(query)
        if len(folded) < 2:
            return []
        rows = rows.where(func.lower(Requester.name).like(_like(folded)))
    found = [PersonChoice(*row) for row in session.execute(rows.order_by(Requester.name).limit(500))]
    if not prefix:
        found = [p for p in found if fold(query) in fold(p.name)]
    return found[:limit]


def find_requester(session: Session, name: str, phone: str | None) -> Requester | None:
    """The registered requester the form names (its exact name, folded; or ``Name · number`` as
    suggested), else the one the callback number belongs to when no name was typed."""
    name = (name or "").split(" · ")[0].strip()
    if name:
        folded = fold(name)
        candidates = session.scalars(select(Requester).where(func.lower(Requester.name).like(_like(folded))))
        same = [r for r in candidates if fold(r.name) == folded]
        return same[0] if len(same) == 1 else None
    if phone:
        return session.scalar(select(Requester).join(RequesterPhone).where(RequesterPhone.phone == phone))
    return None


def nurse_phone(session: Session, text: str) -> tuple[str | None, str | None]:
    """The usual-nurse field as (number as typed, error): a number, ``Name · number`` as
    suggested, or the name of one registered nurse."""
    text = (text or "").strip()[:200]
    if not text:
        return None, None
    if " · " in text:
        text = text.rsplit(" · ", 1)[1]
    try:
        return normalize_phone(text).e164, None
    except PhoneError:
        pass
    if re.fullmatch(r"[\d\s.+\-/()]+", text):
        return text, None  # a mistyped number: the API's check says what is wrong with it
    folded = fold(text)
    matches = [p for p in search_nurses(session, text, limit=50) if fold(p.name) == folded]
    if len(matches) == 1:
        return matches[0].phone, None
    if matches:
        return None, "plusieurs infirmières portent ce nom : choisissez-la dans la liste ou tapez son numéro"
    return None, "infirmière inconnue : choisissez-la dans la liste ou tapez son numéro"

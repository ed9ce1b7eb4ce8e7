"""The fixed words of the domain (DESIGN §5): care types, requester kinds, reference length.

The statuses of requests and offers are ``dispatch.lifecycle``'s."""

from __future__ import annotations

# Care types, in the IVR menu's order (digits 1..6 then 9 for "autre").
CARE_TYPES: tuple[str, ...] = ("pansement", "injection", "perfusion", "toilette", "surveillance", "sortie", "autre")
IVR_CARE_DIGITS: dict[str, str] = {
    "1": "pansement",
    "2": "injection",
    "3": "perfusion",
    "4": "toilette",
    "5": "surveillance",
    "6": "sortie",
    "9": "autre",
}
# Care every nurse gives (also nurses with no skills listed); the others need the skill.
GENERAL_CARE: frozenset[str] = frozenset({"pansement", "injection", "toilette", "surveillance", "autre"})
# Short French labels used in texts and speech (GSM-7 only).
CARE_LABELS: dict[str, str] = {
    "pansement": "pansement",
    "injection": "injection/prise de sang",
    "perfusion": "perfusion",
    "toilette": "toilette",
    "surveillance": "surveillance",
    "sortie": "sortie d'hospitalisation",
    "autre": "soins infirmiers",
}

REQUESTER_KINDS: tuple[str, ...] = ("hopital", "ehpad", "labo", "social", "medecin", "autre")

REFERENCE_LENGTH = 6


def required_skill(care_type: str) -> str | None:
    """The skill a nurse must list for this care, or None when every nurse gives it."""
    return None if care_type in GENERAL_CARE else care_type

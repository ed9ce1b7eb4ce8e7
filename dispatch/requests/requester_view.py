"""What a requester reads of its own request through the API (DESIGN §5, issue #14 §8).

The coordinators' timeline holds their free-text notes, their names, who opened the page and
every nurse offered the request. A requester needs none of it: received, searching, the nurse
found (her name and phone), called back, withdrawn, unfilled, cancelled. Each line is built
from the request's events, with a kind and a French label, and nothing else of them.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from models import CareRequest

LABELS = {
    "received": "Demande reçue",
    "searching": "Recherche d'une infirmière en cours",
    "nurse_found": "Une infirmière a accepté",
    "nurse_withdrew": "L'infirmière s'est désistée : la recherche reprend",
    "called_back": "Demandeur rappelé",
    "unfilled": "Aucune infirmière disponible",
    "cancelled": "Demande annulée",
}
# The events a requester sees, under its own words; every other event stays internal.
_SHOWN = {
    "created": "received",
    "wave_sent": "searching",
    "offer_sent": "searching",
    "waiting_texting_hours": "searching",
    "accepted": "nurse_found",
    "withdrawn": "nurse_withdrew",
    "confirmed": "called_back",
    "requester_informed": "called_back",
    "called_back": "called_back",
    "unfilled": "unfilled",
    "cancelled": "cancelled",
}
# After these the next wave is a new search, told again.
_SEARCH_ENDS = {"accepted", "withdrawn", "redispatch", "unfilled"}


def requester_timeline(request: CareRequest, timezone: ZoneInfo) -> list[dict]:
    """The requester's timeline: one line per step it needs to know, in order, local times."""
    lines, searching = [], False
    for event in request.events:
        if event.kind in _SEARCH_ENDS:
            searching = False
        kind = _SHOWN.get(event.kind)
        if kind is None or (kind == "searching" and searching):
            continue
        searching = searching or kind == "searching"
        line = {"at": event.at.astimezone(timezone).isoformat(), "kind": kind, "label": LABELS[kind]}
        if kind == "nurse_found" and event.nurse is not None:
            line["nurse"] = {"name": event.nurse.name, "phone": event.nurse.phone}
        lines.append(line)
    return lines

"""French words the coordinator pages show for the domain's codes (statuses, care, events)."""

from __future__ import annotations

from dispatch.texts import SPOKEN_CARE

CARE = SPOKEN_CARE  # the words of the phone menu

STATUS = {
    "open": "en cours",
    "accepted": "acceptée",
    "confirmed": "confirmée",
    "unfilled": "non pourvue",
    "cancelled": "annulée",
    "review": "à revoir",
}

OFFER_STATUS = {
    "pending": "en attente d'envoi",
    "sent": "envoyée",
    "delivered": "reçue",
    "accepted": "OUI",
    "declined": "NON",
    "failed": "non distribuée",
    "withdrawn": "retirée",
    "taken": "pourvue par une autre",
}

EVENT = {
    "created": "Demande créée",
    "review": "À revoir par une coordinatrice",
    "usual_nurse_not_registered": "Infirmière habituelle non inscrite",
    "wave_sent": "Vague de propositions",
    "waiting_texting_hours": "En attente des heures d'envoi",
    "offer_sent": "Proposition envoyée",
    "offer_failed": "Proposition non distribuée",
    "delivery": "Statut de livraison SMS",
    "declined": "Refus",
    "accepted": "Acceptée",
    "late_yes": "OUI arrivé trop tard",
    "wave_ended_early": "Vague terminée (tous ont répondu)",
    "unfilled": "Non pourvue",
    "redispatch": "Nouvelle diffusion (nouvelle recherche)",
    "cancelled": "Annulée",
    "cancel_ignored": "Annulation ignorée (déjà close)",
    "withdrawn": "Désistement de l'infirmière (nouvelle recherche)",
    "waiting_answers": "Plus personne à solliciter : en attente des réponses",
    "voicemail_left": "Message laissé sur répondeur",
    "sms_sent": "SMS envoyé",
    "sms_failed": "SMS non envoyé",
    "call_placed": "Appel passé",
    "call_status": "Appel : statut",
    "call_answered": "Appel décroché",
    "call_retry": "Appel : nouvelle tentative prévue",
    "requester_unreachable": "Demandeur injoignable",
    "confirmed": "Demandeur informé par l'appel",
    "requester_informed": "Demandeur informé par une coordinatrice",
    "called_back": "Demandeur rappelé",
    "viewed": "Fiche consultée",
    "edited": "Demande modifiée",
    "offer_proposed": "Proposition envoyée par une coordinatrice (hors vague)",
    "coordinator_sms": "Réponse d'une coordinatrice par SMS",
}

DELIVERY = {
    "queued": "en file",
    "sending": "en cours d'envoi",
    "sent": "envoyé",
    "delivered": "reçu",
    "undelivered": "non distribué",
    "failed": "échec",
    "received": "reçu",
    "canceled": "annulé",
}

CALL_STATUS = {
    "queued": "en file",
    "placing": "en cours",
    "initiated": "lancé",
    "ringing": "sonne",
    "in-progress": "en communication",
    "completed": "terminé",
    "busy": "occupé",
    "no-answer": "pas de réponse",
    "failed": "échec",
    "canceled": "annulé",
}

CALL_PURPOSE = {
    "intake": "appel du demandeur",
    "confirm": "appel de confirmation",
    "unfilled": "appel « non pourvue »",
    "withdrawn": "appel « désistement »",
}

# Values inside events' data, in words.
ANSWERED_BY = {
    "human": "une personne",
    "machine_start": "un répondeur",
    "machine_end_beep": "un répondeur",
    "machine_end_silence": "un répondeur",
    "machine_end_other": "un répondeur",
    "fax": "un fax",
    "unknown": "inconnu",
}
VALUES = {
    "answered_by": ANSWERED_BY,
    "via": {"call": "l'appel"},
    "channel": {"api": "API", "sms": "SMS", "voice": "téléphone", "coordinator": "coordinatrice"},
    "sms": {"True": "oui", "False": "non"},
}

MESSAGE_KIND = {
    "offer": "proposition",
    "notice": "avis",
    "alert": "alerte",
    "reply": "réponse",
    "inbound": "reçu",
}


def care(code: str | None) -> str:
    return CARE.get(code or "", code or "–")


def status(code: str | None) -> str:
    return STATUS.get(code or "", code or "–")


def event(code: str) -> str:
    return EVENT.get(code, code.replace("_", " "))

"""Every French SMS the service sends (DESIGN §7), one function per text.

Each function takes plain values and returns a GSM-7 string signed ``"<name>: ..."``.
Offers must fit one segment; the rest stay short. No text carries health data
or a patient's identity: the accepted nurse gets a signed link for that.
"""

from __future__ import annotations

from datetime import datetime

from dispatch.gsm import SINGLE_SEGMENT_GSM, septets, to_gsm7
from dispatch.vocab import CARE_LABELS

WEEKDAYS_SHORT = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
ASAP = "dès que possible"
# A long SIO_NAME must not eat the commune in an offer: it is cut to this in offers only.
OFFER_NAME_MAX = 16
# Beyond this many references a list ends with "et 2 autres", to keep help texts to one or two segments.
REFS_SHOWN = 4


def _sign(name: str, body: str) -> str:
    return to_gsm7(f"{_clean(name)}: {body}")


def _clean(text: str | None) -> str:
    """Collapse whitespace so a value typed with newlines cannot break a text's layout."""
    return " ".join((text or "").split())


def care_label(care_type: str) -> str:
    """The short French label of a care type (``soins infirmiers`` for an unknown one)."""
    return CARE_LABELS.get(care_type, CARE_LABELS["autre"])


def _refs(pending_refs: list[str]) -> str:
    shown = ", ".join(pending_refs[:REFS_SHOWN])
    extra = len(pending_refs) - REFS_SHOWN
    if extra <= 0:
        return shown
    return f"{shown} et {extra} autre" + ("s" if extra > 1 else "")


def format_time(start_local: datetime) -> str:
    """``14h30``, ``9h``: how people write a time in French texts."""
    return f"{start_local.hour}h{start_local.minute:02d}" if start_local.minute else f"{start_local.hour}h"


def format_when(start_local: datetime | None, has_time: bool, now_local: datetime) -> str:
    """``auj. 14h30``, ``demain``, ``lun. 24/11 9h`` or ``dès que possible`` (no start)."""
    if start_local is None:
        return ASAP
    delta = (start_local.date() - now_local.date()).days
    if delta == 0:
        day = "auj."
    elif delta == 1:
        day = "demain"
    else:
        day = f"{WEEKDAYS_SHORT[start_local.weekday()]} {start_local:%d/%m}"
    return f"{day} {format_time(start_local)}" if has_time else day


def spell_digits(reference: str) -> str:
    """``"1 2 3 4 5 6"``: a reference read digit by digit by a speech engine."""
    return " ".join(reference)


def shorten(text: str, max_septets: int) -> str:
    """Fit a commune name in ``max_septets``: ``Saint-``→``St-`` first, then cut with a final ``.``."""
    if septets(text) <= max_septets:
        return text
    text = text.replace("Sainte-", "Ste-").replace("Saint-", "St-")
    if septets(text) <= max_septets:
        return text
    while text and septets(text) > max_septets - 1:
        text = text[:-1]
    return text.rstrip(" -'") + "." if max_septets > 0 else ""


def offer(
    name: str,
    commune: str,
    postcode: str,
    care_type: str,
    start_local: datetime | None,
    has_time: bool,
    reference: str,
    urgent: bool,
    now_local: datetime,
) -> str:
    """The proposal texted to a nurse; always one GSM-7 segment (the commune is shortened to fit).

    No patient identity: commune, postcode, care, when, reference, how to answer.
    """
    marker = "URGENT " if urgent else ""
    head = f"{_clean(name)[:OFFER_NAME_MAX]}: {marker}demande {reference}, {care_label(care_type)} à "
    tail = (
        f" ({_clean(postcode)}), {format_when(start_local, has_time, now_local)}. "
        f"Répondez OUI {reference} ou NON {reference}"
    )
    head, tail = to_gsm7(head), to_gsm7(tail)
    place = to_gsm7(_clean(commune))
    place = shorten(place, SINGLE_SEGMENT_GSM - septets(head) - septets(tail))
    return head + place + tail


def accepted_details(
    name: str,
    reference: str,
    commune: str,
    care_type: str,
    requester_name: str,
    callback_phone_display: str,
    link: str,
) -> str:
    """To the nurse whose yes won: whom to call back and the signed link (48 h) to the details."""
    who = _clean(requester_name) or "le demandeur"
    return _sign(
        name,
        f"merci, la demande {reference} ({care_label(care_type)} à {_clean(commune)}) est pour vous. "
        f"Rappelez {who} au {_clean(callback_phone_display)}. "
        f"Adresse et détails (lien valable 48 h): {link.strip()}",
    )


def taken(name: str, reference: str) -> str:
    """To the nurses still awaiting when another nurse took the request."""
    return _sign(name, f"la demande {reference} est pourvue, merci.")


def late_yes(name: str, reference: str) -> str:
    """To a nurse who said yes after the request was taken."""
    return _sign(name, f"la demande {reference} est déjà pourvue, merci.")


def declined_ack(name: str, reference: str) -> str:
    """A NON was recorded."""
    return _sign(name, f"c'est noté, vous refusez la demande {reference}. Merci.")


def pause_ack(name: str, days: int | None) -> str:
    """PAUSE recorded, for ``days`` days or until DISPO when ``days`` is None."""
    if days:
        span = "1 jour" if days == 1 else f"{days} jours"
        return _sign(name, f"pause notée pour {span}, plus de propositions d'ici là. DISPO pour reprendre avant.")
    return _sign(name, "pause notée, plus de propositions jusqu'à votre message DISPO.")


def resume_ack(name: str) -> str:
    """DISPO recorded: offers again."""
    return _sign(name, "c'est noté, vous recevez à nouveau les propositions. PAUSE pour les suspendre.")


def withdraw_ack(name: str, reference: str) -> str:
    """DESISTE recorded: the request reopens without her."""
    return _sign(name, f"désistement noté pour la demande {reference}. Nous prévenons le demandeur. Merci.")


def withdraw_nothing(name: str) -> str:
    """DESISTE from a nurse with no accepted request."""
    return _sign(name, "vous n'avez aucune demande acceptée en cours, rien à annuler.")


def opted_out_ack(name: str) -> str:
    """STOP/ARRET recorded: no more texts until START."""
    return _sign(name, "vous ne recevrez plus de SMS de notre part. Pour revenir, envoyez START.")


def opted_in_ack(name: str) -> str:
    """START recorded: texts again."""
    return _sign(name, "c'est noté, vous recevez à nouveau nos propositions. AIDE pour la liste des commandes.")


def help(name: str) -> str:
    """The list of commands (reply to AIDE); two segments at most."""
    return _sign(
        name,
        "OUI ref = accepter. NON ref = refuser. PAUSE ou PAUSE 3 = plus de propositions (3 jours). "
        "DISPO = reprendre. DESISTE ref = se désister après un OUI. ARRET = ne plus recevoir de SMS.",
    )


def unknown_reply(name: str, pending_refs: list[str]) -> str:
    """A reply the grammar did not understand: list her pending offers' references."""
    if not pending_refs:
        return _sign(name, "message non compris. Aucune proposition n'attend votre réponse. AIDE pour l'aide.")
    first = pending_refs[0]
    return _sign(
        name,
        f"message non compris. En attente de votre réponse: {_refs(pending_refs)}. "
        f"Répondez OUI {first} ou NON {first}. AIDE pour l'aide.",
    )


def which_reference(name: str, pending_refs: list[str], command: str = "OUI") -> str:
    """She has several pending offers and gave no reference: ask which (``OUI 123456``)."""
    first = pending_refs[0] if pending_refs else "123456"
    return _sign(
        name,
        f"plusieurs demandes attendent votre réponse: {_refs(pending_refs)}. "
        f"Précisez la référence, par ex. {command} {first}.",
    )


def no_pending_offer(name: str) -> str:
    """OUI/NON when nothing awaits her answer."""
    return _sign(name, "aucune proposition n'attend votre réponse. AIDE pour la liste des commandes.")


def unknown_reference(name: str, reference: str) -> str:
    """A reference that matches none of her offers."""
    return _sign(name, f"la référence {reference} ne correspond à aucune de vos propositions. Vérifiez le numéro.")


def offer_cancelled(name: str, reference: str) -> str:
    """To a nurse whose pending offer or accepted request was cancelled."""
    return _sign(name, f"la demande {reference} est annulée, inutile de vous déplacer. Merci.")


def coordinator_unfilled_alert(name: str, reference: str, commune: str, care_type: str) -> str:
    """To the coordinators on duty: nobody took the request."""
    return _sign(
        name,
        f"demande {reference} NON POURVUE ({care_label(care_type)} à {_clean(commune)}). "
        "A traiter sur la page de suivi.",
    )


def coordinator_review_alert(name: str, reference: str) -> str:
    """To the coordinators on duty: a request needs a human look."""
    return _sign(name, f"demande {reference} à vérifier. Voir la page de suivi.")


def requester_ack(
    name: str,
    reference: str,
    commune: str,
    care_type: str,
    start_local: datetime | None,
    has_time: bool,
    now_local: datetime,
) -> str:
    """Reply to an SMS request: its reference and how to cancel it."""
    return _sign(
        name,
        f"demande {reference} enregistrée: {care_label(care_type)} à {_clean(commune)}, "
        f"{format_when(start_local, has_time, now_local)}. Nous vous rappelons dès qu'une infirmière accepte. "
        f"Pour annuler: ANNULER {reference}",
    )


def requester_usage(name: str) -> str:
    """One-segment help for SMS intake: the postcode is required."""
    return _sign(
        name,
        "pour une demande, envoyez le code postal du patient, le soin, le jour et l'heure. "
        "Ex: 42400 pansement demain 9h. Pour annuler: ANNULER ref",
    )


def requester_cancelled(name: str, reference: str) -> str:
    """ANNULER done."""
    return _sign(name, f"la demande {reference} est annulée. Merci de nous avoir prévenus.")


def requester_cancel_unknown(name: str, reference: str) -> str:
    """ANNULER with a reference that is not an active request of this number."""
    return _sign(name, f"aucune demande en cours avec la référence {reference} depuis ce numéro.")


def requester_nurse_withdrew(name: str, reference: str) -> str:
    """The accepted nurse withdrew: the search goes on."""
    return _sign(
        name,
        f"l'infirmière qui avait accepté la demande {reference} s'est désistée. "
        "Nous cherchons quelqu'un d'autre et vous rappelons.",
    )


def requester_unfilled(name: str, reference: str) -> str:
    """Nobody took the request."""
    return _sign(
        name,
        f"désolés, aucune infirmière n'a pu accepter la demande {reference}. Les coordinatrices sont prévenues.",
    )


def confirmation(
    name: str,
    reference: str,
    commune: str,
    care_type: str,
    nurse_name: str,
    nurse_phone_display: str,
) -> str:
    """SMS fallback of the confirmation call: who will come and how to reach her."""
    return _sign(
        name,
        f"demande {reference} ({care_label(care_type)} à {_clean(commune)}): acceptée par "
        f"{_clean(nurse_name)}, joignable au {_clean(nurse_phone_display)}.",
    )


def unknown_sender_help(name: str) -> str:
    """A text from an unknown number that is not a request."""
    return _sign(
        name,
        "numéro réservé aux professionnels de santé. Pour une demande, "
        "envoyez le code postal du patient, le soin, le jour et l'heure. Ex: 42400 pansement demain 9h",
    )

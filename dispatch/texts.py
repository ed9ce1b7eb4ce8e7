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


def _sentence(text: str) -> str:
    """End with one full stop: ``auj.`` must not become ``auj..``."""
    return text if text.endswith(".") else text + "."


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
        f" ({_clean(postcode)}), {_sentence(format_when(start_local, has_time, now_local))} "
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
        "DISPO = reprendre. DESISTE ref = se désister après un OUI. ARRET = ne plus recevoir de SMS. "
        "PROFIL = votre espace.",
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
        "Elle est à traiter sur la page de suivi.",
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
        f"{_sentence(format_when(start_local, has_time, now_local))} "
        "Nous vous rappelons dès qu'une infirmière accepte. "
        f"Pour annuler: ANNULER {reference}",
    )


def requester_bad_date(name: str, start_local: datetime, problem: str) -> str:
    """A request by SMS whose day cannot be taken (``dispatch.starts``): nothing was created."""
    return _sign(
        name,
        f"demande non enregistrée: {start_local:%d/%m/%Y}, {problem}. "
        "Renvoyez-la avec le bon jour, ex: 42400 pansement demain 9h",
    )


def requester_usage(name: str) -> str:
    """One-segment help for SMS intake: the postcode is required."""
    return _sign(
        name,
        "pour une demande, envoyez le code postal du patient, le soin, le jour et l'heure. "
        "Ex: 42400 pansement demain 9h. Pour annuler: ANNULER ref",
    )


def requester_uncallable(name: str) -> str:
    """A request texted from a number the service may not call back (foreign, premium-rate)."""
    return _sign(
        name,
        "nous ne rappelons que les numéros fixes et mobiles français (outre-mer compris). "
        "Envoyez votre demande depuis un tel numéro, ou appelez-nous.",
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


UNAVAILABLE = "service momentanément indisponible, réessayez dans une minute"


def unknown_sender_help(name: str) -> str:
    """A text from an unknown number that is not a request."""
    return _sign(
        name,
        "numéro réservé aux professionnels de santé. Pour une demande, "
        "envoyez le code postal du patient, le soin, le jour et l'heure. Ex: 42400 pansement demain 9h",
    )


# ---------------------------------------------------------------------------------------------
# Speech: what the phone menu and the outbound calls say (``<Say language="fr-FR">``).
# Spoken, not texted: no GSM-7 rule and no length limit, but short sentences a caller with a
# patient in front of her can follow. Numbers are read digit by digit so they can be written
# down. Kept in a class namespace: the functions above are the SMS texts, each one signed.
# ---------------------------------------------------------------------------------------------

MONTHS_SPOKEN = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip
# Care types as said in the phone menu (DESIGN §6 step 3), in the order of IVR_CARE_DIGITS.
SPOKEN_CARE: dict[str, str] = {
    "pansement": "pansement",
    "injection": "injection ou prise de sang",
    "perfusion": "perfusion",
    "toilette": "toilette et soins d'hygiène",
    "surveillance": "surveillance et traitement",
    "sortie": "sortie d'hospitalisation",
    "autre": "autre soin",
}
# What coordinators read in a review request's reason and notes (status page, not spoken).
REVIEW_HANGUP = "appel interrompu avant la fin"
REVIEW_VOICEMAIL = "message vocal à écouter"
REVIEW_VOICEMAIL_EMPTY = "message vocal vide"
REVIEW_TRANSFERRED = "appel pris par une coordinatrice, demande à compléter"
IVR_STEP_LABELS: dict[str, str] = {
    "menu": "menu d'accueil",
    "postcode": "code postal",
    "commune": "choix de la commune",
    "care": "type de soin",
    "day": "jour",
    "date": "date",
    "time": "heure",
    "nurse": "infirmière habituelle",
    "details": "message de précisions",
    "callback": "numéro de rappel",
    "cancel": "annulation",
    "dialed": "transfert vers une coordinatrice",
    "voicemail": "message vocal",
}


class Attention:
    """What coordinators read on a flagged request: its reason and notes (status page, not texted)."""

    @staticmethod
    def requester_unreachable(attempts: int) -> str:
        """The reason when the requester could not be reached by phone."""
        calls = "1 appel" if attempts == 1 else f"{attempts} appels"
        return f"demandeur injoignable par téléphone ({calls} sans réponse)"

    @staticmethod
    def voicemail_left() -> str:
        """The reason when the call reached an answering machine: nobody heard it in person."""
        return "message laissé sur répondeur: le demandeur ne l'a pas entendu en personne"

    @staticmethod
    def ivr_notes(reason: str, step: str, answers: list[tuple[str, str]]) -> str:
        """A review request's notes: why, where the call stopped, and every answer given."""
        said = "; ".join(f"{label}: {value}" for label, value in answers) or "aucune réponse"
        return f"Appel vocal ({reason}), arrêté à l'étape « {IVR_STEP_LABELS.get(step, step)} ». Réponses: {said}."


class Speech:
    """The French sentences of the phone menu and of the outbound calls."""

    @staticmethod
    def spell_phone(national: str) -> str:
        """``"0 6, 1 2, 3 4, 5 6, 7 8"``: a phone number digit by digit, paused by pairs."""
        digits = "".join(ch for ch in national if ch.isdigit())
        return ", ".join(spell_digits(digits[i : i + 2]) for i in range(0, len(digits), 2))

    @staticmethod
    def greeting(name: str, requester_name: str | None, open_now: bool) -> str:
        hello = f"Bonjour {_clean(requester_name)}." if requester_name else "Bonjour."
        text = f"{hello} Vous êtes au service infirmier d'orientation {_clean(name)}."
        if not open_now:
            text += (
                " Nos coordinatrices ne répondent pas en ce moment, mais votre demande sera enregistrée"
                " et transmise aux infirmières."
            )
        return text

    @staticmethod
    def unavailable(name: str) -> str:
        return (
            f"Le service infirmier d'orientation {_clean(name)} a un problème technique en ce moment. "
            "Merci de rappeler dans quelques minutes."
        )

    @staticmethod
    def menu(coordinators: bool = True) -> str:
        """The first menu; "0" only when a coordinator is on duty to take the call."""
        text = "Nouvelle demande: tapez 1. Annuler une demande: tapez 2."
        return text + (" Parler à une coordinatrice: tapez 0." if coordinators else "")

    @staticmethod
    def not_understood() -> str:
        return "Je n'ai pas compris votre réponse."

    @staticmethod
    def ask_postcode() -> str:
        return "Tapez le code postal du domicile du patient, en 5 chiffres."

    @staticmethod
    def unknown_postcode(postcode: str) -> str:
        return f"Le code postal {spell_digits(postcode)} ne correspond à aucune commune."

    @staticmethod
    def commune_menu(names: list[str], more: bool) -> str:
        """The numbered communes of one page; ``more``: 9 gives the next page."""
        choices = " ".join(f"{_clean(n)}: tapez {i}." for i, n in enumerate(names, start=1))
        text = f"Plusieurs communes ont ce code postal. {choices}"
        return text + (" Autres communes: tapez 9." if more else "")

    @staticmethod
    def care_menu(digits: dict[str, str]) -> str:
        """``digits`` is ``vocab.IVR_CARE_DIGITS``: the spoken order is the keypad's."""
        choices = " ".join(f"{SPOKEN_CARE[care].capitalize()}: tapez {d}." for d, care in digits.items())
        return f"Quel soin? {choices}"

    @staticmethod
    def day_menu() -> str:
        return "Pour quel jour? Aujourd'hui: tapez 1. Demain: tapez 2. Une autre date: tapez 3."

    @staticmethod
    def ask_date() -> str:
        return "Tapez la date en 4 chiffres, le jour puis le mois. Par exemple 0 5 0 3 pour le 5 mars."

    @staticmethod
    def past_date(day) -> str:
        """A date already passed: the caller types another one."""
        return f"Le {day.day} {MONTHS_SPOKEN[day.month - 1]} est passé."

    @staticmethod
    def ask_time() -> str:
        return (
            "Tapez l'heure de passage souhaitée en 4 chiffres, par exemple 0 9 3 0 pour 9 heures 30. "
            "Si l'heure est sans importance, tapez dièse."
        )

    @staticmethod
    def ask_usual_nurse() -> str:
        return (
            "Si le patient a une infirmière habituelle, tapez son numéro de téléphone à 10 chiffres. "
            "Sinon, tapez dièse."
        )

    @staticmethod
    def ask_details() -> str:
        return (
            "Après le bip, donnez le nom du patient, son adresse et toute précision utile. "
            "Vous avez 2 minutes. Tapez dièse quand vous avez terminé."
        )

    @staticmethod
    def confirm_callback(number_national: str) -> str:
        return (
            f"Nous vous rappellerons au {Speech.spell_phone(number_national)}. Pour confirmer, tapez 1. "
            "Sinon, tapez le numéro à 10 chiffres où vous rappeler, suivi de dièse."
        )

    @staticmethod
    def ask_callback() -> str:
        return "Tapez le numéro à 10 chiffres où vous rappeler, suivi de dièse."

    @staticmethod
    def callback_refused() -> str:
        return "Nous ne rappelons pas les numéros surtaxés ou spéciaux. Donnez un numéro fixe ou mobile."

    @staticmethod
    def request_registered(reference: str) -> str:
        spelled = spell_digits(reference)
        return (
            f"Votre demande est enregistrée sous la référence {spelled}. Je répète: {spelled}. "
            "Nous vous rappelons dès qu'une infirmière accepte. Au revoir."
        )

    @staticmethod
    def request_unserved(reference: str, coordinators: bool) -> str:
        """The request is registered but no registered nurse serves the place: said before she hangs up."""
        spelled = spell_digits(reference)
        text = (
            f"Votre demande est enregistrée sous la référence {spelled}. Je répète: {spelled}. "
            "Mais aucune infirmière inscrite ne dessert cette commune pour le moment."
        )
        if coordinators:
            return text + " Je vous passe une coordinatrice pour trouver une solution."
        return (
            text + " Les coordinatrices sont prévenues et vous rappelleront pendant les heures de service. Au revoir."
        )

    @staticmethod
    def transfer() -> str:
        return "Je vous mets en relation avec une coordinatrice. Merci de patienter."

    @staticmethod
    def voicemail() -> str:
        return (
            "Aucune coordinatrice n'est disponible. Après le bip, laissez un message avec le code postal "
            "du patient, le soin, le jour, et le numéro où vous rappeler. Tapez dièse pour terminer."
        )

    @staticmethod
    def voicemail_done(reference: str) -> str:
        spelled = spell_digits(reference)
        return (
            f"Votre message est enregistré sous la référence {spelled}. Une coordinatrice vous rappellera. Au revoir."
        )

    @staticmethod
    def ask_cancel_reference() -> str:
        return "Tapez la référence à 6 chiffres de la demande à annuler."

    @staticmethod
    def cancel_unknown(reference: str) -> str:
        return f"Aucune demande en cours ne porte la référence {spell_digits(reference)} depuis votre numéro."

    @staticmethod
    def cancel_done(reference: str) -> str:
        return f"La demande {spell_digits(reference)} est annulée. Merci de nous avoir prévenus. Au revoir."

    @staticmethod
    def cancel_closed(reference: str) -> str:
        return f"La demande {spell_digits(reference)} est déjà terminée ou annulée. Au revoir."

    @staticmethod
    def cancel_hidden_number() -> str:
        return "Votre numéro est masqué: nous ne pouvons pas retrouver vos demandes."

    @staticmethod
    def goodbye() -> str:
        return "Merci de votre appel. Au revoir."

    @staticmethod
    def confirm_call(
        name: str, reference: str, commune: str, care_type: str, nurse_name: str, nurse_phone_national: str
    ) -> str:
        """The confirmation call: reference, commune, care, the nurse and how to reach her."""
        return (
            f"Bonjour, ici le service infirmier d'orientation {_clean(name)}. Votre demande référence "
            f"{spell_digits(reference)}, {SPOKEN_CARE.get(care_type, SPOKEN_CARE['autre'])} à {_clean(commune)}, "
            f"est acceptée par l'infirmière {_clean(nurse_name)}. Vous pouvez la joindre au "
            f"{Speech.spell_phone(nurse_phone_national)}."
        )

    @staticmethod
    def replay_hint() -> str:
        return "Pour réécouter, tapez 1."

    @staticmethod
    def unfilled_call(name: str, reference: str) -> str:
        return (
            f"Bonjour, ici le service infirmier d'orientation {_clean(name)}. Pour votre demande référence "
            f"{spell_digits(reference)}, aucune infirmière n'a pu accepter. Une coordinatrice va vous rappeler."
        )

    @staticmethod
    def withdrawn_call(name: str, reference: str) -> str:
        return (
            f"Bonjour, ici le service infirmier d'orientation {_clean(name)}. L'infirmière qui avait accepté "
            f"votre demande référence {spell_digits(reference)} s'est désistée. Nous cherchons une autre "
            "infirmière et vous rappelons."
        )

    @staticmethod
    def cancelled_call(name: str, reference: str) -> str:
        return (
            f"Bonjour, ici le service infirmier d'orientation {_clean(name)}. "
            f"Votre demande référence {spell_digits(reference)} est annulée."
        )


def request_changed(
    name: str,
    reference: str,
    commune: str,
    care_type: str,
    start_local: datetime | None,
    has_time: bool,
    now_local: datetime,
) -> str:
    """To the nurses offered a request, and its accepted nurse, when a coordinator changed its care
    or its start: what it is now (no patient detail), in one segment."""
    head = to_gsm7(f"{_clean(name)[:OFFER_NAME_MAX]}: demande {reference} modifiée: {care_label(care_type)} à ")
    tail = to_gsm7(f", {_sentence(format_when(start_local, has_time, now_local))}")
    return head + shorten(to_gsm7(_clean(commune)), SINGLE_SEGMENT_GSM - septets(head) - septets(tail)) + tail


# A coordinator's own answer to a text (issue 15): what she typed, signed, in GSM-7.
COORDINATOR_MESSAGE_MAX = 300


def coordinator_message(name: str, body: str) -> str:
    """A coordinator's answer, typed on the board, to a text that was not a command."""
    return _sign(name, _clean(body)[:COORDINATOR_MESSAGE_MAX])


# ---------------------------------------------------------------------------------------------
# A nurse's own space and registration (issue 16): PROFIL / COMPTE, INSCRIPTION.
# ---------------------------------------------------------------------------------------------


def profile_link(name: str, url: str) -> str:
    """PROFIL: her personal link."""
    return _sign(
        name, f"votre espace (communes, soins, horaires, absences, pause): {url} Lien personnel, 24h, 1 seule fois."
    )


def profile_unknown(name: str) -> str:
    """PROFIL from a number that is no nurse's."""
    return _sign(name, "ce numéro n'est pas celui d'une infirmière inscrite. Pour vous inscrire, envoyez INSCRIPTION.")


def registration_link(name: str, url: str) -> str:
    """INSCRIPTION from an unknown mobile: the form."""
    return _sign(name, f"pour vous inscrire, remplissez ce formulaire (valable 24h): {url}")


def registration_pending(name: str) -> str:
    """INSCRIPTION again while hers waits for a coordinator."""
    return _sign(name, "votre inscription attend la validation d'une coordinatrice. Vous recevrez un SMS.")


def registration_not_mobile(name: str) -> str:
    """INSCRIPTION from a number that cannot receive offers by SMS."""
    return _sign(name, "l'inscription se fait depuis votre téléphone mobile: envoyez INSCRIPTION depuis celui-ci.")


def registration_already_nurse(name: str) -> str:
    """INSCRIPTION from a registered nurse."""
    return _sign(name, "vous êtes déjà inscrite. PROFIL pour votre espace (communes, horaires, absences).")


def registration_validated(name: str) -> str:
    """A coordinator validated her registration."""
    return _sign(
        name,
        "votre inscription est validée: vous recevrez nos propositions. "
        "Répondez OUI ou NON. PROFIL pour votre espace, AIDE pour l'aide.",
    )


def registration_refused(name: str) -> str:
    """A coordinator refused her registration."""
    return _sign(name, "votre inscription n'a pas été validée. Pour en savoir plus, appelez le service.")


def coordinator_nurse_erased(name: str, nurse_name: str, held: list[str]) -> str:
    """To the coordinators on duty: a nurse erased her data from her space."""
    tail = f" Demandes qu'elle avait acceptées: {_refs(held)}." if held else ""
    return _sign(
        name,
        f"{_clean(nurse_name)[:40]} a demandé l'effacement de ses données: effacées, plus aucune proposition.{tail}",
    )

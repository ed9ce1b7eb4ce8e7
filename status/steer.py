"""The coordinator steers a request (issue 15): who could take it, an offer now, a yes given on
the phone, a cancellation confirmed with its reason, and the texts to read on the board.

Each action: one transaction calling one ``dispatch`` function with the coordinator's name as
actor, the effects enqueued after the commit, then back to the page it came from. The request's
page and the board include this module's partials (``_candidates.html``, ``_to_read.html``),
which read their rows through the template globals below.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.lifecycle import CANCELLABLE
from dispatch.messaging import to_read
from dispatch.requests import steer
from dispatch.requests.actions import assign_nurse, cancel_request
from dispatch.requests.create import find_request
from dispatch.sanitize import clean_text, row_id
from dispatch.texts import COORDINATOR_MESSAGE_MAX
from models import CareRequest, MessageToRead, Nurse
from status import labels
from status.web import actor_name, local_time, require_login
from workers.queue import enqueue

bp = Blueprint("steer", __name__, url_prefix="/status")
bp.before_request(require_login)

NOTE_MAX = 300
# Why a request is cancelled: the short list of the confirmation page (code → words kept in the timeline).
CANCEL_REASONS = {
    "hospitalise": "patient hospitalisé",
    "plus_besoin": "soin plus nécessaire",
    "trouve": "infirmière trouvée par le demandeur",
    "doublon": "demande en double",
    "erreur": "erreur de saisie",
    "deces": "patient décédé",
    "autre": "autre motif",
}
# Why the search would not ask a nurse now, in words (``dispatch.requests.steer``'s codes).
BLOCKED = {
    "opted_out": "ne reçoit plus de SMS (ARRET)",
    "paused": "en pause",
    "absent": "absente",
    "declined": "a refusé cette demande",
    "asked": "déjà sollicitée",
    "skill": "ne fait pas ce soin",
    "hours": "hors de ses horaires pour ce soin",
}
REFUSED = {
    "closed": "La demande ne prend plus de proposition (elle n'est ni en cours ni non pourvue).",
    "no_place": "La commune du patient est inconnue : impossible de rédiger la proposition.",
    "opted_out": "Cette infirmière ne reçoit plus de SMS (ARRET) : appelez-la.",
    "paused": "Cette infirmière est en pause : appelez-la plutôt.",
    "absent": "Cette infirmière est absente ce jour-là.",
    "declined": "Cette infirmière a déjà refusé cette demande.",
    "asked": "Cette infirmière a déjà reçu la proposition : elle attend sa réponse.",
}


@bp.app_template_global()
def steer_candidates(care_request: CareRequest, now: datetime) -> list[steer.CandidateRow]:
    """The request page's "who could take it" rows (``_candidates.html``), while it needs a nurse."""
    if care_request.status not in steer.ASSIGNABLE:
        return []
    return steer.who_could_take(db(), services().settings, care_request, now)


@bp.app_template_global()
def messages_to_read() -> list[MessageToRead]:
    """The board's "Messages à lire" (``_to_read.html``)."""
    return to_read.unread(db())


@bp.app_template_global()
def sender_name(item: MessageToRead) -> str:
    if item.nurse is not None:
        return item.nurse.name
    if item.request is not None and item.request.requester is not None:
        return item.request.requester.name
    return "numéro non enregistré"


@bp.app_template_filter("blocked")
def blocked_words(row: steer.CandidateRow) -> str:
    words = BLOCKED.get(row.blocked or "", "")
    if row.blocked == "paused" and row.until is not None:
        return f"{words} jusqu'au {local_time(row.until, '%d/%m %H:%M')}"
    if row.blocked == "absent" and row.until is not None:
        return f"{words} jusqu'au {row.until:%d/%m}"
    if row.blocked == "asked" and row.this_offer:
        return f"{words} ({labels.OFFER_STATUS.get(row.this_offer, row.this_offer)})"
    return words


def _request_or_404(reference: str) -> CareRequest:
    care_request = find_request(db(), reference[:6]) if reference.isdigit() else None
    if care_request is None:
        abort(404)
    return care_request


def _back(reference: str, anchor: str = "h-candidates"):
    return redirect(url_for("board.show", reference=reference) + f"#{anchor}")


def _nurse() -> Nurse | None:
    nurse_id = row_id(request.form.get("nurse_id", type=int))
    return db().get(Nurse, nurse_id) if nurse_id else None


@bp.post("/requests/<reference>/propose")
def propose(reference: str):
    """ "Proposer maintenant": an offer to one nurse at once, outside the waves."""
    session, now, settings = db(), utcnow(), services().settings
    with session.begin():
        care_request = _request_or_404(reference)
        nurse = _nurse()
        if nurse is None:
            flash("Choisissez une infirmière de la liste.", "error")
            return _back(reference)
        proposal = steer.propose_now(session, settings, care_request, nurse, now, actor=actor_name())
        name = nurse.name
    if proposal.refused:
        flash(REFUSED[proposal.refused], "error")
        return _back(reference)
    enqueue(settings, proposal.effects)
    when = f" ; il partira à {local_time(proposal.at, '%H:%M')} (heures d'envoi)" if proposal.at else ""
    flash(f"Proposition envoyée à {name}{when}. Sa réponse OUI ou NON suit le chemin habituel.", "ok")
    return _back(reference)


@bp.post("/requests/<reference>/phone-yes")
def phone_yes(reference: str):
    """ "A accepté au téléphone": the request is hers, through the same guarded acceptance."""
    session, now, settings = db(), utcnow(), services().settings
    note = clean_text(request.form.get("note", ""), NOTE_MAX).strip() or None
    with session.begin():
        care_request = _request_or_404(reference)
        nurse = _nurse()
        if nurse is None:
            flash("Choisissez une infirmière de la liste.", "error")
            return _back(reference)
        if care_request.status not in steer.ASSIGNABLE:
            flash(f"La demande est {labels.status(care_request.status)} : elle ne peut plus être attribuée.", "error")
            return _back(reference)
        if nurse.opted_out_at is not None:
            flash(f"{nurse.name} ne reçoit plus de SMS (ARRET) : elle ne recevrait pas les détails.", "error")
            return _back(reference)
        outcome = assign_nurse(session, settings, care_request, nurse, now, actor=actor_name(), note=note)
        won, name = care_request.accepted_nurse_id == nurse.id, nurse.name
    enqueue(settings, outcome.effects)
    if won:
        flash(f"Demande attribuée à {name} (accord au téléphone). Elle reçoit les détails par SMS.", "ok")
    else:
        flash("Une autre infirmière a accepté entre-temps : la demande n'a pas été réattribuée.", "error")
    return _back(reference, "main")


# --- cancel, confirmed, with a reason -----------------------------------------------------------


@bp.get("/requests/<reference>/cancel")
def confirm_cancel(reference: str):
    care_request = _request_or_404(reference)
    if care_request.status not in CANCELLABLE:
        flash("La demande est déjà close.", "error")
        return _back(reference, "main")
    return render_cancel(care_request, {}, {})


def render_cancel(care_request: CareRequest, form: dict, errors: dict, status: int = 200):
    return (
        render_template("cancel.html", r=care_request, reasons=CANCEL_REASONS, form=form, errors=errors),
        status,
    )


def cancel_form() -> tuple[dict, dict]:
    """The posted motive and details, and the French errors by field (empty when valid)."""
    form = {
        "motif": clean_text(request.form.get("motif", ""), 40).strip(),
        "reason": clean_text(request.form.get("reason", ""), 200).strip(),
    }
    errors = {}
    if form["motif"] not in CANCEL_REASONS:
        errors["motif"] = "Choisissez le motif de l'annulation."
    elif form["motif"] == "autre" and not form["reason"]:
        errors["reason"] = "Précisez le motif."
    return form, errors


# --- texts to read ----------------------------------------------------------------------------


def _item_or_404(item_id: int) -> MessageToRead:
    item = db().get(MessageToRead, item_id) if row_id(item_id) else None
    if item is None:
        abort(404)
    return item


@bp.get("/messages/<int:item_id>")
def message(item_id: int):
    item = _item_or_404(item_id)
    return render_message(item, {}, {})


def render_message(item: MessageToRead, form: dict, errors: dict, status: int = 200):
    return (
        render_template(
            "message.html",
            item=item,
            conversation=to_read.conversation(db(), item.phone),
            form=form,
            errors=errors,
            max_len=COORDINATOR_MESSAGE_MAX,
            now=utcnow(),
        ),
        status,
    )


@bp.post("/messages/<int:item_id>/reply")
def reply(item_id: int):
    """The coordinator answers the text by SMS (through the outbox); it counts as read."""
    session, now, settings = db(), utcnow(), services().settings
    body = clean_text(request.form.get("body", ""), 2000).strip()
    errors = {}
    if not body:
        errors["body"] = "Écrivez la réponse."
    elif len(body) > COORDINATOR_MESSAGE_MAX:
        errors["body"] = f"La réponse dépasse {COORDINATOR_MESSAGE_MAX} caractères ({len(body)})."
    if errors:
        return render_message(_item_or_404(item_id), {"body": body}, errors, 422)
    with session.begin():
        item = _item_or_404(item_id)
        effects = to_read.answer(session, settings, item, body, now, actor=actor_name())
    enqueue(settings, effects)
    flash("Réponse envoyée par SMS.", "ok")
    return redirect(url_for("board.index"))


@bp.post("/messages/<int:item_id>/read")
def mark_read(item_id: int):
    session, now = db(), utcnow()
    with session.begin():
        item = _item_or_404(item_id)
        done = to_read.mark_read(session, item, now, actor=actor_name())
    flash("Message marqué comme lu." if done else "Ce message était déjà lu.", "ok")
    return redirect(url_for("board.index"))


def cancel_with_reason(reference: str):
    """``POST /status/requests/<reference>/cancel`` (``status.board``): confirmed on its page,
    with a motive from the list and, for "autre", the details; both go in the timeline."""
    session, now, settings = db(), utcnow(), services().settings
    with session.begin():
        care_request = _request_or_404(reference)
        if care_request.status not in CANCELLABLE:
            flash("La demande était déjà close.", "error")
            return _back(reference, "main")
        form, errors = cancel_form()
        if errors:
            return render_cancel(care_request, form, errors, 422)
        effects = cancel_request(
            session,
            settings,
            care_request,
            now,
            actor=actor_name(),
            reason=CANCEL_REASONS[form["motif"]],
            reason_text=form["reason"] or None,
        )
    if effects is None:
        flash("La demande était déjà close.", "error")
        return _back(reference, "main")
    enqueue(settings, effects)
    flash("Demande annulée ; les infirmières concernées sont prévenues.", "ok")
    return _back(reference, "main")

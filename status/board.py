"""``/status``: the board of requests (polled by the page) and one request's page with its actions.

Each action: one transaction calling one ``dispatch`` function with the coordinator's
name as actor, then the effects enqueued after the commit, then back to the page.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.requests.actions import (
    assign_nurse,
    mark_informed,
    record_callback,
    record_view,
    redispatch,
)
from dispatch.requests.create import find_request
from dispatch.sanitize import row_id
from models import Nurse
from status import queries
from status.pole_filter import board_for_pole
from status.recordings import recording_response
from status.sim_store import recording_transcript
from status.steer import cancel_with_reason
from status.web import actor_name, require_login
from workers.queue import enqueue

bp = Blueprint("board", __name__, url_prefix="/status")
bp.before_request(require_login)

ASSIGNABLE = ("open", "unfilled", "review")


MAX_PAGE = 10_000


def _filters() -> dict:
    """The board's filters from the query string (unknown values are ignored); ``page``: of the
    "Non pourvues" filter (``page=2``: the 50 before the newest 50)."""
    department = request.args.get("dept", "").strip().upper()[:3]
    status = request.args.get("statut", "")
    raw_page = request.args.get("page", "").strip()[:6]
    page = int(raw_page) if raw_page.isdigit() and raw_page.isascii() else 1
    return {
        "department": department if department.isalnum() else "",
        "status": status if status in queries.labels.STATUS else "",
        "page": min(max(page, 1), MAX_PAGE),
    }


@bp.get("")
def index():
    filters = _filters()
    board, pole, poles = board_for_pole(db(), queries.board(db(), utcnow(), **filters), request.args.get("pole"))
    return render_template(
        "board.html",
        board=board,
        now=utcnow(),
        filters=filters,
        departments=queries.departments(db()),
        pole=pole,
        poles=poles,
        on_board_days=queries.UNFILLED_ON_BOARD.days,
    )


@bp.get("/fragment")
def fragment():
    """The board's tables alone: the page fetches this every few seconds."""
    filters = _filters()
    board, pole, _ = board_for_pole(db(), queries.board(db(), utcnow(), **filters), request.args.get("pole"))
    html = render_template(
        "_board.html",
        board=board,
        now=utcnow(),
        filters=filters,
        pole=pole,
        on_board_days=queries.UNFILLED_ON_BOARD.days,
    )
    return html, 200, {"Cache-Control": "no-store"}


def _request_or_404(reference: str):
    care_request = find_request(db(), reference[:6]) if reference.isdigit() else None
    if care_request is None:
        abort(404)
    return care_request


@bp.get("/requests/<reference>")
def show(reference: str):
    session, now, settings = db(), utcnow(), services().settings
    with session.begin():
        care_request = _request_or_404(reference)
        record_view(session, care_request, now, actor=actor_name())
    return render_template(
        "request.html",
        r=care_request,
        commune=queries.commune_names(session, {care_request.insee} if care_request.insee else set()).get(
            care_request.insee or "", ""
        ),
        counts=queries.offer_counts(session, [care_request.id])[care_request.id],
        offers=care_request.offers,
        timeline=queries.request_timeline(session, care_request, now),
        nurses=queries.assignable_nurses(session, care_request) if care_request.status in ASSIGNABLE else [],
        transcript=recording_transcript(settings, care_request.recording_url),
        now=now,
    )


@bp.get("/requests/<reference>/recording")
def recording(reference: str):
    with db().begin():  # the URL only: the audio is fetched after the read ends
        url = _request_or_404(reference).recording_url
    return recording_response(url)


def _back(reference: str):
    return redirect(url_for("board.show", reference=reference))


@bp.post("/requests/<reference>/assign")
def assign(reference: str):
    session, now, settings = db(), utcnow(), services().settings
    nurse_id = row_id(request.form.get("nurse_id", type=int))
    with session.begin():
        care_request = _request_or_404(reference)
        nurse = session.get(Nurse, nurse_id) if nurse_id else None
        if nurse is None:
            flash("Choisissez une infirmière dans la liste.", "error")
            return _back(reference)
        if care_request.status not in ASSIGNABLE:
            flash(
                f"La demande est {queries.labels.status(care_request.status)} : elle ne peut plus être attribuée.",
                "error",
            )
            return _back(reference)
        outcome = assign_nurse(session, settings, care_request, nurse, now, actor=actor_name())
        won = care_request.accepted_nurse_id == nurse.id
    enqueue(settings, outcome.effects)
    if won:
        flash(
            f"Demande attribuée à {nurse.name}. Elle reçoit les détails par SMS ; le demandeur va être rappelé.", "ok"
        )
    else:
        flash("Une autre infirmière a accepté entre-temps : la demande n'a pas été réattribuée.", "error")
    return _back(reference)


@bp.post("/requests/<reference>/redispatch")
def dispatch_again(reference: str):
    session, now, settings = db(), utcnow(), services().settings
    with session.begin():
        care_request = _request_or_404(reference)
        if care_request.status not in ASSIGNABLE:
            flash("Seule une demande en cours, non pourvue ou à revoir peut être diffusée à nouveau.", "error")
            return _back(reference)
        if not care_request.postcode and not care_request.insee:
            flash(
                "Impossible de diffuser : la commune du patient est inconnue. Attribuez la demande à la main.", "error"
            )
            return _back(reference)
        effects = redispatch(session, settings, care_request, now, actor=actor_name())
    enqueue(settings, effects)
    flash(
        "Nouvelle diffusion lancée." if effects else "Aucune nouvelle diffusion n'était possible.",
        "ok" if effects else "error",
    )
    return _back(reference)


@bp.post("/requests/<reference>/cancel")
def cancel(reference: str):
    return cancel_with_reason(reference)  # confirmed on its page, with a reason (status.steer)


@bp.post("/requests/<reference>/informed")
def informed(reference: str):
    session, now = db(), utcnow()
    with session.begin():
        care_request = _request_or_404(reference)
        done = mark_informed(session, care_request, now, actor=actor_name())
    flash(
        "Demandeur noté comme informé : demande confirmée."
        if done
        else "Seule une demande acceptée peut être marquée « demandeur informé ».",
        "ok" if done else "error",
    )
    return _back(reference)


@bp.post("/requests/<reference>/called-back")
def called_back(reference: str):
    session, now = db(), utcnow()
    with session.begin():
        care_request = _request_or_404(reference)
        record_callback(session, care_request, now, actor=actor_name(), note=request.form.get("note"))
    flash("Rappel noté dans l'historique.", "ok")
    return _back(reference)

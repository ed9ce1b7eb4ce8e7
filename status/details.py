"""``/r/<token>``: the page the accepted nurse opens from her SMS link (DESIGN §7).

No login: the signed, 48-hour link is the key. It shows the request's details only while
the request is accepted or confirmed; an expired, forged or outdated link gets a clear
French page (410 or 403), never an error trace.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from dispatch.app.context import db, services
from dispatch.messaging.links import LINK_VALIDITY_S, LinkError, read_details_claims
from dispatch.requests.create import find_request
from status.queries import commune_names
from status.recordings import recording_response
from status.sim_store import recording_transcript

bp = Blueprint("details", __name__)
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def _refused(status: int, title: str, message: str):
    return render_template("details_error.html", title=title, message=message), status, PRIVATE


@bp.get("/r/<token>")
def show(token: str):
    settings = services().settings
    care_request, refusal = _linked_request(token)
    if care_request is None:
        return refusal
    names = commune_names(db(), {care_request.insee} if care_request.insee else set())
    return (
        render_template(
            "details.html",
            r=care_request,
            token=token,
            commune=names.get(care_request.insee or "", ""),
            transcript=recording_transcript(settings, care_request.recording_url),
        ),
        200,
        PRIVATE,
    )


@bp.get("/r/<token>/recording")
def recording(token: str):
    """The requester's recorded message, for the nurse the link was sent to, while it is valid."""
    care_request, refusal = _linked_request(token)
    if care_request is None:
        return refusal
    url = care_request.recording_url
    db().commit()  # end the read before the audio is fetched
    return recording_response(url)


def _linked_request(token: str):
    """The request the link opens, or None and the page that says why not."""
    settings = services().settings
    try:
        reference, nurse_id = read_details_claims(settings, token[:400])
    except LinkError as err:
        if "expir" in str(err):
            return None, _refused(
                410,
                "Lien expiré",
                f"Ce lien n'est valable que {LINK_VALIDITY_S // 3600} heures. Appelez le "
                f"{settings.sio_name} pour obtenir les détails de la demande.",
            )
        return None, _refused(
            403, "Lien invalide", "Ce lien n'est pas valide. Vérifiez qu'il est complet, tel que reçu par SMS."
        )
    care_request = find_request(db(), str(reference))
    if care_request is None or care_request.purged_at is not None:
        return None, _refused(410, "Demande introuvable", "Les détails de cette demande ne sont plus disponibles.")
    if care_request.status not in ("accepted", "confirmed") or (
        nurse_id is not None and care_request.accepted_nurse_id != nurse_id
    ):
        return None, _refused(
            410,
            "Demande plus attribuée",
            f"La demande {care_request.reference} n'est plus attribuée (annulée ou réattribuée) : "
            "ses détails ne sont plus affichés.",
        )
    return care_request, None

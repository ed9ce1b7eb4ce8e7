"""A caller's recording, played on the status page and on the accepted nurse's page.

Twilio may keep recordings behind the account's credentials, which a browser has not: the pages
point at our own routes, which check who asks (a coordinator's session, the nurse's signed link)
and hand the audio over from the telephony port. The simulator's recordings come the same way.
"""

from __future__ import annotations

from flask import Response, render_template

from dispatch.app.context import services
from dispatch.telephony import TelephonyError, TransientError, recording_sid


def recording_response(url: str | None):
    """The recording's audio, or a short French page saying why not (never a trace)."""
    sid = recording_sid(url)
    if sid is None:
        return _unavailable(404, "Cet enregistrement n'existe pas ou a été effacé.")
    try:
        media = services().telephony.fetch_recording(sid)
    except TransientError:
        return _unavailable(503, "L'enregistrement est momentanément indisponible : réessayez dans un instant.")
    except TelephonyError:
        return _unavailable(404, "Cet enregistrement n'existe plus chez l'opérateur.")
    return Response(media.content, mimetype=media.mimetype, headers={"Cache-Control": "private, no-store"})


def _unavailable(status: int, message: str):
    return render_template("error.html", title="Enregistrement indisponible", message=message), status

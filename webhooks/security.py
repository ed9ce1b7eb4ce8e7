"""Every webhook checks ``X-Twilio-Signature`` with the SDK's ``RequestValidator``.

The URL checked is ``PUBLIC_BASE_URL`` + path + query string: the address Twilio
was given, whatever proxy sits in front (DESIGN §5). No exception, ever: not in
debug, not in the simulator (which signs its requests with the auth token).
"""

from __future__ import annotations

import functools
import logging

from flask import abort, request
from twilio.request_validator import RequestValidator

from dispatch.app.context import services

log = logging.getLogger(__name__)


def public_url() -> str:
    query = request.query_string.decode("latin-1")
    return services().settings.public_base_url + request.path + (f"?{query}" if query else "")


def twilio_only(view):
    """Answer 403, changing nothing, unless the request carries Twilio's valid signature."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        signature = request.headers.get("X-Twilio-Signature", "")
        validator = RequestValidator(services().settings.twilio_auth_token)
        if not signature or not validator.validate(public_url(), request.form, signature):
            log.warning("webhooks.security: bad or missing signature on %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    return wrapper

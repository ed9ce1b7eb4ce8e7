"""Answering Twilio with TwiML built by the SDK."""

from __future__ import annotations

from flask import Response


def twiml(response) -> Response:
    return Response(str(response), mimetype="text/xml")

"""The baseline of the webhook benchmark: a bare Flask endpoint answering an empty TwiML.

Served by the same gunicorn set-up as the real app (``gunicorn bench.bare_app:app``), so the
difference measures what our webhook does: signature check, database work, enqueueing.
"""

from flask import Flask, Response

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'

app = Flask("bare")


@app.post("/webhooks/sms")
def incoming_sms() -> Response:
    return Response(EMPTY_TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> str:
    return "ok"

"""Twilio webhooks: thin handlers that validate, persist, enqueue and answer TwiML (DESIGN §3)."""

from __future__ import annotations

from flask import Flask


def register_webhooks(app: Flask) -> None:
    from webhooks.sms import bp as sms_bp
    from webhooks.voice import bp as voice_bp

    app.register_blueprint(sms_bp)
    app.register_blueprint(voice_bp)

"""The Flask application factory: ``create_app`` builds the app from the settings, with every
blueprint (webhooks, API, status pages, simulator), the commands and the security layers."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from flask import Flask, Response, g, jsonify, request
from twilio.twiml.messaging_response import MessagingResponse

from dispatch.app.context import DATABASE_DOWN, services
from dispatch.config import load_settings
from dispatch.services import build_services

log = logging.getLogger(__name__)


def create_app(overrides: Mapping[str, str] | None = None) -> Flask:
    """Build the app. ``overrides`` are environment variables laid over ``os.environ`` (tests).

    Raises :class:`dispatch.config.ConfigError` on a bad setting.
    """
    env = dict(os.environ)
    env.update(overrides or {})
    settings = load_settings(env if overrides else None)
    app = Flask("sio", instance_path=str(settings.instance_path), static_folder=None)
    settings.instance_path.mkdir(parents=True, exist_ok=True, mode=0o700)  # the database, keys, recordings
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=256 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False
    app.extensions["sio"] = build_services(settings)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.telephony == "simulator":
        log.warning("TELEPHONY=simulator: no real text or call leaves this service; the simulator is on /simulator")

    for error in DATABASE_DOWN:
        app.register_error_handler(error, _database_down)

    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("db", None)
        if session is not None:
            session.close()

    from webhooks import register_webhooks

    register_webhooks(app)
    _register_optional_blueprints(app)

    from dispatch.app.commands import register_commands

    register_commands(app)
    from status.security import init_security

    init_security(app)
    from status.metrics import init_metrics

    init_metrics(app)
    return app


def _database_down(err: Exception):
    """The database is unreachable (a restart, a failover): a clear answer, never a 500. Each
    caller comes back: Twilio's calls are told in French, the API and pages get a 503 with
    ``Retry-After``. (A text in never gets here: ``webhooks.sms`` keeps it in Redis.)"""
    from dispatch import texts

    log.warning("database unavailable: %s", type(err).__name__)
    retry = {"Retry-After": "60"}
    if request.path.startswith("/webhooks/voice"):
        from webhooks.voice import unavailable

        return unavailable(services().settings)
    if request.path.startswith("/webhooks/"):
        return Response(str(MessagingResponse()), status=503, mimetype="text/xml")
    if request.path.startswith("/api/"):
        return jsonify(error=texts.UNAVAILABLE), 503, retry
    page = (
        "<!doctype html><html lang=fr><meta charset=utf-8><title>Service indisponible</title>"
        f"<p>{texts.UNAVAILABLE.capitalize()}.</p>"
    )
    return Response(page, status=503, mimetype="text/html", headers=retry)


def _register_optional_blueprints(app: Flask) -> None:
    """Blueprints of the API, the status page and the simulator."""
    from dispatch.app.api import bp as api_bp
    from status import register_status

    app.register_blueprint(api_bp)
    register_status(app)

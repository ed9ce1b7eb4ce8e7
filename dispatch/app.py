"""The Flask application factory (``create_app``) and the process-wide services it holds."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, jsonify, request
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from twilio.twiml.messaging_response import MessagingResponse

from dispatch.config import Settings, load_settings
from dispatch.telephony import Telephony, make_telephony
from models import make_engine, make_sessionmaker

log = logging.getLogger(__name__)
#: What SQLAlchemy raises when the database cannot be reached (a restart, a failover).
DATABASE_DOWN = (OperationalError, InterfaceError)


@dataclass
class Services:
    """What every part of the process shares: settings, database, telephony."""

    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    telephony: Telephony


_SERVICES: dict[tuple, Services] = {}


def build_services(settings: Settings) -> Services:
    """One engine and one telephony adapter per settings, reused by the app and by jobs."""
    key = (settings.database_url, settings.telephony, settings.twilio_api_base_url, os.getpid())
    if key not in _SERVICES or _SERVICES[key].settings != settings:
        engine = make_engine(settings.database_url)
        _SERVICES[key] = Services(settings, engine, make_sessionmaker(engine), make_telephony(settings))
    return _SERVICES[key]


def reset_services() -> None:
    """Forget every engine (tests, and a forked worker that must not share connections)."""
    for svc in _SERVICES.values():
        svc.engine.dispose()
    _SERVICES.clear()


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

    from dispatch.cli import register_commands

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
    from dispatch.api import bp as api_bp
    from status import register_status

    app.register_blueprint(api_bp)
    register_status(app)


def services() -> Services:
    return current_app.extensions["sio"]


def db() -> Session:
    """The session of the current web request, closed at teardown."""
    if "db" not in g:
        g.db = services().sessionmaker()
    return g.db

"""Plumbing shared by the coordinator pages: CSRF, login check, template filters.

Security headers (CSP without inline code, frame denial...) are ``status.security``'s.

CSRF is checked on every form post except the machine-to-machine routes: Twilio's
webhooks (signed) and the establishments' API (bearer token). The exemption is by path
prefix so that a blueprint added later is protected by default.
"""

from __future__ import annotations

import re
from datetime import datetime

from flask import Flask, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.people.coordinators import SESSION_LIFETIME, end_session, open_session, session_coordinator
from models import Coordinator
from status import labels
from status.queries import national

csrf = CSRFProtect()
MACHINE_PREFIXES = ("/webhooks/", "/api/")
SESSION_KEY = "sid"


def init_web(app: Flask) -> None:
    """CSRF, session lifetime, error pages, headers and filters for the coordinator pages."""
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    # The token lives as long as the login: a status page open all afternoon keeps working.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    settings = app.extensions["sio"].settings
    app.config.update(
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        SESSION_COOKIE_NAME="sio_session",
        SIO_NAME=settings.sio_name,
        SIO_SIMULATOR=settings.telephony == "simulator",
    )
    csrf.init_app(app)

    @app.before_request
    def _check_csrf():
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and not request.path.startswith(MACHINE_PREFIXES):
            csrf.protect()

    @app.errorhandler(CSRFError)
    def _csrf_error(err):
        return render_template(
            "error.html",
            title="Formulaire refusé",
            message="Ce formulaire a expiré ou ne vient pas de cette page. Rechargez la page puis recommencez.",
        ), 400

    app.jinja_env.filters.update(
        local=local_time,
        age=age,
        phone=display_phone,
        care=labels.care,
        hours=hours_fr,
        status_label=labels.status,
        event_label=labels.event,
    )
    app.jinja_env.globals["timezone_name"] = lambda: tz().key  # the pages' scripts show times in it too
    app.jinja_env.globals.update(current_coordinator=lambda: g.get("coordinator"), labels=labels)


def current_coordinator() -> Coordinator | None:
    """The logged-in coordinator (read once per web request), None when logged out or removed.

    The cookie only names a session; the session's row decides (ended at logout, by "end all my
    sessions", a password change or ``sio coordinators disable``), so a saved cookie opens nothing.
    """
    if "coordinator" not in g:
        g.coordinator = session_coordinator(db(), session.get(SESSION_KEY), utcnow())
    return g.coordinator


def require_login():
    """``before_request`` of every coordinator blueprint: the login page for strangers."""
    coordinator = current_coordinator()
    # End the read: SQLite holds its write lock for the whole transaction (BEGIN IMMEDIATE).
    db().commit()
    if coordinator is None:
        if request.method == "GET" and not request.path.endswith((".json", "/fragment")):
            # The path only: a search (a name, a commune) must not travel in the login's URL.
            return redirect(url_for("auth.login", next=request.path))
        return render_template(
            "error.html", title="Session terminée", message="Votre session a pris fin : reconnectez-vous."
        ), 401
    return None


def log_in(database, coordinator: Coordinator, now: datetime) -> None:
    """Open a session (in the caller's transaction) and put its id in a fresh cookie."""
    session.clear()  # a fresh session: no fixation of an id set before login
    session.permanent = True
    session[SESSION_KEY] = open_session(database, coordinator, now)


def log_out(database, now: datetime) -> None:
    """End this browser's session on the server, then forget the cookie."""
    end_session(database, session.get(SESSION_KEY), now)
    session.clear()


def actor_name() -> str:
    coordinator = current_coordinator()
    return f"coordinatrice {coordinator.name}" if coordinator else "coordinatrice"


def tz():
    return services().settings.timezone


WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def local_time(moment: datetime | None, fmt: str = "%d/%m %H:%M") -> str:
    """Local time; ``%A`` is the French weekday whatever the server's locale."""
    if moment is None:
        return "–"
    moment = moment.astimezone(tz())
    return moment.strftime(fmt.replace("%A", WEEKDAYS[moment.weekday()]))


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """``4 min``, ``2 h 05``, ``3 j``: how long ago, short."""
    if moment is None:
        return "–"
    minutes = max(0, int(((now or utcnow()) - moment).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d}"
    return f"{minutes // (24 * 60)} j"


def display_phone(e164: str | None) -> str:
    return national(e164) if e164 else "–"


DAYS = {"mon": "lun", "tue": "mar", "wed": "mer", "thu": "jeu", "fri": "ven", "sat": "sam", "sun": "dim"}


def hours_fr(text: str | None) -> str:
    """``mon-fri 07:00-19:30`` as ``lun-ven 07:00-19:30``."""
    return re.sub(r"\b(mon|tue|wed|thu|fri|sat|sun)\b", lambda m: DAYS[m.group(1)], text or "")

"""``/login``, ``/logout``, ending all one's sessions, the on-duty toggle, and ``/`` (which leads to
the status page).

A browser where a coordinator logged in keeps a signed "device" cookie naming it: her next
logins from it are counted apart from everyone else's guesses (``dispatch.people.login_throttle``), so
a stranger hammering her e-mail slows down only the strangers.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.people.coordinators import authenticate, end_all_sessions
from dispatch.people.rota import switch_duty
from status.web import current_coordinator, local_time, log_in, log_out, require_login

# The templates and static files of every coordinator page and of the simulator live here.
bp = Blueprint("auth", __name__, template_folder="templates", static_folder="static", static_url_path="/static/sio")
DEVICE_COOKIE = "sio_device"
DEVICE_DAYS = 180


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to someone else's login page."""
    if not target:
        return url_for("board.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("board.index")
    return target


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(services().settings.secret_key, salt="sio.login-device")


def _email_tag(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _trusted_device(email: str) -> str | None:
    """The id of this browser when the coordinator ``email`` logged in from it before."""
    try:
        claims = _devices().loads(request.cookies.get(DEVICE_COOKIE, ""), max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(claims, dict) or claims.get("e") != _email_tag(email):
        return None
    device = claims.get("d")
    return device if isinstance(device, str) else None


def _wait_message(retry_at: datetime, now: datetime) -> str:
    minutes = max(1, round((retry_at - now).total_seconds() / 60))
    return (
        f"Trop d'essais : réessayez dans {minutes} minute{'s' if minutes > 1 else ''} "
        f"(à {local_time(retry_at, '%H:%M')}). Depuis le navigateur où vous vous connectez d'habitude, "
        "l'attente ne s'applique pas."
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", error=None, email="")
    email = request.form.get("email", "").strip()[:200]
    password = request.form.get("password", "")[:200]
    device = _trusted_device(email)
    database, now = db(), utcnow()
    with database.begin():
        result = authenticate(database, email, password, now, address=request.remote_addr, device=device)
        if result.outcome == "ok":
            log_in(database, result.coordinator, now)
    if result.outcome == "ok":
        response = redirect(_safe_next(request.args.get("next")))
        claims = {"d": device or secrets.token_urlsafe(16), "e": _email_tag(email)}
        response.set_cookie(
            DEVICE_COOKIE,
            _devices().dumps(claims),
            max_age=DEVICE_DAYS * 86400,
            httponly=True,
            samesite="Lax",
            secure=services().settings.public_base_url.startswith("https://"),
        )
        return response
    if result.outcome == "throttled":
        page = render_template("login.html", error=_wait_message(result.retry_at, now), email=email)
        return page, 429, {"Retry-After": str(max(1, int((result.retry_at - now).total_seconds())))}
    return render_template("login.html", error="Adresse e-mail ou mot de passe incorrect.", email=email), 401


@bp.post("/logout")
def logout():
    database = db()
    with database.begin():
        log_out(database, utcnow())
    return redirect(url_for("auth.login"))


def _as_me(action):
    """``action(database, coordinator, now)`` for the logged-in coordinator, in one transaction:
    (its result, None), or (None, the answer for a stranger)."""
    blocked = require_login()
    if blocked:
        return None, blocked
    database, now = db(), utcnow()
    with database.begin():
        coordinator = current_coordinator()
        database.add(coordinator)
        return action(database, coordinator, now), None


@bp.post("/status/sessions/end")
def end_my_sessions():
    """ "Se déconnecter partout": every session of this coordinator ends, this one included."""

    def end_all(database, coordinator, now) -> int:
        count = end_all_sessions(database, coordinator, now, actor=coordinator.name)
        log_out(database, now)
        return count

    count, blocked = _as_me(end_all)
    if blocked:
        return blocked
    plural = "s" if count > 1 else ""
    flash(f"Vous êtes déconnectée partout ({count} session{plural} fermée{plural}).")
    return redirect(url_for("auth.login"))


@bp.get("/")
def home():
    blocked = require_login()
    return blocked or redirect(url_for("board.index"))


@bp.post("/status/duty")
def toggle_duty():
    on_duty, settings = request.form.get("on_duty") == "1", services().settings
    # The switch overrides the rota until the end of the shift (dispatch.people.rota).
    _, blocked = _as_me(
        lambda database, coordinator, now: switch_duty(
            database, settings, coordinator, on_duty, now, actor=coordinator.name
        )
    )
    return blocked or redirect(_safe_next(request.form.get("back")))

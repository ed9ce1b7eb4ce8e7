"""``/login``, ``/logout``, the on-duty toggle, and ``/`` (which leads to the status page)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for

from dispatch.app.context import db
from dispatch.clock import utcnow
from dispatch.people.coordinators import authenticate, set_on_duty
from status.web import current_coordinator, local_time, log_in, require_login

# The templates and static files of every coordinator page and of the simulator live here.
bp = Blueprint("auth", __name__, template_folder="templates", static_folder="static", static_url_path="/static/sio")


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to someone else's login page."""
    if not target:
        return url_for("board.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("board.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    error, email = None, ""
    if request.method == "POST":
        email = request.form.get("email", "").strip()[:200]
        password = request.form.get("password", "")[:200]
        database, now = db(), utcnow()
        with database.begin():
            result = authenticate(database, email, password, now)
            if result.outcome == "ok":
                log_in(result.coordinator)
        if result.outcome == "ok":
            return redirect(_safe_next(request.args.get("next")))
        if result.outcome == "locked":
            error = (
                f"Trop d'essais : ce compte est verrouillé jusqu'à {local_time(result.locked_until, '%H:%M')}. "
                "Réessayez plus tard ou demandez à une autre coordinatrice."
            )
        else:
            error = "Adresse e-mail ou mot de passe incorrect."
        return render_template("login.html", error=error, email=email), 429 if result.outcome == "locked" else 401
    return render_template("login.html", error=error, email=email)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/")
def home():
    blocked = require_login()
    return blocked or redirect(url_for("board.index"))


@bp.post("/status/duty")
def toggle_duty():
    blocked = require_login()
    if blocked:
        return blocked
    database, now = db(), utcnow()
    with database.begin():
        coordinator = current_coordinator()
        database.add(coordinator)
        set_on_duty(database, coordinator, request.form.get("on_duty") == "1", now)
    return redirect(_safe_next(request.form.get("back")))

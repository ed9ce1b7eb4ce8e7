"""Plumbing of the nurse's pages: her session cookie, the forms' fields read as typed."""

from __future__ import annotations

from datetime import date

from flask import g, render_template, request, session

from dispatch.app.context import db
from dispatch.clock import utcnow
from dispatch.people.space_access import session_nurse
from dispatch.people.week_form import DAYS, SLOTS, WeekError, text_from_form
from models import Nurse

SESSION_KEY = "nurse_sid"
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def current_nurse() -> Nurse | None:
    """The nurse whose space this browser opened (read once per web request)."""
    if "nurse" not in g:
        g.nurse = session_nurse(db(), session.get(SESSION_KEY), utcnow())
    return g.nurse


def refused(status: int, title: str, message: str):
    """A French page saying why not (a link used twice, expired, forged; no session)."""
    return render_template("space_error.html", title=title, message=message), status, PRIVATE


def require_nurse():
    """``before_request`` of her pages: a page telling how to get in, for strangers."""
    nurse = current_nurse()
    db().commit()  # end the read: SQLite holds its write lock for a whole transaction
    if nurse is None:
        return refused(
            401,
            "Espace infirmière",
            "Pour ouvrir votre espace, envoyez PROFIL par SMS au numéro du service : "
            "vous recevrez un lien personnel, valable 24 heures et une seule fois.",
        )
    return None


def week_fields() -> tuple[bool, list[list[tuple[str, str]]]]:
    """The week form as posted: "at any time", and per day its slots (``d0_s1``, ``d0_e1``...)."""
    always = request.form.get("always") == "1"
    days = [
        [
            (request.form.get(f"d{day}_s{slot}", "")[:8], request.form.get(f"d{day}_e{slot}", "")[:8])
            for slot in range(1, SLOTS + 1)
        ]
        for day in range(len(DAYS))
    ]
    return always, days


def week_text() -> tuple[str | None, dict[int, str], tuple[bool, list]]:
    """The hours text of the posted week form, or None and the errors by day; and what was typed."""
    typed = week_fields()
    try:
        return text_from_form(*typed), {}, typed
    except WeekError as err:
        return None, err.errors, typed


def skill_fields() -> list[str]:
    return [s[:20] for s in request.form.getlist("skills")[:20]]


def date_field(name: str) -> date | None:
    try:
        return date.fromisoformat(request.form.get(name, "").strip()[:10])
    except ValueError:
        return None

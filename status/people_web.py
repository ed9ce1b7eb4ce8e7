"""What the people pages share: the admin check, the first-login password gate, form reading."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from status.web import current_coordinator

#: Where a coordinator with a one-time password may still go: the page that changes it, logging out.
FIRST_LOGIN_OPEN = ("/status/password", "/status/sessions/end", "/static/")


def require_admin():
    """``before_request`` of the admin pages (after the login check): 403 for a coordinator."""
    me = current_coordinator()
    if me is not None and not me.is_admin:
        return render_template(
            "error.html",
            title="Réservé aux administratrices",
            message="Seule une administratrice gère les coordinatrices et les jetons d'API.",
        ), 403
    return None


def first_login_gate():
    """``before_app_request``: a coordinator holding a one-time password changes it first."""
    if not request.path.startswith("/status") or request.path.startswith(FIRST_LOGIN_OPEN):
        return None
    me = current_coordinator()
    if me is not None and me.must_change_password:
        if request.method == "GET":
            return redirect(url_for("colleagues.password"))
        return render_template(
            "error.html",
            title="Mot de passe à choisir",
            message="Choisissez d'abord votre mot de passe (le mot de passe provisoire ne sert qu'une fois).",
        ), 403
    return None


def form_text(name: str, limit: int = 400) -> str:
    value = request.form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def form_values(*names: str, limit: int = 400) -> dict[str, str]:
    return {name: form_text(name, limit) for name in names}


def row_id(raw: str | None) -> int | None:
    """A database id from a form or query string, None when it cannot be one."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None

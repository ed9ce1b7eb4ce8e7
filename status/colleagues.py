"""``/status/coordinators`` (admins): colleagues created with a one-time password, edited, disabled
(their sessions end at once), given a new one-time password; ``/status/password``: anyone's own
password, which a one-time password makes compulsory before anything else."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from dispatch.app.context import db
from dispatch.clock import utcnow
from dispatch.people import coordinators, staff
from models import Coordinator, Pole
from status.people_web import first_login_gate, form_text, form_values, require_admin
from status.web import actor_name, current_coordinator, log_in, require_login

bp = Blueprint("colleagues", __name__)
bp.before_app_request(first_login_gate)
FIELDS = ("email", "name", "phone", "role", "pole_id")


def _admin_only():
    return require_login() or require_admin()


def _page(form=None, errors=None, created=None, password=None, status=200):
    session = db()
    people = list(session.scalars(select(Coordinator).order_by(Coordinator.disabled_at.is_not(None), Coordinator.name)))
    poles = list(session.scalars(select(Pole).order_by(Pole.name)))
    html = render_template(
        "colleagues.html",
        people=people,
        poles={p.id: p for p in poles},
        form=form or {"role": "coordinator"},
        errors=errors or {},
        created=created,
        password=password,
        pole_options=pole_options(poles),
    )
    return html, status


def pole_options(poles: list[Pole]) -> list[tuple[str, str]]:
    return [("", "tous les pôles")] + [(str(p.id), p.name) for p in poles]


@bp.get("/status/coordinators")
def index():
    return _admin_only() or _page()


@bp.post("/status/coordinators")
def create():
    blocked = _admin_only()
    if blocked:
        return blocked
    session, now = db(), utcnow()
    form = form_values(*FIELDS)
    with session.begin():
        values, errors = staff.read_colleague(session, form)
        if errors:
            return _page(form, errors, status=422)
        colleague, password = staff.create_colleague(session, values, now, actor=actor_name())
        name = colleague.name
    # Shown once, on this page only (never in a cookie or a URL).
    return _page(created=name, password=password)


def _colleague(colleague_id: int) -> Coordinator:
    return db().get(Coordinator, colleague_id) or abort(404)


@bp.route("/status/coordinators/<int(max=2147483647):colleague_id>", methods=["GET", "POST"])
def edit(colleague_id: int):
    blocked = _admin_only()
    if blocked:
        return blocked
    session, now = db(), utcnow()
    if request.method == "GET":
        colleague = _colleague(colleague_id)
        poles = list(session.scalars(select(Pole).order_by(Pole.name)))
        form = {"name": colleague.name, "phone": colleague.phone or "", "role": colleague.role}
        form["pole_id"] = str(colleague.pole_id or "")
        session.commit()
        return render_template("colleague.html", c=colleague, form=form, errors={}, pole_options=pole_options(poles))
    form = form_values(*FIELDS)
    with session.begin():
        colleague = _colleague(colleague_id)
        values, errors = staff.read_colleague(session, form, colleague=colleague)
        if errors:
            poles = list(session.scalars(select(Pole).order_by(Pole.name)))
            page = render_template(
                "colleague.html", c=colleague, form=form, errors=errors, pole_options=pole_options(poles)
            )
            return page, 422
        staff.update_colleague(session, colleague, values, now, actor=actor_name())
        name = colleague.name
    flash(f"{name} : modifications enregistrées.", "ok")
    return redirect(url_for("colleagues.index") + f"#c-{colleague_id}")


@bp.post("/status/coordinators/<int(max=2147483647):colleague_id>/disable")
def disable(colleague_id: int):
    blocked = _admin_only()
    if blocked:
        return blocked
    session, now = db(), utcnow()
    with session.begin():
        colleague, me = _colleague(colleague_id), current_coordinator()
        session.add(me)
        problem = staff.disable_problem(session, colleague, me)
        if problem is None:
            ended = coordinators.disable(session, colleague, now, actor=actor_name())
        name = colleague.name
    if problem:
        flash(problem, "error")
    else:
        flash(
            f"{name} ne peut plus se connecter (sessions fermées : {ended}).",
            "ok",
        )
    return redirect(url_for("colleagues.index") + f"#c-{colleague_id}")


@bp.post("/status/coordinators/<int(max=2147483647):colleague_id>/enable")
def enable(colleague_id: int):
    blocked = _admin_only()
    if blocked:
        return blocked
    session, now = db(), utcnow()
    with session.begin():
        colleague = _colleague(colleague_id)
        coordinators.enable(session, colleague, now, actor=actor_name())
        name = colleague.name
    flash(f"{name} peut de nouveau se connecter.", "ok")
    return redirect(url_for("colleagues.index") + f"#c-{colleague_id}")


@bp.post("/status/coordinators/<int(max=2147483647):colleague_id>/reset")
def reset(colleague_id: int):
    blocked = _admin_only()
    if blocked:
        return blocked
    session, now = db(), utcnow()
    with session.begin():
        colleague = _colleague(colleague_id)
        if colleague.id == current_coordinator().id:
            flash("Votre propre mot de passe se change avec « Mot de passe ».", "error")
            return redirect(url_for("colleagues.password"))
        if colleague.disabled_at is not None:
            flash(f"{colleague.name} est désactivée : réactivez-la d'abord.", "error")
            return redirect(url_for("colleagues.index") + f"#c-{colleague_id}")
        password = staff.reset_password(session, colleague, now, actor=actor_name())
        name = colleague.name
    return _page(created=name, password=password)


@bp.route("/status/password", methods=["GET", "POST"])
def password():
    blocked = require_login()
    if blocked:
        return blocked
    me = current_coordinator()
    if request.method == "GET":
        return render_template("password.html", errors={}, forced=me.must_change_password)
    session, now = db(), utcnow()
    with session.begin():
        session.add(me)
        forced = me.must_change_password
        errors = staff.change_own_password(
            session, me, form_text("current", 200), form_text("new", 200), form_text("confirm", 200), now
        )
        if errors:
            return render_template("password.html", errors=errors, forced=forced), 422
        log_in(session, me, now)  # her other sessions ended; this browser goes on in a fresh one
    flash("Mot de passe enregistré.", "ok")
    return redirect(url_for("board.index"))

"""``/status/inscriptions``: registrations waiting for a coordinator (validate or refuse; the nurse
is texted either way), nurses' spaces open now (a coordinator can close them), and the nurses
who erased their data lately (issue 16)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.people.registration import PENDING, RegistrationError, refuse, validate
from dispatch.people.space_access import end_all_sessions
from dispatch.sanitize import row_id
from dispatch.vocab import CARE_LABELS
from models import Event, Nurse, NurseRegistration, NurseSession
from status.queries import commune_names
from status.web import actor_name, require_login
from workers.queue import enqueue

bp = Blueprint("inscriptions", __name__, url_prefix="/status/inscriptions")
bp.before_request(require_login)
RECENT = timedelta(days=30)


@bp.get("")
def index():
    session, now = db(), utcnow()
    pending = list(
        session.scalars(
            select(NurseRegistration).where(NurseRegistration.status == PENDING).order_by(NurseRegistration.created_at)
        )
    )
    decided = list(
        session.scalars(
            select(NurseRegistration)
            .where(NurseRegistration.status != PENDING, NurseRegistration.decided_at >= now - RECENT)
            .order_by(NurseRegistration.decided_at.desc())
            .limit(50)
        )
    )
    names = commune_names(session, {code for r in pending for code in r.zones})
    open_spaces = session.execute(
        select(Nurse.id, Nurse.name, func.count(NurseSession.id), func.max(NurseSession.created_at))
        .join(NurseSession, NurseSession.nurse_id == Nurse.id)
        .where(NurseSession.ended_at.is_(None), NurseSession.expires_at > now)
        .group_by(Nurse.id, Nurse.name)
        .order_by(Nurse.name)
    ).all()
    erased = list(
        session.scalars(
            select(Event).where(Event.kind == "nurse_erased", Event.at >= now - RECENT).order_by(Event.at.desc())
        )
    )
    page = render_template(
        "inscriptions.html",
        pending=pending,
        decided=decided,
        names=names,
        open_spaces=open_spaces,
        erased=erased,
        care_labels=CARE_LABELS,
    )
    session.commit()
    return page


def _decide(registration_id: int, decision):
    session, now, settings = db(), utcnow(), services().settings
    try:
        with session.begin():
            registration = session.get(NurseRegistration, row_id(registration_id) or 0) or abort(404)
            name = registration.name
            effects = decision(session, settings, registration, now)
    except RegistrationError as err:
        flash(str(err), "error")
        return None, redirect(url_for("inscriptions.index"))
    enqueue(settings, effects)
    return name, redirect(url_for("inscriptions.index"))


@bp.post("/<int:registration_id>/valider")
def accept(registration_id: int):
    name, back = _decide(registration_id, lambda s, st, r, now: validate(s, st, r, now, actor=actor_name()))
    if name:
        flash(f"Inscription de {name} validée : elle est prévenue par SMS et reçoit les propositions.", "ok")
    return back


@bp.post("/<int:registration_id>/refuser")
def decline(registration_id: int):
    reason = request.form.get("reason", "")[:300]
    name, back = _decide(
        registration_id, lambda s, st, r, now: refuse(s, st, r, now, actor=actor_name(), reason=reason)
    )
    if name:
        flash(f"Inscription de {name} refusée : elle est prévenue par SMS.", "ok")
    return back


@bp.post("/espaces/<int:nurse_id>/fermer")
def close_space(nurse_id: int):
    session, now = db(), utcnow()
    with session.begin():
        nurse = session.get(Nurse, row_id(nurse_id) or 0) or abort(404)
        count = end_all_sessions(session, nurse.id, now, actor=actor_name())
        name = nurse.name
    flash(f"Espace de {name} fermé ({count} session{'s' if count > 1 else ''}).", "ok")
    return redirect(url_for("inscriptions.index"))

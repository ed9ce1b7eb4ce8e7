"""``/status/nurses``: find a nurse by name or commune, see who is paused or opted out and her
recent answers, pause or resume her by hand."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.people.nurses import MAX_PAUSE_DAYS
from dispatch.people.nurses import pause as pause_nurse
from dispatch.people.nurses import resume as resume_nurse
from models import CareRequest, Nurse, Offer, Postcode
from status.nurse_states import nurse_states
from status.queries import commune_names
from status.web import actor_name, require_login

bp = Blueprint("nurses", __name__, url_prefix="/status/nurses")
bp.before_request(require_login)
SHOWN = 200
RECENT_ANSWERS = 4


@dataclass
class NurseRow:
    nurse: Nurse
    communes: list[str]
    paused: bool
    recent: list[Offer]


def fold(text: str) -> str:
    """Lower case without accents: « etienne » finds Saint-Étienne."""
    return "".join(c for c in unicodedata.normalize("NFD", text.casefold()) if unicodedata.category(c) != "Mn")


def search_nurses(session: Session, query: str, state: str, now) -> tuple[list[NurseRow], int]:
    """Nurses whose name or commune (name, postcode or INSEE code) matches, and how many matched."""
    nurses = list(session.scalars(select(Nurse).options(selectinload(Nurse.zones)).order_by(Nurse.name)))
    names = commune_names(session, {z for n in nurses for z in n.zone_codes})
    wanted, postcode_communes = fold(query.strip()), set()
    if wanted.isdigit() and len(wanted) == 5:
        postcode_communes = set(session.scalars(select(Postcode.insee).where(Postcode.postcode == wanted)))
    rows = []
    for nurse in nurses:
        paused = nurse.paused_until is not None and nurse.paused_until > now
        if state == "paused" and not paused or state == "opted_out" and nurse.opted_out_at is None:
            continue
        communes = [names.get(z, z) for z in nurse.zone_codes]
        if wanted and not (
            wanted in fold(nurse.name)
            or any(wanted in fold(c) for c in communes)
            or wanted in nurse.zone_codes
            or postcode_communes.intersection(nurse.zone_codes)
        ):
            continue
        rows.append(NurseRow(nurse, sorted(communes), paused, []))
    total = len(rows)
    rows = rows[:SHOWN]
    by_id = {row.nurse.id: row for row in rows}
    if by_id:
        answered = session.scalars(
            select(Offer)
            .join(CareRequest, CareRequest.id == Offer.request_id)
            .where(Offer.nurse_id.in_(by_id), Offer.answered_at.is_not(None))
            .order_by(Offer.answered_at.desc())
            .limit(RECENT_ANSWERS * len(by_id))
        )
        for offer in answered:
            row = by_id[offer.nurse_id]
            if len(row.recent) < RECENT_ANSWERS:
                row.recent.append(offer)
    return rows, total


@bp.get("")
def index():
    query, state = request.args.get("q", "")[:80], request.args.get("etat", "")
    session = db()
    rows, total = search_nurses(session, query, state, utcnow())
    states = nurse_states(session, services().settings, [row.nurse for row in rows], utcnow())
    return render_template(
        "nurses.html",
        rows=rows,
        total=total,
        q=query,
        state=state,
        now=utcnow(),
        shown=SHOWN,
        max_days=MAX_PAUSE_DAYS,
        states=states,
    )


def _back(nurse_id: int | None = None):
    """Back to the list where she was (her row's anchor): the page does not jump to the top."""
    target = request.form.get("back", "")
    target = target if target.startswith("/status/nurses") else url_for("nurses.index")
    return redirect(target.split("#")[0] + (f"#n-{nurse_id}" if nurse_id else ""))


@bp.post("/<int(max=2147483647):nurse_id>/pause")
def pause(nurse_id: int):
    session, now = db(), utcnow()
    raw_days = request.form.get("days", "").strip()
    if raw_days and not raw_days.isdigit():
        flash("Le nombre de jours doit être un nombre entier (ou vide pour « jusqu'à reprise »).", "error")
        return _back(nurse_id)
    with session.begin():
        nurse = session.get(Nurse, nurse_id) or abort(404)
        try:
            pause_nurse(session, nurse, now, actor=actor_name(), days=int(raw_days) if raw_days else None)
        except ValueError as err:
            flash(f"Pause refusée : {err}.", "error")
            return _back(nurse_id)
        name = nurse.name
    flash(f"{name} est en pause : plus aucune proposition jusqu'à la reprise.", "ok")
    return _back(nurse_id)


@bp.post("/<int(max=2147483647):nurse_id>/resume")
def resume(nurse_id: int):
    session, now = db(), utcnow()
    with session.begin():
        nurse = session.get(Nurse, nurse_id) or abort(404)
        resumed = resume_nurse(session, nurse, now, actor=actor_name())
        name = nurse.name
    flash(f"{name} reçoit de nouveau des propositions." if resumed else f"{name} n'était pas en pause.", "ok")
    return _back(nurse_id)

"""``/status/nurses``: find a nurse by name or commune, see who is paused or opted out and her
recent answers, pause or resume her by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.people.nurses import MAX_PAUSE_DAYS
from dispatch.people.nurses import pause as pause_nurse
from dispatch.people.nurses import resume as resume_nurse
from models import CareRequest, Commune, Nurse, NurseZone, Offer, Postcode
from models.folding import fold
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
    recent: list[Answer]


def search_nurses(session: Session, query: str, state: str, now) -> tuple[list[NurseRow], int]:
    """Nurses whose name or commune (name, postcode or INSEE code) matches, and how many matched.

    A database search: the folded name (``Nurse.search_text``) or a served commune's folded name
    (``Commune.folded_name``) contains the folded query (``models.folding.fold``: « etienne »
    finds Saint-Étienne), or a served commune is the INSEE code or of the postcode typed; the
    state filters (paused, opted out) in SQL too; the first ``SHOWN`` by name, and the count."""
    wanted = fold(query.strip())
    conditions = []
    if wanted:
        communes = select(Commune.insee).where(Commune.folded_name.contains(wanted, autoescape=True))
        matches = [
            Nurse.search_text.contains(wanted, autoescape=True),
            Nurse.id.in_(select(NurseZone.nurse_id).where(NurseZone.insee.in_(communes))),
        ]
        if wanted.isdigit() and len(wanted) == 5:
            of_postcode = select(Postcode.insee).where(Postcode.postcode == wanted)
            matches.append(
                Nurse.id.in_(
                    select(NurseZone.nurse_id).where(or_(NurseZone.insee == wanted, NurseZone.insee.in_(of_postcode)))
                )
            )
        conditions.append(or_(*matches))
    if state == "paused":
        conditions.append(Nurse.paused_until > now)
    elif state == "opted_out":
        conditions.append(Nurse.opted_out_at.is_not(None))
    total = session.scalar(select(func.count()).select_from(Nurse).where(*conditions)) or 0
    nurses = list(
        session.scalars(
            select(Nurse)
            .where(*conditions)
            .options(selectinload(Nurse.zones), selectinload(Nurse.skills))
            .order_by(Nurse.name, Nurse.id)
            .limit(SHOWN)
        )
    )
    names = commune_names(session, {z for n in nurses for z in n.zone_codes})
    rows = [
        NurseRow(
            nurse,
            sorted(names.get(z, z) for z in nurse.zone_codes),
            nurse.paused_until is not None and nurse.paused_until > now,
            [],
        )
        for nurse in nurses
    ]
    by_id = {row.nurse.id: row for row in rows}
    for offer in recent_answers(session, list(by_id)):
        by_id[offer.nurse_id].recent.append(offer)
    return rows, total


class Answer(NamedTuple):
    """One of a nurse's recent answers, as the list shows it."""

    id: int
    nurse_id: int
    status: str
    answered_at: datetime
    reference: str


def recent_answers(session: Session, nurse_ids: list[int]) -> list[Answer]:
    """The last ``RECENT_ANSWERS`` answered offers of each nurse, newest first: the first entries
    for her in the (nurse_id, answered_at, id) index, one subquery per rank, however long her
    history."""
    if not nurse_ids:
        return []

    def ranked(rank: int):
        return (
            select(Offer.id)
            .where(Offer.nurse_id == Nurse.id, Offer.answered_at.is_not(None))
            .order_by(Offer.answered_at.desc(), Offer.id.desc())
            .limit(1)
            .offset(rank)
            .correlate(Nurse)
            .scalar_subquery()
        )

    latest = Offer.id.in_([ranked(rank) for rank in range(RECENT_ANSWERS)])
    return [
        Answer(*row)
        for row in session.execute(
            select(Offer.id, Offer.nurse_id, Offer.status, Offer.answered_at, CareRequest.reference)
            .select_from(Nurse)
            .join(Offer, latest)
            .join(CareRequest, CareRequest.id == Offer.request_id)
            .where(Nurse.id.in_(nurse_ids))
            .order_by(Offer.nurse_id, Offer.answered_at.desc(), Offer.id.desc())
        )
    ]


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

"""Nurses added, edited (every field), deactivated and imported from a CSV file on the page.

The list and its pause switch are ``status.nurses``; the rules are ``dispatch.people.records``'s
(one field at a time, in French) and the CSV import is the CLI's (``dispatch.people.imports``,
the same line-numbered errors).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.people import records
from dispatch.people.imports import import_nurses
from dispatch.vocab import CARE_TYPES, GENERAL_CARE
from models import Nurse, NurseAbsence
from status.labels import CARE
from status.people_web import form_values
from status.queries import commune_names
from status.web import actor_name, require_login

bp = Blueprint("nurse_admin", __name__, url_prefix="/status/nurses")
bp.before_request(require_login)
FIELDS = ("name", "phone", "zones", "availability")
MAX_CSV_BYTES = 5 * 1024 * 1024


def _skills() -> list[str]:
    return [s for s in request.form.getlist("skills")[:20] if isinstance(s, str)]


def _form_page(
    nurse: Nurse | None,
    form: dict,
    skills: list[str],
    errors: dict,
    status: int = 200,
    absence: dict | None = None,
    absence_errors: dict | None = None,
):
    session = db()
    communes, absences = [], []
    if nurse is not None:
        today = utcnow().astimezone(services().settings.timezone).date()
        absences = list(
            session.scalars(
                select(NurseAbsence)
                .where(NurseAbsence.nurse_id == nurse.id, NurseAbsence.ends_on >= today)
                .order_by(NurseAbsence.starts_on)
            )
        )
        names = commune_names(session, set(nurse.zone_codes))
        communes = sorted(f"{names.get(code, code)} ({code})" for code in nurse.zone_codes)
    html = render_template(
        "nurse_form.html",
        nurse=nurse,
        form=form,
        skills=skills,
        errors=errors,
        care_types=[(c, CARE.get(c, c), c not in GENERAL_CARE) for c in CARE_TYPES],
        communes=communes,
        absences=absences,
        absence=absence or {},
        absence_errors=absence_errors or {},
    )
    return html, status


@bp.get("/new")
def new():
    return _form_page(None, {}, [], {})


@bp.post("/new")
def create():
    session, now = db(), utcnow()
    form, skills = form_values(*FIELDS, limit=2000), _skills()
    with session.begin():
        values, errors = records.read_nurse(session, form, skills)
        if errors:
            return _form_page(None, form, skills, errors, 422)
        nurse = records.save_nurse(session, values, now, actor=actor_name())
        name, nurse_id = nurse.name, nurse.id
    flash(f"{name} est inscrit·e : les propositions de ses communes lui parviennent dès maintenant.", "ok")
    return redirect(url_for("nurses.index", q=name) + f"#n-{nurse_id}")


def _nurse(nurse_id: int) -> Nurse:
    nurse = db().get(Nurse, nurse_id, options=[selectinload(Nurse.zones), selectinload(Nurse.skills)])
    return nurse or abort(404)


@bp.get("/<int(max=2147483647):nurse_id>/edit")
def edit(nurse_id: int):
    session = db()
    nurse = _nurse(nurse_id)
    form = _edit_form(session, nurse)
    page = _form_page(nurse, form, nurse.skill_names, {})
    session.commit()
    return page


@bp.post("/<int(max=2147483647):nurse_id>/edit")
def update(nurse_id: int):
    session, now = db(), utcnow()
    form, skills = form_values(*FIELDS, limit=2000), _skills()
    with session.begin():
        nurse = _nurse(nurse_id)
        values, errors = records.read_nurse(session, form, skills, nurse=nurse)
        if errors:
            return _form_page(nurse, form, skills, errors, 422)
        records.save_nurse(session, values, now, actor=actor_name(), nurse=nurse)
        name = nurse.name
    flash(f"{name} : modifications enregistrées.", "ok")
    return redirect(url_for("nurses.index", q=name) + f"#n-{nurse_id}")


def _back(nurse_id: int):
    target = request.form.get("back", "")
    target = target if isinstance(target, str) and target.startswith("/status/nurses") else url_for("nurses.index")
    return redirect(target.split("#")[0] + f"#n-{nurse_id}")


@bp.post("/<int(max=2147483647):nurse_id>/deactivate")
def deactivate(nurse_id: int):
    session, now = db(), utcnow()
    with session.begin():
        nurse = _nurse(nurse_id)
        done = records.deactivate_nurse(session, nurse, now, actor=actor_name())
        name = nurse.name
    flash(f"{name} est désactivé·e : plus aucune proposition." if done else f"{name} était déjà désactivé·e.", "ok")
    return _back(nurse_id)


@bp.post("/<int(max=2147483647):nurse_id>/reactivate")
def reactivate(nurse_id: int):
    session, now = db(), utcnow()
    with session.begin():
        nurse = _nurse(nurse_id)
        done = records.reactivate_nurse(session, nurse, now, actor=actor_name())
        name = nurse.name
    flash(f"{name} reçoit de nouveau des propositions." if done else f"{name} était déjà active.", "ok")
    return _back(nurse_id)


@bp.route("/import", methods=["GET", "POST"])
def import_csv():
    if request.method == "GET":
        return render_template("nurse_import.html", result=None, error=None, skip=False)
    upload = request.files.get("file")
    skip = request.form.get("skip_invalid") == "1"
    data = upload.read(MAX_CSV_BYTES + 1) if upload else b""
    if not data:
        error = "Choisissez un fichier CSV (UTF-8, une ligne d'en-tête : name,phone,zones[,skills,availability])."
        return render_template("nurse_import.html", result=None, error=error, skip=skip), 422
    if len(data) > MAX_CSV_BYTES:
        error = "Fichier trop gros (5 Mo au plus) : découpez-le."
        return render_template("nurse_import.html", result=None, error=error, skip=skip), 422
    session = db()
    with session.begin():
        result = import_nurses(session, data, skip_invalid=skip)
    status = 200 if result.ok else 422
    name = upload.filename if upload and isinstance(upload.filename, str) else "fichier"
    return render_template("nurse_import.html", result=result, error=None, skip=skip, filename=name[:120]), status


def _edit_form(session, nurse: Nurse) -> dict:
    return {
        "name": nurse.name,
        "phone": nurse.phone,
        "zones": records.zones_text(session, nurse.zone_codes),
        "availability": nurse.availability,
    }


@bp.post("/<int(max=2147483647):nurse_id>/absences")
def add_absence(nurse_id: int):
    session, now = db(), utcnow()
    typed = form_values("starts_on", "ends_on", limit=40)
    today = now.astimezone(services().settings.timezone).date()
    with session.begin():
        nurse = _nurse(nurse_id)
        (first, last), errors = records.read_absence(session, nurse, typed["starts_on"], typed["ends_on"], today)
        if errors:
            form = _edit_form(session, nurse)
            return _form_page(nurse, form, nurse.skill_names, {}, 422, absence=typed, absence_errors=errors)
        records.add_absence(session, nurse, first, last, now, actor=actor_name())
        name = nurse.name
    flash(
        f"{name} : absence du {first:%d/%m/%Y} au {last:%d/%m/%Y} enregistrée, aucune proposition ces jours-là.", "ok"
    )
    return redirect(url_for("nurse_admin.edit", nurse_id=nurse_id) + "#absences")


@bp.post("/<int(max=2147483647):nurse_id>/absences/<int(max=2147483647):absence_id>/delete")
def remove_absence(nurse_id: int, absence_id: int):
    session, now = db(), utcnow()
    with session.begin():
        absence = session.get(NurseAbsence, absence_id)
        if absence is None or absence.nurse_id != nurse_id:
            abort(404)
        records.remove_absence(session, absence, now, actor=actor_name())
    flash("Absence retirée.", "ok")
    return redirect(url_for("nurse_admin.edit", nurse_id=nurse_id) + "#absences")

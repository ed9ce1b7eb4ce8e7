"""``/moi``: the nurse's own space, phone-first (issue 16). She reaches it by texting PROFIL: a
personal link, 24 h, one use (``/moi/lien/<link>``: a page with a button, so that a phone's link
preview does not use it up), opens a session of her own in that browser.

Every change is one domain call (``dispatch.people.space``) in one transaction: matching reads it
on the next wave, the audit trail keeps it. A bad field re-renders the page with the French
message beside it and what she typed (422); nothing changes.
"""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, session, url_for

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.messaging.erasure import erase_nurse
from dispatch.people import space
from dispatch.people.audit import ACTION_LABELS, changes_of, note
from dispatch.people.my_data import ANSWERS, export_csv
from dispatch.people.nurses import MAX_PAUSE_DAYS
from dispatch.people.space_access import LinkProblem, check_link, end_all_sessions, end_session, open_space
from dispatch.people.week_form import DAY_NAMES, WeekForm, describe, form_from_text
from dispatch.people.zone_search import ZoneError, suggest
from dispatch.sanitize import row_id
from dispatch.timeline import nurse_actor
from dispatch.vocab import CARE_LABELS
from status.space_web import (
    PRIVATE,
    SESSION_KEY,
    current_nurse,
    date_field,
    refused,
    require_nurse,
    skill_fields,
    week_text,
)
from workers.queue import enqueue

bp = Blueprint("space", __name__, url_prefix="/moi")
LINK_STATUS = {"invalid": 403, "used": 410, "expired": 410}


@bp.before_request
def _only_her():
    if request.endpoint in ("space.link", "space.use_link"):
        return None
    return require_nurse()


def _link_refused(problem: LinkProblem):
    titles = {"used": "Lien déjà utilisé", "expired": "Lien expiré", "invalid": "Lien invalide"}
    return refused(LINK_STATUS[problem.code], titles[problem.code], str(problem))


@bp.get("/lien/<link>")
def link(link: str):
    """The page behind the texted link: one button opens her space (and uses the link)."""
    try:
        check_link(db(), services().settings, link, "profile", utcnow())
    except LinkProblem as problem:
        return _link_refused(problem)
    finally:
        db().commit()
    return render_template("space_open.html", link=link), 200, PRIVATE


@bp.post("/lien/<link>")
def use_link(link: str):
    database, now = db(), utcnow()
    try:
        with database.begin():
            _, token = open_space(database, services().settings, link, now)
    except LinkProblem as problem:
        return _link_refused(problem)
    session.permanent = True
    session[SESSION_KEY] = token
    return redirect(url_for("space.index"))


def _page(errors: dict | None = None, typed: dict | None = None, status: int = 200):
    nurse, now, settings = current_nurse(), utcnow(), services().settings
    database = db()
    database.add(nurse)
    today = now.astimezone(settings.timezone).date()
    typed = typed or {}
    week = typed.get("week")
    page = render_template(
        "space.html",
        nurse=nurse,
        now=now,
        paused=space.is_paused(nurse, now),
        zones=space.zone_list(database, nurse),
        skills=space.SKILLS,
        care_labels=CARE_LABELS,
        my_skills=typed.get("skills", nurse.skill_names),
        week=WeekForm(week[0], week[1]) if week else form_from_text(nurse.availability),
        hours=describe(nurse.availability),
        day_names=DAY_NAMES,
        absences=space.upcoming_absences(nurse, today),
        offers=space.recent_offers(database, nurse, now),
        answers=ANSWERS,
        changes=changes_of(database, nurse.id, limit=20),
        action_labels=ACTION_LABELS,
        max_days=MAX_PAUSE_DAYS,
        errors=errors or {},
        typed=typed,
        today=today,
    )
    database.commit()
    return page, status, PRIVATE


def _done(message: str, anchor: str):
    flash(message, "ok")
    return redirect(url_for("space.index", fait=anchor, _anchor=anchor))


@bp.get("")
def index():
    return _page()


@bp.get("/communes.json")
def communes():
    """Suggestions under the commune field (``Saint-Chamond (42400)``)."""
    found = suggest(db(), request.args.get("q", ""))
    db().commit()
    return jsonify([{"label": e.label, "insee": e.insee} for e in found])


def _change(action, anchor: str, message, typed_key: str | None = None, typed=None):
    """Run ``action(session, nurse, now, actor)`` in one transaction; the page again on bad input."""
    database, now = db(), utcnow()
    try:
        with database.begin():
            nurse = current_nurse()
            database.add(nurse)
            result = action(database, nurse, now, nurse_actor(nurse))
    except (space.SpaceError, ZoneError) as err:
        database.rollback()
        return _page({anchor: str(err)}, {typed_key: typed} if typed_key else {}, 422)
    return _done(message(result) if callable(message) else message, anchor)


@bp.post("/communes")
def add_commune():
    typed = request.form.get("commune", "")[:120]

    def added_text(places) -> str:
        names = ", ".join(p.name for p in places)
        return f"Ajouté à vos communes : {names}. Les prochaines demandes y tiennent compte dès maintenant."

    return _change(
        lambda s, n, now, actor: space.add_zones(s, n, typed, now, actor=actor),
        "communes",
        added_text,
        "commune",
        typed,
    )


@bp.post("/communes/<insee>/retirer")
def remove_commune(insee: str):
    def removed_text(name) -> str:
        return f"{name} retirée de vos communes." if name else "Cette commune n'était pas dans votre liste."

    return _change(
        lambda s, n, now, actor: space.remove_zone(s, n, insee[:5], now, actor=actor), "communes", removed_text
    )


@bp.post("/soins")
def set_skills():
    chosen = skill_fields()
    return _change(
        lambda s, n, now, actor: space.set_skills(s, n, chosen, now, actor=actor),
        "soins",
        "Vos soins sont enregistrés.",
        "skills",
        chosen,
    )


@bp.post("/horaires")
def set_hours():
    text, errors, typed = week_text()
    if text is None:
        return _page({"horaires": "Vos horaires n'ont pas été enregistrés.", "days": errors}, {"week": typed}, 422)
    return _change(
        lambda s, n, now, actor: space.set_hours(s, n, text, now, actor=actor),
        "horaires",
        "Vos horaires sont enregistrés.",
    )


@bp.post("/absences")
def add_absence():
    raw = {"starts_on": request.form.get("starts_on", "")[:10], "ends_on": request.form.get("ends_on", "")[:10]}
    starts_on, ends_on = date_field("starts_on"), date_field("ends_on")
    if starts_on is None or ends_on is None:
        return _page({"absences": "Indiquez le premier et le dernier jour de l'absence."}, {"absence": raw}, 422)
    today = utcnow().astimezone(services().settings.timezone).date()
    return _change(
        lambda s, n, now, actor: space.add_absence(s, n, starts_on, ends_on, today, now, actor=actor),
        "absences",
        f"Absence notée du {space.french_date(starts_on)} au {space.french_date(ends_on)} : "
        "aucune proposition ces jours-là.",
        "absence",
        raw,
    )


@bp.post("/absences/<int:absence_id>/retirer")
def remove_absence(absence_id: int):
    absence = row_id(absence_id) or 0
    return _change(
        lambda s, n, now, actor: space.remove_absence(s, n, absence, now, actor=actor),
        "absences",
        lambda removed: "Absence supprimée." if removed else "Cette absence n'existait plus.",
    )


@bp.post("/pause")
def pause():
    raw = request.form.get("days", "").strip()[:6]
    if raw and not raw.isdigit():
        return _page({"pause": f"Indiquez un nombre de jours (1 à {MAX_PAUSE_DAYS}), ou rien."}, {"days": raw}, 422)
    days = int(raw) if raw else None
    message = (
        f"Vous êtes en pause pour {days} jour{'s' if days and days > 1 else ''}."
        if days
        else "Vous êtes en pause jusqu'à votre reprise."
    )
    return _change(
        lambda s, n, now, actor: space.pause(s, n, now, actor=actor, days=days), "pause", message, "days", raw
    )


@bp.post("/reprise")
def resume():
    return _change(
        lambda s, n, now, actor: space.resume(s, n, now, actor=actor),
        "pause",
        lambda resumed: "Vous recevez de nouveau les propositions." if resumed else "Vous n'étiez pas en pause.",
    )


@bp.get("/donnees.csv")
def my_data():
    database, now, settings = db(), utcnow(), services().settings
    with database.begin():
        nurse = current_nurse()
        database.add(nurse)
        body = export_csv(database, nurse, now, settings.timezone, now.astimezone(settings.timezone).date())
        note(database, nurse.id, "data_exported", now, actor=nurse_actor(nurse))
    headers = {**PRIVATE, "Content-Disposition": 'attachment; filename="mes-donnees-sio.csv"'}
    return "\ufeff" + body, 200, {**headers, "Content-Type": "text/csv; charset=utf-8"}


@bp.post("/effacement")
def erase():
    if request.form.get("confirm") != "1":
        return _page({"donnees": "Cochez la case pour confirmer l'effacement."}, {}, 422)
    database, now, settings = db(), utcnow(), services().settings
    with database.begin():
        nurse = current_nurse()
        database.add(nurse)
        effects = erase_nurse(database, settings, nurse, now)
    enqueue(settings, effects)
    session.pop(SESSION_KEY, None)
    return refused(
        200,
        "Données effacées",
        "Vos données personnelles sont effacées et vous ne recevrez plus de SMS du service. "
        "Les coordinatrices sont prévenues. Merci pour votre participation.",
    )


@bp.post("/deconnexion")
def log_out():
    database = db()
    with database.begin():
        end_session(database, session.get(SESSION_KEY), utcnow())
    session.pop(SESSION_KEY, None)
    return refused(200, "Vous êtes déconnectée", "Pour revenir, envoyez PROFIL par SMS au numéro du service.")


@bp.post("/sessions/fin")
def end_everywhere():
    database = db()
    with database.begin():
        nurse = current_nurse()
        end_all_sessions(database, nurse.id, utcnow(), actor=nurse_actor(nurse))
    session.pop(SESSION_KEY, None)
    return refused(
        200,
        "Toutes vos sessions sont fermées",
        "Votre espace est fermé sur tous vos appareils. Pour revenir, envoyez PROFIL par SMS.",
    )

"""``/inscription/<link>``: the registration form texted in answer to INSCRIPTION (issue 16).

The link is checked on every view and used once, by the form that files the registration; a
form with mistakes comes back with French messages and what was typed (422), the link intact.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.people.registration import RegistrationError, RegistrationInput, check_fields, submit
from dispatch.people.space import SKILLS
from dispatch.people.space_access import LinkProblem, check_link
from dispatch.people.week_form import DAY_NAMES, WeekForm, form_from_text
from dispatch.people.zone_search import suggest
from dispatch.vocab import CARE_LABELS
from status.space import LINK_STATUS
from status.space_web import PRIVATE, refused, skill_fields, week_text

bp = Blueprint("registration", __name__, url_prefix="/inscription")
TITLES = {"used": "Lien déjà utilisé", "expired": "Lien expiré", "invalid": "Lien invalide"}


def _link_refused(problem: LinkProblem):
    return refused(LINK_STATUS[problem.code], TITLES[problem.code], str(problem))


def _form(link: str, form: RegistrationInput, week: WeekForm, errors: dict, status: int = 200):
    page = render_template(
        "register.html",
        link=link,
        form=form,
        week=week,
        errors=errors,
        skills=SKILLS,
        care_labels=CARE_LABELS,
        day_names=DAY_NAMES,
    )
    return page, status, PRIVATE


def _checked(link: str):
    try:
        check_link(db(), services().settings, link, "register", utcnow())
    except LinkProblem as problem:
        return _link_refused(problem)
    finally:
        db().commit()
    return None


@bp.get("/<link>")
def form(link: str):
    blocked = _checked(link)
    return blocked or _form(link, RegistrationInput(), form_from_text("mon-fri 08:00-19:00"), {})


@bp.get("/<link>/communes.json")
def communes(link: str):
    blocked = _checked(link)
    if blocked:
        return jsonify([]), blocked[1]
    found = suggest(db(), request.args.get("q", ""))
    db().commit()
    return jsonify([{"label": e.label, "insee": e.insee} for e in found])


@bp.post("/<link>")
def send(link: str):
    hours, week_errors, typed_week = week_text()
    typed = RegistrationInput(
        name=request.form.get("name", "")[:200],
        rpps=request.form.get("rpps", "")[:40],
        zones=request.form.get("zones", "")[:4000],
        skills=skill_fields(),
        availability=hours or "",
    )
    database, now = db(), utcnow()
    if week_errors:  # the other fields' messages too; nothing is written, the link stays usable
        errors: dict = {"days": week_errors}
        try:
            check_link(database, services().settings, link, "register", now)
            check_fields(database, typed)
        except LinkProblem as problem:
            return _link_refused(problem)
        except RegistrationError as err:
            errors.update(err.errors)
        finally:
            database.rollback()
        return _form(link, typed, WeekForm(*typed_week), errors, 422)
    try:
        with database.begin():
            submit(database, services().settings, link, typed, now)
    except LinkProblem as problem:
        return _link_refused(problem)
    except RegistrationError as err:
        return _form(link, typed, WeekForm(*typed_week), err.errors, 422)
    return refused(
        200,
        "Inscription envoyée",
        "Merci. Une coordinatrice va vérifier votre inscription ; vous recevrez un SMS dès qu'elle sera validée.",
    )

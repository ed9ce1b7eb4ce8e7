"""``/status/rota``: the poles (name, departments, coordinators), who is on duty now and next, the
weekly rota and its exceptions for a date (holidays, swaps). The rules are
``dispatch.people.rota``'s; this page only reads forms and shows the result."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.people import rota
from dispatch.timeline import record
from models import Coordinator, Pole, RotaException, RotaShift
from status.people_web import form_values, row_id
from status.web import actor_name, current_coordinator, require_login

bp = Blueprint("rota", __name__, url_prefix="/status/rota")
bp.before_request(require_login)
DAYS = ("lun", "mar", "mer", "jeu", "ven", "sam", "dim")


@bp.app_template_global()
def duty_now():
    """(on duty?, until when or None) of the logged-in coordinator, the switch and the rota counted."""
    me = current_coordinator()
    if me is None:
        return False, None
    session, settings, now = db(), services().settings, utcnow()
    rota_until = rota.rota_now(session, settings, now).get(me.id)
    on = rota.is_on_duty(me, rota_until, now)
    if me.on_duty_until is not None and me.on_duty_until > now:
        return on, me.on_duty_until
    if me.on_duty_until is None and me.on_duty:
        return on, None
    return on, rota_until


def _page(errors: dict | None = None, forms: dict | None = None, status: int = 200):
    session, settings, now = db(), services().settings, utcnow()
    poles = list(session.scalars(select(Pole).order_by(Pole.name)))
    people = list(
        session.scalars(select(Coordinator).where(Coordinator.disabled_at.is_(None)).order_by(Coordinator.name))
    )
    on_duty = rota.on_duty_now(session, settings, now)
    ends = rota.rota_now(session, settings, now)
    ahead = rota.duties(session, settings, now)
    shifts = list(session.scalars(select(RotaShift).order_by(RotaShift.weekday, RotaShift.starts)))
    today = now.astimezone(settings.timezone).date()
    changes = list(
        session.scalars(
            select(RotaException)
            .where(RotaException.on_date >= today)
            .order_by(RotaException.on_date, RotaException.starts)
        )
    )
    groups = [(pole, [c for c in people if c.pole_id == pole.id]) for pole in poles]
    loose = [c for c in people if c.pole_id is None]
    if loose or not poles:
        groups.append((None, loose))

    def until(c: Coordinator):
        if c.on_duty_until is not None and c.on_duty_until > now:
            return c.on_duty_until
        return ends.get(c.id)

    views = []
    for pole, members in groups:
        ids = {c.id for c in members}
        views.append(
            {
                "pole": pole,
                "members": members,
                "now": [(c, until(c)) for c in on_duty if c.id in ids],
                "next": rota.next_on_duty([d for d in ahead if d.coordinator.id in ids], now),
                "shifts": {c.id: [s for s in shifts if s.coordinator_id == c.id] for c in members},
                "changes": [x for x in changes if x.coordinator_id in ids],
            }
        )
    html = render_template(
        "rota.html",
        views=views,
        people=people,
        poles=poles,
        days=DAYS,
        hhmm=rota.hhmm,
        errors=errors or {},
        forms=forms or {},
        today=today,
        service_hours=settings.service_hours.text,
        now=now,
        people_options=[(str(c.id), c.name) for c in people],
        pole_options=[(str(p.id), p.name) for p in poles],
    )
    session.commit()
    return html, status


@bp.get("")
def index():
    return _page()


def _done(message: str, anchor: str = ""):
    flash(message, "ok")
    return redirect(url_for("rota.index") + anchor)


def _pole_values(form: dict) -> tuple[str, list[str], dict]:
    errors = {}
    name = " ".join(form["name"].split())
    if not name:
        errors["name"] = "Indiquez le nom du pôle."
    elif len(name) > 80:
        errors["name"] = "Nom trop long (80 caractères au plus)."
    departments: list[str] = []
    try:
        departments = rota.parse_departments(form["departments"])
    except ValueError as err:
        errors["departments"] = str(err)[0].upper() + str(err)[1:] + "."
    return name, departments, errors


@bp.post("/poles")
def create_pole():
    session, now = db(), utcnow()
    form = form_values("name", "departments")
    name, departments, errors = _pole_values(form)
    with session.begin():
        if name and session.scalar(select(Pole).where(Pole.name == name)) is not None:
            errors["name"] = "Un pôle porte déjà ce nom."
        if errors:
            return _page({"pole": errors}, {"pole": form}, 422)
        session.add(Pole(name=name, departments=" ".join(departments), created_at=now))
        record(session, None, "pole_created", now, actor=actor_name(), pole=name, departments=" ".join(departments))
    return _done(f"Pôle {name} créé.")


@bp.post("/poles/<int(max=2147483647):pole_id>")
def update_pole(pole_id: int):
    session, now = db(), utcnow()
    form = form_values("name", "departments")
    name, departments, errors = _pole_values(form)
    with session.begin():
        pole = session.get(Pole, pole_id) or abort(404)
        other = session.scalar(select(Pole).where(Pole.name == name)) if name else None
        if other is not None and other.id != pole.id:
            errors["name"] = "Un pôle porte déjà ce nom."
        if errors:
            return _page({f"pole-{pole_id}": errors}, {f"pole-{pole_id}": form}, 422)
        pole.name, pole.departments = name, " ".join(departments)
        record(session, None, "pole_updated", now, actor=actor_name(), pole=name, departments=pole.departments)
    return _done(f"Pôle {name} modifié.", f"#pole-{pole_id}")


@bp.post("/members")
def add_member():
    """Put a coordinator in a pole (or in none)."""
    session, now = db(), utcnow()
    form = form_values("coordinator_id", "pole_id")
    with session.begin():
        coordinator = session.get(Coordinator, row_id(form["coordinator_id"]) or 0)
        pole = session.get(Pole, row_id(form["pole_id"]) or 0) if form["pole_id"] else None
        if coordinator is None or (form["pole_id"] and pole is None):
            return _page({"member": {"coordinator_id": "Choisissez une personne et un pôle."}}, {"member": form}, 422)
        coordinator.pole_id = pole.id if pole else None
        record(
            session,
            None,
            "pole_member",
            now,
            actor=actor_name(),
            coordinator=coordinator.name,
            pole=pole.name if pole else None,
        )
        message = f"{coordinator.name} : {'pôle ' + pole.name if pole else 'tous les pôles'}."
    return _done(message)


def _hours(form: dict, errors: dict, *, optional: bool = False) -> tuple[int | None, int | None]:
    if optional and not form["starts"].strip() and not form["ends"].strip():
        return None, None
    starts = ends = None
    try:
        starts = rota.parse_minutes(form["starts"])
    except ValueError as err:
        errors["starts"] = str(err)[0].upper() + str(err)[1:] + "."
    try:
        ends = rota.parse_minutes(form["ends"], end=True)
    except ValueError as err:
        errors["ends"] = str(err)[0].upper() + str(err)[1:] + "."
    if starts is not None and ends is not None and ends <= starts:
        errors["ends"] = "La fin doit venir après le début."
    return starts, ends


@bp.post("/shifts")
def add_shift():
    session, now = db(), utcnow()
    form = form_values("coordinator_id", "starts", "ends")
    weekdays = sorted({int(d) for d in request.form.getlist("weekday")[:7] if isinstance(d, str) and d in "0123456"})
    form["weekday"] = [str(d) for d in weekdays]
    errors: dict[str, str] = {}
    starts, ends = _hours(form, errors)
    if not weekdays:
        errors["weekday"] = "Cochez au moins un jour."
    with session.begin():
        coordinator = session.get(Coordinator, row_id(form["coordinator_id"]) or 0)
        if coordinator is None or coordinator.disabled_at is not None:
            errors["coordinator_id"] = "Choisissez qui est de garde."
        if errors:
            return _page({"shift": errors}, {"shift": form}, 422)
        for day in weekdays:
            session.add(RotaShift(coordinator_id=coordinator.id, weekday=day, starts=starts, ends=ends))
        days = ", ".join(DAYS[d] for d in weekdays)
        record(
            session,
            None,
            "rota_shift_added",
            now,
            actor=actor_name(),
            coordinator=coordinator.name,
            days=days,
            hours=f"{rota.hhmm(starts)}-{rota.hhmm(ends)}",
        )
        message = f"Garde ajoutée : {coordinator.name}, {days} {rota.hhmm(starts)}-{rota.hhmm(ends)}."
    return _done(message)


@bp.post("/shifts/<int(max=2147483647):shift_id>/delete")
def delete_shift(shift_id: int):
    session, now = db(), utcnow()
    with session.begin():
        shift = session.get(RotaShift, shift_id) or abort(404)
        coordinator = session.get(Coordinator, shift.coordinator_id)
        record(
            session,
            None,
            "rota_shift_removed",
            now,
            actor=actor_name(),
            coordinator=coordinator.name if coordinator else None,
        )
        session.delete(shift)
    return _done("Garde retirée du planning.")


@bp.post("/exceptions")
def add_exception():
    session, now, settings = db(), utcnow(), services().settings
    form = form_values("coordinator_id", "on_date", "kind", "starts", "ends", "note")
    errors: dict[str, str] = {}
    starts, ends = _hours(form, errors, optional=True)
    today = now.astimezone(settings.timezone).date()
    on_date = None
    try:
        on_date = date.fromisoformat(form["on_date"].strip())
        if on_date < today:
            errors["on_date"] = "Cette date est passée."
        elif on_date > today + timedelta(days=800):
            errors["on_date"] = "Date trop lointaine (deux ans au plus)."
    except ValueError:
        errors["on_date"] = "Date attendue (JJ/MM/AAAA)."
    if form["kind"] not in ("off", "on"):
        errors["kind"] = "Choisissez : absent·e ou de garde."
    with session.begin():
        coordinator = session.get(Coordinator, row_id(form["coordinator_id"]) or 0)
        if coordinator is None or coordinator.disabled_at is not None:
            errors["coordinator_id"] = "Choisissez la personne."
        if errors:
            return _page({"exception": errors}, {"exception": form}, 422)
        note = " ".join(form["note"].split())[:120]
        session.add(
            RotaException(
                coordinator_id=coordinator.id,
                on_date=on_date,
                on_duty=form["kind"] == "on",
                starts=starts,
                ends=ends,
                note=note,
            )
        )
        record(
            session,
            None,
            "rota_exception_added",
            now,
            actor=actor_name(),
            coordinator=coordinator.name,
            on_date=on_date.isoformat(),
            change=form["kind"],
        )
        message = f"{coordinator.name} {'de garde' if form['kind'] == 'on' else 'absent·e'} le {on_date:%d/%m/%Y}."
    return _done(message)


@bp.post("/exceptions/<int(max=2147483647):exception_id>/delete")
def delete_exception(exception_id: int):
    session, now = db(), utcnow()
    with session.begin():
        change = session.get(RotaException, exception_id) or abort(404)
        record(session, None, "rota_exception_removed", now, actor=actor_name(), on_date=change.on_date.isoformat())
        session.delete(change)
    return _done("Exception retirée.")


def pole_filter_options() -> list[tuple[str, str]]:
    return [("", "tous les pôles")] + [(str(p.id), p.name) for p in db().scalars(select(Pole).order_by(Pole.name))]

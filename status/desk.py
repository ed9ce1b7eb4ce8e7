"""The coordinator's desk: a request entered from a call (prefilled from a call the phone menu
transferred), a request corrected, and the suggestions the form's fields ask for as she types.

Each post: one transaction calling the domain (the same ``create_request`` as the API, the
same input rules), then the effects enqueued after the commit, then the request's page.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.intake import lookup
from dispatch.intake.desk_form import parse_desk_form, parse_edit_form
from dispatch.intake.transferred import link_call, prefill, transferred_calls, transferred_session
from dispatch.phones import PhoneError, normalize_phone
from dispatch.requests.create import create_request, find_request
from dispatch.requests.edit import FIELD_WORDS, changed_fields, edit_request
from dispatch.vocab import CARE_TYPES
from status import labels, queries
from status.web import actor_name, require_login
from workers.queue import enqueue

bp = Blueprint("desk", __name__, url_prefix="/status")
bp.before_request(require_login)
NO_STORE = {"Cache-Control": "no-store"}


@bp.app_context_processor
def _transferred_calls():
    """``transferred_calls()`` for the board's fragment: the calls handed to the coordinators."""

    def calls():
        return transferred_calls(db(), services().settings, utcnow())

    return {"transferred_calls": calls}


_URL = re.compile(r"https?://[^\s<>\"']+")


@bp.app_template_filter("linkify")
def linkify(text: str | None) -> Markup:
    """Text with its web addresses made links (the simulator's texts: the nurse's details link)."""
    parts, last = [], 0
    for match in _URL.finditer(text or ""):
        url = match.group(0).rstrip(".,;:!?)")
        end = match.start() + len(url)
        parts += [escape(text[last : match.start()]), Markup('<a href="{0}" rel="noreferrer">{0}</a>').format(url)]
        last = end
    parts.append(escape((text or "")[last:]))
    return Markup("").join(parts)


def _national(phone: str | None) -> str:
    try:
        return normalize_phone(phone).national if phone else ""
    except PhoneError:
        return phone or ""


def _form_page(template: str, values: dict, errors: dict, status: int = 200, **context):
    care_types = [(code, labels.care(code)) for code in CARE_TYPES]
    return render_template(template, values=values, errors=errors, care_types=care_types, **context), status


@bp.get("/requests/new")
def new():
    """The empty form, or prefilled from a transferred call (``?call=<CallSid>``)."""
    session, settings, now = db(), services().settings, utcnow()
    values: dict[str, str] = {"day": "today"}
    ivr = transferred_session(session, request.args.get("call", "")[:64])
    if ivr is not None:
        values.update(prefill(session, settings, ivr, now.astimezone(settings.timezone).date()))
    caller = _national(ivr.from_phone) if ivr is not None else None
    session.commit()
    return _form_page("desk_new.html", values, {}, caller=caller)


@bp.post("/requests")
def create():
    session, settings, now = db(), services().settings, utcnow()
    form = {key: request.form.get(key, "") for key in request.form}
    desk, errors = parse_desk_form(session, settings, form, now)
    ivr = transferred_session(session, form.get("call", "")[:64])
    if errors or desk is None:
        caller = _national(ivr.from_phone) if ivr is not None else None
        session.rollback()
        flash("La demande n'est pas enregistrée : corrigez les champs signalés.", "error")
        return _form_page("desk_new.html", form, errors, 422, caller=caller)
    care_request, effects = create_request(session, settings, desk.new, now, actor=actor_name())
    if ivr is not None:
        effects += link_call(session, settings, ivr, care_request, now, actor=actor_name())
    reference = care_request.reference
    session.commit()
    enqueue(settings, effects)
    flash(f"Demande {reference} enregistrée : la recherche d'une infirmière commence.", "ok")
    return redirect(url_for("board.show", reference=reference))


def _request_or_404(reference: str):
    care_request = find_request(db(), reference[:6]) if reference.isdigit() else None
    if care_request is None:
        abort(404)
    return care_request


def _edit_values(care_request) -> dict[str, str]:
    usual = care_request.usual_nurse
    return {
        "care_type": care_request.care_type,
        "day": "keep",
        "urgent": "1" if care_request.urgent else "",
        "callback_phone": _national(care_request.callback_phone),
        "usual_nurse": (
            f"{usual.name} · {_national(usual.phone)}" if usual else _national(care_request.usual_nurse_phone)
        ),
        "notes": care_request.notes or "",
    }


@bp.get("/requests/<reference>/fragment")
def request_fragment(reference: str):
    """A request's live part (offers, history): its page fetches this every few seconds, like the board."""
    session, now = db(), utcnow()
    care_request = _request_or_404(reference)
    html = render_template(
        "_request_live.html",
        r=care_request,
        offers=care_request.offers,
        timeline=queries.request_timeline(session, care_request, now),
        now=now,
    )
    session.commit()
    return html, 200, NO_STORE


EDITABLE = ("open", "accepted", "confirmed", "unfilled", "review")


@bp.get("/requests/<reference>/edit")
def edit(reference: str):
    session = db()
    care_request = _request_or_404(reference)
    values = _edit_values(care_request)
    page = _form_page("desk_edit.html", values, {}, r=care_request, editable=care_request.status in EDITABLE)
    session.commit()
    return page


@bp.post("/requests/<reference>/edit")
def update(reference: str):
    session, settings, now = db(), services().settings, utcnow()
    care_request = _request_or_404(reference)
    form = {key: request.form.get(key, "") for key in request.form}
    if care_request.status not in EDITABLE or care_request.purged_at is not None:
        session.rollback()
        flash(f"La demande est {labels.status(care_request.status)} : elle ne peut plus être modifiée.", "error")
        return redirect(url_for("board.show", reference=care_request.reference))
    changes, errors = parse_edit_form(session, settings, form, care_request, now)
    if errors or changes is None:
        page = _form_page("desk_edit.html", form, errors, 422, r=care_request, editable=True)
        session.rollback()
        return page
    fields = changed_fields(care_request, changes)
    effects = edit_request(session, settings, care_request, changes, now, actor=actor_name()) or []
    reference = care_request.reference
    session.commit()
    enqueue(settings, effects)
    if not fields:
        flash("Aucun changement.", "ok")
    else:
        told = len(effects)
        words = ", ".join(FIELD_WORDS[f] for f in fields)
        plural = "s" if told > 1 else ""
        flash(
            f"Demande modifiée ({words})." + (f" {told} infirmière{plural} prévenue{plural} par SMS." if told else ""),
            "ok",
        )
    return redirect(url_for("board.show", reference=reference))


# -- suggestions as the coordinator types (JSON) ----------------------------------------------------


def _query() -> str:
    return request.args.get("q", "")[:100]


@bp.get("/lookup/communes.json")
def communes():
    found = lookup.search_communes(db(), _query())
    db().commit()
    return jsonify([{"value": c.label, "department": c.department} for c in found]), 200, NO_STORE


@bp.get("/lookup/nurses.json")
def nurses():
    found = lookup.search_nurses(db(), _query())
    db().commit()
    return jsonify([{"value": p.label} for p in found]), 200, NO_STORE


@bp.get("/lookup/requesters.json")
def requesters():
    found = lookup.search_requesters(db(), _query())
    db().commit()
    return jsonify([{"value": p.label, "phone": _national(p.phone)} for p in found]), 200, NO_STORE

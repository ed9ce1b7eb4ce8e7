"""HTTP API for establishments: ``/api/v1/requests`` with bearer tokens (DESIGN §5)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.intake.api_input import parse_new_request
from dispatch.people.tokens import requester_for_token
from dispatch.requests.actions import cancel_request
from dispatch.requests.create import create_request, find_request
from dispatch.requests.requester_view import requester_timeline
from workers.queue import enqueue

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def authenticate():
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    # The view goes on in this transaction (commits on success; teardown rolls back the rest).
    requester = requester_for_token(db(), token)
    if requester is None:
        return jsonify(error="jeton d'accès manquant ou invalide"), 401, {"WWW-Authenticate": "Bearer"}
    g.requester = requester
    return None


@bp.errorhandler(413)
def too_large(_err):
    return jsonify(errors={"body": "requête trop volumineuse"}), 422


def _request_json(care_request) -> dict:
    settings = services().settings
    nurse = care_request.accepted_nurse
    return {
        "reference": care_request.reference,
        "status": care_request.status,
        "care_type": care_request.care_type,
        "postcode": care_request.postcode,
        "insee": care_request.insee,
        "start_at": care_request.start_at.astimezone(settings.timezone).isoformat() if care_request.start_at else None,
        "urgent": care_request.urgent,
        "created_at": care_request.created_at.astimezone(settings.timezone).isoformat(),
        "accepted_nurse": {"name": nurse.name, "phone": nurse.phone} if nurse else None,
        "timeline": requester_timeline(care_request, settings.timezone),
    }


@bp.post("/requests")
def create():
    settings, session, now = services().settings, db(), utcnow()
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # [[[[... nested deeper than the parser goes
        body = None
    if not isinstance(body, dict):
        return jsonify(errors={"body": "le corps doit être un objet JSON"}), 422
    new, errors = parse_new_request(session, settings, body, g.requester, now)
    if errors:
        return jsonify(errors=errors), 422
    care_request, effects = create_request(session, settings, new, now)
    session.commit()
    enqueue(settings, effects)
    return jsonify(_request_json(care_request)), 201


def _own(reference: str):
    care_request = find_request(db(), reference)
    if care_request is None or care_request.requester_id != g.requester.id:
        return None
    return care_request


@bp.get("/requests/<reference>")
def show(reference: str):
    care_request = _own(reference)
    if care_request is None:
        return jsonify(error="demande introuvable"), 404
    return jsonify(_request_json(care_request))


@bp.post("/requests/<reference>/cancel")
def cancel(reference: str):
    settings, session, now = services().settings, db(), utcnow()
    care_request = _own(reference)
    if care_request is None:
        return jsonify(error="demande introuvable"), 404
    effects = cancel_request(session, settings, care_request, now, actor=g.requester.name)
    if effects is None:
        return jsonify(errors={"status": f"demande déjà close ({care_request.status})"}), 409
    session.commit()
    enqueue(settings, effects)
    return jsonify(_request_json(care_request))

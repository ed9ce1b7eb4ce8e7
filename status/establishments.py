"""``/status/establishments``: the requesters (wards, Ehpads, labs...) created and edited with their
phones; their API tokens issued (shown once) and revoked by an admin (``dispatch.people.tokens``,
as ``sio requesters token`` and ``revoke`` do)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from dispatch.app.context import db
from dispatch.clock import utcnow
from dispatch.people import records, tokens
from dispatch.timeline import record
from models import ApiToken, Requester
from status.people_web import form_values, require_admin
from status.queries import national
from status.web import actor_name, require_login

bp = Blueprint("establishments", __name__, url_prefix="/status/establishments")
bp.before_request(require_login)
FIELDS = ("name", "kind", "phones", "postcode")
KINDS = {
    "hopital": "hôpital, clinique",
    "ehpad": "Ehpad, maison de retraite",
    "labo": "laboratoire",
    "social": "service social",
    "medecin": "médecin",
    "autre": "autre",
}


def live_tokens(session, requester_ids: list[int]) -> dict[int, tuple[int, object]]:
    """Per establishment: how many tokens work, and when the newest was issued."""
    if not requester_ids:
        return {}
    rows = session.execute(
        select(ApiToken.requester_id, func.count(), func.max(ApiToken.created_at))
        .where(ApiToken.requester_id.in_(requester_ids), ApiToken.revoked_at.is_(None))
        .group_by(ApiToken.requester_id)
    )
    return {rid: (count, newest) for rid, count, newest in rows}


@bp.get("")
def index():
    session = db()
    people = list(session.scalars(select(Requester).options(selectinload(Requester.phones)).order_by(Requester.name)))
    page = render_template(
        "establishments.html", people=people, kinds=KINDS, live=live_tokens(session, [r.id for r in people])
    )
    session.commit()
    return page


def _page(requester: Requester | None, form: dict, errors: dict, status: int = 200, token: str | None = None):
    session = db()
    live = live_tokens(session, [requester.id]).get(requester.id) if requester else None
    return render_template(
        "establishment.html", r=requester, form=form, errors=errors, kinds=KINDS, live=live, token=token
    ), status


def _form_of(requester: Requester) -> dict:
    return {
        "name": requester.name,
        "kind": requester.kind,
        "phones": " ; ".join(national(p.phone) for p in requester.phones),
        "postcode": requester.postcode or "",
    }


@bp.get("/new")
def new():
    return _page(None, {"kind": "hopital"}, {})


@bp.post("/new")
def create():
    session, now = db(), utcnow()
    form = form_values(*FIELDS)
    with session.begin():
        values, errors = records.read_requester(session, form)
        if errors:
            return _page(None, form, errors, 422)
        requester = records.save_requester(session, values, now, actor=actor_name())
        requester_id, name = requester.id, requester.name
    flash(f"{name} est enregistré : ses appels et SMS sont reconnus.", "ok")
    return redirect(url_for("establishments.edit", requester_id=requester_id))


def _requester(requester_id: int) -> Requester:
    return db().get(Requester, requester_id, options=[selectinload(Requester.phones)]) or abort(404)


@bp.get("/<int(max=2147483647):requester_id>")
def edit(requester_id: int):
    requester = _requester(requester_id)
    page = _page(requester, _form_of(requester), {})
    db().commit()
    return page


@bp.post("/<int(max=2147483647):requester_id>")
def update(requester_id: int):
    session, now = db(), utcnow()
    form = form_values(*FIELDS)
    with session.begin():
        requester = _requester(requester_id)
        values, errors = records.read_requester(session, form, requester=requester)
        if errors:
            return _page(requester, form, errors, 422)
        records.save_requester(session, values, now, actor=actor_name(), requester=requester)
        name = requester.name
    flash(f"{name} : modifications enregistrées.", "ok")
    return redirect(url_for("establishments.edit", requester_id=requester_id))


@bp.post("/<int(max=2147483647):requester_id>/token")
def issue(requester_id: int):
    blocked = require_admin()
    if blocked:
        return blocked
    session, now = db(), utcnow()
    with session.begin():
        requester = _requester(requester_id)
        token, revoked = tokens.replace_token(session, requester, now)
        record(session, None, "api_token_issued", now, actor=actor_name(), requester=requester.name, revoked=revoked)
        page = _page(requester, _form_of(requester), {}, token=token)
    # Shown once, in this answer only (never in a cookie, a URL or a log).
    return page


@bp.post("/<int(max=2147483647):requester_id>/revoke")
def revoke(requester_id: int):
    blocked = require_admin()
    if blocked:
        return blocked
    session, now = db(), utcnow()
    with session.begin():
        requester = _requester(requester_id)
        revoked = tokens.revoke_tokens(session, requester, now)
        record(session, None, "api_token_revoked", now, actor=actor_name(), requester=requester.name, count=revoked)
        name = requester.name
    flash(
        f"{name} : {revoked} jeton{'s' if revoked != 1 else ''} révoqué{'s' if revoked != 1 else ''} ; "
        "son intégration reçoit 401 jusqu'à un nouveau jeton."
        if revoked
        else f"{name} n'avait aucun jeton en service.",
        "ok",
    )
    return redirect(url_for("establishments.edit", requester_id=requester_id))

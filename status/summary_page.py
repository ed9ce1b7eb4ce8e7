"""``/status/summary``: one local day at a glance, with a server-drawn plot."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, render_template, request

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.requests.summary import day_summary
from status.plot import minutes, percent, summary_svg
from status.web import require_login

bp = Blueprint("summary", __name__, url_prefix="/status/summary")
bp.before_request(require_login)


@bp.get("")
def index():
    tz = services().settings.timezone
    today = utcnow().astimezone(tz).date()
    try:
        day = date.fromisoformat(request.args.get("jour", "")) if request.args.get("jour") else today
    except ValueError:
        day = today
    summary = day_summary(db(), day, tz)
    return render_template(
        "summary.html",
        s=summary,
        svg=summary_svg(summary),
        minutes=minutes,
        percent=percent,
        previous=day - timedelta(days=1),
        following=day + timedelta(days=1) if day < today else None,
        today=today,
    )

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


FIRST_DAY = date(2000, 1, 1)  # nothing before; and a day's neighbours must stay dates


def _day(raw: str, today: date) -> tuple[date, str | None]:
    """The day asked for (``?jour=AAAA-MM-JJ``), or today and a French reason why not."""
    if not raw:
        return today, None
    try:
        day = date.fromisoformat(raw.strip()[:10]) if len(raw.strip()) == 10 else None
    except ValueError:
        day = None
    if day is None:
        return today, f"Date illisible : « {raw[:40]} » (attendu AAAA-MM-JJ). Voici aujourd'hui."
    if not FIRST_DAY <= day <= today:
        shown = f"{FIRST_DAY:%d/%m/%Y}"
        return today, f"Pas de bilan pour le {day:%d/%m/%Y} : choisissez un jour du {shown} à aujourd'hui."
    return day, None


@bp.get("")
def index():
    tz = services().settings.timezone
    today = utcnow().astimezone(tz).date()
    day, error = _day(request.args.get("jour", ""), today)
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
        error=error,
    )

"""What the nurses list says of each nurse today: "disponible" only when nothing keeps her from
an offer now (issue #15): deactivated, opted out, paused, absent today, outside her hours today."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.config import Settings
from dispatch.hours import HoursError, WeeklyHours
from models import Nurse, NurseAbsence


def nurse_states(session: Session, settings: Settings, nurses: list[Nurse], now: datetime) -> dict[int, list[tuple]]:
    """Per nurse id: (css class, label) badges, the reasons she gets no offer now, or "disponible"."""
    local = now.astimezone(settings.timezone)
    today = local.date()
    ids = [n.id for n in nurses]
    absences: dict[int, NurseAbsence] = {}
    if ids:
        for absence in session.scalars(
            select(NurseAbsence).where(
                NurseAbsence.nurse_id.in_(ids), NurseAbsence.starts_on <= today, NurseAbsence.ends_on >= today
            )
        ):
            absences[absence.nurse_id] = absence
    states: dict[int, list[tuple]] = {}
    for nurse in nurses:
        badges: list[tuple] = []
        if nurse.deactivated_at is not None:
            badges.append(("bad", f"désactivé·e le {nurse.deactivated_at.astimezone(settings.timezone):%d/%m}"))
        if nurse.opted_out_at is not None:
            badges.append(("bad", f"désinscrit·e (STOP) le {nurse.opted_out_at.astimezone(settings.timezone):%d/%m}"))
        if nurse.paused_until is not None and nurse.paused_until > now:
            until = nurse.paused_until.astimezone(settings.timezone)
            badges.append(
                ("warn", "en pause" + (f" jusqu'au {until:%d/%m %H:%M}" if until - local < timedelta(days=365) else ""))
            )
        if nurse.id in absences:
            badges.append(("warn", f"absent·e jusqu'au {absences[nurse.id].ends_on:%d/%m}"))
        if nurse.availability:
            try:
                hours = WeeklyHours.parse(nurse.availability)
            except HoursError:
                hours = None
            if hours is not None and not hours.day_spans(today, settings.timezone):
                badges.append(("warn", "ne travaille pas aujourd'hui"))
            elif hours is not None and not hours.contains(local):
                badges.append(("warn", "hors de ses horaires en ce moment"))
        states[nurse.id] = badges or [("ok", "disponible")]
    return states

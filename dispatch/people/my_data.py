"""A nurse's data as she downloads it from her space: one CSV file of her record, her offers of
the last 30 days with her answers, and the audit trail of her record (issue 16)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, tzinfo

from sqlalchemy.orm import Session

from dispatch.people.audit import ACTION_LABELS, changes_of
from dispatch.people.space import recent_offers, upcoming_absences, zone_list
from dispatch.people.week_form import describe
from dispatch.vocab import CARE_LABELS
from models import Nurse

COLUMNS = ("rubrique", "date", "valeur", "détail")
ANSWERS = {
    "pending": "pas encore envoyée",
    "sent": "sans réponse",
    "delivered": "sans réponse",
    "accepted": "OUI",
    "declined": "NON",
    "failed": "non distribuée",
    "withdrawn": "retirée avant réponse",
    "taken": "pourvue par une autre",
}


def spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (``+33...`` stays a number)."""
    risky = value[:1] in ("=", "@", "\t", "\r") or (value[:1] in ("+", "-") and not value[1:].isdigit())
    return "'" + value if risky else value


def export_csv(session: Session, nurse: Nurse, now: datetime, tz: tzinfo, today: date) -> str:
    """Her data as CSV text (UTF-8, comma-separated, one line per fact)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)

    def row(section: str, when: datetime | date | None, value: str, detail: str = "") -> None:
        if isinstance(when, datetime):
            stamp = when.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        else:
            stamp = when.isoformat() if when else ""
        writer.writerow([section, stamp, spreadsheet_safe(value), spreadsheet_safe(detail)])

    row("profil", nurse.created_at, nurse.name, "nom")
    row("profil", None, nurse.phone, "téléphone")
    for line in describe(nurse.availability):
        row("horaires", None, line)
    if nurse.paused_until and nurse.paused_until > now:
        row("pause", None, "en pause", f"jusqu'au {nurse.paused_until.astimezone(tz):%Y-%m-%d %H:%M}")
    if nurse.opted_out_at:
        row("SMS", nurse.opted_out_at, "STOP", "ne reçoit plus de SMS")
    for insee, name, postcodes in zone_list(session, nurse):
        row("commune", None, name, f"INSEE {insee}, CP {postcodes}")
    for skill in nurse.skill_names:
        row("soin", None, CARE_LABELS.get(skill, skill))
    for absence in upcoming_absences(nurse, today):
        row("absence", absence.starts_on, f"au {absence.ends_on.isoformat()}")
    for offer in recent_offers(session, nurse, now):
        answer = ANSWERS.get(offer.status, offer.status)
        detail = f"{offer.commune}, {CARE_LABELS.get(offer.care_type, offer.care_type)}"
        row("proposition", offer.offered_at, f"{offer.reference} : {answer}", detail)
    for change in changes_of(session, nurse.id, limit=1000):
        detail = ", ".join(f"{k}={v}" for k, v in sorted(change.detail.items()))
        row("modification", change.at, ACTION_LABELS.get(change.action, change.action), f"{change.actor}; {detail}")
    return out.getvalue()

"""The audit trail of a nurse's record (``models.NurseChange``): every change made from her space,
by registration or by a coordinator's decision, with who made it and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import NurseChange

# What each action means, in French, for her page and the CSV of her data.
ACTION_LABELS: dict[str, str] = {
    "zone_added": "commune ajoutée",
    "zone_removed": "commune retirée",
    "skills_set": "soins modifiés",
    "hours_set": "horaires modifiés",
    "absence_added": "absence déclarée",
    "absence_removed": "absence supprimée",
    "paused": "pause",
    "resumed": "reprise",
    "space_opened": "espace ouvert",
    "sessions_ended": "sessions fermées",
    "registered": "inscription validée",
    "data_exported": "données téléchargées",
    "erased": "données effacées",
}


def note(session: Session, nurse_id: int | None, action: str, now: datetime, *, actor: str, **detail: Any) -> None:
    """Append one change (no commit: it belongs to the caller's transaction)."""
    session.add(
        NurseChange(
            nurse_id=nurse_id,
            at=now,
            actor=actor[:160],
            action=action,
            detail={k: v for k, v in detail.items() if v is not None},
        )
    )


def changes_of(session: Session, nurse_id: int, limit: int = 200) -> list[NurseChange]:
    """Her record's changes, newest first."""
    return list(
        session.scalars(
            select(NurseChange)
            .where(NurseChange.nurse_id == nurse_id)
            .order_by(NurseChange.at.desc(), NurseChange.id.desc())
            .limit(limit)
        )
    )

"""The board filtered by pole: only the requests whose commune (or postcode) is in its departments."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.people.rota import departments_of
from models import Pole
from status.people_web import row_id
from status.queries import Board


def board_for_pole(session: Session, board: Board, raw_pole: str | None) -> tuple[Board, Pole | None, list[Pole]]:
    """(the board kept to the pole's requests, the pole or None, every pole for the menu)."""
    poles = list(session.scalars(select(Pole).order_by(Pole.name)))
    wanted = row_id(raw_pole if isinstance(raw_pole, str) else None)
    pole = next((p for p in poles if p.id == wanted), None)
    if pole is None:
        return board, None, poles
    codes = set(pole.department_codes)

    def keep(rows):
        return [row for row in rows if departments_of(row.request.insee, row.request.postcode) & codes]

    kept = replace(board, attention=keep(board.attention), active=keep(board.active), recent=keep(board.recent))
    return kept, pole, poles

"""Poles and their duty rota: who answers transferred calls and gets the alerts, when.

A pole has a name, the departments it covers and its coordinators (``Coordinator.pole_id``).
A coordinator's weekly shifts (``RotaShift``) say when she is on duty; a date's exceptions
(``RotaException``) take her off (holidays) or put her on (a swap) that day. Times are minutes
since local midnight; the service hours cut every shift (``dispatch.people.rota``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Pole(Base):
    __tablename__ = "poles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    # Department codes separated by spaces: ``42 43 69`` (``2A``, ``971``...).
    departments: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def department_codes(self) -> list[str]:
        return self.departments.split()


class RotaShift(Base):
    """A weekly shift: the coordinator is on duty that weekday (0 = Monday) from ``starts`` to
    ``ends`` (minutes since local midnight; 1440 is midnight at the end of the day)."""

    __tablename__ = "rota_shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("coordinators.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    starts: Mapped[int] = mapped_column(Integer)
    ends: Mapped[int] = mapped_column(Integer)


class RotaException(Base):
    """One date's change for one coordinator: off duty (``on_duty`` False: holidays, the first half
    of a swap) or on duty (a swap, an extra day) from ``starts`` to ``ends``; no hours means the
    whole day (off), or the service hours of that day (on)."""

    __tablename__ = "rota_exceptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("coordinators.id", ondelete="CASCADE"), index=True)
    on_date: Mapped[date] = mapped_column(Date, index=True)
    on_duty: Mapped[bool] = mapped_column(Boolean)
    starts: Mapped[int | None] = mapped_column(Integer)
    ends: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(120), default="")

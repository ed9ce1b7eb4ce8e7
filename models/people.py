"""Nurses, requesters (establishments) and coordinators."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text, event
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.folding import FOLDED_LENGTH, folded


def _folded_name(context) -> str:
    """The folded column's default on an INSERT that does not give it (a bulk insert of rows)."""
    return folded(context.get_current_parameters().get("name"))


class Nurse(Base):
    __tablename__ = "nurses"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    name: Mapped[str] = mapped_column(String(120))
    # The hours format of DESIGN §4; empty means always available.
    availability: Mapped[str] = mapped_column(String(200), default="")
    paused_until: Mapped[datetime | None]
    opted_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by a coordinator (status page): no offers any more, kept for the history; undone by reactivating.
    deactivated_at: Mapped[datetime | None]
    # Her name folded (``models.folding``), what the nurses page searches with a LIKE. Kept by the
    # ``name`` attribute's event below (every write of a nurse's name through the ORM: created,
    # imported, edited, registered), and by the default on a bulk INSERT of rows.
    search_text: Mapped[str] = mapped_column(String(FOLDED_LENGTH), default=_folded_name, server_default="")

    # Loaded on demand: a webhook or a wave loads nurses by the dozen and never needs these.
    zones: Mapped[list[NurseZone]] = relationship(cascade="all, delete-orphan")
    skills: Mapped[list[NurseSkill]] = relationship(cascade="all, delete-orphan")
    absences: Mapped[list[NurseAbsence]] = relationship(cascade="all, delete-orphan")

    @property
    def zone_codes(self) -> list[str]:
        return sorted(z.insee for z in self.zones)

    @property
    def skill_names(self) -> list[str]:
        return sorted(s.skill for s in self.skills)


@event.listens_for(Nurse.name, "set")
def _fold_name(nurse: Nurse, value: str | None, _old, _initiator) -> None:
    """Every name given to a nurse (created, imported, edited, registered) sets its folded copy."""
    nurse.search_text = folded(value)


class NurseZone(Base):
    """A commune the nurse declared she serves (postcodes are expanded to communes on import)."""

    __tablename__ = "nurse_zones"
    # A commune's nurses from the index alone (dispatch.matching.candidates reads every zone of a radius step).
    __table_args__ = (Index("ix_nurse_zones_insee_nurse", "insee", "nurse_id"),)

    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id", ondelete="CASCADE"), primary_key=True)
    insee: Mapped[str] = mapped_column(ForeignKey("communes.insee"), primary_key=True)


class NurseSkill(Base):
    __tablename__ = "nurse_skills"

    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(20), primary_key=True)


class NurseAbsence(Base):
    """A period (inclusive local dates) when the nurse takes no new patient."""

    __tablename__ = "nurse_absences"

    id: Mapped[int] = mapped_column(primary_key=True)
    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)


class Requester(Base):
    __tablename__ = "requesters"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    postcode: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    phones: Mapped[list[RequesterPhone]] = relationship(cascade="all, delete-orphan")
    tokens: Mapped[list[ApiToken]] = relationship(cascade="all, delete-orphan")


class RequesterPhone(Base):
    __tablename__ = "requester_phones"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)  # E.164, one requester per number
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id", ondelete="CASCADE"), index=True)


class ApiToken(Base):
    """Only the SHA-256 of a token is kept; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Coordinator(Base):
    __tablename__ = "coordinators"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    password_hash: Mapped[str] = mapped_column(Text)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by ``sio coordinators disable``: no login, no session, no call or alert any more.
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # ``admin`` also manages coordinators and API tokens; ``coordinator`` does the rest.
    role: Mapped[str] = mapped_column(String(20), default="coordinator", server_default="coordinator")
    # A one-time password given by an admin: she must choose her own before anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Her pole (``models.rota``); None: every pole's alerts and transferred calls when on duty.
    pole_id: Mapped[int | None] = mapped_column(ForeignKey("poles.id", ondelete="SET NULL"), index=True)
    # The manual switch: ``on_duty`` overrides the rota until ``on_duty_until`` (the end of the
    # shift); ``on_duty`` without an end is a standing "on duty" (``sio coordinators create --on-duty``).
    on_duty_until: Mapped[datetime | None]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

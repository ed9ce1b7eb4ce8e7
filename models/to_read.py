"""Texts that were not a command, waiting for a coordinator to read them (issue 15)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.people import Nurse
from models.requests import CareRequest
from models.telephony import Message


class MessageToRead(Base):
    """A text in that no command matched: the sender got the help text, and a coordinator reads
    it on the board, answers it and marks it read. ``request_id``: the request pending for that
    phone when the text came (her offer, her accepted request, the requester's open request)."""

    __tablename__ = "messages_to_read"
    __table_args__ = (Index("ix_messages_to_read_read_at", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    phone: Mapped[str] = mapped_column(String(20))  # E.164, the sender
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("care_requests.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    read_by: Mapped[str | None] = mapped_column(String(120))

    message: Mapped[Message] = relationship()
    nurse: Mapped[Nurse | None] = relationship()
    request: Mapped[CareRequest | None] = relationship()

"""Communes (INSEE codes) and the postcodes that alias them."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.folding import FOLDED_LENGTH, folded


def _folded_name(context) -> str:
    """The folded column's default on an INSERT that does not give it (a bulk insert of rows)."""
    return folded(context.get_current_parameters().get("name"))


class Commune(Base):
    __tablename__ = "communes"
    # Radius steps select communes in bounding boxes (dispatch.geo.in_boxes).
    __table_args__ = (Index("ix_communes_lat_lon", "lat", "lon"),)

    insee: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    department: Mapped[str] = mapped_column(String(3), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    # The name folded (``models.folding``): the nurses page finds "etienne" in Saint-Étienne with a
    # LIKE. Written with the name (``dispatch.geo.load_communes``, or the event below).
    folded_name: Mapped[str] = mapped_column(String(FOLDED_LENGTH), default=_folded_name, server_default="")


@event.listens_for(Commune.name, "set")
def _fold_name(commune: Commune, value: str | None, _old, _initiator) -> None:
    commune.folded_name = folded(value)


class Postcode(Base):
    """One row per (postcode, commune) pair: a postcode may cover several communes and back."""

    __tablename__ = "postcodes"

    postcode: Mapped[str] = mapped_column(String(5), primary_key=True)
    insee: Mapped[str] = mapped_column(ForeignKey("communes.insee"), primary_key=True, index=True)

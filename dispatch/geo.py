"""Communes and postcodes: loading the open data, resolving a zone, distances.

A zone is a commune (INSEE code); a postcode is an alias for the communes it
covers (DESIGN §2).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, and_, bindparam, func, insert, or_, select
from sqlalchemy.orm import Session

from models import Commune, Postcode
from models.folding import folded

COMMUNES_CSV = Path(__file__).resolve().parent / "data" / "communes.csv"
EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Place:
    insee: str
    name: str
    department: str
    lat: float
    lon: float


def load_communes(session: Session, path: Path = COMMUNES_CSV) -> int:
    """Fill the communes and postcodes tables from the CSV when they are empty.

    Returns the number of communes inserted (0 when already loaded).
    """
    if session.scalar(select(func.count()).select_from(Commune)):
        return 0
    communes: dict[str, dict] = {}
    pairs: list[dict] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            communes.setdefault(
                row["insee"],
                {
                    "insee": row["insee"],
                    "name": row["name"],
                    "folded_name": folded(row["name"]),
                    "department": row["department"],
                    "lat": float(row["lat"]),
                    "lon": float(row["lon"]),
                },
            )
            pairs.append({"postcode": row["postcode"], "insee": row["insee"]})
    session.execute(insert(Commune), list(communes.values()))
    session.execute(insert(Postcode), pairs)
    return len(communes)


# Communes and postcodes are reference data: written once from the CSV by ``load_communes`` and
# never changed. Every request and every wave looks them up, so found entries are kept for the
# life of the process, per database (an unknown code is asked again: it is an input error).
_FOUND: dict[tuple[str, str, str], object] = {}


def _remembered(session: Session, kind: str, code: str, read):
    bind = session.get_bind()  # an engine, or the connection a job's session holds
    key = (kind, getattr(bind, "engine", bind).url.render_as_string(), code)
    if key not in _FOUND:
        found = read()
        if not found:
            return found
        _FOUND[key] = found
    return _FOUND[key]


def communes_for_postcode(session: Session, postcode: str) -> list[Place]:
    """The communes a postcode covers, by name; empty when the postcode is unknown."""

    def read() -> list[Place]:
        rows = session.scalars(
            select(Commune).join(Postcode, Postcode.insee == Commune.insee).where(Postcode.postcode == postcode)
        ).all()
        return sorted((_place(c) for c in rows), key=lambda p: p.name)

    return list(_remembered(session, "postcode", postcode, read))


def commune(session: Session, insee: str) -> Place | None:
    def read() -> Place | None:
        row = session.get(Commune, insee)
        return _place(row) if row else None

    return _remembered(session, "commune", insee, read)


def is_known_postcode(session: Session, postcode: str) -> bool:
    return bool(communes_for_postcode(session, postcode))


def postcodes_of(session: Session, insee: str) -> list[str]:
    def read() -> list[str]:
        return sorted(session.scalars(select(Postcode.postcode).where(Postcode.insee == insee)).all())

    return list(_remembered(session, "postcodes", insee, read))


def distance_km(a: Place, b: Place) -> float:
    """Great-circle distance between two communes' points."""
    return _haversine_km(a.lat, a.lon, b.lat, b.lon)


def _haversine_km(lat_a: float, lon_a: float, lat_b: float, lon_b: float) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (lat_a, lon_a, lat_b, lon_b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@dataclass(frozen=True)
class Box:
    """A latitude/longitude rectangle around a point, wide enough to hold the circle of a radius."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float


def bounding_box(centre: Place, radius_km: float) -> Box:
    """The box around ``centre`` that holds every point within ``radius_km`` of it.

    A degree of latitude is 111.19 km on this sphere and we divide by 111, and a degree of
    longitude is 111.19 km times the cosine of the latitude: the box is a little wider than
    the circle, so a point outside it is farther than the radius (up to 88° of latitude for
    20 km, far beyond any commune). Callers rely on it: reading the box reads every
    commune within the radius.
    """
    dlat = radius_km / 111.0
    dlon = radius_km / (111.0 * max(math.cos(math.radians(centre.lat)), 0.01))
    return Box(centre.lat - dlat, centre.lat + dlat, centre.lon - dlon, centre.lon + dlon)


def in_boxes(count: int, name: str) -> ColumnElement[bool]:
    """SQL condition: the commune lies in one of ``count`` boxes, bound as parameters (see
    ``box_parameters``): the statement depends only on the count, so it is built once.
    A range scan of ``ix_communes_lat_lon``."""
    return or_(
        *(
            and_(
                Commune.lat.between(bindparam(f"{name}{i}_lat_min"), bindparam(f"{name}{i}_lat_max")),
                Commune.lon.between(bindparam(f"{name}{i}_lon_min"), bindparam(f"{name}{i}_lon_max")),
            )
            for i in range(count)
        )
    )


def box_parameters(boxes: list[Box], name: str) -> dict[str, float]:
    """The parameters ``in_boxes(len(boxes), name)`` reads."""
    params = {}
    for i, box in enumerate(boxes):
        params.update(
            {
                f"{name}{i}_lat_min": box.lat_min,
                f"{name}{i}_lat_max": box.lat_max,
                f"{name}{i}_lon_min": box.lon_min,
                f"{name}{i}_lon_max": box.lon_max,
            }
        )
    return params


def nearest_km(centres: list[Place], lat: float, lon: float) -> float:
    """Distance from a point to the nearest centre."""
    return min(_haversine_km(c.lat, c.lon, lat, lon) for c in centres)


def _place(row: Commune) -> Place:
    return Place(row.insee, row.name, row.department, row.lat, row.lon)

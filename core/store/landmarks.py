"""The ``landmarks`` table: the model's classes (source ``model``) and the other landmarks of the catalog
``resources/landmarks.json`` (source ``catalog``), both synced at open, and the landmarks users created with
corrections (source ``user``, keys ``user:<Name>``); names, coordinates, uncertainty, look-ups.

The FTS5 name index ``landmarks_fts`` follows this table by triggers (revision 0001); name search is in
``core.store.search``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, delete, func, literal, or_, select, union_all
from sqlalchemy.dialects.sqlite import insert

from core.store.models import changes, corrections, landmarks, photos

__all__ = [
    "LandmarkRow",
    "SOURCE_MODEL",
    "SOURCE_CATALOG",
    "SOURCE_USER",
    "model_landmarks_to_sync",
    "upsert_model_landmarks",
    "landmark_coords",
    "landmark_spots",
    "landmark_countries",
    "landmark_details",
    "landmark_names",
    "user_landmark_names",
    "landmark_keys",
    "landmark_exists",
    "key_for_name",
    "landmark_name",
    "new_landmark_key",
    "create_user_landmark",
    "delete_user_landmark_if_unused",
]

#: ``(name, latitude, longitude, country, coordinate_uncertainty_m, source)`` of a landmark (degrees WGS84, metres;
#: each ``None`` when unknown); source ``"model"`` (a class of the model) or ``"catalog"`` (in
#: ``resources/landmarks.json`` but not a class of the model: GPS photos are placed at it and the person can choose
#: it, the model never predicts it).
LandmarkRow = tuple[str, float | None, float | None, str | None, float | None, str]

#: ``landmarks.source`` values.
SOURCE_MODEL, SOURCE_CATALOG, SOURCE_USER = "model", "catalog", "user"


def model_landmarks_to_sync(conn: Connection, wanted: Mapping[str, LandmarkRow]) -> dict[str, LandmarkRow]:
    """The entries of ``wanted`` (``{key: LandmarkRow}`` of the model's classes and the catalog's landmarks) that
    the table lacks or holds with other values (a user landmark with such a key is taken over)."""
    have = {
        r.key: (r.name, r.latitude, r.longitude, r.country, r.coordinate_uncertainty_m, r.source)
        for r in conn.execute(
            select(
                landmarks.c.key,
                landmarks.c.name,
                landmarks.c.latitude,
                landmarks.c.longitude,
                landmarks.c.country,
                landmarks.c.coordinate_uncertainty_m,
                landmarks.c.source,
            )
        )
    }
    return {k: v for k, v in wanted.items() if have.get(k) != v}


def upsert_model_landmarks(conn: Connection, rows: Mapping[str, LandmarkRow], now: str) -> None:
    """Insert or overwrite landmarks ``{key: LandmarkRow}`` (source ``model`` or ``catalog``; ``created_at`` =
    ``now`` for new rows)."""
    for key, (name, lat, lon, country, uncertainty, source) in rows.items():
        stmt = insert(landmarks).values(
            key=key,
            name=name,
            latitude=lat,
            longitude=lon,
            country=country,
            coordinate_uncertainty_m=uncertainty,
            source=source,
            created_at=now,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "name": stmt.excluded.name,
                    "latitude": stmt.excluded.latitude,
                    "longitude": stmt.excluded.longitude,
                    "country": stmt.excluded.country,
                    "coordinate_uncertainty_m": stmt.excluded.coordinate_uncertainty_m,
                    "source": stmt.excluded.source,
                },
            )
        )


def landmark_coords(conn: Connection) -> dict[str, tuple[float | None, float | None]]:
    """``{key: (latitude, longitude)}`` of every landmark (degrees WGS84, ``None`` when unknown)."""
    return {
        k: (lat, lon)
        for k, lat, lon in conn.execute(select(landmarks.c.key, landmarks.c.latitude, landmarks.c.longitude))
    }


def landmark_spots(conn: Connection) -> list[tuple[str, float, float, float]]:
    """``(key, latitude, longitude, coordinate_uncertainty_m)`` of the landmarks that have all three (degrees
    WGS84, metres), by key: the ones a GPS position can be placed at (``core.tagging.places``)."""
    stmt = (
        select(landmarks.c.key, landmarks.c.latitude, landmarks.c.longitude, landmarks.c.coordinate_uncertainty_m)
        .where(
            landmarks.c.latitude.is_not(None),
            landmarks.c.longitude.is_not(None),
            landmarks.c.coordinate_uncertainty_m.is_not(None),
        )
        .order_by(landmarks.c.key)
    )
    return [(k, float(la), float(lo), float(u)) for k, la, lo, u in conn.execute(stmt)]


def landmark_countries(conn: Connection) -> dict[str, list[str]]:
    """``{country: [landmark keys]}`` of the landmarks whose country is known."""
    out: dict[str, list[str]] = {}
    for key, country in conn.execute(
        select(landmarks.c.key, landmarks.c.country).where(landmarks.c.country.is_not(None))
    ):
        out.setdefault(country, []).append(key)
    return out


def landmark_details(
    conn: Connection, keys: Iterable[str]
) -> dict[str, tuple[str, str | None, float | None, float | None]]:
    """``{key: (display name, country, latitude, longitude)}`` of these landmarks (unknown keys are left out)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    stmt = select(landmarks.c.key, landmarks.c.name, landmarks.c.country, landmarks.c.latitude, landmarks.c.longitude)
    out = {}
    for start in range(0, len(wanted), 500):
        for r in conn.execute(stmt.where(landmarks.c.key.in_(wanted[start : start + 500]))):
            out[r.key] = (r.name, r.country, r.latitude, r.longitude)
    return out


def landmark_names(conn: Connection) -> list[tuple[str, str]]:
    """``(key, display name)`` of every landmark, by name (case-insensitive)."""
    stmt = select(landmarks.c.key, landmarks.c.name).order_by(landmarks.c.name.collate("NOCASE"))
    return [(k, n) for k, n in conn.execute(stmt)]


def user_landmark_names(conn: Connection) -> dict[str, str]:
    """``{key: display name}`` of the user-created landmarks."""
    stmt = select(landmarks.c.key, landmarks.c.name).where(landmarks.c.source == SOURCE_USER)
    return {k: n for k, n in conn.execute(stmt)}


def landmark_keys(conn: Connection) -> list[str]:
    """Every landmark key (model, catalog and user-created ones)."""
    return [k for (k,) in conn.execute(select(landmarks.c.key))]


def landmark_exists(conn: Connection, key: str) -> bool:
    """True when ``key`` is a landmark key."""
    return conn.execute(select(literal(1)).where(landmarks.c.key == key)).first() is not None


def key_for_name(conn: Connection, name: str) -> str | None:
    """Key of a landmark whose display name equals ``name`` ignoring case, or ``None``."""
    return conn.execute(select(landmarks.c.key).where(func.lower(landmarks.c.name) == func.lower(name))).scalar()


def landmark_name(conn: Connection, key: str) -> str | None:
    """Display name of landmark ``key``, or ``None`` when there is none."""
    return conn.execute(select(landmarks.c.name).where(landmarks.c.key == key)).scalar()


_SLUG = re.compile(r"[^A-Za-z0-9]+")


def new_landmark_key(name: str, existing: Iterable[str]) -> str:
    """A stable, unique key for a user-created landmark: ``"user:<Ascii_Name>"`` (+ ``_2``, ``_3`` …).

    Raises:
        ValueError: ``name`` is empty after trimming.
    """
    name = " ".join(name.split())
    if not name:
        raise ValueError("a new landmark needs a name")
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG.sub("_", ascii_name).strip("_") or "landmark"
    taken = set(existing)
    key, n = f"user:{slug}", 2
    while key in taken:
        key, n = f"user:{slug}_{n}", n + 1
    return key


def create_user_landmark(conn: Connection, name: str, now: str, key: str | None = None) -> str:
    """Insert a user landmark named ``name`` (already trimmed) and return its key: ``key`` when given (redo
    of the change that created it), else a new one (``new_landmark_key``).

    Raises:
        ValueError: ``name`` is empty.
    """
    if key is None:
        key = new_landmark_key(name, [k for (k,) in conn.execute(select(landmarks.c.key))])
    conn.execute(insert(landmarks).values(key=key, name=name, source=SOURCE_USER, created_at=now))
    return key


def delete_user_landmark_if_unused(conn: Connection, key: str) -> bool:
    """Delete user landmark ``key`` unless a photo label or a correction in force (not of an undone change)
    still uses it; True when a row was deleted."""
    in_force = or_(changes.c.undone.is_(None), changes.c.undone == 0)
    used = conn.execute(
        union_all(
            select(literal(1)).where(photos.c.label == key),
            select(literal(1))
            .select_from(corrections.outerjoin(changes, changes.c.id == corrections.c.change_id))
            .where(corrections.c.label == key, in_force),
        ).limit(1)
    ).first()
    if used is not None:
        return False
    return conn.execute(delete(landmarks).where(landmarks.c.key == key, landmarks.c.source == SOURCE_USER)).rowcount > 0

"""Placing photos with EXIF GPS: which catalog landmark and which city and country, without the model.

The rule (``place_position``):

* **landmark** — a position within a catalog landmark's ``coordinate_uncertainty_m`` of the landmark's coordinates
  (great-circle distance, ``core.photos.geocode.haversine_m``) is placed at that landmark; when several circles hold
  it, the nearest landmark wins (then the smaller circle, then the key). Landmarks whose uncertainty exceeds
  ``MAX_PLACING_RADIUS_M`` are not used: the catalog gives the Great Wall of China a 1 000 km circle (it is a line
  across northern China), which would name every photo taken in Beijing after it. User-created landmarks have no
  coordinates and are never placed by GPS.
* **city and country** — offline reverse geocoding (``core.photos.geocode.Geocoder``); ``None`` at sea or when the
  place data cannot be loaded (the landmark is placed all the same).
* a position of (0, 0) or out of range is no position (``core.photos.geocode.usable_gps``): no landmark, no place.

``place_gps_photos`` runs at scan time (``core.tagging.scan.apply_file_changes``), on the GPS photos that are not
placed yet: new and changed files, and, after the upgrade to revision 0005, every GPS photo of an existing library.
The photo's effective label follows ``core.tagging.labels.resolve_gps_label`` (the person's corrections win; a
rejected landmark is not given back). Nothing here imports torch or loads the model.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core.photos.geocode import (
    EARTH_RADIUS_M,
    Geocoder,
    GeocoderUnavailable,
    default_geocoder,
    haversine_m,
    usable_gps,
)
from core.store import landmarks as store_landmarks
from core.store import places as store_places
from core.store import results as store_results
from core.store.corrections import load_corrections
from core.store.engine import Connection
from core.store.timestamps import utc_now
from core.tagging.labels import resolve_gps_label

__all__ = ["MAX_PLACING_RADIUS_M", "Spot", "Placement", "place_position", "place_gps_photos", "prefetch_geocoder"]

log = logging.getLogger(__name__)

#: Landmarks whose ``coordinate_uncertainty_m`` is larger than this (metres) are too extended to place a photo by
#: its position (Great Wall of China: 1 000 km). Haleakalā National Park (15 km) is still placed.
MAX_PLACING_RADIUS_M = 20_000.0

#: Metres per degree of latitude on the sphere of ``EARTH_RADIUS_M`` (a lower bound of distances, not rounded up).
_M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0 * (1.0 - 1e-12)

#: ``(key, latitude, longitude, coordinate_uncertainty_m)`` of a landmark (``core.store.landmarks.landmark_spots``).
Spot = tuple[str, float, float, float]


@dataclass(frozen=True)
class Placement:
    """Where a GPS position was placed.

    Attributes:
        landmark: the landmark key (``None``: no landmark circle holds the position).
        city, country: the populated place and its country (``None`` when unknown).
        distance_m: great-circle distance to the landmark's point, metres (``None`` without a landmark).
    """

    landmark: str | None
    city: str | None
    country: str | None
    distance_m: float | None = None


def nearest_landmark(
    latitude: float | None, longitude: float | None, spots: Sequence[Spot]
) -> tuple[str, float] | None:
    """``(key, distance in metres)`` of the landmark whose uncertainty circle holds the position (nearest first,
    then the smaller circle, then the key), or ``None``. Spots with an uncertainty above ``MAX_PLACING_RADIUS_M``
    or not positive are skipped."""
    if latitude is None or longitude is None or not usable_gps(latitude, longitude):
        return None
    best: tuple[float, float, str] | None = None
    for key, lat, lon, radius in spots:
        if not 0.0 < radius <= MAX_PLACING_RADIUS_M:
            continue
        if abs(lat - latitude) * _M_PER_DEG > radius:
            continue  # the great-circle distance is at least R·|Δlatitude|: outside the circle
        d = haversine_m(latitude, longitude, lat, lon)
        if d <= radius and (best is None or (d, radius, key) < best):
            best = (d, radius, key)
    return None if best is None else (best[2], best[0])


def place_position(
    latitude: float | None, longitude: float | None, spots: Sequence[Spot], geocoder: Geocoder | None
) -> Placement:
    """Place one WGS84 position (decimal degrees; see the module docstring).

    Args:
        spots: the landmarks with coordinates and uncertainty. geocoder: for city and country (``None``: none).
    """
    if latitude is None or longitude is None or not usable_gps(latitude, longitude):
        return Placement(None, None, None)
    hit = nearest_landmark(latitude, longitude, spots)
    place = geocoder.lookup(latitude, longitude) if geocoder is not None else None
    return Placement(
        hit[0] if hit else None,
        place.city if place else None,
        place.country if place else None,
        hit[1] if hit else None,
    )


def prefetch_geocoder() -> None:
    """Start loading the process's ``Geocoder`` (``default_geocoder``, ~0.8 s once per process) in a background
    thread, so that it is ready when ``place_gps_photos`` needs it: a scan calls it as soon as it has read a GPS photo,
    while it reads the others. Returns at once; a failure is left for ``place_gps_photos`` to report."""

    def load() -> None:
        try:
            default_geocoder()
        except GeocoderUnavailable:
            pass

    threading.Thread(target=load, name="geocoder-load", daemon=True).start()


def _geocoder(factory: Callable[[], Geocoder]) -> Geocoder | None:
    try:
        return factory()
    except GeocoderUnavailable as exc:
        log.warning("GPS photos get no city or country: %s", exc)
        return None


def place_gps_photos(
    conn: Connection,
    geocoder_factory: Callable[[], Geocoder] = default_geocoder,
    *,
    now: str | None = None,
) -> list[int]:
    """Place every GPS photo not placed yet (``photos.placed_at`` ``NULL``), in the caller's write transaction.

    Each gets its landmark (or none), city and country, and its effective label from
    ``core.tagging.labels.resolve_gps_label``. The geocoder is created only when there is a photo to place (its
    data take about a second to load, once per process). When the place data cannot be loaded the photos are
    placed without city and country (and not tried again: the next catalog change places them anew).

    Args:
        conn: a write connection. geocoder_factory: returns the ``Geocoder`` (tests pass their own).
        now: ``placed_at`` (ISO-8601 UTC; default: now).
    Returns:
        the ids of the photos placed.
    """
    rows = store_places.unplaced_gps_photos(conn)
    if not rows:
        return []
    stamp = now or utc_now()
    spots = store_landmarks.landmark_spots(conn)
    geocoder = _geocoder(geocoder_factory)
    done: list[int] = []
    while rows:
        _place_rows(conn, rows, spots, geocoder, stamp)
        done += [r.id for r in rows]
        rows = store_places.unplaced_gps_photos(conn)
    return done


def _place_rows(
    conn: Connection, rows: Sequence[Any], spots: Sequence[Spot], geocoder: Geocoder | None, now: str
) -> None:
    usable = [r for r in rows if usable_gps(r.gps_latitude, r.gps_longitude)]
    places = geocoder.lookup_many([(r.gps_latitude, r.gps_longitude) for r in usable]) if geocoder is not None else []
    place_of = dict(zip((r.id for r in usable), places))
    corrections = load_corrections(conn, [r.id for r in rows])
    out = []
    labels = []
    for r in rows:
        hit = nearest_landmark(r.gps_latitude, r.gps_longitude, spots)
        place = place_of.get(r.id)
        landmark = hit[0] if hit else None
        out.append((r.id, place.city if place else None, place.country if place else None, landmark))
        labels.append((r.id, *resolve_gps_label(landmark, corrections.get(r.id))))
    store_results.set_gps_labels(conn, labels)
    store_places.set_places(conn, out, now)

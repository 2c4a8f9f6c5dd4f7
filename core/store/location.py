"""Landmark → estimated location of a photo without GPS.

A photo whose EXIF has GPS keeps those coordinates (source ``"gps"``). A photo without GPS whose
effective label is a landmark with catalog coordinates gets them as an *estimated* location (source
``"landmark"``); otherwise it has no location. Only the database is written — never the photo file.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.domain import LocationSource

__all__ = ["photo_location"]


def photo_location(
    gps_latitude: float | None,
    gps_longitude: float | None,
    label: str | None,
    landmark_coords: Mapping[str, tuple[float | None, float | None]],
) -> tuple[float | None, float | None, str | None]:
    """The location stored for a photo.

    Args:
        gps_latitude, gps_longitude: EXIF GPS coordinates, decimal degrees WGS84, or ``None``.
        label: effective landmark key, or ``None``.
        landmark_coords: ``{key: (latitude, longitude)}`` from the landmark catalog (degrees).
    Returns:
        ``(latitude, longitude, source)`` with source ``"gps"``, ``"landmark"`` or ``None``
        (then both coordinates are ``None``).
    """
    if gps_latitude is not None and gps_longitude is not None:
        return gps_latitude, gps_longitude, LocationSource.GPS
    if label is not None:
        lat, lon = landmark_coords.get(label, (None, None))
        if lat is not None and lon is not None:
            return lat, lon, LocationSource.LANDMARK
    return None, None, None

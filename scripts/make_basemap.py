"""Write the map's offline basemap, ``resources/basemap/ne_110m_countries.json``, from Natural Earth.

Source: Natural Earth 1:110m Cultural Vectors, *Admin 0 – Countries* (public domain,
https://www.naturalearthdata.com/about/terms-of-use/), as redistributed in the geopandas 0.14.4 wheel on PyPI
(``geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp`` + ``.dbf`` + ``.shx``; geopandas built it
with ``geopandas/datasets/naturalearth_creation.py``: Natural Earth's file with a few country codes fixed and
Crimea drawn with Ukraine). geopandas is not a dependency of the app; the app reads only the JSON written here.

Usage (the shapefile reader ``pyshp`` is a script-only dependency, ``pip install pyshp``)::

    pip download --no-deps 'geopandas==0.14.4' -d /tmp/x && unzip -o /tmp/x/geopandas-0.14.4-*.whl \\
        'geopandas/datasets/naturalearth_lowres/*' -d /tmp/x
    python scripts/make_basemap.py /tmp/x/geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp

Output (``--out``, default ``resources/basemap/ne_110m_countries.json``), compact JSON::

    {"source": "...", "licence": "public domain", "decimals": 2,
     "countries": [{"name": "Fiji", "iso_a3": "FJI", "continent": "Oceania",
                    "rings": [[lon0, lat0, lon1, lat1, ...], ...]}, ...]}

Every ring of every polygon part (outer rings and holes alike: drawn with the odd-even fill rule, a hole is a
hole), coordinates in decimal degrees WGS84 rounded to ``--decimals`` (2: 0.01°, about 1 km, finer than the
1:110m data), consecutive repeated points dropped after rounding, rings left with fewer than 3 points dropped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "resources" / "basemap" / "ne_110m_countries.json"
SOURCE = (
    "Natural Earth 1:110m Cultural Vectors, Admin 0 - Countries (public domain, naturalearthdata.com), "
    "as redistributed in geopandas 0.14.4 (geopandas/datasets/naturalearth_lowres)"
)


def _ring(points: list[tuple[float, float]], decimals: int) -> list[float]:
    """``[lon0, lat0, lon1, lat1, ...]`` of one ring, rounded, without consecutive repeats (nor a closing repeat)."""
    out: list[float] = []
    last: tuple[float, float] | None = None
    for lon, lat in points:
        p = (round(float(lon), decimals), round(float(lat), decimals))
        if p != last:
            out.extend(p)
            last = p
    if len(out) >= 4 and out[:2] == out[-2:]:
        del out[-2:]  # the ring closes itself when drawn
    return out


def read_countries(shp: Path, decimals: int) -> list[dict]:
    """The countries of the shapefile ``shp``: name, ISO code, continent and rings (see the module docstring).

    Raises:
        SystemExit: pyshp is not installed, or the file is not a polygon shapefile with a ``name`` field.
    """
    try:
        import shapefile  # pyshp
    except ImportError:
        raise SystemExit("make_basemap: needs pyshp (pip install pyshp)") from None
    with shapefile.Reader(str(shp)) as reader:  # the text encoding comes from the .cpg file (ISO-8859-1)
        fields = [f[0] for f in reader.fields[1:]]
        if "name" not in fields or reader.shapeType not in (shapefile.POLYGON, shapefile.POLYGONZ):
            raise SystemExit(f"make_basemap: {shp} is not a polygon shapefile of countries (fields {fields})")
        countries = []
        for sr in reader.iterShapeRecords():
            rec = dict(zip(fields, sr.record))
            pts, parts = sr.shape.points, list(sr.shape.parts) + [len(sr.shape.points)]
            rings = [_ring(pts[a:b], decimals) for a, b in zip(parts, parts[1:])]
            rings = [r for r in rings if len(r) >= 6]
            if rings:
                countries.append(
                    {
                        "name": rec["name"],
                        "iso_a3": rec.get("iso_a3", ""),
                        "continent": rec.get("continent", ""),
                        "rings": rings,
                    }
                )
    countries.sort(key=lambda c: c["name"])
    return countries


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shapefile", type=Path, help="naturalearth_lowres.shp (with its .dbf and .shx beside it)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--decimals", type=int, default=2, help="decimal places of the coordinates (default 2)")
    args = ap.parse_args(argv)
    if not args.shapefile.is_file():
        print(f"make_basemap: no such file: {args.shapefile}", file=sys.stderr)
        return 1
    countries = read_countries(args.shapefile, args.decimals)
    doc = {"source": SOURCE, "licence": "public domain", "decimals": args.decimals, "countries": countries}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    args.out.write_text(text + "\n", encoding="utf-8")
    points = sum(len(r) // 2 for c in countries for r in c["rings"])
    print(f"{args.out}: {len(countries)} countries, {points} points, {len(text.encode()) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

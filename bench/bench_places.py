"""Benchmark of the map and the timeline on a synthetic 100 000-photo library.

Not a test: prints figures. Run from the repository root::

    .venv/bin/python bench/bench_places.py [--photos 100000] [--model PATH]

The library (rows written directly, like ``bench/bench_library.py``): 30 % photos with EXIF GPS scattered around
300 places of the world, 55 % tagged with one of the catalog's landmarks (located at its coordinates: estimated),
the rest without a location; 70 % with an EXIF date over 15 years, the others dated by their file's time.

Figures (median / p95 over repeats, milliseconds):

* writing rows (3 rounds of 30 000, µs per row) without the timeline triggers of revision 0006, with them when the
  rows carry their date (as scans write them), and with them computing it (other writers): the triggers' cost;
* ``Library.map_points()`` (the map's one query) and ``MapPoints.from_rows`` (arrays + projection), both run in
  a worker thread by the map view;
* ``cluster_points`` at every zoom level 0-18 (also in a worker thread), with the number of clusters;
* one grid page (120 photos, ``desktop.photo_grid.PAGE_SIZE``) of the timeline (``order="newest"``) at offsets
  0, 50 000 and the last page, in All photos, a landmark album, a year, a map cluster's box; the same pages in
  the found order for comparison;
* the GUI thread's share of the map: paints of ``MapView`` (1 400 × 900, offscreen) with the 100 000 photos at the
  world view and zoomed in: the first paint after a zoom settles (countries antialiased, markers drawn afresh),
  a paint while panning (countries without antialiasing, markers from their pixmap cache), a repaint (both
  cached); and ``cluster_at`` (the hit test of a click);
* the viewer's decodes (in its worker threads): a 24, 48 and 100 MP JPEG (a real landmark photo enlarged) at screen
  size (1920 × 1200: DCT-scaled draft decode, then reduced) and at full resolution.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PAGE = 120


def timed(fn, repeats: int = 15) -> tuple[float, float]:
    """(median, p95) wall time of fn(), milliseconds, after one warm-up call."""
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000.0)
    ts.sort()
    return statistics.median(ts), ts[min(len(ts) - 1, int(0.95 * len(ts)))]


def build(lib, n: int, seed: int = 0, triggers: bool = True, dated: bool = True) -> float:
    """Fill ``lib`` with ``n`` synthetic photos; returns the seconds the inserts took.

    ``triggers``: keep the timeline triggers of revision 0006. ``dated``: the rows carry their ``timeline_at`` (as
    scans write them, ``core.store.photos.timeline_text``), else the insert trigger computes it.
    """
    import numpy as np
    from sqlalchemy import text

    from core.store.photos import timeline_text

    rng = np.random.default_rng(seed)
    with lib._db.read() as conn:
        marks = [
            tuple(r)
            for r in conn.execute(text("SELECT key, latitude, longitude FROM landmarks WHERE latitude IS NOT NULL"))
        ]
    places = np.c_[rng.uniform(-50, 65, 300), rng.uniform(-170, 175, 300)]
    root = "/bench/photos"
    start = datetime(2010, 1, 1)
    with lib._db.write() as conn:
        conn.execute(text("INSERT INTO folders (id, path, added_at) VALUES (1, :p, 'x')"), {"p": root})
        if not triggers:
            conn.execute(text("DROP TRIGGER photos_timeline_ai"))
            conn.execute(text("DROP TRIGGER photos_timeline_au"))
    rows = []
    for i in range(1, n + 1):
        r = rng.random()
        glat = glon = lat = lon = loc = label = src = conf = None
        status = "no_landmark"
        if r < 0.30:
            p = places[int(rng.integers(len(places)))]
            glat, glon = float(p[0] + rng.normal(0, 0.3)), float(p[1] + rng.normal(0, 0.3))
            lat, lon, loc, status = glat, glon, "gps", "gps"
        elif r < 0.85:
            key, lat, lon = marks[int(rng.integers(len(marks)))]
            label, src, conf, loc, status = key, "model", float(0.3 + 0.7 * rng.random()), "landmark", "tagged"
        secs = int(rng.integers(0, 15 * 365 * 86400))
        taken = (start + timedelta(seconds=secs)).isoformat() if rng.random() < 0.7 else None
        mtime_ns = int((start + timedelta(seconds=int(rng.integers(0, 15 * 365 * 86400)))).timestamp()) * 10**9
        rows.append(
            {
                "id": i,
                "p": f"{root}/{i // 1000:03d}/IMG_{i:06d}.jpg",
                "h": f"{i:064x}",
                "m": mtime_ns,
                "st": status,
                "l": label,
                "ls": src,
                "c": conf,
                "glat": glat,
                "glon": glon,
                "lat": lat,
                "lon": lon,
                "loc": loc,
                "t": taken,
                "tl": timeline_text(taken, mtime_ns) if dated else None,
            }
        )
    t0 = time.perf_counter()
    for k in range(0, n, 10_000):
        with lib._db.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO photos (id, folder_id, path, content_hash, size, mtime_ns, status, label, "
                    "label_source, confidence, model_version, gps_latitude, gps_longitude, latitude, longitude, "
                    "location_source, taken_at, inference_count, timeline_at) VALUES (:id, 1, :p, :h, 1000, :m, :st, "
                    ":l, :ls, :c, 'bench', :glat, :glon, :lat, :lon, :loc, :t, 1, :tl)"
                ),
                rows[k : k + 10_000],
            )
    seconds = time.perf_counter() - t0
    with lib._db.write() as conn:
        conn.execute(text("ANALYZE"))
    return seconds


def bench_paint(points) -> None:
    """Paint time of the map view on the GUI thread (clusters computed beforehand, as the worker would)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication

    from desktop.map_clusters import cluster_points
    from desktop.map_view import MapView, MarkerCache

    app = QApplication.instance() or QApplication(["bench"])
    view = MapView()
    view.resize(1400, 900)
    view.show()
    app.processEvents()
    view.set_points(points)
    parts = []
    for zoom in (1.0, 16.0, 256.0):
        view.fit_points() if zoom == 1.0 else view.zoom_by(zoom / (view.scale / view.min_scale()))
        key = view._key()
        view._cache[key] = cluster_points(points, key[0])
        view._shown = view._cache[key]

        def cold() -> None:  # after a zoom has settled: countries antialiased, markers drawn afresh
            view._land_cache, view._markers, view._moving = None, MarkerCache(), False
            view.grab()

        def panning(step: list = [1.0]) -> None:  # noqa: B006 - while dragging: the view moved a pixel (up, down)
            step[0] = -step[0]
            view.pan_by(0.0, step[0])
            view.grab()

        t_cold, _ = timed(cold, repeats=5)
        t_pan, p95_pan = timed(panning, repeats=20)
        t_again, _ = timed(lambda: view.grab(), repeats=10)
        hit, _ = timed(lambda: view.cluster_at(QPoint(700, 450)), repeats=50)
        parts.append(
            f"zoom ×{zoom:g} (level {view.level}, {len(view.visible_clusters())} markers on screen): first paint "
            f"{t_cold:.0f} ms, paint while panning {t_pan:.0f} ms (p95 {p95_pan:.0f}), repaint {t_again:.0f} ms, "
            f"click hit test {hit:.2f} ms"
        )
    print("[map] GUI thread: " + "; ".join(parts))
    view.close()


def bench_viewer(work: Path) -> None:
    """Decode times of ``desktop.viewer_images.decode_for_viewer`` for large JPEGs."""
    from PIL import Image

    from desktop.viewer_images import decode_for_viewer

    shared = Path(os.environ.get("LANDMARK_SHARED", REPO.parent / "shared")) / "data"
    src = sorted((shared / "landmarks" / "test" / "Colosseum").glob("*.jpg"))
    if not src:
        print("[viewer] skipped: no photos under", shared)
        return
    parts = []
    for w, h in ((6000, 4000), (8000, 6000), (12000, 8000)):
        path = work / f"large_{w}x{h}.jpg"
        with Image.open(src[0]) as im:
            im.convert("RGB").resize((w, h), Image.Resampling.BICUBIC).save(path, quality=88)
        screen, _ = timed(lambda p=path: decode_for_viewer(p, (1920, 1200)), repeats=3)
        full, _ = timed(lambda p=path: decode_for_viewer(p, None), repeats=2)
        parts.append(f"{w * h / 1e6:.0f} MP: screen size {screen:.0f} ms, full {full:.0f} ms")
        path.unlink()
    print("[viewer] decode (worker thread): " + "; ".join(parts))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=100_000)
    ap.add_argument("--model", type=Path, default=REPO / "resources" / "models" / "landmarks-mobilenet_v2.safetensors")
    args = ap.parse_args(argv)

    from core.library import AlbumKind, AlbumRef, Library, PhotoOrder, SearchQuery
    from desktop.map_clusters import MAX_LEVEL, MapPoints, cluster_points

    work = Path(tempfile.mkdtemp(prefix="bench_places_"))
    n = args.photos
    bench_viewer(work)
    print(f"{n:,} synthetic photos in {work}")
    # the triggers' cost: 3 rounds of 30 000-row writes per variant, in turn (this machine's noise is large)
    variants = {"without triggers": {"triggers": False}, "dated": {}, "undated": {"dated": False}}
    runs: dict[str, list[float]] = {k: [] for k in variants}
    write_n = min(n, 30_000)
    for round_no in range(3):
        for name, kw in variants.items():
            other = Library.open(work / f"w{round_no}-{name.replace(' ', '_')}.db", args.model, device="cpu")
            try:
                runs[name].append(build(other, write_n, **kw))
            finally:
                other.close()
    med = {k: statistics.median(v) * 1e6 / write_n for k, v in runs.items()}  # µs per row
    base = med["without triggers"]
    print(
        f"[write] {write_n:,}-row writes, median of 3, µs per row: {base:.0f} without the timeline triggers; with "
        f"them {med['dated']:.0f} when the rows carry their date as scans write them "
        f"({(med['dated'] / base - 1) * 100:+.0f} %), {med['undated']:.0f} when the insert trigger computes it "
        f"({(med['undated'] / base - 1) * 100:+.0f} %)"
    )
    lib = Library.open(work / "places.db", args.model, device="cpu")
    try:
        build(lib, n)

        rows = lib.map_points()
        t_query = timed(lambda: lib.map_points(), repeats=7)
        t_arrays = timed(lambda: MapPoints.from_rows(rows), repeats=7)
        points = MapPoints.from_rows(rows)
        print(
            f"[map] {len(points):,} located photos ({points.gps_count:,} GPS): map_points() "
            f"{t_query[0]:.0f} ms (p95 {t_query[1]:.0f}), MapPoints.from_rows {t_arrays[0]:.0f} ms (p95 {t_arrays[1]:.0f})"
        )
        worst = 0.0
        parts = []
        for level in range(MAX_LEVEL + 1):
            med, _p95 = timed(lambda level=level: cluster_points(points, level), repeats=5)
            k = len(cluster_points(points, level))
            worst = max(worst, med)
            if level in (0, 2, 4, 6, 8, 10, 12, 14, 16, 18):
                parts.append(f"z{level} {med:.0f} ms/{k:,}")
        print(f"[map] cluster_points per zoom level (ms / clusters): {', '.join(parts)}; slowest {worst:.0f} ms")

        some_key = next(k for k, _ in lib.landmark_names())
        album = AlbumRef(AlbumKind.LANDMARK, some_key)
        n_album = lib.count(album)
        year = SearchQuery(date_from=datetime(2015, 1, 1), date_to=datetime(2015, 12, 31))
        n_year = lib.count(query=year)
        c = cluster_points(points, 3)
        big = int(c.count.argmax())
        box = SearchQuery(bbox=(float(c.south[big]), float(c.west[big]), float(c.north[big]), float(c.east[big])))
        n_box = lib.count(query=box)
        cases = {
            "All photos, first page": (None, None, 0),
            "All photos, offset 50 000": (None, None, n // 2),
            "All photos, last page": (None, None, max(0, n - PAGE)),
            f"landmark album ({n_album:,}), first page": (album, None, 0),
            f"landmark album ({n_album:,}), last page": (album, None, max(0, n_album - PAGE)),
            f"one year ({n_year:,}), first page": (None, year, 0),
            f"one year ({n_year:,}), last page": (None, year, max(0, n_year - PAGE)),
            f"map cluster box ({n_box:,}), first page": (None, box, 0),
            "Needs review, first page (least sure first)": (AlbumRef(AlbumKind.NEEDS_REVIEW), None, 0),
        }
        print(f"[timeline] one grid page ({PAGE} photos), median / p95 ms: newest first | found order")
        for name, (ref, query, off) in cases.items():
            t_new = timed(lambda r=ref, q=query, o=off: lib.photos(r, q, limit=PAGE, offset=o, order=PhotoOrder.NEWEST))
            t_id = timed(lambda r=ref, q=query, o=off: lib.photos(r, q, limit=PAGE, offset=o))
            print(f"  {name}: {t_new[0]:.1f} / {t_new[1]:.1f} | {t_id[0]:.1f} / {t_id[1]:.1f}")
        bench_paint(points)
        first = lib.photos(limit=3, order=PhotoOrder.NEWEST)
        assert all(a.timeline_at >= b.timeline_at for a, b in zip(first, first[1:]))
        assert not math.isnan(float(points.x.mean()))
    finally:
        lib.close()


if __name__ == "__main__":
    main()

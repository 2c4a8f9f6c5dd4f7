"""Benchmark of the library: end-to-end tagging, forward-only ratio, GPS-skip scan, search at 100k, memory.

Not a test: prints figures. Run from the repository root::

    .venv/bin/python bench/bench_library.py [--photos 2000] [--threads 1] [--search-photos 100000]

Figures (targets from the design card, reported, not asserted):

* end-to-end photos/s (scan + decode + CNN + writes) on ``--photos`` real photos: copies of
  ``../shared/data/landmarks`` re-encoded at JPEG quality 90 with one random pixel changed, so every
  copy has its own content hash; target >= 20 photos/s on 2 cores with the default model and >= 90 %
  of the forward-only throughput;
* forward-only photos/s: ``Recognizer.predict_tensors`` on already decoded batches of the same photos;
* GPS-skip files/s: scanning copies of the GPS JPEGs of ``../shared/data/exif-samples`` (distinct
  bytes appended after the JPEG end marker), fingerprint + EXIF + insert + placing, no model; target >= 1 000
  files/s (the 3-5 MB camera files of the issue: ``bench/bench_identity.py``);
* search latency (median / p95 over repeats, milliseconds) on a synthetic ``--search-photos`` library
  (43 landmarks, dates, confidences, float16 embeddings); target < 20 ms;
* peak memory: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the tagging process (tagging runs in a
  child process so the figure is the app's alone); target < 1 GB (issue 14; was 1.5 GB).

Model: ``--model`` or the shipped ``resources/models/landmarks-mobilenet_v2.safetensors``; when that is
missing, a bundle with the same architecture (MobileNetV2 backbone from ``../shared/torch-home``, random
43-class head) is built, which has the same speed.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("LANDMARK_SHARED", REPO.parent / "shared")).resolve()


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def prepare_photos(dest: Path, n: int, seed: int = 0) -> list[Path]:
    """n distinct JPEGs: landmark photos re-encoded at quality 90 with one random pixel changed."""
    from PIL import Image

    rng = random.Random(seed)
    srcs = sorted((SHARED / "data" / "landmarks").glob("*/*/*.jpg"))
    if not srcs:
        raise SystemExit(f"no photos under {SHARED / 'data' / 'landmarks'}")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        src = srcs[i % len(srcs)]
        with Image.open(src) as im:
            im = im.convert("RGB")
            x, y = rng.randrange(im.width), rng.randrange(im.height)
            im.putpixel((x, y), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
            q = dest / f"{i // 500:02d}" / f"p{i:05d}.jpg"
            q.parent.mkdir(exist_ok=True)
            im.save(q, quality=90)
        out.append(q)
    return out


def prepare_gps(dest: Path, n: int) -> list[Path]:
    """n JPEGs with EXIF GPS and distinct bytes (a counter appended after the end marker)."""
    import csv

    with open(SHARED / "data" / "exif-samples" / "MANIFEST.csv", newline="", encoding="utf-8") as fh:
        srcs = [
            SHARED / "data" / "exif-samples" / r["path"]
            for r in csv.DictReader(fh)
            if r["has_gps"] == "yes" and r["path"].lower().endswith(".jpg")
        ]
    raw = [p.read_bytes() for p in srcs]
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        q = dest / f"g{i:05d}.jpg"
        q.write_bytes(raw[i % len(raw)] + f"#{i}".encode())
        out.append(q)
    return out


def default_model(work: Path) -> tuple[Path, str]:
    from core.paths import default_model_path

    shipped = default_model_path()
    if shipped.is_file():
        return shipped, "shipped bundle"
    import torch

    from core.recognition.backbones import LandmarkNet
    from core.recognition.bundle import LandmarkClass, ModelBundle, save_bundle

    weights = SHARED / "torch-home" / "derived" / "mobilenet_v2_coral_tf2ptq_calib-a812eb75.pth"
    sd = torch.load(weights, map_location="cpu", weights_only=True)
    keys = sorted(p.name for p in (SHARED / "data" / "landmarks" / "train").iterdir() if p.is_dir())
    net = LandmarkNet("mobilenet_v2", len(keys))
    state = {f"backbone.{k}": v for k, v in sd.items() if not k.startswith("classifier.")}
    state.update({"head.weight": net.head.weight.detach(), "head.bias": net.head.bias.detach()})
    net.load_state_dict(state)
    b = ModelBundle(
        backbone="mobilenet_v2",
        input_size=224,
        resize_size=256,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        classes=[LandmarkClass(k, k.replace("_", " ")) for k in keys],
        temperature=1.0,
        no_landmark_threshold=0.1,
        embedding_dim=net.embedding_dim,
        model_version="bench-mnv2",
        state_dict=net.state_dict(),
    )
    return save_bundle(b, work / "bench-mnv2.safetensors"), "MobileNetV2 stand-in (shipped bundle missing)"


def _forward_pps(rec, tensors, batch: int) -> float:
    """Photos/s of ``predict_tensors`` alone on already decoded tensors (one warm-up batch first)."""
    import torch

    batches = [torch.stack(tensors[i : i + batch]) for i in range(0, len(tensors), batch)]
    rec.predict_tensors(batches[0])
    t0 = time.perf_counter()
    for b in batches:
        rec.predict_tensors(b)
    return len(tensors) / (time.perf_counter() - t0)


def child_tag(db: Path, model: Path, folder: Path, threads: int, batch: int) -> dict:
    """Open a fresh library, tag ``folder``, return timings and memory (run in its own process, so
    ``ru_maxrss`` is the app's peak memory and nothing of the benchmark's own)."""
    import torch

    torch.set_num_threads(threads)
    from core.library import Library

    lib = Library.open(db, model, device="cpu", threads=threads, batch_size=batch)
    try:
        lib.add_folder(folder)
        rec = lib.recognizer()  # load the model outside the timed part
        s = rec.bundle.input_size
        rec.predict_tensors(torch.zeros(batch, 3, s, s))  # warm-up, as for the forward-only figure
        rss_model = peak_rss_mb()
        marks: dict[str, float] = {}
        busy = [0.0]
        predict = rec.predict_tensors

        def timed_predict(x):
            t = time.perf_counter()
            try:
                return predict(x)
            finally:
                busy[0] += time.perf_counter() - t

        rec.predict_tensors = timed_predict
        t0 = time.perf_counter()
        final = lib.tag(on_progress=lambda p: marks.setdefault(p.state, time.perf_counter()))
        t1 = time.perf_counter()
        tag_s = t1 - marks.get("tagging", t0)
        return {
            "counts": final.counts,
            "scan_s": marks.get("tagging", t1) - t0,
            "tag_s": tag_s,
            "total_s": t1 - t0,
            "busy": busy[0] / tag_s,
            "rss_model": rss_model,
            "rss_peak": peak_rss_mb(),
        }
    finally:
        lib.close()


def bench_tagging(work: Path, model: Path, n: int, threads: int, batch: int) -> dict:
    import json
    import subprocess

    from core.recognition.recognizer import Recognizer

    photos = prepare_photos(work / "photos", n)
    rec = Recognizer(model, device="cpu", threads=threads)
    sample = [rec.load_image(p) for p in photos[: min(n, 256)]]
    forward_before = _forward_pps(rec, sample, batch)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child-tag",
            str(work / "tag.db"),
            str(model),
            str(work / "photos"),
            "--threads",
            str(threads),
            "--batch",
            str(batch),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    forward_after = _forward_pps(rec, sample, batch)
    assert r["counts"]["tagged"] + r["counts"]["no_landmark"] == n, r
    r.update(
        n=n,
        e2e_pps=n / r["total_s"],
        tag_pps=n / r["tag_s"],
        forward_pps=(forward_before + forward_after) / 2,
        forward_range=(forward_before, forward_after),
    )
    return r


def bench_gps(work: Path, model: Path, n: int) -> dict:
    from core.library import Library

    prepare_gps(work / "gps", n)
    lib = Library.open(work / "gps.db", model, device="cpu")
    try:
        lib.add_folder(work / "gps")
        t0 = time.perf_counter()
        final = lib.tag()
        dt = time.perf_counter() - t0
        assert final.counts["gps"] == n, final.counts
        t1 = time.perf_counter()
        lib.tag()  # rescan, nothing changed
        rescan = time.perf_counter() - t1
        return {"n": n, "files_per_s": n / dt, "rescan_files_per_s": n / rescan}
    finally:
        lib.close()


def build_search_db(lib, n: int, dim: int, seed: int = 0) -> None:
    """Fill ``lib`` with n synthetic photos (43 landmarks, dates, confidences, embeddings)."""
    import numpy as np
    from sqlalchemy import text

    rng = np.random.default_rng(seed)
    keys = [k for k, _ in lib.landmark_names()][:43]
    root = "/bench/photos"
    start = datetime(2010, 1, 1)
    with lib._db.write() as conn:
        conn.execute(text("INSERT INTO folders (id, path, added_at) VALUES (1, :p, 'x')"), {"p": root})
    rows, embs = [], []

    def flush() -> None:
        with lib._db.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO photos (id, folder_id, path, content_hash, size, mtime_ns, status, label, label_source, "
                    "confidence, model_version, latitude, longitude, location_source, taken_at, inference_count) VALUES "
                    "(:id, 1, :p, :h, 1000, 1, :st, :l, :ls, :c, 'bench', :lat, :lon, :loc, :t, 1)"
                ),
                rows,
            )
            if embs:
                conn.execute(text("INSERT INTO embeddings VALUES (:id, :mv, :d, :v)"), embs)
        rows.clear()
        embs.clear()

    for i in range(1, n + 1):
        r = rng.random()
        if r < 0.1:
            status, label, conf, src, loc = "gps", None, None, None, "gps"
        elif r < 0.2:
            status, label, conf, src, loc = "no_landmark", None, float(rng.random() * 0.3), "model", None
        elif r < 0.21:
            status, label, conf, src, loc = "failed", None, None, None, None
        else:
            label = keys[int(rng.integers(len(keys)))]
            manual = rng.random() < 0.02
            status, conf = "tagged", 1.0 if manual else float(0.3 + 0.7 * rng.random())
            src, loc = ("manual" if manual else "model"), "landmark"
        taken = (start + timedelta(seconds=int(rng.integers(0, 15 * 365 * 86400)))).isoformat()
        rows.append(
            {
                "id": i,
                "p": f"{root}/{i // 1000:03d}/IMG_{i:06d}.jpg",
                "h": f"{i:064x}",
                "st": status,
                "l": label,
                "ls": src,
                "c": conf,
                "loc": loc,
                "t": taken,
                "lat": 1.0 if loc else None,
                "lon": 2.0 if loc else None,
            }
        )
        if status in ("tagged", "no_landmark"):
            v = rng.standard_normal(dim).astype(np.float32)
            v /= np.linalg.norm(v)
            embs.append({"id": i, "mv": lib.model_version, "d": dim, "v": v.astype(np.float16).tobytes()})
        if len(rows) == 10_000:
            flush()
    if rows:
        flush()
    with lib._db.write() as conn:
        conn.execute(text("ANALYZE"))


def timed(fn, repeats: int = 30) -> tuple[float, float]:
    """(median, p95) wall time of fn(), milliseconds, after one warm-up call."""
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000.0)
    ts.sort()
    return statistics.median(ts), ts[min(len(ts) - 1, int(0.95 * len(ts)))]


def bench_search(work: Path, model: Path, n: int, dim: int) -> dict:
    from core.library import AlbumKind, AlbumRef, Library, SearchQuery

    lib = Library.open(work / "search.db", model, device="cpu")
    try:
        t0 = time.perf_counter()
        build_search_db(lib, n, dim)
        build_s = time.perf_counter() - t0
        names = lib.landmark_names()
        some_key, some_name = names[len(names) // 2]
        word = some_name.split()[0]
        typo = word[:2] + word[3:] if len(word) > 5 else word + "x"
        folder = "/bench/photos/042"
        cases = {
            "albums()": lambda: lib.albums(),
            f"text prefix {word[:3]!r}, 200": lambda: lib.photos(query=SearchQuery(text=word[:3]), limit=200),
            f"text typo {typo!r}, 200": lambda: lib.photos(query=SearchQuery(text=typo), limit=200),
            "landmark album page 200": lambda: lib.photos(AlbumRef(AlbumKind.LANDMARK, some_key), limit=200),
            "needs review page 200": lambda: lib.photos(AlbumRef(AlbumKind.NEEDS_REVIEW), limit=200),
            "confidence 0.4-0.6 + model, 200": lambda: lib.photos(
                query=SearchQuery(min_confidence=0.4, max_confidence=0.6, label_source="model"), limit=200
            ),
            "manual labels, 200": lambda: lib.photos(query=SearchQuery(label_source="manual"), limit=200),
            "date range 1 month, 200": lambda: lib.photos(
                query=SearchQuery(date_from=datetime(2015, 3, 1), date_to=datetime(2015, 3, 31)), limit=200
            ),
            "estimated location, 200": lambda: lib.photos(query=SearchQuery(location="estimated"), limit=200),
            "folder, 200": lambda: lib.photos(query=SearchQuery(folder=folder), limit=200),
            "text + date + conf, 200": lambda: lib.photos(
                query=SearchQuery(text=word[:4], date_from=datetime(2012, 1, 1), min_confidence=0.5), limit=200
            ),
            f"count(text {word[:3]!r})": lambda: lib.count(query=SearchQuery(text=word[:3])),
        }
        out = {"n": n, "build_s": build_s, "cases": {k: timed(f) for k, f in cases.items()}}
        first = lib.photos(AlbumRef(AlbumKind.LANDMARK, some_key), limit=1)[0].id
        t0 = time.perf_counter()
        lib.similar(first, 20)
        out["similar_first_ms"] = (time.perf_counter() - t0) * 1000.0  # includes loading the matrix
        out["similar_ms"] = timed(lambda: lib.similar(first, 20), repeats=10)
        return out
    finally:
        lib.close()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--gps-files", type=int, default=2000)
    ap.add_argument("--search-photos", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=1280, help="embedding size of the synthetic search library")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--batch", type=int, default=4, help="photos per forward pass (the app's CPU default: 4)")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--skip", nargs="*", default=[], choices=["tag", "gps", "search"])
    ap.add_argument("--workdir", type=Path, default=None, help="keep files here (default: a temp folder)")
    ap.add_argument("--child-tag", nargs=3, metavar=("DB", "MODEL", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_tag:
        import json

        db, model, folder = (Path(a) for a in args.child_tag)
        print(json.dumps(child_tag(db, model, folder, args.threads, args.batch)))
        return

    import torch

    torch.set_num_threads(args.threads)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_library_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        model, model_note = (args.model, "given") if args.model else default_model(work)
        print(
            f"model: {model} ({model_note}); torch threads {args.threads}; cores {os.cpu_count()}; "
            f"torch {torch.__version__}"
        )
        if "tag" not in args.skip:
            r = bench_tagging(work, model, args.photos, args.threads, args.batch)
            print(
                f"[tagging] {r['n']} photos: scan {r['scan_s']:.1f} s, tag {r['tag_s']:.1f} s, total {r['total_s']:.1f} s"
            )
            print(
                f"[tagging] end to end {r['e2e_pps']:.1f} photos/s (tag phase {r['tag_pps']:.1f}); forward only "
                f"{r['forward_pps']:.1f} photos/s (before {r['forward_range'][0]:.1f}, after "
                f"{r['forward_range'][1]:.1f}); ratio e2e/forward {r['e2e_pps'] / r['forward_pps']:.0%} "
                f"(tag phase {r['tag_pps'] / r['forward_pps']:.0%})  [targets >= 20 photos/s, >= 90 %]"
            )
            print(
                f"[tagging] the CNN forward was busy {r['busy']:.0%} of the tag phase (decoding and writing "
                f"overlap it; the rest is waiting for decoded photos)"
            )
            print(
                f"[memory] tagging process: peak RSS {r['rss_peak']:.0f} MiB (with torch + model loaded, before "
                f"tagging: {r['rss_model']:.0f} MiB)  [target < 1024 MiB]"
            )
        if "gps" not in args.skip:
            r = bench_gps(work, model, args.gps_files)
            print(
                f"[gps-skip] {r['n']} GPS files: {r['files_per_s']:.0f} files/s first scan, "
                f"{r['rescan_files_per_s']:.0f} files/s unchanged rescan  [target >= 1000 files/s]"
            )
        if "search" not in args.skip:
            r = bench_search(work, model, args.search_photos, args.dim)
            print(
                f"[search] synthetic library of {r['n']} photos built in {r['build_s']:.1f} s; "
                f"median / p95 ms  [target < 20 ms]"
            )
            for name, (med, p95) in r["cases"].items():
                print(f"[search]   {name:<36} {med:7.2f} / {p95:7.2f}")
            print(
                f"[similar] top-20 by cosine over {r['n']}: first call {r['similar_first_ms']:.0f} ms "
                f"(loads the matrix), then {r['similar_ms'][0]:.1f} / {r['similar_ms'][1]:.1f} ms"
            )
        print(
            f"[memory] benchmark process peak RSS {peak_rss_mb():.0f} MiB (includes the 100k search library "
            f"with its embedding matrix, and the benchmark's own data)"
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

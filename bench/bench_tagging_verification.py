"""End-to-end tagging throughput with geometric verification on and off: prints photos/s, is not a test.

What it does: copies the shipped bundle into a cache folder and builds its verification features file
beside it once (``training.local_features.build_features_for_bundle``, the default 10 photos × 256 keypoints
per landmark, chosen among the first ``--gallery-source`` training photos of each landmark to keep the build
short: the cost of matching does not depend on which photos they are; reused while the bundle's model
version is the same); then tags one
folder of photos through the ``Library`` facade (scan, decode pool, CNN, verification thread, writer;
``core.tagging.tag``) into a fresh database, once with ``verify=False`` and once with ``verify=True``,
``--repeat`` times in alternation, on ``--threads`` torch threads (2 = the issue's laptop), and prints the
best photos/s of each, the share of photos verified and the features file's size.

Photos (``$LANDMARK_SHARED``, default ``../shared``): ``data/landmarks/test`` (photos the model never saw),
``data/non_landmark`` and every 20th photo of ``data/landmarks/train``, so that the share of uncertain photos
is not that of training photos alone.

Usage: ``python bench/bench_tagging_verification.py [--threads 2] [--repeat 2] [--cache DIR] [--bundle PATH]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("LANDMARK_SHARED", REPO.parent / "shared")).resolve()
SHIPPED = REPO / "resources" / "models" / "landmarks-mobilenet_v2.safetensors"


def _photos() -> list[Path]:
    lm = SHARED / "data" / "landmarks"
    test = sorted((lm / "test").rglob("*.jpg"))
    train = sorted((lm / "train").rglob("*.jpg"))[::20]
    nl = sorted((SHARED / "data" / "non_landmark").glob("*.jpg"))
    return test + train + nl


def _model(bundle: Path, cache: Path, threads: int, per_landmark: int) -> Path:
    """The bundle copied into ``cache`` with its features file beside it (built once per model version)."""
    from core.recognition.bundle import read_bundle_info
    from core.recognition.features_file import features_path_for, read_features_info

    version = read_bundle_info(bundle)["model_version"]
    copy = cache / bundle.name
    feats = features_path_for(copy)
    if copy.is_file() and feats.is_file() and read_features_info(feats).get("model_version") == version:
        return copy
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundle, copy)
    import torch

    from training.local_features import build_features_for_bundle

    torch.set_num_threads(threads)
    source = cache / "gallery-source"
    shutil.rmtree(source, ignore_errors=True)
    for d in sorted((SHARED / "data" / "landmarks" / "train").iterdir()):
        if d.is_dir():
            (source / d.name).mkdir(parents=True)
            for p in sorted(d.glob("*.jpg"))[:per_landmark]:
                (source / d.name / p.name).symlink_to(p)
    t0 = time.perf_counter()
    build_features_for_bundle(copy, source, device="cpu", workers=threads)
    print(f"built {feats.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return copy


def _tag_once(model: Path, folder: Path, verify: bool, threads: int) -> tuple[float, int, int]:
    """Seconds to tag ``folder`` into a fresh library, photos tagged, photos verified."""
    from core.library import Library

    with tempfile.TemporaryDirectory(prefix="bench-tag-") as tmp:
        lib = Library.open(Path(tmp) / "lib.db", model, device="cpu", threads=threads, verify=verify)
        try:
            rec = lib.recognizer()  # load the model before the clock starts
            calls = [0]
            if rec.verify:
                orig = rec.verify_prediction

                def counted(pred, path):
                    calls[0] += 1
                    return orig(pred, path)

                rec.verify_prediction = counted
            lib.add_folder(folder)
            t0 = time.perf_counter()
            lib.tag()
            dt = time.perf_counter() - t0
            n = sum(lib.stats()["by_status"].get(s, 0) for s in ("tagged", "no_landmark", "failed"))
        finally:
            lib.close()
    return dt, n, calls[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "landmark-bench-cache")
    ap.add_argument("--bundle", type=Path, default=SHIPPED)
    ap.add_argument("--gallery-source", type=int, default=14, help="training photos per landmark to choose from")
    a = ap.parse_args(argv)
    if not a.bundle.is_file() or not (SHARED / "data" / "landmarks").is_dir():
        print(f"bench_tagging_verification: skipped, needs {a.bundle} and {SHARED / 'data' / 'landmarks'}")
        return 0
    from core.recognition.features_file import features_path_for

    model = _model(a.bundle, a.cache / "tagging", a.threads, a.gallery_source)
    photos = _photos()
    with tempfile.TemporaryDirectory(prefix="bench-photos-") as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for i, p in enumerate(photos):
            shutil.copyfile(p, folder / f"{i:04d}{p.suffix}")
        best: dict[bool, tuple[float, int, int]] = {}
        for _ in range(a.repeat):
            for verify in (False, True):
                r = _tag_once(model, folder, verify, a.threads)
                if verify not in best or r[0] < best[verify][0]:
                    best[verify] = r
    size = features_path_for(model).stat().st_size
    print(
        f"tagging {len(photos)} photos end to end (Library.tag: scan, decode, CNN, verification, SQLite), "
        f"{a.threads} torch threads, best of {a.repeat}; features file {size / 1e6:.1f} MB, "
        f"bundle {model.stat().st_size / 1e6:.1f} MB"
    )
    for verify in (False, True):
        dt, n, verified = best[verify]
        extra = f", {verified} verified ({verified / max(n, 1):.1%})" if verify else ""
        print(f"  verification {'on ' if verify else 'off'}: {n / dt:6.1f} photos/s ({n} photos in {dt:.1f} s{extra})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of teaching precision: leave-one-class-out over every class of ``../shared/data/landmarks``.

Not a test: prints figures. Run from the repository root::

    .venv/bin/python bench/bench_teaching.py [--model PATH] [--shared ../shared] [--per-class]

Every photo of ``landmarks/{train,test}`` (pooled: 56 classes) is embedded once with the model bundle's
backbone (frozen; ``Recognizer.predict_paths``; the embeddings are cached in the temp folder, keyed by
the model version and the photo list). ``training.calibration.teaching_margin_rates`` then simulates
teaching with the rule the app uses to propose labels (``core.recognition.scoring.teaching_claims``): a
taught photo of landmark L claims photo x only when ``s_L(x) >= e(x) + margin``. Folds: 5, stratified by
class, ``near_dup_group`` of ``MANIFEST.csv`` kept within one fold; for each fold and class L the gallery
is the other folds without L, 3 (and 5) photos of L are taught, and

* recall = share of L's other photos proposed (target >= 0.80),
* false rate = share of the held-out fold's photos of other landmarks proposed (target <= 0.02).

The margin is chosen by ``training.calibration.choose_teaching_margin`` (the smallest with a false rate
<= 0.02 for 3 and 5 taught photos); both rates are printed for it, overall and (``--per-class``) per class,
and for the bundle's own ``ScoringParams.user_match_margin``.

That protocol suits a *frozen* backbone. A fine-tuned backbone trained on every class, so no photo of a class
it knows is held out from its embedding. ``--heldout CV_DIR --unseen K1,K2,…`` measures such a recipe honestly
instead (``training.calibration.teaching_rates_heldout``): ``CV_DIR`` is a ``landmark-train crossval
--exclude-classes K1,K2,… --only-folds F`` run, whose fold bundle never saw the unseen landmarks nor the fold's
test photos; the unseen landmarks are taught; the false rate counts the fold's held-out photos of known
landmarks and the photos of the other unseen landmarks; the evidence is the fold bundle's own gallery.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MARGINS = tuple(round(m, 3) for m in np.arange(-0.30, 0.201, 0.01))


def photo_list(shared: Path) -> tuple[list[Path], list[str], list[str]]:
    """``(paths, class keys, near-duplicate groups)`` of every photo of ``landmarks/{train,test}``."""
    root = shared / "data" / "landmarks"
    group_of: dict[str, str] = {}
    manifest = root / "MANIFEST.csv"
    if manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                group_of[row["path"]] = row.get("near_dup_group") or row["path"]
    paths, labels, groups = [], [], []
    for split in ("train", "test"):
        for d in sorted(p for p in (root / split).iterdir() if p.is_dir()):
            for p in sorted(d.glob("*.jpg")):
                rel = f"{split}/{d.name}/{p.name}"
                paths.append(p)
                labels.append(d.name)
                groups.append(group_of.get(rel, rel))
    return paths, labels, groups


def embed(model: Path, paths: list[Path], threads: int) -> np.ndarray:
    """``(N, D)`` float32 unit embeddings (cached in the temp folder); unreadable photos get zero rows."""
    from core.recognition.bundle import read_bundle_info
    from core.recognition.recognizer import Recognizer

    version = str(read_bundle_info(model)["model_version"])
    key = hashlib.sha256((version + "\n".join(map(str, paths))).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"landmark-teaching-{key}.npy"
    if cache.is_file():
        return np.load(cache)
    t0 = time.perf_counter()
    rec = Recognizer(model, device="cpu", threads=threads)
    preds = rec.predict_paths(paths, batch_size=16)
    emb = np.zeros((len(paths), rec.embedding_dim), np.float32)
    for i, p in enumerate(preds):
        if not isinstance(p, Exception):
            emb[i] = p.embedding
    np.save(cache, emb)
    print(f"embedded {len(paths)} photos in {time.perf_counter() - t0:.0f} s (cached in {cache})")
    return emb


def main(argv: list[str] | None = None) -> int:
    from core.paths import default_model_path
    from core.recognition.bundle import load_bundle
    from core.recognition.scoring import DEFAULT_USER_MATCH_MARGIN
    from training.calibration import choose_teaching_margin, grouped_folds, teaching_margin_rates

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="model bundle (default: the shipped one)")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("LANDMARK_SHARED", REPO.parent / "shared")))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--unseen-share",
        type=float,
        default=0.25,
        help="share of the other classes also left out of the gallery in each draw (landmarks the model never saw)",
    )
    ap.add_argument("--per-class", action="store_true", help="print the rates of every class")
    ap.add_argument("--heldout", type=Path, default=None, help="a crossval --exclude-classes run (see the docstring)")
    ap.add_argument("--unseen", default="", help="with --heldout: the excluded class keys, comma-separated")
    args = ap.parse_args(argv)
    if args.heldout is not None:
        return heldout(args)
    model = args.model or default_model_path()
    paths, keys, groups = photo_list(args.shared)
    emb = embed(model, paths, args.threads or 0)
    ok = np.linalg.norm(emb, axis=1) > 0
    names = sorted(set(keys))
    labels = np.asarray([names.index(k) for k in keys], np.int64)
    emb, labels = emb[ok], labels[ok]
    groups = [g for g, good in zip(groups, ok) if good]
    folds = grouped_folds(labels, groups, n_folds=5, seed=0)
    t0 = time.perf_counter()
    rates = teaching_margin_rates(
        emb, labels, folds, MARGINS, (3, 5), groups=groups, repeats=args.repeats, unseen_share=args.unseen_share
    )
    chosen = choose_teaching_margin(rates, 0.02)
    bundle_margin = load_bundle(model).scoring.user_match_margin
    print(
        f"{len(emb)} photos, {len(names)} classes, 5 folds (near duplicates kept together), {args.repeats} draws "
        f"per fold and class; {time.perf_counter() - t0:.1f} s"
    )
    print("margin  recall@3  false@3  recall@5  false@5")
    for m in MARGINS:
        r3 = next(r for r in rates if r.k == 3 and r.margin == m)
        r5 = next(r for r in rates if r.k == 5 and r.margin == m)
        mark = " <- chosen" if m == chosen else ""
        print(f"{m:6.2f}  {r3.recall:8.3f}  {r3.false_rate:7.4f}  {r5.recall:8.3f}  {r5.false_rate:7.4f}{mark}")
    shown = {chosen, bundle_margin if bundle_margin is not None else DEFAULT_USER_MATCH_MARGIN}
    for m in sorted(shown):
        m_rates = teaching_margin_rates(
            emb, labels, folds, (m,), (3, 5), groups=groups, repeats=args.repeats, unseen_share=args.unseen_share
        )
        for r in m_rates:
            tag = "chosen" if m == chosen else "bundle/default"
            print(
                f"margin {m:.3f} ({tag}), {r.k} taught photos: recall {r.recall:.3f} (target >= 0.80), "
                f"false rate {r.false_rate:.4f} (target <= 0.02)"
            )
            if args.per_class:
                for c, (rc, fr) in sorted(r.per_class.items(), key=lambda kv: kv[1][0]):
                    print(f"    {names[c]:40s} recall {rc:.3f}  false {fr:.4f}")
    return 0


def heldout(args: argparse.Namespace) -> int:
    """``--heldout``: teach the landmarks a fine-tuned fold bundle never saw (module docstring)."""
    import json

    from core.recognition.bundle import load_bundle
    from training.calibration import choose_teaching_margin, teaching_rates_heldout
    from training.crossval import grouped_stratified_folds, pooled_dataset

    report = json.loads((args.heldout / "crossval.json").read_text())
    unseen = [k for k in args.unseen.split(",") if k]
    if sorted(unseen) != sorted(report["protocol"].get("excluded_classes", [])):
        raise SystemExit("--unseen must list the classes the crossval run excluded")
    fold = report["folds"][0]
    bundle = load_bundle(Path(fold["bundle"]))
    cfg = report["protocol"]["config"]
    data, groups = pooled_dataset(cfg["data"], unseen)
    folds = grouped_stratified_folds(data.labels, groups, report["protocol"]["folds"], cfg["seed"])
    held = [(p, k, g) for p, k, g, f in zip(data.paths, data.labels, groups, folds) if f == fold["fold"]]
    all_data, all_groups = pooled_dataset(cfg["data"])
    new = [(p, k, g) for p, k, g in zip(all_data.paths, all_data.labels, all_groups) if k in set(unseen)]
    items = held + new
    emb = embed(Path(fold["bundle"]), [p for p, _, _ in items], args.threads or 0)
    names = list(bundle.class_keys) + sorted(unseen)
    labels = np.asarray([names.index(k) for _, k, _ in items], np.int64)
    ok = np.linalg.norm(emb, axis=1) > 0
    grp = [g for (_, _, g), good in zip(items, ok) if good]
    taught = [names.index(k) for k in sorted(unseen)]
    gallery = bundle.gallery_embeddings.float().numpy()
    g_labels = bundle.gallery_labels.numpy()
    rates = teaching_rates_heldout(
        gallery, g_labels, emb[ok], labels[ok], taught, MARGINS, (3, 5), groups=grp, repeats=args.repeats
    )
    chosen = choose_teaching_margin(rates, 0.02)
    print(
        f"fold {fold['fold']} bundle ({len(bundle.class_keys)} landmarks, gallery {len(gallery)} photos); "
        f"taught: {len(unseen)} landmarks it never saw ({len(new)} photos); false rate over {len(held)} held-out "
        f"photos of known landmarks + the other unseen landmarks' photos; {args.repeats} draws per landmark"
    )
    print("margin  recall@3  false@3  recall@5  false@5")
    for m in MARGINS:
        r3 = next(r for r in rates if r.k == 3 and r.margin == m)
        r5 = next(r for r in rates if r.k == 5 and r.margin == m)
        mark = " <- chosen" if m == chosen else ""
        print(f"{m:6.2f}  {r3.recall:8.3f}  {r3.false_rate:7.4f}  {r5.recall:8.3f}  {r5.false_rate:7.4f}{mark}")
    for r in (r for r in rates if r.margin == chosen):
        print(
            f"margin {chosen:.3f} (chosen), {r.k} taught photos: recall {r.recall:.3f} (target >= 0.80), "
            f"false rate {r.false_rate:.4f} (target <= 0.02)"
        )
        if args.per_class:
            for c, (rc, fr) in sorted(r.per_class.items(), key=lambda kv: kv[1][0]):
                print(f"    {names[c]:40s} recall {rc:.3f}  false {fr:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

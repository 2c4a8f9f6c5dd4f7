"""Geometric verification, measured on and off by 5-fold cross-validation: prints figures, is not a test.

Data (``$LANDMARK_SHARED``, default ``../shared``): ``data/landmarks`` (train + test pooled, listed in
``MANIFEST.csv``) and ``data/non_landmark`` (photos without a landmark).

Protocol:

1. **Folds.** 5 folds, stratified by landmark and grouped: photos of one ``near_dup_group`` stay in one
   fold (groups are dealt round-robin to the folds, per landmark, in a seeded random order); the
   non-landmark photos are dealt to the 5 folds in a seeded random order.
2. **Embeddings.** ``core.recognition.backbones.LandmarkNet("mobilenet_v2")`` with the ImageNet weights of
   ``torch-home/derived/mobilenet_v2_coral_tf2ptq_calib-a812eb75.pth`` (``training.weights``), the
   app's preprocessing (224 px centre crop of the 256 px resize), unit L2 norm. Cached in ``--cache``.
   ``--embeddings FILE.npy`` replaces them (e.g. a fine-tuned model's; rows in MANIFEST order, then the
   non-landmark photos in sorted file-name order).
3. **Classifier** (pluggable: ``CLASSIFIERS``, ``--classifier``; a function of the training part's
   embeddings returning a ``FoldModel``). Default ``"knn"``: the average of a nearest-class-mean
   softmax and the app's kNN softmax (``core.recognition.scoring.fused_log_probs`` with ``knn_weight`` 1,
   τ = 0.05) over the training part; then temperature scaling, the landmark gate and the "no landmark"
   threshold (``training.calibration``: ``fit_temperature``, ``fit_landmark_gate``, ``choose_threshold``
   with at most 2 % of non-landmark photos labelled), all fitted on leave-one-out scores of the training
   part (a training photo's own near-duplicate group left out of the gallery), never on the test fold.
4. **Verification gallery** of the training part (``training.local_features.build_gallery``: 10 k-means
   medoids per landmark, 256 keypoints each, as shipped; ``--per-class 0`` keeps every photo).
5. **Test.** Each test photo's top-5 prediction; verification off = as predicted; on = the app's rule
   (``core.recognition.verification``: ``needs_verification`` then ``verify_top_k``) with
   ``VerificationParams`` (defaults, or ``--param name=value``).

Figures: top-1 (landmark photos; a "no landmark" answer is wrong), GAP with the non-landmark photos
counted (``training.metrics.global_average_precision``: label = top-1 when it clears the threshold),
share of non-landmark photos labelled, ECE, worst landmark's accuracy, share of photos verified, ms per
verified photo (decode + SIFT, and matching, measured here on one thread), features file size per fold;
the landmarks that gain or lose; and a logistic fit of P(accepted candidate is right | inliers) over all
folds (the ``confidence_center`` / ``confidence_width`` calibration).

Usage: ``python bench/bench_verification.py [--folds 5] [--seed 0] [--cache DIR] [--per-class 10]
[--param verify_below=0.9 ...] [--classifier knn] [--embeddings FILE.npy] [--threads 2]``
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from core.domain import NO_LANDMARK  # noqa: E402
from core.recognition import scoring  # noqa: E402
from core.recognition.local_features import ExtractionParams, LocalFeatures, extract_local_features  # noqa: E402
from core.recognition.verification import VerificationParams, needs_verification, rerank, verify_top_k  # noqa: E402
from training.metrics import expected_calibration_error, global_average_precision  # noqa: E402

SHARED = Path(os.environ.get("LANDMARK_SHARED", REPO.parent / "shared")).resolve()
LANDMARKS = SHARED / "data" / "landmarks"
NON_LANDMARK = SHARED / "data" / "non_landmark"
WEIGHTS = SHARED / "torch-home" / "derived" / "mobilenet_v2_coral_tf2ptq_calib-a812eb75.pth"
TOP_K = 5


# ------------------------------------------------------------------------------------------------ data
@dataclass
class Data:
    """All photos: landmark photos first (MANIFEST order), then the non-landmark photos."""

    paths: list[Path]
    labels: np.ndarray  # (N,) int64 class index, -1 for a non-landmark photo
    groups: list[str]  # near-duplicate group (own path when none)
    keys: list[str]  # class keys, sorted


def read_data() -> Data:
    rows = list(csv.DictReader(open(LANDMARKS / "MANIFEST.csv", encoding="utf-8")))
    keys = sorted({r["label"] for r in rows})
    index = {k: i for i, k in enumerate(keys)}
    nl = sorted(p for p in NON_LANDMARK.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return Data(
        paths=[LANDMARKS / r["path"] for r in rows] + nl,
        labels=np.array([index[r["label"]] for r in rows] + [-1] * len(nl), dtype=np.int64),
        groups=[r["near_dup_group"] or r["path"] for r in rows] + [str(p) for p in nl],
        keys=keys,
    )


def grouped_folds(data: Data, k: int, seed: int) -> np.ndarray:
    """``(N,)`` fold of each photo: per landmark, its near-duplicate groups dealt round-robin in a random order."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(data.paths), dtype=np.int64)
    offset = 0
    for c in list(range(len(data.keys))) + [-1]:
        idx = np.flatnonzero(data.labels == c)
        groups = sorted({data.groups[i] for i in idx})
        rng.shuffle(groups)
        g_fold = {g: (offset + j) % k for j, g in enumerate(groups)}
        offset += len(groups)  # the next landmark starts where this one stopped: equal fold sizes
        for i in idx:
            fold[i] = g_fold[data.groups[i]]
    return fold


def embed_all(data: Data, cache: Path, threads: int) -> np.ndarray:
    """``(N, 1280)`` float32 unit embeddings (frozen ImageNet MobileNetV2), cached."""
    f = cache / f"embeddings-mnv2-imagenet-{len(data.paths)}.npy"
    if f.is_file():
        return np.load(f)
    from core.recognition.backbones import LandmarkNet
    from core.recognition.preprocess import Preprocessor
    from training.weights import load_backbone_state

    torch.set_num_threads(threads)
    net = LandmarkNet("mobilenet_v2", 1)
    load_backbone_state(net, WEIGHTS)
    net.eval()
    pre = Preprocessor(224, 256, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    out = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(data.paths), 32):
            x = torch.stack([pre.load(p) for p in data.paths[s : s + 32]])
            out.append(F.normalize(net.embed(x), dim=1).numpy())
    emb = np.concatenate(out).astype(np.float32)
    print(f"embedded {len(emb)} photos in {time.perf_counter() - t0:.0f} s", flush=True)
    np.save(f, emb)
    return emb


def features_all(data: Data, cache: Path, params: ExtractionParams, workers: int) -> list[LocalFeatures]:
    """Every photo's local features (query size: ``params.max_keypoints``), cached as one npz."""
    tag = f"{params.max_side}-{params.max_keypoints}-{params.contrast_threshold}"
    f = cache / f"sift-{tag}-{len(data.paths)}.npz"
    if f.is_file():
        z = np.load(f)
        off, kp, desc, size = z["offsets"], z["keypoints"], z["descriptors"], z["sizes"]
        return [
            LocalFeatures(kp[off[i] : off[i + 1]], desc[off[i] : off[i + 1]], (int(size[i, 0]), int(size[i, 1])))
            for i in range(len(off) - 1)
        ]
    from training.local_features import extract_many

    t0 = time.perf_counter()
    feats = extract_many(data.paths, params, workers=workers)
    bad = [p for p, x in zip(data.paths, feats) if not isinstance(x, LocalFeatures)]
    if bad:
        raise SystemExit(f"unreadable photos: {bad[:3]}")
    good: list[LocalFeatures] = [x for x in feats if isinstance(x, LocalFeatures)]
    print(f"extracted local features of {len(good)} photos in {time.perf_counter() - t0:.0f} s", flush=True)
    off = np.concatenate([[0], np.cumsum([len(x) for x in good])])
    np.savez(
        f,
        offsets=off,
        keypoints=np.concatenate([x.keypoints for x in good]),
        descriptors=np.concatenate([x.descriptors for x in good]),
        sizes=np.array([x.size for x in good]),
    )
    return good


# ------------------------------------------------------------------------------------------ classifier
@dataclass
class FoldModel:
    """A fold's classifier: ``probs(emb (N, D)) -> (N, C + 1)`` (last column ``NO_LANDMARK``) and its threshold."""

    probs: Callable[[np.ndarray], np.ndarray]
    threshold: float


def _knn_scores(
    q: torch.Tensor, g: torch.Tensor, gy: torch.Tensor, c: int, exclude: torch.Tensor | None = None, qy=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities ``(Q, C)`` of the NCM + kNN classifier and the max gallery similarity ``(Q,)``.

    ``exclude``: ``(Q, G)`` bool, gallery entries hidden from each query (leave-one-out: its own near-duplicate
    group, which lies within its own landmark ``qy``), or None.
    """
    sims = q @ g.T  # (Q, G)
    if exclude is not None:
        sims = sims.masked_fill(exclude, -2.0)
    per_class = torch.full((q.shape[0], c), -2.0).scatter_reduce(
        1, gy.unsqueeze(0).expand_as(sims), sims, reduce="amax", include_self=True
    )
    log_knn = F.log_softmax(per_class / 0.05, dim=1)
    sums = torch.zeros(c, g.shape[1]).index_add_(0, gy, g)  # (C, D) per-class sums
    mean_sims = q @ F.normalize(sums, dim=1).T  # (Q, C)
    if exclude is not None and qy is not None:  # the own class's mean without the excluded entries
        own = F.normalize(sums[qy] - exclude.float() @ g, dim=1)
        mean_sims[torch.arange(q.shape[0]), qy] = (q * own).sum(1)
    log_ncm = F.log_softmax(mean_sims / 0.05, dim=1)
    log_p = torch.logsumexp(torch.stack([log_knn, log_ncm]), dim=0) - math.log(2.0)
    return log_p, sims.max(dim=1).values


def knn_classifier(
    train_emb: np.ndarray, train_y: np.ndarray, train_groups: list[str], nl_emb: np.ndarray, num_classes: int
) -> FoldModel:
    """Default classifier (see the module docstring, step 3), calibrated by leave-one-out on the training part."""
    from training.calibration import choose_threshold, fit_landmark_gate, fit_temperature

    g = torch.from_numpy(train_emb)
    gy = torch.from_numpy(train_y)
    gid = {x: i for i, x in enumerate(sorted(set(train_groups)))}
    grp = torch.tensor([gid[x] for x in train_groups])
    exclude = grp.unsqueeze(1) == grp.unsqueeze(0)  # (G, G): own near-duplicate group
    log_p, s_max = _knn_scores(g, g, gy, num_classes, exclude, gy)
    temperature = fit_temperature(log_p, gy)
    nl_log_p, nl_smax = _knn_scores(torch.from_numpy(nl_emb), g, gy, num_classes)
    center, width = fit_landmark_gate(s_max, nl_smax)

    def full(lp: torch.Tensor, sm: torch.Tensor) -> torch.Tensor:
        p = scoring.calibrated_probs(lp, temperature)
        return scoring.with_no_landmark(p, scoring.landmark_probability(sm, center, width))

    choice = choose_threshold(
        full(log_p, s_max), gy, full(nl_log_p, nl_smax), max_non_landmark_rate=0.02, no_landmark_index=num_classes
    )

    def probs(emb: np.ndarray) -> np.ndarray:
        return full(*_knn_scores(torch.from_numpy(emb), g, gy, num_classes)).numpy()

    return FoldModel(probs, choice.threshold)


#: Pluggable classifiers: name -> function(train_emb, train_y, train_groups, train_non_landmark_emb, C) -> FoldModel.
CLASSIFIERS: dict[str, Callable[..., FoldModel]] = {"knn": knn_classifier}


# ------------------------------------------------------------------------------------------ evaluation
Top = tuple[tuple[str, float], ...]


def _top_k(p: np.ndarray, keys: list[str]) -> Top:
    idx = np.argsort(-p, kind="stable")[:TOP_K]
    return tuple((keys[i], float(p[i])) for i in idx)


def metrics(tops: list[Top], truths: list[str | None], thresholds: list[float]) -> dict:
    """Figures of answers ``tops`` (one per photo), each photo labelled when its top-1 is a landmark whose
    confidence reaches its own fold's ``thresholds[i]``."""
    lm = [i for i, t in enumerate(truths) if t is not None]
    nl = [i for i, t in enumerate(truths) if t is None]
    labels = [t[0][0] if t[0][1] >= thr and t[0][0] != NO_LANDMARK else None for t, thr in zip(tops, thresholds)]
    conf = [t[0][1] for t in tops]
    correct = [tops[i][0][0] == truths[i] for i in lm]
    per_class: dict[str, list[bool]] = defaultdict(list)
    for i, ok in zip(lm, correct):
        per_class[str(truths[i])].append(ok)
    acc = {k: float(np.mean(v)) for k, v in per_class.items()}
    return {
        "top1": float(np.mean(correct)),
        "gap": global_average_precision(labels, conf, truths),
        "non_landmark_labelled": float(np.mean([labels[i] is not None for i in nl])) if nl else float("nan"),
        "ece": expected_calibration_error([conf[i] for i in lm], correct),
        "worst_class": min(acc.values()),
        "per_class": acc,
    }


def apply(
    tops_off: list[Top], inliers: list[dict[str, int]], params: VerificationParams
) -> tuple[list[Top], np.ndarray]:
    """Verification on: step 1 (``needs_verification``) and step 5 (``rerank``) on inliers already counted
    (the counts depend on the candidates/shortlist/matching constants, not on the gates)."""
    out, verified = [], np.zeros(len(tops_off), dtype=bool)
    for i, (top, inl) in enumerate(zip(tops_off, inliers)):
        if needs_verification(top, params):
            verified[i] = True
            out.append(rerank(top, inl, params)[0])
        else:
            out.append(top)
    return out, verified


ROWS = (
    ("top1", "top-1"),
    ("gap", "GAP (with non-landmarks)"),
    ("non_landmark_labelled", "non-landmarks labelled"),
    ("ece", "ECE"),
    ("worst_class", "worst landmark's accuracy"),
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "landmark-bench-cache")
    ap.add_argument("--per-class", type=int, default=10, help="gallery photos per landmark; 0 keeps all")
    ap.add_argument("--gallery-keypoints", type=int, default=256)
    ap.add_argument("--param", action="append", default=[], help="VerificationParams override, name=value")
    ap.add_argument("--classifier", choices=sorted(CLASSIFIERS), default="knn")
    ap.add_argument("--embeddings", type=Path, help=".npy (N, D) embeddings replacing the frozen ImageNet ones")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    if not LANDMARKS.is_dir() or not WEIGHTS.is_file():
        print(f"bench_verification: skipped, needs {LANDMARKS} and {WEIGHTS}")
        return 0
    torch.set_num_threads(a.threads)
    import cv2

    from core.recognition.features_file import VerificationFeatures, save_features
    from training.local_features import build_gallery

    params = VerificationParams()
    types = {f.name: type(getattr(params, f.name)) for f in fields(VerificationParams)}
    for kv in a.param:
        name, _, value = kv.partition("=")
        if name not in types:
            raise SystemExit(f"unknown parameter {name!r} (known: {', '.join(types)})")
        params = replace(params, **{name: types[name](value)})
    extraction = ExtractionParams()
    a.cache.mkdir(parents=True, exist_ok=True)
    data = read_data()
    keys = data.keys
    C = len(keys)
    label_keys = keys + [NO_LANDMARK]
    folds = grouped_folds(data, a.folds, a.seed)
    emb = np.load(a.embeddings).astype(np.float32) if a.embeddings else embed_all(data, a.cache, a.threads)
    feats = features_all(data, a.cache, extraction, a.threads)
    print(
        f"{len(data.paths)} photos ({int((data.labels >= 0).sum())} of {C} landmarks, "
        f"{int((data.labels < 0).sum())} without), {a.folds} grouped folds; OpenCV {cv2.__version__}; "
        f"classifier {a.classifier}; gallery {a.per_class or 'all'} photos x {a.gallery_keypoints} keypoints per landmark"
    )
    print(f"verification: {params}")

    cv2.setNumThreads(1)
    n = len(data.paths)
    truths: list[str | None] = [keys[y] if y >= 0 else None for y in data.labels]
    tops_off: list[Top] = [()] * n
    inliers: list[dict[str, int]] = [{} for _ in range(n)]
    match_s = np.zeros(n)
    thresholds = [0.0] * n
    sizes = []
    for k in range(a.folds):
        tr = np.flatnonzero((folds != k) & (data.labels >= 0))
        tr_nl = np.flatnonzero((folds != k) & (data.labels < 0))
        te = np.flatnonzero(folds == k)
        model = CLASSIFIERS[a.classifier](emb[tr], data.labels[tr], [data.groups[i] for i in tr], emb[tr_nl], C)
        gallery = build_gallery(
            [data.paths[i] for i in tr],
            data.labels[tr].tolist(),
            keys,
            emb[tr],
            per_class=a.per_class or None,
            gallery_keypoints=a.gallery_keypoints,
            features=[feats[i] for i in tr],
        )
        f = save_features(VerificationFeatures("bench", gallery, extraction, params), a.cache / f"fold{k}.features")
        sizes.append(f.stat().st_size)
        probs = model.probs(emb[te])
        for row, i in enumerate(te):
            tops_off[i] = _top_k(probs[row], label_keys)
            thresholds[i] = model.threshold
            t0 = time.perf_counter()
            inliers[i] = verify_top_k(tops_off[i], emb[i], feats[i], gallery, params).inliers
            match_s[i] = time.perf_counter() - t0
        print(
            f"  fold {k}: {len(te)} test photos, threshold {model.threshold:.3f}, features {sizes[-1] / 1e6:.1f} MB",
            flush=True,
        )

    # the extraction step on one thread, on a sample (decode + greyscale + SIFT)
    sample = data.paths[:: max(1, n // 60)]
    t0 = time.perf_counter()
    for p in sample:
        extract_local_features(p, extraction)
    extract_ms = (time.perf_counter() - t0) / len(sample) * 1e3

    off = metrics(tops_off, truths, thresholds)
    tops_on, verified = apply(tops_off, inliers, params)
    on = metrics(tops_on, truths, thresholds)
    is_lm = data.labels >= 0
    print()
    print(f"{'':28s}{'off':>9s}{'on':>9s}")
    for name, label in ROWS:
        print(f"{label:28s}{off[name]:9.4f}{on[name]:9.4f}")
    print(
        f"verified: {verified.mean():.1%} of all photos ({verified[is_lm].mean():.1%} of landmark, "
        f"{verified[~is_lm].mean():.1%} of non-landmark photos)"
    )
    accepted = []
    for i in np.flatnonzero(verified):
        _, acc = rerank(tops_off[i], inliers[i], params)
        if acc is not None:
            accepted.append((inliers[i][acc], acc == truths[i], acc, str(truths[i])))
    top1_off = [t[0][0] for t in tops_off]
    top1_on = [t[0][0] for t in tops_on]
    fixed = sum(1 for i in range(n) if top1_on[i] != top1_off[i] and top1_on[i] == truths[i])
    broken = sum(1 for i in range(n) if top1_on[i] != top1_off[i] and top1_off[i] == truths[i])
    print(f"top-1 changed for {sum(x != y for x, y in zip(top1_on, top1_off))} photos: {fixed} fixed, {broken} broken")
    ms = match_s[verified] * 1e3
    if len(ms):
        print(
            f"per verified photo: extraction {extract_ms:.1f} ms + matching {ms.mean():.1f} ms "
            f"(median {np.median(ms):.1f}, p95 {np.percentile(ms, 95):.1f}), one thread"
        )
    print(f"features file: {np.mean(sizes) / 1e6:.2f} MB per fold")
    gain = {k: on["per_class"][k] - off["per_class"][k] for k in keys if k in off["per_class"]}
    moved = sorted((v, k) for k, v in gain.items() if abs(v) > 1e-9)
    if moved:
        print("landmarks whose accuracy changed: " + ", ".join(f"{k} {v:+.3f}" for v, k in moved))
    _fit_confidence(accepted)

    # how sensitive the figures are to the gates (the inlier counts stay those of the candidates/shortlist)
    print()
    print(
        f"{'verify_below':>12s}{'min_inl':>8s}{'margin':>7s}{'verified':>9s}{'top-1':>8s}{'GAP':>8s}{'NL lab':>8s}{'ECE':>8s}"
    )
    for vb in (0.5, 0.7, 0.9, 1.0):
        for mi in (10, 15, 20, 30):
            for mm in (0, 5, 10):
                p = replace(params, verify_below=vb, min_inliers=mi, min_margin=mm)
                t, v = apply(tops_off, inliers, p)
                m = metrics(t, truths, thresholds)
                print(
                    f"{vb:12.2f}{mi:8d}{mm:7d}{v.mean():9.1%}{m['top1']:8.4f}{m['gap']:8.4f}"
                    f"{m['non_landmark_labelled']:8.4f}{m['ece']:8.4f}"
                )
    return 0


def _fit_confidence(log: list[tuple[int, bool, str, str]]) -> None:
    """Precision of the accepted candidates by inlier count: the data behind the confidence mapping
    (``confidence_center``, ``confidence_width``, ``confidence_max``)."""
    if not log:
        print("no accepted verification")
        return
    n = np.array([x for x, _, _, _ in log])
    right = np.array([r for _, r, _, _ in log])
    print(f"accepted: {len(log)}, precision {right.mean():.3f}, median inliers {np.median(n):.0f}")
    bins = ((0, 15), (15, 20), (20, 30), (30, 50), (50, 10**9))
    print(
        "  precision by inliers: "
        + ", ".join(
            f"{lo}-{hi - 1 if hi < 10**9 else ''}: {right[(n >= lo) & (n < hi)].mean():.2f} (n={int(((n >= lo) & (n < hi)).sum())})"
            for lo, hi in bins
            if ((n >= lo) & (n < hi)).any()
        )
    )
    wrong = [(x, k, t) for x, r, k, t in log if not r]
    if wrong:
        print("  wrong acceptances (inliers accepted/truth): " + "; ".join(f"{x} {k}/{t}" for x, k, t in wrong[:15]))


if __name__ == "__main__":
    sys.exit(main())

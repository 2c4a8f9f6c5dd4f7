"""Building the verification features file of a model bundle, and verification for cross-validation.

Geometric verification (``core.recognition.verification``) matches an uncertain photo's local features
against gallery photos of its top candidate landmarks. This module builds that gallery from training
photos and writes it beside a bundle (``core.recognition.features_file``); the same pure functions serve
a cross-validation fold (``bench/bench_verification.py``):

* ``select_gallery``: which photos of each landmark to keep, under a size budget: ``per_class`` medoids of
  a k-means clustering (cosine, k-means++ seeding, fixed seed) of the landmark's CNN embeddings, so the
  kept photos cover the landmark's usual viewpoints rather than its outliers;
* ``extract_many``: RootSIFT features of many photos in a thread pool (OpenCV releases the GIL);
* ``build_gallery``: select, extract (the strongest ``gallery_keypoints`` keypoints per photo), pack;
* ``verify_photo``: verify one test photo's prediction against a gallery (what the app does);
* ``build_features_for_bundle``: the ``landmark-train features BUNDLE DATA_DIR`` sub-command: embeds the
  ImageFolder's photos with the bundle's own model (exactly as the app), builds the gallery and writes
  ``NAME.features.safetensors`` beside the bundle.

Size: 132 bytes a keypoint (uint8 SIFT + 2 × float16) and 2·D bytes a photo (float16 embedding): the
defaults (10 photos × 256 keypoints per landmark) take ≈ 0.35 MB per landmark, 19.8 MB for 56 landmarks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from core.photos.image_io import ImageDecodeError
from core.recognition.features_file import VerificationFeatures, features_path_for, save_features
from core.recognition.local_features import ExtractionParams, LocalFeatures, extract_local_features
from core.recognition.verification import Verification, VerificationGallery, VerificationParams, verify_top_k

__all__ = [
    "build_features_from_photos",
    "DEFAULT_PER_CLASS",
    "DEFAULT_GALLERY_KEYPOINTS",
    "select_gallery",
    "extract_many",
    "build_gallery",
    "verify_photo",
    "build_features_for_bundle",
]

log = logging.getLogger(__name__)

#: Gallery photos kept per landmark (size budget, see the module docstring).
DEFAULT_PER_CLASS = 10
#: Keypoints kept per gallery photo (the strongest by SIFT response).
DEFAULT_GALLERY_KEYPOINTS = 256


def _kmeans_medoids(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 20) -> list[int]:
    """Indices of ``k`` medoids of the rows of ``x`` (unit vectors; cosine k-means, k-means++ seeding)."""
    n = x.shape[0]
    if n <= k:
        return list(range(n))
    centers = [int(rng.integers(n))]
    for _ in range(1, k):
        d = 1.0 - (x @ x[centers].T).max(axis=1)
        d = np.maximum(d, 0.0) ** 2
        centers.append(int(rng.choice(n, p=d / d.sum())) if d.sum() > 0 else int(rng.integers(n)))
    c = x[centers].copy()
    for _ in range(iters):
        assign = (x @ c.T).argmax(axis=1)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                m = members.mean(axis=0)
                c[j] = m / max(float(np.linalg.norm(m)), 1e-12)
    assign = (x @ c.T).argmax(axis=1)
    out: list[int] = []
    for j in range(k):
        members = np.flatnonzero(assign == j)
        if len(members):
            out.append(int(members[np.argmax(x[members] @ c[j])]))
    # empty clusters: fill with the photos closest to their class mean, so exactly k come back
    rest = [i for i in np.argsort(-(x @ x.mean(axis=0))) if int(i) not in out]
    out.extend(int(i) for i in rest[: k - len(out)])
    return out


def select_gallery(
    embeddings: np.ndarray | None, labels: Sequence[int], per_class: int = DEFAULT_PER_CLASS, seed: int = 0
) -> list[int]:
    """Which photos of each landmark go into the gallery.

    Args:
        embeddings: ``(N, D)`` CNN embeddings of the candidate photos, or None (then the first ``per_class``
            photos of each landmark).
        labels: ``N`` class indices.
        per_class: photos kept per landmark (all of a landmark's photos when it has fewer).
        seed: seed of the k-means++ initialisation.
    Returns:
        sorted indices into the ``N`` photos.
    """
    labels_a = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for c in np.unique(labels_a):
        idx = np.flatnonzero(labels_a == c)
        if embeddings is None or len(idx) <= per_class:
            chosen.extend(int(i) for i in idx[:per_class])
            continue
        x = np.asarray(embeddings, dtype=np.float32)[idx]
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        chosen.extend(int(idx[j]) for j in _kmeans_medoids(x, per_class, rng))
    return sorted(chosen)


def extract_many(
    paths: Sequence[str | os.PathLike],
    params: ExtractionParams | None = None,
    *,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> list[LocalFeatures | ImageDecodeError]:
    """``extract_local_features`` for many photos, in ``workers`` threads.

    Returns:
        one entry per path, in order: the ``LocalFeatures`` or the ``ImageDecodeError`` of an unreadable photo.
    """
    p = params or ExtractionParams()

    def one(path) -> LocalFeatures | ImageDecodeError:
        try:
            return extract_local_features(path, p)
        except ImageDecodeError as exc:
            return exc

    out: list[LocalFeatures | ImageDecodeError] = []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sift") as pool:
        for i, r in enumerate(pool.map(one, paths)):
            out.append(r)
            if progress is not None:
                progress(i + 1, len(paths))
    return out


def build_gallery(
    paths: Sequence[str | os.PathLike],
    labels: Sequence[int],
    class_keys: Sequence[str],
    embeddings: np.ndarray | None = None,
    *,
    per_class: int | None = DEFAULT_PER_CLASS,
    gallery_keypoints: int = DEFAULT_GALLERY_KEYPOINTS,
    extraction: ExtractionParams | None = None,
    workers: int = 2,
    seed: int = 0,
    features: Sequence[LocalFeatures | ImageDecodeError] | None = None,
) -> VerificationGallery:
    """The verification gallery of a set of training photos (one cross-validation fold, or a whole bundle).

    Args:
        paths: ``N`` training photos. labels: their class indices into ``class_keys``.
        embeddings: ``(N, D)`` their CNN embeddings (unit norm), used for the selection and stored for the
            shortlist; None selects the first photos and shortlists in stored order.
        per_class: photos kept per landmark (``select_gallery``); None keeps every photo.
        gallery_keypoints: strongest keypoints kept per gallery photo.
        extraction: extraction parameters (queries must be extracted with the same ones).
        workers: extraction threads.
        features: the ``N`` photos' features when already extracted (``extract_many`` with ``extraction``;
            a cross-validation extracts every photo once), else they are extracted here.
    Returns:
        the packed ``VerificationGallery`` (unreadable photos are left out, with a warning).
    Raises:
        ValueError: lengths differ.
    """
    if len(paths) != len(labels) or (embeddings is not None and len(embeddings) != len(paths)):
        raise ValueError(f"{len(paths)} paths, {len(labels)} labels and the embeddings do not match")
    keep = list(range(len(paths))) if per_class is None else select_gallery(embeddings, labels, per_class, seed)
    if features is not None:
        if len(features) != len(paths):
            raise ValueError(f"{len(paths)} paths but {len(features)} feature sets")
        feats = [features[i] for i in keep]
    else:
        feats = extract_many([paths[i] for i in keep], extraction, workers=workers)
    ok = [(i, f) for i, f in zip(keep, feats) if isinstance(f, LocalFeatures)]
    for f in feats:
        if isinstance(f, ImageDecodeError):
            log.warning("gallery photo skipped: %s", f)
    emb = None if embeddings is None else np.asarray(embeddings, dtype=np.float32)[[i for i, _ in ok]]
    return VerificationGallery.pack(
        class_keys,
        [int(labels[i]) for i, _ in ok],
        [f.top(gallery_keypoints) for _, f in ok],
        emb,
    )


def verify_photo(
    query: str | os.PathLike | LocalFeatures,
    top_k: Sequence[tuple[str, float]],
    embedding: np.ndarray | None,
    gallery: VerificationGallery,
    params: VerificationParams | None = None,
    extraction: ExtractionParams | None = None,
) -> Verification:
    """Verify one photo's prediction against a gallery (what the app does for an uncertain photo).

    Args:
        query: the photo file, or its already extracted ``LocalFeatures``.
        top_k: its prediction's ``(key, confidence)`` pairs, confidence descending.
        embedding: ``(D,)`` its unit CNN embedding (shortlist), or None.
        gallery: e.g. ``build_gallery`` of the fold's training photos.
        params: verification constants (default ``VerificationParams()``); this function does not apply
            ``needs_verification``, the caller decides which photos to verify.
        extraction: as used for the gallery.
    Returns:
        the ``Verification``.
    Raises:
        ImageDecodeError: an unreadable photo file.
    """
    feats = query if isinstance(query, LocalFeatures) else extract_local_features(query, extraction)
    return verify_top_k(top_k, embedding, feats, gallery, params or VerificationParams())


def build_features_for_bundle(
    bundle_path: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    per_class: int | None = DEFAULT_PER_CLASS,
    gallery_keypoints: int = DEFAULT_GALLERY_KEYPOINTS,
    params: VerificationParams | None = None,
    extraction: ExtractionParams | None = None,
    device: str = "auto",
    batch_size: int = 16,
    workers: int = 2,
    seed: int = 0,
) -> tuple[Path, VerificationFeatures]:
    """``landmark-train features``: build and write the features file of a bundle.

    Args:
        bundle_path: the model bundle. data_dir: ImageFolder ``<class>/<image>`` of its training photos
            (folders of classes the model does not know are skipped; the ``train``/``test`` sub-folders of a
            split root are both read when ``data_dir`` has them).
        output: file to write (default ``features_path_for(bundle_path)``).
        per_class, gallery_keypoints, extraction, workers, seed: as ``build_gallery``.
        params: verification constants stored in the file (default ``VerificationParams()``).
        device, batch_size: for embedding the photos with the bundle's model.
    Returns:
        ``(path written, the features)``.
    Raises:
        BundleError: unusable bundle. DatasetError: unreadable data folder or no photo of a known landmark.
    """
    from training.datasets import LabelledImages, read_imagefolder

    root = Path(data_dir)
    splits = [root / s for s in ("train", "val", "test") if (root / s).is_dir()]
    parts: list[LabelledImages] = [read_imagefolder(s) for s in splits] if splits else [read_imagefolder(root)]
    return build_features_from_photos(
        bundle_path,
        [p for d in parts for p in d.paths],
        [k for d in parts for k in d.labels],
        output=output,
        source_name=root.name,
        per_class=per_class,
        gallery_keypoints=gallery_keypoints,
        params=params,
        extraction=extraction,
        device=device,
        batch_size=batch_size,
        workers=workers,
        seed=seed,
    )


def build_features_from_photos(
    bundle_path: str | os.PathLike,
    paths: Sequence[Path],
    label_keys: Sequence[str],
    *,
    output: str | os.PathLike | None = None,
    source_name: str = "photo list",
    per_class: int | None = DEFAULT_PER_CLASS,
    gallery_keypoints: int = DEFAULT_GALLERY_KEYPOINTS,
    params: VerificationParams | None = None,
    extraction: ExtractionParams | None = None,
    device: str = "auto",
    batch_size: int = 16,
    workers: int = 2,
    seed: int = 0,
) -> tuple[Path, VerificationFeatures]:
    """``build_features_for_bundle`` on a photo list (cross-validation: a fold's training photos).

    Args:
        paths, label_keys: the photos and their landmark keys (keys the model does not know are skipped).
        source_name: recorded in the file's ``source``. Other arguments: as ``build_features_for_bundle``.
    Raises:
        BundleError: unusable bundle. DatasetError: no photo of a known landmark.
    """
    from core.recognition.recognizer import Recognizer
    from training.datasets import DatasetError

    rec = Recognizer(bundle_path, device=device, verify=False)
    keys = list(rec.bundle.class_keys)
    index = {k: i for i, k in enumerate(keys)}
    photos = [(Path(p), index[k]) for p, k in zip(paths, label_keys) if k in index]
    if not photos:
        raise DatasetError(f"{source_name} holds no photo of a landmark the model knows")
    preds = rec.predict_paths([p for p, _ in photos], batch_size=batch_size)
    good = [i for i, p in enumerate(preds) if not isinstance(p, ImageDecodeError)]
    emb = np.stack([preds[i].embedding for i in good])  # type: ignore[union-attr]
    gallery = build_gallery(
        [photos[i][0] for i in good],
        [photos[i][1] for i in good],
        keys,
        emb,
        per_class=per_class,
        gallery_keypoints=gallery_keypoints,
        extraction=extraction,
        workers=workers,
        seed=seed,
    )
    features = VerificationFeatures(
        model_version=rec.model_version,
        gallery=gallery,
        extraction=extraction or ExtractionParams(),
        params=params or VerificationParams(),
        source={
            "data_dir": source_name,
            "photos_read": len(photos),
            "per_class": per_class,
            "gallery_keypoints": gallery_keypoints,
            "selection": "k-means medoids of the CNN embeddings per landmark" if per_class else "all photos",
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    out = Path(output) if output is not None else features_path_for(bundle_path)
    return save_features(features, out), features

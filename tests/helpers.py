"""Helpers shared by the tests (not collected: no ``test_`` prefix).

* ``REPO_ROOT`` — the checkout.
* ``make_tiny_bundle`` — a small random-weight bundle for fast tests of the plumbing.

* ``pretrained_bundle`` — a real ``mobilenet_v2`` bundle from the ImageNet-pretrained backbone in
  ``../shared/torch-home`` with a nearest-class-mean head fitted on a few ``../shared/data/landmarks``
  train photos per class: embeddings are meaningful (photos of one landmark lie close together), so
  re-scoring and similar-photo tests test something real, in seconds.
* ``copy_photos`` — copies of real landmark photos.
* ``make_broken_files`` — truncated JPEG, zero-byte, text named .jpg, 1-bit 12000×12000 PNG (144 MP:
  over the 100 MP decompression-bomb limit, ~20 kB on disk).
* ``copy_with_gps`` — a copy of a real camera JPEG whose EXIF GPS position is rewritten (exiv2; the image data is
  not re-encoded), to put a real file at a catalog landmark.
* ``exif_gps_samples`` — the files of ``../shared/data/exif-samples`` with GPS and their MANIFEST position.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

#: The repository checkout (the folder holding ``core/``, ``tests/`` …).
REPO_ROOT = Path(__file__).resolve().parents[1]


def landmark_photos(shared_data: Path, cls: str, split: str = "train") -> list[Path]:
    """Sorted photo paths of one class of ``../shared/data/landmarks``."""
    return sorted((shared_data / "landmarks" / split / cls).glob("*.jpg"))


def copy_photos(paths, dest: Path, prefix: str = "") -> list[Path]:
    """Copy files into ``dest`` (created) as ``<prefix><index>_<name>``; returns the copies."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, p in enumerate(paths):
        q = dest / f"{prefix}{i:03d}_{Path(p).name}"
        shutil.copyfile(p, q)
        out.append(q)
    return out


def make_broken_files(dest: Path, good_jpeg: Path) -> dict[str, Path]:
    """Write the four kinds of bad photo files into ``dest``; returns ``{kind: path}``."""
    from PIL import Image

    dest.mkdir(parents=True, exist_ok=True)
    raw = good_jpeg.read_bytes()
    files = {
        "truncated": dest / "truncated.jpg",
        "empty": dest / "empty.jpg",
        "text": dest / "notes.jpg",
        "bomb": dest / "bomb.png",
    }
    files["truncated"].write_bytes(raw[: len(raw) // 3])
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is a text file, not a photo\n")
    Image.new("1", (12000, 12000), 0).save(files["bomb"], optimize=True)
    return files


def pretrained_bundle(
    weights: Path,
    shared_data: Path,
    classes: list[str],
    *,
    per_class: int = 6,
    version: str = "mnv2-test-1",
    seed: int = 0,
    user_match_cosine: float | None = None,
    gallery: bool = False,
):
    """A ``ModelBundle`` with the pretrained MobileNetV2 backbone and a class-mean head.

    Head: ``W[c] = s · mean embedding of class c`` (unit norm), bias 0 — a nearest-class-mean classifier
    (Mensink et al. 2013) with logit scale s = 20; temperature 1. ``gallery``: the ``per_class`` photos'
    embeddings become the kNN gallery (kNN weight 0: scoring is unchanged, but the teaching rule has the
    model's evidence to beat); else no gallery.
    """
    import torch

    from core.recognition.backbones import LandmarkNet
    from core.recognition.bundle import LandmarkClass, ModelBundle, ScoringParams
    from core.recognition.preprocess import Preprocessor

    torch.manual_seed(seed)
    sd = torch.load(weights, map_location="cpu", weights_only=True)
    net = LandmarkNet("mobilenet_v2", len(classes))
    back = {f"backbone.{k}": v for k, v in sd.items() if not k.startswith("classifier.")}
    missing = net.load_state_dict({**back, "head.weight": net.head.weight, "head.bias": net.head.bias}, strict=True)
    assert not missing.missing_keys
    net.eval()
    tmp = ModelBundle(
        backbone="mobilenet_v2",
        input_size=224,
        resize_size=256,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        classes=[LandmarkClass(k, k) for k in classes],
        temperature=1.0,
        no_landmark_threshold=0.3,
        embedding_dim=net.embedding_dim,
        model_version=version,
        state_dict=net.state_dict(),
    )
    pre = Preprocessor.from_bundle(tmp)
    means, embs = [], []
    with torch.inference_mode():
        for c in classes:
            x = torch.stack([pre.load(p) for p in landmark_photos(shared_data, c)[:per_class]])
            emb = torch.nn.functional.normalize(net.embed(x), dim=1)
            embs.append(emb)
            means.append(torch.nn.functional.normalize(emb.mean(0), dim=0))
    with torch.no_grad():
        net.head.weight.copy_(20.0 * torch.stack(means))
        net.head.bias.zero_()
    from core.recognition.catalog import load_catalog

    cat = load_catalog()
    lm = [cat.get(k) or LandmarkClass(k, k.replace("_", " "), 10.0, 20.0, "Testland") for k in classes]
    scoring = ScoringParams() if user_match_cosine is None else ScoringParams(user_match_cosine=user_match_cosine)
    if gallery:
        scoring = dataclasses.replace(scoring, knn_weight=0.0)
    return ModelBundle(
        backbone="mobilenet_v2",
        input_size=224,
        resize_size=256,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        classes=lm,
        temperature=1.0,
        no_landmark_threshold=0.3,
        embedding_dim=net.embedding_dim,
        model_version=version,
        state_dict={k: v.clone() for k, v in net.state_dict().items()},
        scoring=scoring,
        gallery_embeddings=torch.cat(embs).to(torch.float16) if gallery else None,
        gallery_labels=torch.arange(len(classes)).repeat_interleave(per_class) if gallery else None,
        training={"note": "tests: pretrained backbone + class-mean head"},
    )


def cosine_matrix(emb: np.ndarray) -> np.ndarray:
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    return e @ e.T


def make_tiny_bundle(class_keys=("alpha", "beta", "gamma"), *, gallery_per_class: int = 2, seed: int = 0):
    """A small random-weight ``simple_cnn`` bundle (input 64 px) for fast tests of the plumbing.

    Returns a ``core.recognition.bundle.ModelBundle``; its predictions are meaningless but deterministic.
    """
    import torch

    from core.recognition.backbones import LandmarkNet
    from core.recognition.bundle import LandmarkClass, ModelBundle

    torch.manual_seed(seed)
    net = LandmarkNet("simple_cnn", len(class_keys))
    n = gallery_per_class * len(class_keys)
    gal = torch.nn.functional.normalize(torch.randn(n, net.embedding_dim), dim=1)
    labels = torch.arange(len(class_keys)).repeat_interleave(gallery_per_class)
    return ModelBundle(
        backbone="simple_cnn",
        input_size=64,
        resize_size=72,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        classes=[LandmarkClass(k, k.title(), 10.0 + i, 20.0 + i, "Testland") for i, k in enumerate(class_keys)],
        temperature=1.0,
        no_landmark_threshold=0.2,
        embedding_dim=net.embedding_dim,
        model_version=f"tiny-{seed}",
        state_dict=net.state_dict(),
        gallery_embeddings=gal if gallery_per_class else None,
        gallery_labels=labels if gallery_per_class else None,
        training={"note": "random weights, tests only"},
    )


def damage_database(path: Path, nbytes: int = 8192, seed: int = 0) -> int:
    """Write ``nbytes`` of random garbage into the middle of the SQLite file ``path`` (page aligned), as the
    adversarial run of issue 12 did; returns the offset. The file is VACUUMed and checkpointed first so that every
    page is in use and read from the file (garbage on a free page, or on a page whose newer copy is in the WAL,
    would be harmless and invisible)."""
    import os
    import random
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself, none only in the WAL
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    size = os.path.getsize(path)
    offset = max(page, (size // 2) // page * page)
    rng = random.Random(seed)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(bytes(rng.randrange(256) for _ in range(nbytes)))
    return offset


def warp_view(src, dest) -> None:
    """A new viewpoint of the same scene: a perspective warp (the homography RANSAC must recover) + rescale."""
    from PIL import Image

    img = Image.open(src).convert("RGB")
    w, h = img.size
    coeffs = (1.05, 0.08, -12.0, -0.04, 1.02, 6.0, 0.0002, 0.0001)
    img.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC).resize(
        (int(w * 1.3), int(h * 1.3)), Image.Resampling.BICUBIC
    ).save(dest, quality=92)


def _dms(value: float) -> str:
    """EXIF ``GPSLatitude``/``GPSLongitude`` rationals ``"D/1 M/1 S/10000"`` of ``abs(value)`` degrees."""
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    s = round(((v - d) * 60 - m) * 60 * 10000)
    return f"{d}/1 {m}/1 {s}/10000"


def copy_with_gps(src: Path, dst: Path, latitude: float, longitude: float) -> Path:
    """Copy a JPEG to ``dst`` and set its EXIF GPS position (decimal degrees; written with exiv2, the image data
    is not re-encoded). ``src`` is never modified."""
    import exiv2

    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    dst.chmod(0o644)
    img = exiv2.ImageFactory.open(str(dst))
    img.readMetadata()
    ex = img.exifData()
    ex["Exif.GPSInfo.GPSVersionID"] = "2 2 0 0"
    ex["Exif.GPSInfo.GPSLatitudeRef"] = "N" if latitude >= 0 else "S"
    ex["Exif.GPSInfo.GPSLatitude"] = _dms(latitude)
    ex["Exif.GPSInfo.GPSLongitudeRef"] = "E" if longitude >= 0 else "W"
    ex["Exif.GPSInfo.GPSLongitude"] = _dms(longitude)
    img.writeMetadata()
    return dst


def exif_gps_samples(shared_data: Path) -> list[tuple[Path, float, float]]:
    """``(path, latitude, longitude)`` of the exif-samples files with GPS, from ``MANIFEST.csv``."""
    import csv

    root = shared_data / "exif-samples"
    with open(root / "MANIFEST.csv", newline="", encoding="utf-8") as fh:
        return [
            (root / r["path"], float(r["gps_lat"]), float(r["gps_lon"]))
            for r in csv.DictReader(fh)
            if r["has_gps"] == "yes"
        ]

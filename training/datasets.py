"""Labelled image lists: reading the supported dataset layouts, filtering, splitting, sampling.

A dataset is a ``LabelledImages``: parallel lists of image paths and class keys plus the sorted
class-key list. Three layouts are read:

* ImageFolder: ``<root>/<class>/<image>`` (torchvision's convention; with a split folder the caller
  passes ``<root>/<split>``). Hidden files/folders are skipped.
* Google Landmarks Dataset v2 / Kaggle: ``<root>/train.csv`` with columns ``id,landmark_id`` and
  images at ``<root>/train/<id[0]>/<id[1]>/<id[2]>/<id>.jpg``; an optional
  ``train_label_to_category.csv`` (``landmark_id,category``) is kept as ``categories`` (Weyand et al.
  2020, "Google Landmarks Dataset v2", https://github.com/cvdfoundation/google-landmark).
* A CSV with columns ``path,label`` (what the app exports from user corrections); relative paths are
  resolved against the CSV's folder.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetError",
    "LabelledImages",
    "read_imagefolder",
    "read_gldv2",
    "read_labels_csv",
    "read_dataset",
    "filter_min_images",
    "stratified_split",
    "class_balanced_weights",
    "dataset_fingerprint",
]

#: File extensions (lower case) treated as images when walking an ImageFolder tree.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif"})


class DatasetError(ValueError):
    """A dataset that cannot be used (missing folder, malformed CSV, no images); one-line message."""


@dataclass
class LabelledImages:
    """Image paths with their class keys.

    Attributes:
        paths: ``N`` image paths.
        labels: ``N`` class keys (strings), ``labels[i]`` belongs to ``paths[i]``.
        classes: sorted distinct class keys; ``index_of`` maps a key to its position (the head's output).
        categories: optional key → human-readable category (GLDv2's ``train_label_to_category.csv``).
    """

    paths: list[Path]
    labels: list[str]
    classes: list[str] = field(default_factory=list)
    categories: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.paths) != len(self.labels):
            raise DatasetError(f"{len(self.paths)} paths but {len(self.labels)} labels")
        if not self.classes:
            self.classes = sorted(set(self.labels))

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def index_of(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.classes)}

    def targets(self) -> list[int]:
        """Class indices ``(N,)`` into ``classes``; raises KeyError for a label outside ``classes``."""
        idx = self.index_of
        return [idx[k] for k in self.labels]

    def subset(self, indices: Sequence[int], classes: list[str] | None = None) -> LabelledImages:
        """The images at ``indices`` (order kept), with ``classes`` (default: the same class list)."""
        return LabelledImages(
            [self.paths[i] for i in indices],
            [self.labels[i] for i in indices],
            list(classes if classes is not None else self.classes),
            dict(self.categories),
        )

    def counts(self) -> Counter:
        return Counter(self.labels)


def _is_hidden(p: Path | str) -> bool:
    return (p.name if isinstance(p, Path) else p).startswith(".")


def read_imagefolder(root: str | Path) -> LabelledImages:
    """Read ``<root>/<class>/<image>``; every sub-folder is a class, its name the key.

    Raises:
        DatasetError: ``root`` is not a folder or holds no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist")
    paths: list[Path] = []
    labels: list[str] = []
    for cls_dir in sorted(p for p in root.iterdir() if p.is_dir() and not _is_hidden(p)):
        for f in sorted(cls_dir.rglob("*")):
            if (
                f.is_file()
                and f.suffix.lower() in IMAGE_EXTENSIONS
                and not any(_is_hidden(part) for part in f.relative_to(cls_dir).parts)
            ):
                paths.append(f)
                labels.append(cls_dir.name)
    if not paths:
        raise DatasetError(f"no images found under {root} (expected <class>/<image> folders)")
    return LabelledImages(paths, labels)


def _read_csv_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        # surrogateescape: a path that is not valid UTF-8 (``landmark-tagger export-corrections`` writes its exact
        # bytes) comes back as the str Python uses for that file name.
        with path.open(newline="", encoding="utf-8", errors="surrogateescape") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not set(required) <= {c.strip() for c in reader.fieldnames}:
                raise DatasetError(
                    f"{path.name} must have the columns {', '.join(required)} "
                    f"(found {', '.join(reader.fieldnames or []) or 'none'})"
                )
            return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_gldv2(root: str | Path, *, require_files: bool = True) -> LabelledImages:
    """Read the Google Landmarks v2 (Kaggle) layout: ``train.csv`` (``id,landmark_id``) + ``train/a/b/c/<id>.jpg``.

    Args:
        root: folder holding ``train.csv`` and ``train/``.
        require_files: drop rows whose image file is missing (GLDv2 downloads are often partial).
    Returns:
        labels are the ``landmark_id`` strings; ``categories`` from ``train_label_to_category.csv`` when present.
    Raises:
        DatasetError: missing/malformed ``train.csv``, an id shorter than 3 characters, or no image found.
    """
    root = Path(root)
    rows = _read_csv_rows(root / "train.csv", ("id", "landmark_id"))
    paths: list[Path] = []
    labels: list[str] = []
    for row in rows:
        image_id, label = row["id"], row["landmark_id"]
        if len(image_id) < 3 or not label:
            raise DatasetError(f"train.csv: bad row id={image_id!r} landmark_id={label!r}")
        p = root / "train" / image_id[0] / image_id[1] / image_id[2] / f"{image_id}.jpg"
        if require_files and not p.is_file():
            continue
        paths.append(p)
        labels.append(label)
    if not paths:
        raise DatasetError(f"no GLDv2 images found under {root / 'train'}")
    categories: dict[str, str] = {}
    cat_file = root / "train_label_to_category.csv"
    if cat_file.is_file():
        for row in _read_csv_rows(cat_file, ("landmark_id", "category")):
            categories[row["landmark_id"]] = row["category"]
    return LabelledImages(paths, labels, categories=categories)


def read_labels_csv(csv_path: str | Path) -> LabelledImages:
    """Read a ``path,label`` CSV (the app's corrections export). Relative paths are resolved against the CSV's folder.

    Rows with an empty label are skipped. Raises:
        DatasetError: unreadable/malformed CSV or no usable rows.
    """
    csv_path = Path(csv_path)
    rows = _read_csv_rows(csv_path, ("path", "label"))
    paths: list[Path] = []
    labels: list[str] = []
    for row in rows:
        if not row["path"] or not row["label"]:
            continue
        p = Path(row["path"]).expanduser()
        paths.append(p if p.is_absolute() else csv_path.parent / p)
        labels.append(row["label"])
    if not paths:
        raise DatasetError(f"{csv_path.name} has no rows with both a path and a label")
    return LabelledImages(paths, labels)


def read_dataset(source: str | Path) -> LabelledImages:
    """Read any supported layout: a ``.csv`` file → ``path,label``; a folder with ``train.csv`` → GLDv2;
    otherwise an ImageFolder tree. Raises DatasetError."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() == ".csv":
        return read_labels_csv(source)
    if (source / "train.csv").is_file():
        return read_gldv2(source)
    return read_imagefolder(source)


def filter_min_images(data: LabelledImages, min_images: int) -> tuple[LabelledImages, list[str]]:
    """Drop classes with fewer than ``min_images`` images.

    Returns:
        ``(filtered dataset with the reduced class list, dropped class keys sorted)``.
    Raises:
        DatasetError: every class would be dropped.
    """
    counts = data.counts()
    keep = sorted(k for k, n in counts.items() if n >= min_images)
    dropped = sorted(k for k, n in counts.items() if n < min_images)
    if not keep:
        raise DatasetError(f"no class has at least {min_images} images")
    kept = set(keep)
    return data.subset([i for i, k in enumerate(data.labels) if k in kept], classes=keep), dropped


def stratified_split(
    data: LabelledImages, val_fraction: float, seed: int = 0, min_val_per_class: int = 1
) -> tuple[LabelledImages, LabelledImages]:
    """Deterministic stratified train/validation split.

    Within each class the images are shuffled with ``random.Random(f"{seed}:{class}")`` after sorting by
    path, and ``max(min_val_per_class, round(val_fraction · n))`` go to validation, but always at least
    one stays in training. Classes with a single image go entirely to training. Both parts keep the full
    class list. The result depends only on (paths, labels, seed, fraction), not on input order.

    Raises:
        ValueError: ``val_fraction`` outside (0, 1).
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(data.labels):
        by_class[k].append(i)
    train_idx: list[int] = []
    val_idx: list[int] = []
    for k in sorted(by_class):
        idx = sorted(by_class[k], key=lambda i: str(data.paths[i]))
        random.Random(f"{seed}:{k}").shuffle(idx)
        n_val = min(len(idx) - 1, max(min_val_per_class, round(val_fraction * len(idx))))
        val_idx += idx[:n_val]
        train_idx += idx[n_val:]
    return data.subset(sorted(train_idx)), data.subset(sorted(val_idx))


def class_balanced_weights(targets: Sequence[int], power: float = 1.0) -> list[float]:
    """Per-sample weights for ``torch.utils.data.WeightedRandomSampler`` that balance a long tail.

    Sample i gets ``1 / n_{y_i}^power`` (``power`` = 1: every class drawn equally often in expectation;
    0.5: square-root balancing, a milder compromise). Returns ``N`` floats.
    """
    counts = Counter(targets)
    return [1.0 / (counts[t] ** power) for t in targets]


def dataset_fingerprint(data: LabelledImages, extra: str = "") -> str:
    """Hex SHA-256 (first 16 digits) over every (path, label, size, mtime_ns) and ``extra``: a cache key
    that changes when any image file, label or preprocessing setting (in ``extra``) changes."""
    h = hashlib.sha256(extra.encode())
    for p, k in zip(data.paths, data.labels):
        try:
            st = p.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{p}\0{k}\0{stamp}\n".encode())
    return h.hexdigest()[:16]

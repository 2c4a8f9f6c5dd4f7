"""Labelled image lists: reading the supported dataset layouts, filtering, splitting, sampling.

A dataset is a ``LabelledImages``: parallel lists of image paths and class keys plus the sorted
class-key list. Three layouts are read:

* ImageFolder: ``<root>/<class>/<image>`` (torchvision's convention; with a split folder the caller
  passes ``<root>/<split>``). Hidden files/folders are skipped.
* Google Landmarks Dataset v2 / Kaggle: ``<root>/train.csv`` with columns ``id,landmark_id`` (``url`` and
  other columns are ignored) and images at ``<root>/train/<id[0]>/<id[1]>/<id[2]>/<id>.jpg``; an optional
  ``train_label_to_category.csv`` (``landmark_id,category``: a Wikimedia Commons category URL) gives each
  landmark its display name (``Category:Eiffel_Tower`` → ``"Eiffel Tower"``, ``category_display_name``), kept as
  ``categories`` (Weyand et al. 2020, "Google Landmarks Dataset v2", https://github.com/cvdfoundation/google-landmark).
* The GLDv2 retrieval/recognition evaluation layout (``read_gldv2_eval``): ``index.csv`` + ``index/a/b/c/<id>.jpg``
  and ``test.csv`` + ``test/a/b/c/<id>.jpg``, labelled by ``index_image_to_landmark.csv`` (``id,landmark_id``) and
  ``recognition_solution_v2.1.csv`` (``id,landmarks,Usage``; empty ``landmarks`` = a photo without a landmark).

Bad input never stops a read: a row without an image file, a malformed row, a duplicate id or a landmark of the
category file with no photo gets one warning line (the first ``MAX_PROBLEM_LINES`` of each kind; the rest are
counted) and is counted in the ``DataReport`` the dataset carries (``LabelledImages.report``). A CSV without
the required columns is a ``DatasetError`` (one line).
* A CSV with columns ``path,label`` (what the app exports from user corrections); relative paths are
  resolved against the CSV's folder.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetError",
    "LabelledImages",
    "read_imagefolder",
    "read_gldv2",
    "read_gldv2_eval",
    "read_labels_csv",
    "read_dataset",
    "category_display_name",
    "DataReport",
    "EvalImages",
    "MAX_PROBLEM_LINES",
    "filter_min_images",
    "split_min_images",
    "stratified_split",
    "class_balanced_weights",
    "dataset_fingerprint",
]

#: File extensions (lower case) treated as images when walking an ImageFolder tree.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif"})


log = logging.getLogger(__name__)

#: Warning lines printed per kind of problem (missing image, bad row, duplicate id …); the rest are only counted.
MAX_PROBLEM_LINES = 20


class DatasetError(ValueError):
    """A dataset that cannot be used (missing folder, malformed CSV, no images); one-line message."""


@dataclass
class DataReport:
    """What reading (and training on) a dataset skipped, by kind, with one warning line per problem.

    Attributes:
        counts: kind → number of problems. Kinds: ``"missing image"`` (a CSV row whose image file is absent),
            ``"bad row"`` (empty id/label, id shorter than 3 characters), ``"duplicate id"`` (a later row with an
            id seen before: dropped), ``"class without photos"`` (a landmark of the category file, or of the CSV,
            with no readable image), ``"unreadable image"`` (an image that does not decode: counted by training).
        rows: data rows read from the CSV(s).
    """

    counts: Counter = field(default_factory=Counter)
    rows: int = 0

    def problem(self, kind: str, message: str) -> None:
        """Count one problem of ``kind``; log ``message`` (one line) for the first ``MAX_PROBLEM_LINES`` of it."""
        self.counts[kind] += 1
        n = self.counts[kind]
        if n <= MAX_PROBLEM_LINES:
            log.warning("%s", message)
        elif n == MAX_PROBLEM_LINES + 1:
            log.warning("more problems of the kind %r: only counted from here on (see the summary)", kind)

    def summary(self) -> str:
        """One line: ``"1 000 rows; skipped: 1 missing image, 2 duplicate id"`` (``"no problems"`` when clean)."""
        parts = [f"{n} {kind}" for kind, n in sorted(self.counts.items())]
        return f"{self.rows} rows; skipped: " + (", ".join(parts) if parts else "nothing")

    def to_json(self) -> dict:
        return {"rows": self.rows, "skipped": dict(sorted(self.counts.items()))}


def category_display_name(category: str) -> str:
    """A landmark's display name from its GLDv2 category: the Wikimedia Commons category URL (or bare name).

    ``"http://commons.wikimedia.org/wiki/Category:Eiffel_Tower"`` → ``"Eiffel Tower"``; percent-escapes are
    decoded (``Category:Caf%C3%A9_de_Flore`` → ``"Café de Flore"``), underscores become spaces. Returns ``""`` for
    an empty category.
    """
    text = category.strip().rstrip("/")
    text = text.rsplit("/", 1)[-1]
    if text.lower().startswith("category:"):
        text = text[len("category:") :]
    return " ".join(unquote(text).replace("_", " ").split())


@dataclass
class LabelledImages:
    """Image paths with their class keys.

    Attributes:
        paths: ``N`` image paths.
        labels: ``N`` class keys (strings), ``labels[i]`` belongs to ``paths[i]``.
        classes: sorted distinct class keys; ``index_of`` maps a key to its position (the head's output).
        categories: optional key → display name (GLDv2's ``train_label_to_category.csv``, through
            ``category_display_name``).
        head_classes: how many of the first ``classes`` get a row in the classification head; the others
            (fewer photos than ``--min-images``, ``split_min_images``) are recognised through the kNN gallery
            only. ``None`` = every class.
        report: what the reader skipped (``DataReport``).
    """

    paths: list[Path]
    labels: list[str]
    classes: list[str] = field(default_factory=list)
    categories: dict[str, str] = field(default_factory=dict)
    head_classes: int | None = None
    report: DataReport = field(default_factory=DataReport)

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

    @property
    def num_head_classes(self) -> int:
        """H: classes with a head row (the first H of ``classes``)."""
        return len(self.classes) if self.head_classes is None else self.head_classes

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
            self.head_classes if classes is None else None,
            self.report,
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
            # a row with more fields than the header keeps them under the key None: ignored
            return [
                {
                    k.strip(): (v or "").strip()
                    for k, v in row.items()
                    if isinstance(k, str) and isinstance(v, str | None)
                }
                for row in reader
            ]
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None


def _image_path(root: Path, split: str, image_id: str) -> Path:
    return root / split / image_id[0] / image_id[1] / image_id[2] / f"{image_id}.jpg"


def read_gldv2(root: str | Path, *, require_files: bool = True) -> LabelledImages:
    """Read the Google Landmarks v2 (Kaggle) layout: ``train.csv`` (``id,landmark_id``) + ``train/a/b/c/<id>.jpg``.

    Args:
        root: folder holding ``train.csv`` and ``train/``.
        require_files: skip rows whose image file is missing (GLDv2 downloads are often partial); each is
            reported (one warning line, counted in ``report``).
    Returns:
        labels are the ``landmark_id`` strings; ``categories`` (key → display name) from
        ``train_label_to_category.csv`` when present; ``report`` counts missing images, bad rows, duplicate ids
        and landmarks of the category file without any photo.
    Raises:
        DatasetError: missing ``train.csv`` or one without the columns ``id,landmark_id``; no image found.
    """
    root = Path(root)
    rows = _read_csv_rows(root / "train.csv", ("id", "landmark_id"))
    report = DataReport(rows=len(rows))
    paths: list[Path] = []
    labels: list[str] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        image_id, label = row["id"], row["landmark_id"]
        if len(image_id) < 3 or not label:
            report.problem("bad row", f"train.csv line {line}: bad row id={image_id!r} landmark_id={label!r}: skipped")
            continue
        if image_id in seen:
            report.problem("duplicate id", f"train.csv line {line}: id {image_id} appears again: skipped")
            continue
        seen.add(image_id)
        p = _image_path(root, "train", image_id)
        if require_files and not p.is_file():
            report.problem("missing image", f"train.csv line {line}: no image file {p}: skipped")
            continue
        paths.append(p)
        labels.append(label)
    if not paths:
        raise DatasetError(f"no GLDv2 images found under {root / 'train'} ({report.summary()})")
    categories: dict[str, str] = {}
    cat_file = root / "train_label_to_category.csv"
    if cat_file.is_file():
        for row in _read_csv_rows(cat_file, ("landmark_id", "category")):
            name = category_display_name(row["category"])
            if row["landmark_id"] and name:
                categories[row["landmark_id"]] = name
    named = {r["landmark_id"] for r in rows if r["landmark_id"]} | set(categories)
    for key in sorted(named - set(labels), key=lambda k: (len(k), k)):
        name = f" ({categories[key]})" if key in categories else ""
        report.problem("class without photos", f"landmark {key}{name} has no photo: left out")
    log.info("%s: %s", root / "train.csv", report.summary())
    return LabelledImages(paths, labels, categories=categories, report=report)


@dataclass
class EvalImages:
    """An evaluation set in the GLDv2 layout (``read_gldv2_eval``).

    Attributes:
        landmark: query photos that show a landmark, with their landmark ids (``labels``).
        non_landmark: query photos without a landmark (GLDv2's test set holds many: their ``landmarks`` are empty).
        source: which files the queries came from (one line).
    """

    landmark: LabelledImages
    non_landmark: list[Path]
    source: str


def read_gldv2_eval(root: str | Path) -> EvalImages:
    """Read GLDv2's evaluation layout for ``landmark-train evaluate``.

    ``test.csv`` (``id``) + ``test/a/b/c/<id>.jpg`` with the truth of ``recognition_solution_v2.1.csv``
    (``id,landmarks,Usage``; the first of the space-separated landmark ids; an empty one marks a photo without a
    landmark) when both are there; else ``index.csv`` (``id``) + ``index/a/b/c/<id>.jpg`` labelled by
    ``index_image_to_landmark.csv`` (``id,landmark_id``). Rows without an image file or truth are reported (one
    warning line each, counted) and skipped.

    Raises:
        DatasetError: neither layout is complete, a CSV lacks its columns, or no photo is left.
    """
    root = Path(root)
    report = DataReport()
    if (root / "test.csv").is_file() and (root / "recognition_solution_v2.1.csv").is_file():
        split, ids_file, truth_file, truth_col = "test", "test.csv", "recognition_solution_v2.1.csv", "landmarks"
    elif (root / "index.csv").is_file() and (root / "index_image_to_landmark.csv").is_file():
        split, ids_file, truth_file, truth_col = "index", "index.csv", "index_image_to_landmark.csv", "landmark_id"
    else:
        raise DatasetError(
            f"{root} holds neither test.csv + recognition_solution_v2.1.csv nor index.csv + index_image_to_landmark.csv"
        )
    truth: dict[str, str] = {}
    for row in _read_csv_rows(root / truth_file, ("id", truth_col)):
        truth[row["id"]] = (row[truth_col].split() or [""])[0]
    ids = _read_csv_rows(root / ids_file, ("id",))
    report.rows = len(ids)
    paths: list[Path] = []
    labels: list[str] = []
    non_landmark: list[Path] = []
    seen: set[str] = set()
    for line, row in enumerate(ids, start=2):
        image_id = row["id"]
        if len(image_id) < 3:
            report.problem("bad row", f"{ids_file} line {line}: bad id {image_id!r}: skipped")
            continue
        if image_id in seen:
            report.problem("duplicate id", f"{ids_file} line {line}: id {image_id} appears again: skipped")
            continue
        seen.add(image_id)
        if image_id not in truth:
            report.problem("bad row", f"{ids_file} line {line}: id {image_id} is not in {truth_file}: skipped")
            continue
        p = _image_path(root, split, image_id)
        if not p.is_file():
            report.problem("missing image", f"{ids_file} line {line}: no image file {p}: skipped")
            continue
        if truth[image_id]:
            paths.append(p)
            labels.append(truth[image_id])
        else:
            non_landmark.append(p)
    if not paths and not non_landmark:
        raise DatasetError(f"no GLDv2 {split} images found under {root / split} ({report.summary()})")
    log.info("%s: %s", root / ids_file, report.summary())
    return EvalImages(
        LabelledImages(paths, labels, report=report),
        non_landmark,
        f"GLDv2 {split} set ({ids_file} + {truth_file}): {len(paths)} landmark, {len(non_landmark)} non-landmark photos",
    )


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


def split_min_images(data: LabelledImages, min_images: int) -> tuple[LabelledImages, list[str]]:
    """Keep every class, but give a head row only to classes with at least ``min_images`` images.

    Classes with fewer images (the long tail) stay in the data for the kNN gallery: they are recognised by their
    photos, not by the head. The class list becomes the head classes (sorted) followed by the gallery-only classes
    (sorted); ``head_classes`` says how many are head classes.

    Returns:
        ``(dataset with the reordered class list and head_classes set, gallery-only class keys sorted)``.
    Raises:
        DatasetError: no class has ``min_images`` images (the head would be empty).
    """
    counts = data.counts()
    head = sorted(k for k, n in counts.items() if n >= min_images)
    tail = sorted(k for k, n in counts.items() if n < min_images)
    if not head:
        raise DatasetError(f"no class has at least {min_images} images")
    out = data.subset(range(len(data)), classes=head + tail)
    out.head_classes = len(head)
    return out, tail


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

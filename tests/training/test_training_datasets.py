"""Dataset layouts (ImageFolder, GLDv2, path,label CSV), min-images filter, stratified split, balancing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from training.datasets import (
    DatasetError,
    LabelledImages,
    class_balanced_weights,
    dataset_fingerprint,
    filter_min_images,
    read_dataset,
    read_gldv2,
    read_imagefolder,
    read_labels_csv,
    stratified_split,
)


def _jpeg(path: Path, colour=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path, "JPEG")
    return path


def test_imagefolder_reads_classes_and_skips_hidden_and_non_images(tmp_path):
    for i in range(3):
        _jpeg(tmp_path / "Colosseum" / f"c{i}.jpg")
    _jpeg(tmp_path / "Petra" / "sub" / "p0.JPG")  # nested, upper-case extension
    _jpeg(tmp_path / "Petra" / ".hidden.jpg")
    _jpeg(tmp_path / ".cache" / "x.jpg")
    (tmp_path / "Petra" / "notes.txt").write_text("not an image")
    data = read_imagefolder(tmp_path)
    assert data.classes == ["Colosseum", "Petra"]
    assert data.counts() == Counter({"Colosseum": 3, "Petra": 1})
    assert data.targets() == [0, 0, 0, 1]
    assert all(p.suffix.lower() == ".jpg" for p in data.paths)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_imagefolder(tmp_path / "missing")
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        read_imagefolder(tmp_path)


def test_gldv2_layout(tmp_path):
    rows = [("abc123", "7"), ("abd999", "7"), ("f00baa", "12"), ("ffff00", "12")]
    for image_id, _ in rows[:3]:  # the last image was never downloaded
        _jpeg(tmp_path / "train" / image_id[0] / image_id[1] / image_id[2] / f"{image_id}.jpg")
    (tmp_path / "train.csv").write_text("id,landmark_id\n" + "".join(f"{i},{lab}\n" for i, lab in rows))
    (tmp_path / "train_label_to_category.csv").write_text(
        "landmark_id,category\n7,http://commons.wikimedia.org/wiki/Category:Petra\n12,x\n"
    )
    data = read_dataset(tmp_path)  # detected by train.csv
    assert data.labels == ["7", "7", "12"]
    assert data.classes == ["12", "7"]
    assert data.paths[2] == tmp_path / "train" / "f" / "0" / "0" / "f00baa.jpg"
    assert data.categories["7"] == "Petra"  # the display name of the Wikimedia category
    assert len(read_gldv2(tmp_path, require_files=False)) == 4


def test_gldv2_rejects_malformed_csv(tmp_path):
    (tmp_path / "train.csv").write_text("image,label\nabc,1\n")
    with pytest.raises(DatasetError, match="id, landmark_id"):
        read_gldv2(tmp_path)


def test_labels_csv_relative_and_absolute_paths(tmp_path):
    a = _jpeg(tmp_path / "photos" / "a.jpg")
    b = _jpeg(tmp_path / "elsewhere" / "b.jpg")
    csv_path = tmp_path / "corrections.csv"
    csv_path.write_text(f"path,label\nphotos/a.jpg,Eiffel_Tower\n{b},Louvre\n,empty\nphotos/c.jpg,\n")
    data = read_dataset(csv_path)
    assert data.paths == [a, b]
    assert data.labels == ["Eiffel_Tower", "Louvre"]
    (tmp_path / "bad.csv").write_text("file;label\n")
    with pytest.raises(DatasetError, match="path, label"):
        read_labels_csv(tmp_path / "bad.csv")


def _synthetic(counts: dict[str, int]) -> LabelledImages:
    paths, labels = [], []
    for k, n in counts.items():
        for i in range(n):
            paths.append(Path(f"/data/{k}/{i:03d}.jpg"))
            labels.append(k)
    return LabelledImages(paths, labels)


def test_min_images_filter():
    data, dropped = filter_min_images(_synthetic({"a": 10, "b": 4, "c": 5}), 5)
    assert data.classes == ["a", "c"]
    assert dropped == ["b"]
    assert len(data) == 15 and set(data.labels) == {"a", "c"}
    with pytest.raises(DatasetError):
        filter_min_images(_synthetic({"a": 2}), 5)


def test_stratified_split_is_stratified_deterministic_and_order_independent():
    data = _synthetic({"a": 40, "b": 20, "c": 7, "d": 2, "e": 1})
    train, val = stratified_split(data, 0.25, seed=3)
    vc, tc = val.counts(), train.counts()
    assert vc == Counter({"a": 10, "b": 5, "c": 2, "d": 1})  # round(0.25 n), at least 1, never the whole class
    assert tc["e"] == 1 and tc["d"] == 1
    assert not set(train.paths) & set(val.paths)
    assert len(train) + len(val) == len(data)
    assert train.classes == val.classes == data.classes
    # same seed → same split, whatever the input order; another seed → another split
    rev = LabelledImages(data.paths[::-1], data.labels[::-1])
    assert set(stratified_split(rev, 0.25, seed=3)[1].paths) == set(val.paths)
    assert set(stratified_split(data, 0.25, seed=4)[1].paths) != set(val.paths)
    with pytest.raises(ValueError):
        stratified_split(data, 1.0)


def test_class_balanced_weights_equalise_expected_class_frequency():
    targets = [0] * 90 + [1] * 10
    w = class_balanced_weights(targets)
    mass0 = sum(x for x, t in zip(w, targets) if t == 0)
    mass1 = sum(x for x, t in zip(w, targets) if t == 1)
    assert mass0 == pytest.approx(mass1)
    w_sqrt = class_balanced_weights(targets, power=0.5)
    assert w_sqrt[0] == pytest.approx(1 / 90**0.5)


def test_fingerprint_changes_with_file_content_and_labels(tmp_path):
    p = _jpeg(tmp_path / "a" / "x.jpg")
    d = LabelledImages([p], ["a"])
    f1 = dataset_fingerprint(d)
    assert dataset_fingerprint(LabelledImages([p], ["b"])) != f1
    assert dataset_fingerprint(d, "other transform") != f1
    _jpeg(p, colour=(0, 0, 0))  # rewrite
    p.write_bytes(p.read_bytes() + b"\0")
    assert dataset_fingerprint(d) != f1

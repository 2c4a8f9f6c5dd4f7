"""The long tail: GLDv2 layouts with display names, bad input counted, gallery-only classes, compressed galleries,
long-tail metrics."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import pytest
from PIL import Image

from core.recognition.bundle import load_bundle
from core.recognition.recognizer import Recognizer
from training import metrics
from training.cli import main
from training.datasets import (
    MAX_PROBLEM_LINES,
    category_display_name,
    read_gldv2,
    read_gldv2_eval,
    split_min_images,
    stratified_split,
)


def _jpeg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path, "JPEG")
    return path


def _at(root: Path, split: str, image_id: str) -> Path:
    return root / split / image_id[0] / image_id[1] / image_id[2] / f"{image_id}.jpg"


def test_category_display_names():
    assert category_display_name("http://commons.wikimedia.org/wiki/Category:Eiffel_Tower") == "Eiffel Tower"
    assert category_display_name("https://commons.wikimedia.org/wiki/Category:Caf%C3%A9_de_Flore/") == "Café de Flore"
    assert category_display_name("Category:Big__Ben ") == "Big Ben"
    assert category_display_name("") == ""


def test_gldv2_names_landmarks_and_reports_every_problem_once(tmp_path, caplog):
    rows = [
        ("abc123", "7"),
        ("abd999", "7"),
        ("f00baa", "12"),
        ("ffff00", "12"),  # never downloaded
        ("abc123", "7"),  # duplicate id
        ("x", "7"),  # bad id
        ("aaa111", ""),  # no label
        ("bbb222", "99"),  # a landmark whose only photo is missing
    ]
    for image_id in ("abc123", "abd999", "f00baa"):
        _jpeg(_at(tmp_path, "train", image_id))
    (tmp_path / "train.csv").write_text("id,url,landmark_id\n" + "".join(f"{i},http://x/{i},{k}\n" for i, k in rows))
    (tmp_path / "train_label_to_category.csv").write_text(
        "landmark_id,category\n"
        "7,http://commons.wikimedia.org/wiki/Category:Eiffel_Tower\n"
        "12,http://commons.wikimedia.org/wiki/Category:Petra\n"
        "55,http://commons.wikimedia.org/wiki/Category:Nowhere\n"
    )
    with caplog.at_level(logging.WARNING, logger="training.datasets"):
        data = read_gldv2(tmp_path)
    assert data.labels == ["7", "7", "12"] and data.classes == ["12", "7"]
    assert data.categories["7"] == "Eiffel Tower" and data.categories["12"] == "Petra"
    r = data.report
    assert r.rows == 8
    assert dict(r.counts) == {"missing image": 2, "duplicate id": 1, "bad row": 2, "class without photos": 2}
    assert "2 missing image" in r.summary() and "1 duplicate id" in r.summary()
    lines = [rec.getMessage() for rec in caplog.records]
    assert len(lines) == 7  # one line per problem
    assert any("ffff00" in ln and "no image file" in ln for ln in lines)
    assert any("landmark 55 (Nowhere) has no photo" in ln for ln in lines)
    assert any("landmark 99 has no photo" in ln for ln in lines)


def test_many_problems_are_counted_past_the_printed_lines(tmp_path, caplog):
    _jpeg(_at(tmp_path, "train", "abc000"))
    ids = ["abc000"] + [f"d{i:05d}" for i in range(MAX_PROBLEM_LINES + 30)]
    (tmp_path / "train.csv").write_text("id,landmark_id\n" + "".join(f"{i},1\n" for i in ids))
    with caplog.at_level(logging.WARNING, logger="training.datasets"):
        data = read_gldv2(tmp_path)
    assert data.report.counts["missing image"] == MAX_PROBLEM_LINES + 30
    assert len(caplog.records) == MAX_PROBLEM_LINES + 1  # the lines, then one "only counted from here on"


def test_small_classes_stay_for_the_gallery_without_a_head_row():
    from training.datasets import LabelledImages

    paths = [Path(f"/d/{k}/{i}.jpg") for k, n in (("a", 6), ("b", 2), ("c", 5)) for i in range(n)]
    labels = [p.parent.name for p in paths]
    data, tail = split_min_images(LabelledImages(paths, labels), 5)
    assert tail == ["b"] and data.classes == ["a", "c", "b"] and data.num_head_classes == 2
    assert data.targets().count(2) == 2
    train, val = stratified_split(data, 0.2)
    assert train.num_head_classes == val.num_head_classes == 2 and train.classes == data.classes


def test_long_tail_metrics_by_frequency_bucket():
    assert [metrics.frequency_bucket(n) for n in (0, 1, 4, 5, 19, 20, 99, 100, 5000)] == [
        "0",
        "1-4",
        "1-4",
        "5-9",
        "10-19",
        "20-49",
        "50-99",
        "100+",
        "100+",
    ]
    truth = ["a", "a", "b", "c"]
    top1 = ["a", "b", "b", "c"]
    labelled = ["a", None, "b", "c"]
    conf = [0.9, 0.4, 0.8, 0.7]
    lt = metrics.long_tail_metrics(top1, labelled, conf, truth, {"a": 200, "b": 3, "c": 4})
    assert list(lt) == ["1-4", "100+"]
    assert lt["1-4"] == {"classes": 2, "n": 2, "top1": 1.0, "gap": 1.0}
    assert lt["100+"]["top1"] == 0.5 and lt["100+"]["gap"] == pytest.approx(0.5)


def _gldv2_tree(shared_data: Path, root: Path) -> dict[str, str]:
    """A GLDv2 train folder from the 64 px set: 3 landmarks × 12 photos, 1 landmark with 3 (the tail), one
    train.csv row without its image and one image that does not decode; an index/ + test/ evaluation set."""
    src = shared_data / "landmarks-eecs445-64px"
    plan = {"11": ("colosseum", 12), "22": ("pantheon", 12), "33": ("rialto_bridge", 12), "44": ("petronas_towers", 3)}
    names = {"11": "Colosseum_(Rome)", "22": "Pantheon,_Rome", "33": "Rialto_Bridge", "44": "Petronas_Towers"}
    rows, test_rows = [], []
    for key, (folder, n) in plan.items():
        files = sorted((src / "train" / folder).glob("*.jpg"))
        for f in files[:n]:
            image_id = hashlib.sha1(f"{key}{f.name}".encode()).hexdigest()[:16]
            _at(root, "train", image_id).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, _at(root, "train", image_id))
            rows.append((image_id, key))
        for f in sorted((src / "val" / folder).glob("*.jpg"))[:3]:
            image_id = hashlib.sha1(f"t{key}{f.name}".encode()).hexdigest()[:16]
            _at(root, "test", image_id).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, _at(root, "test", image_id))
            test_rows.append((image_id, key))
    rows.append(("0123456789abcdef", "11"))  # no image file
    broken = "fedcba9876543210"
    _at(root, "train", broken).parent.mkdir(parents=True, exist_ok=True)
    _at(root, "train", broken).write_bytes(b"\xff\xd8 not really a jpeg")
    rows.append((broken, "22"))
    (root / "train.csv").write_text("id,url,landmark_id\n" + "".join(f"{i},http://u/{i},{k}\n" for i, k in rows))
    (root / "train_label_to_category.csv").write_text(
        "landmark_id,category\n"
        + "".join(f'{k},"http://commons.wikimedia.org/wiki/Category:{v}"\n' for k, v in names.items())
    )
    nl = sorted((shared_data / "non_landmark").glob("*.jpg"))[:2]
    for f in nl:
        image_id = hashlib.sha1(f.name.encode()).hexdigest()[:16]
        _at(root, "test", image_id).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, _at(root, "test", image_id))
        test_rows.append((image_id, ""))
    (root / "test.csv").write_text("id\n" + "".join(f"{i}\n" for i, _ in test_rows))
    (root / "recognition_solution_v2.1.csv").write_text(
        "id,landmarks,Usage\n" + "".join(f"{i},{k},Private\n" for i, k in test_rows)
    )
    return names


@pytest.mark.slow
@pytest.mark.shared
def test_gldv2_training_with_a_tail_class_and_a_compressed_gallery(shared_data, mobilenet_v2_weights, tmp_path, capsys):
    root = tmp_path / "gldv2"
    _gldv2_tree(shared_data, root)
    out = tmp_path / "gld.safetensors"
    args = ["train", str(root), "--output", str(out), "--mode", "frozen", "--backbone-weights"]
    args += [str(mobilenet_v2_weights), "--input-size", "64", "--resize-size", "72", "--views", "1", "--epochs", "20"]
    args += ["--threads", "1", "--workers", "0", "--min-images", "5", "--gallery", "compressed"]
    nl = tmp_path / "nl"
    nl.mkdir()
    for f in sorted((shared_data / "non_landmark").glob("*.jpg"))[2:10]:
        shutil.copy(f, nl / f.name)
    args += ["--non-landmark", str(nl), "--val-fraction", "0.25"]
    assert main(args) == 0
    b = load_bundle(out)
    by_key = {c.key: c.name for c in b.classes}
    assert by_key == {"11": "Colosseum (Rome)", "22": "Pantheon, Rome", "33": "Rialto Bridge", "44": "Petronas Towers"}
    assert b.class_keys[-1] == "44" and b.num_head_classes == 3  # the 3-photo landmark: gallery only
    assert b.gallery_index is not None and b.gallery_embeddings is None
    t = b.training
    assert t["gallery_only_classes"] == ["44"] and t["head_classes"] == 3
    assert t["data_report"]["skipped"] == {"missing image": 1}
    assert t["unreadable_images"] == 1  # the broken JPEG: counted, training went on
    assert t["class_image_counts"][3] == 2  # its training photos (the third is a validation photo)
    lt = t["validation_metrics"]["long_tail"]
    assert set(lt) <= {"1-4", "5-9", "10-19"} and "1-4" in lt
    assert 0.0 <= t["validation_metrics"]["top1"] <= 1.0 and t["validation_metrics"]["n"] == 9

    rec = Recognizer(out, device="cpu", verify=False)
    assert rec.label_name("11") == "Colosseum (Rome)"
    # the tail landmark is named through the compressed gallery: a photo it was built from finds it first
    tail_photos = [p for p, k in zip(read_gldv2(root).paths, read_gldv2(root).labels) if k == "44"]
    ranked = [[k for k, _ in p.top_k] for p in rec.predict_paths(tail_photos)]
    assert sum(r[0] == "44" for r in ranked) >= 2, ranked

    # evaluation on GLDv2's test layout: landmark photos, and photos without a landmark
    ev = read_gldv2_eval(root)
    assert len(ev.landmark) == 12 and len(ev.non_landmark) == 2
    capsys.readouterr()
    assert main(["evaluate", str(out), str(root), "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 12 and report["n_non_landmark"] == 2
    assert report["long_tail"]["1-4"]["classes"] == 1 and report["long_tail"]["1-4"]["n"] == 3
    assert 0.0 <= report["top1"] <= 1.0 and report["gap_with_non_landmark"] is not None


def test_a_bundle_gives_its_backbone_to_a_fine_tune(tmp_path):
    import torch

    from core.recognition.backbones import LandmarkNet
    from core.recognition.bundle import save_bundle
    from tests.helpers import make_tiny_bundle
    from training.weights import WeightsError, load_backbone_state

    path = save_bundle(make_tiny_bundle(seed=4), tmp_path / "shipped.safetensors")
    model = LandmarkNet("simple_cnn", 7)
    load_backbone_state(model, path)
    src = load_bundle(path).state_dict
    assert all(torch.equal(v, src[f"backbone.{k}"]) for k, v in model.backbone.state_dict().items())
    with pytest.raises(WeightsError, match="simple_cnn backbone, not mobilenet_v2"):
        load_backbone_state(LandmarkNet("mobilenet_v2", 7), path)

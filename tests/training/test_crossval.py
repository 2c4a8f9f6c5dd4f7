"""``training.crossval``: grouped stratified folds, the pooled data set, and a tiny end-to-end run."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from training.cli import main
from training.crossval import fold_run_data, grouped_stratified_folds, pooled_dataset, summarize


def test_folds_keep_groups_whole_and_spread_every_class():
    labels = ["a"] * 20 + ["b"] * 10 + ["c"] * 5
    groups = [f"g{i // 2}" if i < 8 else f"s{i}" for i in range(35)]  # four pairs of near-duplicates in "a"
    folds = grouped_stratified_folds(labels, groups, 5, seed=1)
    for g in set(groups):
        assert len({f for f, gg in zip(folds, groups) if gg == g}) == 1
    for cls in Counter(labels):
        per_fold = Counter(f for f, lab in zip(folds, labels) if lab == cls)
        assert max(per_fold.values()) - min(per_fold.get(k, 0) for k in range(5)) <= 2, (cls, per_fold)
    assert grouped_stratified_folds(labels, groups, 5, seed=1) == folds  # deterministic
    with pytest.raises(ValueError):
        grouped_stratified_folds(labels, groups, 1)


@pytest.mark.shared
def test_pooled_landmarks_use_the_manifest_groups_and_folds_never_split_them(shared_data):
    data, groups = pooled_dataset(shared_data / "landmarks")
    assert len(data) == 2600 and len(set(data.labels)) == 56
    dup = [g for g in groups if g.startswith("dup:")]
    assert dup, "MANIFEST.csv near_dup_group not read"
    folds = grouped_stratified_folds(data.labels, groups, 5)
    by_group: dict[str, set[int]] = {}
    for g, f in zip(groups, folds):
        by_group.setdefault(g, set()).add(f)
    assert all(len(fs) == 1 for fs in by_group.values())
    sizes = Counter(folds)
    assert max(sizes.values()) - min(sizes.values()) < 60
    nl = sorted((shared_data / "non_landmark").glob("*.jpg"))
    run, test, nl_test = fold_run_data(data, groups, folds, 0, nl, [i % 5 for i in range(len(nl))], 0.15, 0)
    train_paths = set(run.train.paths) | set(run.val.paths)
    assert not train_paths & set(test.paths)
    assert len(train_paths) + len(test) == 2600
    assert not set(run.non_landmark) & set(nl_test) and not set(run.outliers) & set(nl_test)
    assert len(run.outliers) + len(run.non_landmark) + len(nl_test) == len(nl)
    # the validation split inside the training part keeps groups whole too
    val_groups = {groups[data.paths.index(p)] for p in run.val.paths}
    train_groups = {groups[data.paths.index(p)] for p in run.train.paths}
    assert not val_groups & train_groups


def test_summarize_gives_mean_sd_and_pooled_class_accuracy():
    reports = [
        {"top1": 0.9, "per_class_accuracy": {"a": 1.0, "b": 0.5}},
        {"top1": 0.8, "per_class_accuracy": {"a": 0.5, "b": 1.0}},
    ]
    s = summarize(reports, [Counter(a=2, b=2), Counter(a=2, b=6)])
    assert s["top1"]["mean"] == pytest.approx(0.85) and s["top1"]["sd"] == pytest.approx(0.0707, abs=1e-3)
    assert s["per_class_accuracy"]["b"]["pooled"] == pytest.approx((0.5 * 2 + 1.0 * 6) / 8)
    assert s["worst_class_accuracy"] == pytest.approx(0.75)
    assert s["gap"]["mean"] is None


@pytest.mark.slow
@pytest.mark.shared
def test_crossval_command_runs_every_fold_and_writes_the_report(shared_data, mobilenet_v2_weights, tmp_path, capsys):
    src = shared_data / "landmarks-eecs445-64px"
    root = tmp_path / "data"
    for c in ("colosseum", "pantheon", "rialto_bridge"):
        (root / "train" / c).mkdir(parents=True)
        (root / "test" / c).mkdir(parents=True)
        for f in sorted((src / "train" / c).glob("*.jpg"))[:10]:
            shutil.copy(f, root / "train" / c / f.name)
        for f in sorted((src / "test" / c).glob("*.jpg"))[:3]:
            shutil.copy(f, root / "test" / c / f.name)
    (root / "nl").mkdir()
    for f in sorted((shared_data / "non_landmark").glob("*.jpg"))[:12]:
        shutil.copy(f, root / "nl" / f.name)
    out = tmp_path / "cv"
    rc = main(
        [
            "crossval",
            str(root),
            "--non-landmark",
            str(root / "nl"),
            "--out-dir",
            str(out),
            "--folds",
            "3",
            "--mode",
            "finetune-cached",
            "--backbone-weights",
            str(mobilenet_v2_weights),
            "--input-size",
            "64",
            "--resize-size",
            "72",
            "--views",
            "1",
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--threads",
            "1",
            "--workers",
            "0",
            "--tta",
            "--verify",
        ]
    )
    assert rc == 0
    report = json.loads((out / "crossval.json").read_text())
    assert [f["fold"] for f in report["folds"]] == [0, 1, 2]
    assert sum(f["test"] for f in report["folds"]) == 39  # every photo tested exactly once
    s = report["summary"]["app"]
    assert 0.0 <= s["top1"]["mean"] <= 1.0 and len(s["top1"]["folds"]) == 3
    assert set(s["per_class_accuracy"]) == {"colosseum", "pantheon", "rialto_bridge"}
    assert "app + TTA (flip)" in report["summary"]
    assert "app + verification" in report["summary"]
    assert (out / "fold0" / "model.features.safetensors").is_file()  # built from that fold's training photos
    verification = report["folds"][0]["reports"]["app + verification"]["verification"]
    assert str(verification).startswith("on (")
    assert "| app |" in capsys.readouterr().out
    assert (out / "crossval.md").is_file() and (out / "cache").is_dir()

"""Two-process DistributedDataParallel training on CPU (Gloo), launched the way users launch it: torchrun."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from core.recognition.bundle import load_bundle
from tests.helpers import REPO_ROOT as REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_photos(shared_data, dest, per_class: int) -> tuple[str, ...]:
    """Copy the first ``per_class`` 64 px photos of three landmarks-eecs445 classes into ImageFolder ``dest``."""
    src = shared_data / "landmarks-eecs445-64px" / "train"
    classes = ("colosseum", "petronas_towers", "rialto_bridge")
    for c in classes:
        (dest / c).mkdir(parents=True)
        for f in sorted((src / c).glob("*.jpg"))[:per_class]:
            shutil.copy(f, dest / c / f.name)
    return classes


@pytest.mark.slow
@pytest.mark.shared
def test_two_process_gloo_run_writes_one_loadable_bundle(shared_data, tmp_path):
    classes = _copy_photos(shared_data, tmp_path / "data", 12)
    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "training",
        "train",
        str(tmp_path / "data"),
        "--output",
        str(out),
        "--mode",
        "scratch",
        "--input-size",
        "64",
        "--resize-size",
        "72",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--workers",
        "0",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "rank 0/2" in log and "rank 1/2" in log and "backend gloo" in log
    assert log.count("wrote ") == 1  # only rank 0 writes the bundle
    b = load_bundle(out)
    assert b.backbone == "simple_cnn" and b.class_keys == list(classes)
    assert b.training["world_size"] == 2 and b.training["mode"] == "scratch"
    assert len(b.training["history"]) == 1


def test_distributed_weighted_sampler_shards_one_balanced_draw():
    from collections import Counter

    from training.datasets import class_balanced_weights
    from training.distributed import DistributedWeightedSampler

    targets = [0] * 900 + [1] * 100
    w = class_balanced_weights(targets)
    shards = [DistributedWeightedSampler(w, 1000, rank=r, world_size=2, seed=7) for r in range(2)]
    for s in shards:
        s.set_epoch(3)
    a, b = list(shards[0]), list(shards[1])
    assert len(a) == len(b) == len(shards[0]) == 500
    # the two ranks split one global draw (same generator), so together they are that draw
    g = DistributedWeightedSampler(w, 1000, rank=0, world_size=1, seed=7)
    g.set_epoch(3)
    whole = list(g)
    assert a == whole[0::2] and b == whole[1::2]
    counts = Counter(targets[i] for i in whole)
    assert 0.4 < counts[1] / 1000 < 0.6  # balanced: the 10 % class is drawn about half the time
    shards[0].set_epoch(4)
    assert list(shards[0]) != a  # a new epoch draws anew


def test_resumable_sampler_shards_balances_and_resumes_mid_epoch():
    from collections import Counter

    from training.datasets import class_balanced_weights
    from training.distributed import ResumableSampler

    targets = [0] * 900 + [1] * 100
    w = class_balanced_weights(targets)
    ranks = [ResumableSampler(1000, r, 2, seed=5, weights=w) for r in range(2)]
    for s in ranks:
        s.set_epoch(2)
    a, b = list(ranks[0]), list(ranks[1])
    assert len(a) == len(b) == 500
    whole = ResumableSampler(1000, 0, 1, seed=5, weights=w)
    whole.set_epoch(2)
    assert a + b != [] and sorted(a + b) == sorted(list(whole)[: len(a) + len(b)])  # one global draw, split
    assert 0.4 < Counter(targets[i] for i in a + b)[1] / 1000 < 0.6  # the 10 % class drawn about half the time
    # stop after 3 batches of 32, save, restore into a fresh sampler: the rest is exactly what was left
    ranks[0].set_position(96)
    fresh = ResumableSampler(1000, 0, 2, seed=5, weights=w)
    fresh.load_state_dict(ranks[0].state_dict())
    fresh.set_epoch(2)  # the same epoch: the position is kept
    assert list(fresh) == a[96:]
    fresh.set_epoch(3)
    assert len(list(fresh)) == 500 and list(fresh) != a
    # without weights: a permutation, every sample once per epoch over both ranks
    perm = [ResumableSampler(10, r, 2, seed=1) for r in range(2)]
    assert sorted(list(perm[0]) + list(perm[1])) == list(range(10))
    with pytest.raises(ValueError, match="seed"):
        fresh.load_state_dict({"epoch": 1, "position": 0, "seed": 99})


@pytest.mark.slow
@pytest.mark.shared
def test_two_process_run_stops_mid_epoch_and_resumes_from_its_checkpoint(shared_data, tmp_path):
    """Streaming + resume under DDP: 2 gloo processes stop after 2 steps of epoch 1 (``--max-steps``, a checkpoint
    every step), then ``--resume`` finishes the epoch from that sample on and writes the bundle."""
    import torch

    _copy_photos(shared_data, tmp_path / "data", 16)
    (tmp_path / "data" / "colosseum" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")  # never stops training
    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}

    def run(*extra: str) -> str:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
        cmd += ["--master_port", str(_free_port()), "-m", "training", "train", str(tmp_path / "data")]
        cmd += ["--output", str(out), "--mode", "scratch", "--input-size", "64", "--resize-size", "72"]
        cmd += ["--epochs", "1", "--batch-size", "4", "--workers", "0", "--threads", "1", "--device", "cpu"]
        cmd += ["--checkpoint-every", "1", *extra]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-3000:]
        return log

    first = run("--max-steps", "2")
    assert "stopped after 2 steps" in first and not out.exists()
    ck = torch.load(tmp_path / "ddp-run" / "checkpoint.pt", weights_only=True)
    assert ck["epoch"] == 0 and ck["position"] == 8 and ck["sampler"]["position"] == 8  # 2 steps × batch 4
    second = run("--resume")
    assert "resumed from" in second and "sample 8 of each process's shard" in second
    assert "skipping" in second and "broken.jpg" in second  # one line for the file that does not decode
    b = load_bundle(out)
    assert b.training["world_size"] == 2 and len(b.training["history"]) == 1

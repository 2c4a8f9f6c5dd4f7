"""The pieces of the end-to-end modes on CPU with tiny synthetic photos: loaders, ``train_one_epoch`` /
``evaluate``, frozen blocks, ``save_checkpoint`` / ``load_checkpoint`` (resume), the epoch loop ``fit``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from training.checkpoint import (
    BEST_FILE,
    CHECKPOINT_FILE,
    TrainState,
    load_best_weights,
    load_checkpoint,
    save_checkpoint,
)
from training.config import MODES, TrainConfig
from training.data_setup import RunData
from training.datasets import LabelledImages
from training.distributed import DistInfo, ResumableSampler
from training.engine import evaluate, train_one_epoch
from training.finetune import freeze_for_finetune
from training.fit import FitPlan, fit
from training.loaders import LabelledImageDataset, build_loaders
from training.optim import build_optimisation, parameter_groups
from training.run import RUNNERS
from training.transforms import eval_loader
from training.weights import build_model

SIZE = 32
CPU = DistInfo(0, 0, 1, torch.device("cpu"), False)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _photos(folder: Path, n: int) -> LabelledImages:
    """``n`` photos per class: reddish ("red") and greenish ("green") 40 px squares with a little noise."""
    g = torch.Generator().manual_seed(0)
    paths, labels = [], []
    for cls, colour in (("red", (200, 40, 40)), ("green", (40, 190, 60))):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            noise = (torch.rand(40, 40, 3, generator=g) * 40).to(torch.uint8)
            pixels = (torch.tensor(colour, dtype=torch.uint8) - 20 + noise).numpy()
            path = folder / cls / f"{i}.png"
            Image.fromarray(pixels).save(path)
            paths.append(path)
            labels.append(cls)
    return LabelledImages(paths, labels)


def _cfg(tmp_path: Path, **kw) -> TrainConfig:
    settings = dict(
        data=tmp_path,
        output=tmp_path / "m.safetensors",
        mode="scratch",
        backbone="simple_cnn",
        input_size=SIZE,
        resize_size=SIZE + 2,
        batch_size=4,
        workers=0,
        amp=False,
        seed=0,
    )
    settings.update(kw)
    return TrainConfig(**settings)


def _loader(data: LabelledImages) -> DataLoader:
    ds = LabelledImageDataset(data.paths, data.targets(), eval_loader(SIZE, SIZE + 2), SIZE)
    return DataLoader(ds, batch_size=4, shuffle=False)


def _scratch_plan(lr: float = 3e-3) -> FitPlan:
    return FitPlan(build_model("simple_cnn", 2, "none"), [], lr=lr, backbone_lr=lr, backbone_weights="none")


def _optimisation(model, steps: int, lr: float = 3e-3):
    groups = parameter_groups(model.head, model.backbone, lr, lr)
    return build_optimisation(groups, weight_decay=1e-4, total_steps=steps, use_amp=False)


def test_every_mode_has_a_runner():
    assert set(RUNNERS) == set(MODES)


def test_build_loaders_balanced_sampler_and_batches(tmp_path):
    data = _photos(tmp_path / "train", 6)
    run = RunData(data, data.subset([0, 6]), [], [], "test")
    loaders = build_loaders(_cfg(tmp_path), run, CPU)
    assert isinstance(loaders.sampler, ResumableSampler) and loaders.sampler.weights is not None  # class-balanced
    x, y, ok = next(iter(loaders.train))
    assert x.shape == (4, 3, SIZE, SIZE) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and ok.dtype == torch.bool and bool(ok.all())
    assert len(loaders.train) == 3  # 12 photos, batches of 4 (the last incomplete batch would be dropped)
    assert [int(t) for _, ts, _ in loaders.val for t in ts] == [1, 0]  # in order: red, green
    plain = build_loaders(_cfg(tmp_path, balanced=False), run, CPU)
    assert plain.sampler.weights is None  # a permutation
    assert sorted(plain.sampler) == list(range(12))


def test_train_one_epoch_learns_and_evaluate_skips_unreadable_photos(tmp_path):
    torch.manual_seed(0)
    data = _photos(tmp_path / "d", 6)
    (tmp_path / "d" / "red" / "broken.png").write_bytes(b"not an image")
    val = LabelledImages([*data.paths, tmp_path / "d" / "red" / "broken.png"], [*data.labels, "red"])
    model = build_model("simple_cnn", 2, "none")
    train_dl, val_dl = _loader(data), _loader(val)
    opt = _optimisation(model, steps=8 * len(train_dl), lr=1e-2)

    before = evaluate(model, val_dl, CPU)
    assert before.count == 12  # the broken photo counts neither in the loss nor in the accuracy
    assert before.loss == pytest.approx(math.log(2), abs=0.05)  # the head starts near-uniform
    losses = [train_one_epoch(model, [], train_dl, opt, CPU, label_smoothing=0.1).loss for _ in range(8)]
    after = evaluate(model, val_dl, CPU)
    assert losses[-1] < losses[0]
    assert after.loss < before.loss - 0.05 and after.accuracy == 1.0
    assert not model.training  # evaluate leaves the model in eval mode


def test_train_one_epoch_keeps_frozen_blocks_fixed(tmp_path):
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", 2, "none")
    frozen = freeze_for_finetune(model, "mobilenet_v2", 1)
    first, last = model.backbone.features[1], model.backbone.features[18]
    first_state = {k: v.clone() for k, v in first.state_dict().items()}
    last_bn_mean = last[1].running_mean.clone()
    dl = _loader(_photos(tmp_path, 4))
    train_one_epoch(model, frozen, dl, _optimisation(model, len(dl)), CPU)
    assert all(torch.equal(v, first.state_dict()[k]) for k, v in first_state.items())  # weights and BN stats
    assert not torch.equal(last[1].running_mean, last_bn_mean)  # the trained block's BatchNorm moved


def test_checkpoint_resume_continues_exactly(tmp_path):
    data = _photos(tmp_path / "d", 4)
    dl = _loader(data)
    steps = 2 * len(dl)

    torch.manual_seed(0)
    straight = build_model("simple_cnn", 2, "none")
    opt = _optimisation(straight, steps)
    for _ in range(2):
        train_one_epoch(straight, [], dl, opt, CPU)

    torch.manual_seed(0)
    first = build_model("simple_cnn", 2, "none")
    opt1 = _optimisation(first, steps)
    train_one_epoch(first, [], dl, opt1, CPU)
    work = tmp_path / "work"
    state = TrainState(epoch=1, history=[{"epoch": 1, "val_loss": 0.5}], best_loss=0.5, bad_epochs=0)
    save_checkpoint(work, first, opt1, state, is_best=True)
    assert (work / CHECKPOINT_FILE).is_file() and (work / BEST_FILE).is_file()
    assert not (work / (CHECKPOINT_FILE + ".tmp")).exists()

    torch.manual_seed(1)  # a fresh process: other initial weights, a new optimiser
    resumed = build_model("simple_cnn", 2, "none")
    opt2 = _optimisation(resumed, steps)
    assert load_checkpoint(work, resumed, opt2) == state
    assert opt2.lr == opt1.lr  # the schedule continues where it stopped
    train_one_epoch(resumed, [], dl, opt2, CPU)
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k

    assert load_best_weights(work, resumed)
    assert all(torch.equal(v, first.state_dict()[k]) for k, v in resumed.state_dict().items())
    empty = tmp_path / "empty"
    assert load_checkpoint(empty, resumed, opt2) is None and not load_best_weights(empty, resumed)


def test_fit_checkpoints_every_epoch_resumes_and_stops_early(tmp_path):
    data = _photos(tmp_path / "d", 4)
    run = RunData(data, data, [], [], "test")
    cfg = _cfg(tmp_path, epochs=2)
    torch.manual_seed(0)
    history = fit(cfg, _scratch_plan(), build_loaders(cfg, run, CPU), CPU, t0=0.0)
    assert [h["epoch"] for h in history] == [1, 2]
    assert set(history[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}
    work = cfg.resolved_work_dir()
    assert torch.load(work / CHECKPOINT_FILE, weights_only=True)["epoch"] == 2 and (work / BEST_FILE).is_file()

    cfg3 = _cfg(tmp_path, epochs=3, resume=True)
    history = fit(cfg3, _scratch_plan(), build_loaders(cfg3, run, CPU), CPU, t0=0.0)
    assert [h["epoch"] for h in history] == [1, 2, 3]

    # learning rate 0: the validation loss never improves after epoch 1, so patience 1 stops after epoch 2
    still = _cfg(tmp_path, epochs=5, patience=1, work_dir=tmp_path / "still")
    history = fit(still, _scratch_plan(lr=0.0), build_loaders(still, run, CPU), CPU, t0=0.0)
    assert [h["epoch"] for h in history] == [1, 2]

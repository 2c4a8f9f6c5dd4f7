"""Head training on embeddings: learns, early-stops on validation, Outlier Exposure; the OE photo split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from training.data_setup import split_half
from training.head import HeadConfig, train_head


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _clusters(n_per: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(4, 32, generator=torch.Generator().manual_seed(99)), dim=1)
    y = torch.arange(3).repeat_interleave(n_per)
    x = F.normalize(centres[y] + 0.15 * torch.randn(len(y), 32, generator=g), dim=1)
    # photos without a landmark that share features with class 0 (a plain head calls them class 0)
    outlier_centre = F.normalize(0.8 * centres[0] + centres[3], dim=0)
    outliers = F.normalize(outlier_centre + 0.15 * torch.randn(n_per, 32, generator=g), dim=1)
    return x, y, outliers


def _max_prob(head, x):
    with torch.no_grad():
        return F.softmax(head(x), 1).max(1).values


def test_head_learns_and_outlier_exposure_flattens_outlier_scores():
    x, y, out = _clusters(40, 0)
    xv, yv, out_test = _clusters(15, 1)
    cfg = HeadConfig(epochs=40, batch_size=32, lr=1e-2, label_smoothing=0.0, patience=0, seed=0)
    torch.manual_seed(0)
    plain, hist = train_head(nn.Linear(32, 3), x, y, xv, yv, cfg)
    torch.manual_seed(0)
    oe, _ = train_head(nn.Linear(32, 3), x, y, xv, yv, dataclasses.replace(cfg), x_out=out)
    for head in (plain, oe):
        with torch.no_grad():
            assert (head(xv).argmax(1) == yv).float().mean() >= 0.95
    assert len(hist) == 40 and {"train_loss", "val_loss", "val_acc"} <= set(hist[-1])
    # unseen outliers of the same kind: near-uniform (1/3) with OE, clearly more peaked without
    assert _max_prob(oe, out_test).mean() < 0.5
    assert _max_prob(oe, out_test).mean() < _max_prob(plain, out_test).mean() - 0.1
    # landmark photos keep confident scores
    assert _max_prob(oe, xv).mean() > 0.7


def test_early_stopping_keeps_the_best_validation_epoch():
    x, y, _ = _clusters(30, 2)
    # validation labels permuted: validation loss only gets worse as the head learns the training labels
    xv, yv, _ = _clusters(10, 3)
    yv = (yv + 1) % 3
    cfg = HeadConfig(epochs=50, batch_size=30, lr=1e-2, label_smoothing=0.0, patience=3, seed=0)
    head, hist = train_head(nn.Linear(32, 3), x, y, xv, yv, cfg)
    assert len(hist) < 50
    best = min(hist, key=lambda h: h["val_loss"])
    with torch.no_grad():
        assert float(F.cross_entropy(head(xv), yv)) == pytest.approx(best["val_loss"], rel=1e-5)


def test_split_half_is_disjoint_deterministic_and_order_free():
    paths = [Path(f"/x/photo_{i:03d}.jpg") for i in range(21)]
    a, b = split_half(paths)
    assert len(a) == 11 and len(b) == 10 and not set(a) & set(b) and set(a) | set(b) == set(paths)
    assert split_half(paths[::-1]) == (a, b)
    assert split_half([Path("/elsewhere") / p.name for p in paths])[0] == [Path("/elsewhere") / p.name for p in a]

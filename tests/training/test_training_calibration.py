"""Temperature scaling, the no-landmark threshold rule, user_match_cosine, kNN tuning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from training.calibration import choose_threshold, fit_temperature, median_same_class_cosine, nll, tune_knn


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread is far faster on a busy 2-core machine (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_fit_temperature_recovers_the_generating_temperature():
    # labels drawn from softmax(z / 2.5): the NLL-optimal temperature for log-probs z is 2.5
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3000, 10, generator=g) * 4.0
    y = torch.multinomial(F.softmax(z / 2.5, dim=1), 1, generator=g).squeeze(1)
    t = fit_temperature(F.log_softmax(z, dim=1), y)
    assert t == pytest.approx(2.5, rel=0.1)
    assert nll(F.log_softmax(z, 1), y, t) < nll(F.log_softmax(z, 1), y, 1.0)


def test_fit_temperature_sharpens_underconfident_scores_and_handles_log_zero():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(3000, 5, generator=g) * 3
    y = z.argmax(1)  # always right → sharper is better → T < 1
    lp = F.log_softmax(z / 4, dim=1)
    lp[:, 4] = float("-inf")  # a class with probability 0 (kNN-only scoring) must not break the fit
    lp = torch.log_softmax(lp, 1)
    t = fit_temperature(lp, torch.where(y == 4, 0, y))
    assert 0.05 <= t < 1.0
    with pytest.raises(ValueError):
        fit_temperature(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))


def _onehotish(conf_and_class, c=3):
    """Rows whose top-1 class/confidence are given; the rest of the mass spread evenly."""
    rows = []
    for conf, k in conf_and_class:
        r = torch.full((c,), (1 - conf) / (c - 1))
        r[k] = conf
        rows.append(r)
    return torch.stack(rows)


def test_threshold_keeps_non_landmark_rate_and_maximises_gap():
    # validation: right at 0.9, 0.8, 0.6; wrong at 0.5 (pred 1, true 0)
    probs = _onehotish([(0.9, 0), (0.8, 1), (0.6, 2), (0.5, 1)])
    targets = torch.tensor([0, 1, 2, 0])
    # 20 non-landmark photos: one at 0.85, the rest at 0.4
    nl = _onehotish([(0.85, 0)] + [(0.4, 1)] * 19)
    # ≤ 5 % of 20 = at most 1 labelled: any threshold above 0.4 is allowed.
    # t in (0.5, 0.6]: ranking 0.9 ✓, 0.85 ✗(nl), 0.8 ✓, 0.6 ✓ → (1 + 2/3 + 3/4) / 4 = 0.6042
    # t in (0.4, 0.5]: also ranks the wrong 0.5 last → same GAP (it adds nothing) → smallest wins? no:
    #   equal GAP → the smaller threshold; then the choice is halfway between 0.4 and 0.5.
    choice = choose_threshold(probs, targets, nl, max_non_landmark_rate=0.05)
    assert choice.gap == pytest.approx((1 + 2 / 3 + 3 / 4) / 4)
    assert choice.threshold == pytest.approx(0.45)
    assert choice.non_landmark_rate == pytest.approx(1 / 20)
    # a stricter limit (0 %) forces the threshold above 0.85: only 0.9 is kept → GAP 1/4
    strict = choose_threshold(probs, targets, nl, max_non_landmark_rate=0.0)
    assert strict.non_landmark_rate == 0.0
    assert 0.85 < strict.threshold <= 0.9
    assert strict.gap == pytest.approx(1 / 4)


def test_threshold_without_non_landmark_photos_rejects_only_harmful_predictions():
    # wrong at 0.95 on top: dropping it raises every later precision
    probs = _onehotish([(0.95, 1), (0.9, 0), (0.8, 2)])
    targets = torch.tensor([0, 0, 2])
    choice = choose_threshold(probs, targets, None)
    assert choice.threshold > 0.95 or choice.gap == pytest.approx((1 / 2 + 2 / 3) / 3)
    # here removing the wrong top prediction means a threshold above 0.95, which also removes the
    # right ones: GAP 0; keeping all gives (1/2 + 2/3)/3 > 0, so all are kept
    assert choice.gap == pytest.approx((1 / 2 + 2 / 3) / 3)
    assert choice.non_landmark_rate is None


def test_median_same_class_cosine():
    gallery = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1)
    labels = torch.tensor([0, 1])
    q = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), dim=1)
    # own-class cosines: 1.0, cos45 = 0.7071 (class 1), 1.0 → median 1.0; with targets [0, 0, 0]: 1, .7071, 0 → .7071
    assert median_same_class_cosine(q, torch.tensor([0, 1, 1]), gallery, labels, 2) == pytest.approx(1.0)
    assert median_same_class_cosine(q, torch.tensor([0, 0, 0]), gallery, labels, 2) == pytest.approx(2**-0.5, abs=1e-6)


def test_tune_knn_prefers_the_gallery_when_the_head_is_useless():
    g = torch.Generator().manual_seed(0)
    centres = F.normalize(torch.randn(4, 16, generator=g), dim=1)
    y = torch.arange(4).repeat(20)
    emb = F.normalize(centres[y] + 0.15 * torch.randn(80, 16, generator=g), dim=1)
    gal_y = torch.arange(4).repeat(5)
    gallery = F.normalize(centres[gal_y] + 0.15 * torch.randn(20, 16, generator=g), dim=1)
    logits = torch.randn(80, 4, generator=g)  # a head that knows nothing
    w, tau, t, table = tune_knn(logits, emb, y, gallery, gal_y)
    assert w > 0.0
    assert len(table) == 12 and min(r["nll"] for r in table) == pytest.approx(
        nll(
            __import__("core.recognition.scoring", fromlist=["x"]).fused_log_probs(logits, emb, gallery, gal_y, w, tau),
            y,
            t,
        )
    )
    w0, _, _, table0 = tune_knn(logits, emb, y, None, None)
    assert w0 == 0.0 and len(table0) == 1


def test_landmark_gate_fit_recovers_the_logistic_of_two_gaussians():
    from training.calibration import fit_landmark_gate

    # equal-variance Gaussians N(0.8, 0.1²) vs N(0.6, 0.1²): log-odds = (s - 0.7) · 0.2 / 0.1²
    # → centre 0.7, width 0.05 (cosine units), whatever the class sizes (class-balanced fit)
    g = torch.Generator().manual_seed(0)
    pos = 0.8 + 0.1 * torch.randn(4000, generator=g)
    neg = 0.6 + 0.1 * torch.randn(1000, generator=g)
    c, w = fit_landmark_gate(pos, neg)
    assert c == pytest.approx(0.7, abs=0.01)
    assert w == pytest.approx(0.05, rel=0.12)
    # separable sets still give a finite gate (Platt's targets) between the two groups
    c2, w2 = fit_landmark_gate(torch.tensor([0.9, 0.85, 0.8]), torch.tensor([0.4, 0.5]))
    assert 0.5 < c2 < 0.8 and 1e-3 <= w2 < 0.2
    with pytest.raises(ValueError):
        fit_landmark_gate(torch.tensor([0.9]), torch.tensor([]))


def test_threshold_never_labels_a_no_landmark_answer():
    # column 3 is NO_LANDMARK: a non-landmark photo answered "no landmark" with 0.9 is not labelled
    probs = torch.tensor([[0.9, 0.05, 0.03, 0.02], [0.1, 0.7, 0.1, 0.1]])
    targets = torch.tensor([0, 1])
    nl = torch.tensor([[0.05, 0.03, 0.02, 0.9], [0.6, 0.2, 0.1, 0.1]])
    choice = choose_threshold(probs, targets, nl, max_non_landmark_rate=0.5, no_landmark_index=3)
    # with ≤ 50 % allowed, the non-landmark photo at 0.6 may keep its label: ranking 0.9 ✓, 0.7 ✓, 0.6 ✗
    # gives GAP 1 (the wrong one is ranked last), so the smallest threshold wins
    assert choice.gap == pytest.approx(1.0)
    assert choice.non_landmark_rate == pytest.approx(0.5)
    strict = choose_threshold(probs, targets, nl, max_non_landmark_rate=0.0, no_landmark_index=3)
    assert strict.non_landmark_rate == 0.0 and 0.6 < strict.threshold <= 0.7 and strict.gap == pytest.approx(1.0)


def test_teaching_match_cosine_keeps_false_naming_at_the_budget():
    from training.calibration import teaching_match_cosine

    g = torch.Generator().manual_seed(0)
    centres = F.normalize(torch.randn(6, 64, generator=g), dim=1)
    gal_y = torch.arange(6).repeat_interleave(10)
    gallery = F.normalize(centres[gal_y] + 0.12 * torch.randn(60, 64, generator=g), dim=1)
    y = torch.arange(6).repeat_interleave(8)
    val = F.normalize(centres[y] + 0.12 * torch.randn(48, 64, generator=g), dim=1)
    r = teaching_match_cosine(val, y, gallery, gal_y, 6, k=3, false_rate=0.05, repeats=4)
    assert r["other_rate"] <= 0.05 + 1e-9
    assert r["same_named_rate"] > 0.9  # well-separated landmarks: almost every photo gets named
    # a looser budget gives a lower (or equal) gate centre
    assert teaching_match_cosine(val, y, gallery, gal_y, 6, false_rate=0.2, repeats=4)["cosine"] <= r["cosine"]


def test_grouped_folds_keep_groups_together_and_spread_each_class():
    from training.calibration import grouped_folds

    labels = [0] * 10 + [1] * 10
    groups = [f"g{i // 2}" for i in range(20)]  # pairs of near duplicates
    folds = grouped_folds(labels, groups, n_folds=5, seed=1)
    for g in set(groups):
        assert len({int(folds[i]) for i in range(20) if groups[i] == g}) == 1
    for c in (0, 1):
        assert sorted(int(folds[i]) for i in range(20) if labels[i] == c)[::2] == [0, 1, 2, 3, 4]


def test_teaching_margin_rates_trade_recall_for_false_rate():
    from training.calibration import choose_teaching_margin, grouped_folds, teaching_margin_rates

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((6, 32))
    labels = np.repeat(np.arange(6), 15)
    emb = centres[labels] + 0.6 * rng.standard_normal((90, 32))
    folds = grouped_folds(labels, [str(i) for i in range(90)], 5, seed=0)
    rates = teaching_margin_rates(emb, labels, folds, (-0.3, 0.0, 0.3), (3,), repeats=2, unseen_share=0.2)
    assert [r.margin for r in rates] == [-0.3, 0.0, 0.3]
    recalls = [r.recall for r in rates]
    falses = [r.false_rate for r in rates]
    assert recalls == sorted(recalls, reverse=True) and falses == sorted(falses, reverse=True)
    assert rates[0].recall > 0.9 and rates[-1].false_rate < 0.05
    m = choose_teaching_margin(rates, max_false_rate=0.05)
    assert all(r.false_rate <= 0.05 for r in rates if r.margin == m)


def test_teaching_rates_heldout_teach_only_unseen_landmarks_against_the_models_gallery():
    from training.calibration import teaching_rates_heldout

    rng = np.random.default_rng(1)
    centres = rng.standard_normal((6, 32))

    def photos(c, n):
        return centres[c] + 0.35 * rng.standard_normal((n, 32))

    gallery = np.concatenate([photos(c, 10) for c in range(4)])  # the model knows classes 0-3
    g_labels = np.repeat(np.arange(4), 10)
    held = np.concatenate([photos(c, 6) for c in range(6)])  # held-out photos; 4 and 5 it never saw
    labels = np.repeat(np.arange(6), 6)
    rates = teaching_rates_heldout(gallery, g_labels, held, labels, [4, 5], (-0.3, 0.0, 0.3), (3,), repeats=2)
    assert [r.margin for r in rates] == [-0.3, 0.0, 0.3]
    recalls = [r.recall for r in rates]
    falses = [r.false_rate for r in rates]
    assert recalls == sorted(recalls, reverse=True) and falses == sorted(falses, reverse=True)
    assert rates[1].recall > 0.8 and rates[1].false_rate < 0.05  # well separated clusters
    assert set(rates[0].per_class) == {4, 5}
    with pytest.raises(ValueError, match="never saw"):
        teaching_rates_heldout(gallery, g_labels, held, labels, [3], (0.0,))

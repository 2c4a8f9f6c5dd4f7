"""``core.recognition.scoring`` on small cases whose answers are worked out by hand in the comments."""

from __future__ import annotations

import math

import pytest
import torch

from core.recognition.scoring import apply_user_gallery, calibrated_probs, class_max_similarity, fused_log_probs

E1 = torch.tensor([[1.0, 0.0]])
E2 = torch.tensor([[0.0, 1.0]])
DIAG = torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)]])  # cos 0.7071 to E1 and E2


def test_class_max_similarity_takes_the_best_entry_per_class():
    gallery = torch.cat([E1, DIAG, E2])  # labels 0, 0, 1; class 2 has no entry
    labels = torch.tensor([0, 0, 1])
    s = class_max_similarity(torch.cat([E1, E2]), gallery, labels, 3)
    assert s.shape == (2, 3) and s.dtype == torch.float32
    # photo E1: class 0 best = E1 (1.0), class 1 = E2 (0.0); photo E2: class 0 best = DIAG (0.7071)
    assert s[0, 0].item() == pytest.approx(1.0) and s[0, 1].item() == pytest.approx(0.0)
    assert s[1, 0].item() == pytest.approx(math.sqrt(0.5)) and s[1, 1].item() == pytest.approx(1.0)
    assert torch.isneginf(s[:, 2]).all()


def test_fusion_without_gallery_is_the_head_softmax():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # p_head = [1/4, 3/4]
    lp = fused_log_probs(logits, E1, None, None, knn_weight=0.5, knn_temperature=0.05)
    assert torch.allclose(lp.exp(), torch.tensor([[0.25, 0.75]]))
    empty = torch.zeros(0, 2)
    lp = fused_log_probs(logits, E1, empty, torch.zeros(0, dtype=torch.long), 0.5, 0.05)
    assert torch.allclose(lp.exp(), torch.tensor([[0.25, 0.75]]))


def test_fusion_mixes_head_and_knn():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # p_head = [0.25, 0.75]
    gallery, labels = torch.cat([E1, E2]), torch.tensor([0, 1])
    # photo E1: s = [1, 0]; tau = 0.5 -> p_knn = softmax([2, 0]) = [e²/(e²+1), 1/(e²+1)] = [0.8808, 0.1192]
    p_knn0 = math.exp(2) / (math.exp(2) + 1)
    lp = fused_log_probs(logits, E1, gallery, labels, knn_weight=0.5, knn_temperature=0.5)
    expected = torch.tensor([[0.5 * 0.25 + 0.5 * p_knn0, 0.5 * 0.75 + 0.5 * (1 - p_knn0)]])  # [0.5654, 0.4346]
    assert torch.allclose(lp.exp(), expected, atol=1e-6)
    # w = 0.25 weighs the head more: 0.75·p_head + 0.25·p_knn
    lp = fused_log_probs(logits, E1, gallery, labels, knn_weight=0.25, knn_temperature=0.5)
    assert lp.exp()[0, 0].item() == pytest.approx(0.75 * 0.25 + 0.25 * p_knn0, abs=1e-6)
    # w = 0: head only
    lp = fused_log_probs(logits, E1, gallery, labels, knn_weight=0.0, knn_temperature=0.5)
    assert torch.allclose(lp.exp(), torch.tensor([[0.25, 0.75]]))


def test_knn_only_gives_zero_to_classes_without_gallery_entries():
    logits = torch.zeros(1, 3)
    lp = fused_log_probs(logits, E1, torch.cat([E1, E2]), torch.tensor([0, 1]), knn_weight=1.0, knn_temperature=0.5)
    p = lp.exp()
    assert p[0, 2].item() == 0.0
    assert p[0, 0].item() == pytest.approx(math.exp(2) / (math.exp(2) + 1), abs=1e-6)
    # with w < 1 the class without entries keeps its share of the head: 0.5 · 1/3
    p = fused_log_probs(logits, E1, torch.cat([E1, E2]), torch.tensor([0, 1]), 0.5, 0.5).exp()
    assert p[0, 2].item() == pytest.approx(0.5 / 3, abs=1e-6)
    assert p.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_temperature_scaling():
    log_p = torch.log(torch.tensor([[0.8, 0.2]]))
    # T = 2: softmax(log p / 2) ∝ sqrt(p) = [0.8944, 0.4472] -> [2/3, 1/3]
    assert torch.allclose(calibrated_probs(log_p, 2.0), torch.tensor([[2 / 3, 1 / 3]]), atol=1e-6)
    # T = 1 is the identity; T = 0.5 sharpens: ∝ p² = [0.64, 0.04] -> [16/17, 1/17]
    assert torch.allclose(calibrated_probs(log_p, 1.0), torch.tensor([[0.8, 0.2]]), atol=1e-6)
    assert torch.allclose(calibrated_probs(log_p, 0.5), torch.tensor([[16 / 17, 1 / 17]]), atol=1e-6)
    # a very high temperature tends to uniform
    assert torch.allclose(calibrated_probs(log_p, 1e6), torch.tensor([[0.5, 0.5]]), atol=1e-5)


def test_temperature_keeps_zero_probabilities_at_zero():
    log_p = torch.log(torch.tensor([[0.7, 0.3, 0.0]]))
    p = calibrated_probs(log_p, 1.5)
    assert p[0, 2].item() == 0.0 and p.sum().item() == pytest.approx(1.0)


def test_user_gallery_gate_at_its_centre_takes_half_the_mass():
    probs = torch.tensor([[0.9, 0.1]])
    # user entry = the photo itself (s = 1), label 2 (a new key) in a 4-label space
    # (2 classes, new key, NO_LANDMARK). Gate centre s0 = 1.0 -> g = sigmoid(0) = 0.5.
    out = apply_user_gallery(
        probs, E1, E1.clone(), torch.tensor([2]), 4, knn_temperature=0.05, match_cosine=1.0, match_width=0.04
    )
    assert torch.allclose(out, torch.tensor([[0.45, 0.05, 0.5, 0.0]]), atol=1e-6)


def test_user_gallery_close_match_takes_over_and_far_match_changes_nothing():
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    emb = torch.cat([E1, E2])
    # entry E1 labelled 3 (NO_LANDMARK slot); s0 = 0.75, width 0.04
    out = apply_user_gallery(probs, emb, E1.clone(), torch.tensor([3]), 4, 0.05, 0.75, 0.04)
    g_close = 1 / (1 + math.exp(-(1.0 - 0.75) / 0.04))  # 0.99807
    g_far = 1 / (1 + math.exp(-(0.0 - 0.75) / 0.04))  # 7.2e-9
    assert out[0, 3].item() == pytest.approx(g_close, abs=1e-6)
    assert out[0, 0].item() == pytest.approx((1 - g_close) * 0.9, abs=1e-6)
    assert out[1, 3].item() == pytest.approx(g_far, abs=1e-9)
    assert torch.allclose(out[1, :2], probs[1], atol=1e-6)
    assert torch.allclose(out.sum(1), torch.ones(2), atol=1e-6)


def test_user_gallery_votes_between_user_labels_by_similarity():
    # photo DIAG is equally close (0.7071) to a user entry labelled 2 and one labelled 0 -> p_user = [½, 0, ½, 0]
    out = apply_user_gallery(
        torch.tensor([[0.0, 1.0]]),
        DIAG,
        torch.cat([E1, E2]),
        torch.tensor([2, 0]),
        4,
        0.05,
        match_cosine=math.sqrt(0.5),
        match_width=0.04,
    )  # g = 0.5
    assert torch.allclose(out, torch.tensor([[0.25, 0.5, 0.25, 0.0]]), atol=1e-6)


def test_empty_user_gallery_only_pads_the_label_space():
    probs = torch.tensor([[0.6, 0.4]])
    out = apply_user_gallery(probs, E1, torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), 4, 0.05, 0.75, 0.04)
    assert torch.equal(out, torch.tensor([[0.6, 0.4, 0.0, 0.0]]))


# ----------------------------------------------------------------------------- landmark gate


def test_landmark_probability_is_the_logistic_of_the_scaled_similarity():
    from core.recognition.scoring import landmark_probability

    s = torch.tensor([0.6, 0.7, 0.8])
    p = landmark_probability(s, center=0.7, width=0.05)
    # sigmoid(-2) = 0.119203, sigmoid(0) = 0.5, sigmoid(2) = 0.880797 (worked by hand)
    assert torch.allclose(p, torch.tensor([0.119203, 0.5, 0.880797]), atol=1e-6)


def test_with_no_landmark_spreads_p_landmark_and_puts_the_rest_last():
    from core.recognition.scoring import with_no_landmark

    probs = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    out = with_no_landmark(probs, torch.tensor([0.8, 0.25]), num_labels=5)
    expect = torch.tensor([[0.4, 0.24, 0.16, 0.0, 0.2], [0.025, 0.025, 0.2, 0.0, 0.75]])
    assert torch.allclose(out, expect, atol=1e-6)
    assert torch.allclose(out.sum(1), torch.ones(2))
    with pytest.raises(ValueError):
        with_no_landmark(probs, torch.tensor([0.5, 0.5]), num_labels=3)


def test_max_similarity_is_the_nearest_gallery_cosine():
    from core.recognition.scoring import max_similarity

    gallery = torch.eye(3)
    emb = torch.nn.functional.normalize(torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), dim=1)
    assert torch.allclose(max_similarity(emb, gallery), torch.tensor([2**-0.5, 1.0]), atol=1e-6)


def test_apply_user_gallery_keeps_a_full_width_input():
    probs = torch.tensor([[0.2, 0.3, 0.0, 0.5]])  # 2 classes, 1 new key, NO_LANDMARK
    out = apply_user_gallery(
        probs,
        torch.tensor([[1.0, 0.0]]),
        torch.tensor([[0.0, 1.0]]),
        torch.tensor([2]),
        4,
        knn_temperature=0.05,
        match_cosine=0.9,
        match_width=0.01,
    )
    # cosine 0 to the only user photo: gate sigmoid(-90) ≈ 0, so the input comes back unchanged
    assert torch.allclose(out, probs, atol=1e-6)

"""Metrics of training.metrics checked against cases worked out by hand."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from training.metrics import (
    confusion_matrix,
    expected_calibration_error,
    global_average_precision,
    non_landmark_labelled_rate,
    per_class_accuracy,
    top_k_accuracy,
)


# ---------------------------------------------------------------- GAP
def test_gap_hand_case_with_a_landmark_photo_left_unlabelled():
    # ranked by confidence: A right (P=1/1), B wrong, C right (P=2/3); the 4th landmark photo got
    # "no landmark" → not ranked, but counts in M = 4.  GAP = (1 + 2/3) / 4 = 5/12
    pred = ["a", "x", "c", None]
    conf = [0.9, 0.8, 0.7, 0.2]
    truth = ["a", "b", "c", "d"]
    assert global_average_precision(pred, conf, truth) == pytest.approx(5 / 12)


def test_gap_non_landmark_photo_with_a_label_is_a_wrong_prediction():
    # a labelled non-landmark photo ranks first: wrong → everything below loses precision.
    # ranks: nl (wrong), A right P=1/2, B wrong, C right P=2/4; M = 4 landmark photos.
    pred = ["a", "x", "c", None, "a"]
    conf = [0.9, 0.8, 0.7, 0.2, 0.95]
    truth = ["a", "b", "c", "d", None]
    assert global_average_precision(pred, conf, truth) == pytest.approx((1 / 2 + 2 / 4) / 4)


def test_gap_non_landmark_photo_without_label_changes_nothing():
    pred = ["a", "x", "c", None, None]
    conf = [0.9, 0.8, 0.7, 0.2, 0.99]
    truth = ["a", "b", "c", "d", None]
    assert global_average_precision(pred, conf, truth) == pytest.approx(5 / 12)


def test_gap_low_confidence_mistake_hurts_less_than_high_confidence_mistake():
    truth = ["a", "b", "c"]
    low = global_average_precision(["a", "b", "x"], [0.9, 0.8, 0.1], truth)  # (1 + 1) / 3
    high = global_average_precision(["a", "b", "x"], [0.2, 0.1, 0.9], truth)  # (1/2 + 2/3) / 3
    assert low == pytest.approx(2 / 3)
    assert high == pytest.approx((1 / 2 + 2 / 3) / 3)


def test_gap_is_independent_of_query_order_and_perfect_is_one():
    pred = ["a", "x", "c", None, "a", "e"]
    conf = [0.9, 0.8, 0.7, 0.2, 0.95, 0.5]
    truth = ["a", "b", "c", "d", None, "e"]
    ref = global_average_precision(pred, conf, truth)
    order = list(range(6))
    random.Random(1).shuffle(order)
    assert global_average_precision(
        [pred[i] for i in order], [conf[i] for i in order], [truth[i] for i in order]
    ) == pytest.approx(ref)
    assert global_average_precision(["a", "b"], [0.3, 0.4], ["a", "b"]) == 1.0


def test_gap_edge_cases():
    assert math.isnan(global_average_precision([None, "a"], [0.1, 0.2], [None, None]))  # M = 0
    assert global_average_precision([None, None], [0.1, 0.2], ["a", "b"]) == 0.0  # nothing labelled
    with pytest.raises(ValueError):
        global_average_precision(["a"], [0.1, 0.2], ["a"])


# ---------------------------------------------------------------- ECE
def test_ece_hand_case_two_bins():
    # bin (14/15, 1]: conf 0.95, acc 1/2 → |0.5-0.95| · 2/4 = 0.225
    # bin (8/15, 9/15]: conf 0.55, acc 1 → |1-0.55| · 2/4 = 0.225
    assert expected_calibration_error([0.95, 0.95, 0.55, 0.55], [True, False, True, True]) == pytest.approx(0.45)


def test_ece_perfectly_calibrated_bin_is_zero_and_extremes_fall_in_end_bins():
    assert expected_calibration_error([0.5, 0.5, 0.5, 0.5], [True, False, True, False]) == pytest.approx(0.0)
    # 0.0 goes to the first bin, 1.0 to the last; both right → |1-0|·1/2 + |1-1|·1/2
    assert expected_calibration_error([0.0, 1.0], [True, True]) == pytest.approx(0.5)


def test_ece_separates_bins_with_15_equal_widths():
    # 0.60 and 0.70 are in different 1/15-wide bins ((8/15, 9/15] and (10/15, 11/15]): errors don't cancel
    ece = expected_calibration_error([0.60, 0.70], [True, False])
    assert ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.7)
    # with 1 bin they are pooled: conf 0.65, acc 0.5
    assert expected_calibration_error([0.60, 0.70], [True, False], n_bins=1) == pytest.approx(0.15)


def test_ece_rejects_bad_input():
    with pytest.raises(ValueError):
        expected_calibration_error([1.2], [True])
    with pytest.raises(ValueError):
        expected_calibration_error([0.2, 0.3], [True])
    assert math.isnan(expected_calibration_error([], []))


# ---------------------------------------------------------------- top-k and the rest
def test_top_k_accuracy_hand_case():
    ranked = [["a", "b", "c"], ["b", "a", "c"], ["c", "b", "a"], ["a", "c", "b"]]
    truth = ["a", "a", "a", "b"]
    assert top_k_accuracy(ranked, truth, 1) == pytest.approx(1 / 4)
    assert top_k_accuracy(ranked, truth, 2) == pytest.approx(2 / 4)
    assert top_k_accuracy(ranked, truth, 3) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        top_k_accuracy(ranked, truth, 0)


def test_per_class_accuracy_confusion_and_non_landmark_rate():
    pred = [0, 0, 1, 2, 2]
    truth = [0, 1, 1, 2, 0]
    assert per_class_accuracy(pred, truth) == {0: 0.5, 1: 0.5, 2: 1.0}
    cm = confusion_matrix(pred, truth, 3)
    assert cm.tolist() == [[1, 0, 1], [1, 1, 0], [0, 0, 1]]
    assert cm.dtype == np.int64
    assert non_landmark_labelled_rate([None, "a", None, None]) == pytest.approx(0.25)

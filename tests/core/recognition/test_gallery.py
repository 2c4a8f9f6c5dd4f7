"""The compressed (FAISS) gallery of large bundles, and classes recognised through the gallery only."""

from __future__ import annotations

import json
import struct
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from core.recognition.bundle import BundleError, ScoringParams, load_bundle, save_bundle
from core.recognition.gallery import (
    CompressedGallery,
    GalleryParams,
    build_compressed_gallery,
    class_prototypes,
    ivf_nlist,
)
from core.recognition.recognizer import Recognizer
from tests.helpers import make_tiny_bundle


def clustered(n_classes: int, per_class: int, dim: int, seed: int = 0, spread: float = 0.9):
    """Unit embeddings of ``n_classes`` landmarks: class centres share super-clusters, photos scatter around them."""
    rng = np.random.default_rng(seed)
    groups = rng.standard_normal((max(1, n_classes // 10), dim)).astype(np.float32)
    centres = groups[rng.integers(0, len(groups), n_classes)] + 0.8 * rng.standard_normal((n_classes, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.repeat(centres, per_class, axis=0) + spread / np.sqrt(dim) * rng.standard_normal(
        (n_classes * per_class, dim)
    )
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return x, np.repeat(np.arange(n_classes), per_class).astype(np.int64)


def test_prototypes_are_class_means_or_the_photos_themselves():
    x, y = clustered(5, 6, 16)
    p1, l1 = class_prototypes(x, y, per_class=1)
    assert p1.shape == (5, 16) and l1.tolist() == [0, 1, 2, 3, 4]
    mean0 = x[y == 0].mean(0)
    assert np.allclose(p1[0], mean0 / np.linalg.norm(mean0), atol=1e-6)
    # a class with fewer photos than k keeps its photos; others get k unit centres
    keep = np.r_[np.flatnonzero(y == 0)[:2], np.flatnonzero(y != 0)]
    p3, l3 = class_prototypes(x[keep], y[keep], per_class=3)
    assert (l3 == 0).sum() == 2 and all((l3 == c).sum() == 3 for c in range(1, 5))
    assert np.allclose(np.linalg.norm(p3, axis=1), 1.0, atol=1e-5)
    assert np.allclose(p3[l3 == 0], x[keep][:2])
    with pytest.raises(ValueError):
        class_prototypes(x, y, per_class=0)


def test_ivf_search_finds_the_classes_exact_search_finds():
    x, y = clustered(400, 20, 64, seed=1)
    data, plabels, params = build_compressed_gallery(x, y, per_class=2, nprobe=16, search_k=20)
    assert params.vectors == len(plabels) == 800 and params.photos == 8000
    assert params.nlist == ivf_nlist(800) and params.nprobe == 16
    g = CompressedGallery(data, plabels, params, dim=64)
    qx, qy = clustered(400, 1, 64, seed=1)  # same centres, fresh photos
    qx = qx + 0.9 / 8 * np.random.default_rng(9).standard_normal(qx.shape).astype(np.float32)
    qx /= np.linalg.norm(qx, axis=1, keepdims=True)
    classes, sims = g.class_candidates(qx)
    approx_top5 = [[c for c in row if c >= 0][:5] for row in classes]
    # exact: per-class max cosine over every photo
    s = qx @ x.T
    per_class = np.full((len(qx), 400), -np.inf, np.float32)
    np.maximum.at(per_class, (np.repeat(np.arange(len(qx)), len(y)), np.tile(y, len(qx))), s.ravel())
    exact_top5 = np.argsort(-per_class, axis=1)[:, :5]
    recall_exact = np.mean([t in row for t, row in zip(qy, exact_top5)])
    recall_approx = np.mean([t in row for t, row in zip(qy, approx_top5)])
    assert recall_approx >= 0.99 * recall_exact, (recall_approx, recall_exact)
    # each class at most once per row, descending similarity
    for row, srow in zip(classes, sims):
        valid = row[row >= 0]
        assert len(set(valid.tolist())) == len(valid)
        fin = srow[np.isfinite(srow)]
        assert np.all(np.diff(fin) <= 1e-6)
    assert np.allclose(g.max_similarity(qx), sims[:, 0], atol=1e-6)
    ev = g.best_evidence(qx, exclude=int(qy[0]))
    assert ev.shape == (400,) and ev[0] <= sims[0, 0] + 1e-6


def test_a_damaged_index_is_refused():
    x, y = clustered(50, 4, 16)
    data, plabels, params = build_compressed_gallery(x, y, per_class=1)
    with pytest.raises(ValueError, match="FAISS|index"):
        CompressedGallery(data[: len(data) // 2], plabels, params, dim=16)
    with pytest.raises(ValueError, match="labels"):
        CompressedGallery(data, plabels[:-1], params, dim=16)
    with pytest.raises(ValueError, match="dimension"):
        CompressedGallery(data, plabels, params, dim=32)
    with pytest.raises(ValueError, match="kind"):
        GalleryParams.from_json({"kind": "hnsw"})


def _compressed_twin(bundle, per_class: int):
    """The same model with its exact gallery turned into an exhaustive compressed one (every photo a prototype)."""
    x = bundle.gallery_embeddings.float().numpy()
    y = bundle.gallery_labels.numpy()
    data, plabels, params = build_compressed_gallery(x, y, per_class=per_class, search_k=len(y))
    params = replace(params, nprobe=params.nlist)  # scan every bucket: only quantisation differs
    return replace(
        bundle,
        gallery_embeddings=None,
        gallery_index=torch.from_numpy(data),
        gallery_labels=torch.from_numpy(plabels),
        gallery_params=params.to_json(),
    )


def _header(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), 8 + n


def test_compressed_bundle_round_trip_integrity_and_same_answers(tmp_path):
    keys = tuple(f"lm{i}" for i in range(6))
    exact = make_tiny_bundle(keys, gallery_per_class=4, seed=3)
    exact.scoring = ScoringParams(knn_weight=0.5, knn_temperature=0.05, landmark_gate_cosine=0.1)
    small = save_bundle(exact, tmp_path / "exact.safetensors")
    assert _header(small)[0]["__metadata__"]["format_version"] == "1"

    path = save_bundle(_compressed_twin(exact, per_class=4), tmp_path / "big.safetensors")
    header, data_start = _header(path)
    assert header["__metadata__"]["format_version"] == "2"
    assert header["model.head.weight"]["dtype"] == "F16" and header["gallery.index"]["dtype"] == "U8"
    assert "gallery.embeddings" not in header
    loaded = load_bundle(path)
    assert loaded.gallery_index is not None and loaded.gallery_params["kind"] == "ivf-sq8-prototypes"

    # the SHA-256 covers the FAISS index: one flipped byte inside it is refused
    begin, end = header["gallery.index"]["data_offsets"]
    raw = bytearray(path.read_bytes())
    raw[data_start + (begin + end) // 2] ^= 0xFF
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="integrity"):
        load_bundle(bad)

    r_exact, r_big = Recognizer(small, device="cpu"), Recognizer(path, device="cpu")
    torch.manual_seed(0)
    queries = F.normalize(exact.gallery_embeddings.float() + 0.3 * torch.randn(24, exact.embedding_dim), dim=1)
    a, b = r_exact.score_embeddings(queries), r_big.score_embeddings(queries)
    assert r_big.label_keys == r_exact.label_keys
    for pa, pb in zip(a, b):
        assert pa.top_k[0][0] == pb.top_k[0][0]
        assert dict(pa.top_k)[pa.top_k[0][0]] == pytest.approx(dict(pb.top_k)[pb.top_k[0][0]], abs=0.03)
    # teaching evidence over prototypes agrees with the exact gallery (up to 8-bit quantisation)
    ev_a = r_exact.teaching_evidence(queries.numpy(), "lm0")
    ev_b = r_big.teaching_evidence(queries.numpy(), "lm0")
    assert np.allclose(ev_a, ev_b, atol=0.02)
    claims = r_big.teaching_claims(queries.numpy(), np.full(24, 0.99, np.float32), "lm0")
    assert claims.dtype == bool and claims.shape == (24,)


def test_classes_without_a_head_row_are_named_by_the_gallery(tmp_path):
    keys = ("a", "b", "tail")
    b = make_tiny_bundle(keys, gallery_per_class=3, seed=5)
    b.state_dict["head.weight"] = b.state_dict["head.weight"][:2].clone()
    b.state_dict["head.bias"] = b.state_dict["head.bias"][:2].clone()
    b.head_classes = 2
    b.scoring = ScoringParams(knn_weight=0.5, knn_temperature=0.02)
    path = save_bundle(b, tmp_path / "tail.safetensors")
    header, _ = _header(path)
    assert header["__metadata__"]["format_version"] == "2"
    loaded = load_bundle(path)
    assert loaded.num_head_classes == 2 and loaded.class_keys == list(keys)
    rec = Recognizer(path, device="cpu")
    tail_photo = loaded.gallery_embeddings[loaded.gallery_labels == 2][:1]
    pred = rec.score_embeddings(tail_photo)[0]
    assert pred.top_k[0][0] == "tail"
    # a gallery-only class needs gallery photos; the head must match head_classes
    no_tail = replace(b, gallery_embeddings=b.gallery_embeddings[:6], gallery_labels=b.gallery_labels[:6])
    with pytest.raises(BundleError, match="no gallery photo"):
        save_bundle(no_tail, tmp_path / "x.safetensors")
    with pytest.raises(BundleError, match="head shape"):
        save_bundle(replace(b, head_classes=3), tmp_path / "y.safetensors")


def test_the_shipped_bundle_keeps_format_1_and_its_exact_answers():
    """The shipped model's 1 614-photo gallery stays exact: its file is format 1 and the recognizer's answers are
    exactly those of the full network + ``fused_log_probs`` over every gallery photo (the code before galleries
    could be compressed)."""
    from core.recognition import scoring
    from core.recognition.backbones import LandmarkNet
    from core.recognition.gallery import EXACT_LIMIT
    from tests.helpers import REPO_ROOT

    path = REPO_ROOT / "resources" / "models" / "landmarks-mobilenet_v2.safetensors"
    assert _header(path)[0]["__metadata__"]["format_version"] == "1"
    b = load_bundle(path)
    assert b.gallery_index is None and b.gallery_embeddings.shape[0] <= EXACT_LIMIT
    assert b.num_head_classes == len(b.classes)
    net = LandmarkNet(b.backbone, len(b.classes))
    net.load_state_dict(b.state_dict, strict=True)
    net.eval()
    rec = Recognizer(b, device="cpu", top_k=5, verify=False)
    torch.manual_seed(1)
    x = torch.randn(4, 3, b.input_size, b.input_size)
    g, gl, sp = b.gallery_embeddings.float(), b.gallery_labels, b.scoring
    with torch.inference_mode():
        emb, logits = net(x)
        noisy = F.normalize(g[::97] + 0.2 * torch.randn(g[::97].shape), dim=1)
        emb = torch.cat([emb, noisy])
        logits = torch.cat([logits, net.head(noisy)])
        p = scoring.calibrated_probs(
            scoring.fused_log_probs(logits, emb, g, gl, sp.knn_weight, sp.knn_temperature), b.temperature
        )
        p = scoring.with_no_landmark(
            p,
            scoring.landmark_probability(
                scoring.max_similarity(emb, g), sp.landmark_gate_cosine, sp.landmark_gate_width
            ),
        )
    keys = b.class_keys + [scoring.NO_LANDMARK]
    conf, idx = p.topk(5, dim=1)
    got = rec.predict_tensors(x) + rec.score_embeddings(noisy)
    for i, pred in enumerate(got):
        assert [k for k, _ in pred.top_k] == [keys[j] for j in idx[i].tolist()]
        assert [c for _, c in pred.top_k] == pytest.approx(conf[i].tolist(), abs=1e-5)

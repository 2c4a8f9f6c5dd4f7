"""Teaching a new landmark from 3 labelled photos, on real photos (needs ../shared).

Scenario (issue 2): the user labels 3 photos of a landmark the model was never trained on; those
photos go into the recognizer's user gallery (``Recognizer.set_user_gallery``), and other photos of
that landmark must now be named — at once, without retraining — while photos of other landmarks
keep their answers. Product target: >= 80 % of the landmark's other photos named from <= 5 photos;
this test asserts >= 70 % from 3, at most 15 % of other landmarks' photos taking the new label,
and prints the measured rates.

Two models:

* ``test_three_labelled_photos_teach_a_new_landmark`` — the mechanism, with a model built here the
  way ``training/`` builds one, only smaller: the ImageNet MobileNetV2 backbone from
  ``../shared/torch-home`` (frozen), a logistic-regression head fitted on the embeddings of 8
  landmark classes, the training embeddings as the kNN gallery, temperature scaling on held-out
  photos (LBFGS on log T, Guo et al. 2017) and ``user_match_cosine`` = the median over held-out
  photos of the max cosine to a same-class gallery photo (the rule of ``training.calibration``);
* ``test_shipped_model_proposes_a_new_landmark_taught_from_five_photos`` — the product path with the
  shipped bundle (``resources/models/landmarks-mobilenet_v2.safetensors``): the proposals rule of issue 10.

Photos are taken in file-name order, so the tests are deterministic.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from core.recognition.bundle import LandmarkClass, ModelBundle, ScoringParams, load_bundle
from core.recognition.recognizer import Recognizer
from core.recognition.scoring import teaching_claims
from tests.helpers import REPO_ROOT as REPO

pytestmark = pytest.mark.shared


SHIPPED = REPO / "resources" / "models" / "landmarks-mobilenet_v2.safetensors"

#: Classes of ../shared/data/landmarks the built model is trained on.
MODEL_CLASSES = (
    "Colosseum",
    "Taj_Mahal",
    "Petra",
    "Machu_Picchu",
    "Chichen_Itza",
    "Cologne_Cathedral",
    "Alhambra",
    "Angkor_Wat",
)
#: Landmarks to teach, first one the model does not know: (dataset folder, class).
NEW_CANDIDATES = (
    ("landmarks", "Torre_dos_Clerigos_Porto"),
    ("landmarks", "Ponte_da_Arrabida_Porto"),
    ("landmarks-eecs445-64px", "petronas_towers"),
    ("landmarks-eecs445-64px", "rialto_bridge"),
)
#: Other landmarks, unknown to the built model, that must not take the taught label.
OTHER_CLASSES = (
    ("landmarks", "Casa_da_Musica_Porto"),
    ("landmarks", "Hagia_Sophia"),
    ("landmarks", "Forbidden_City"),
    ("landmarks", "Palais_des_Papes_Avignon"),
    ("landmarks", "Camara_Municipal_do_Porto"),
    ("landmarks", "Pont_Saint_Benezet_Avignon"),
    ("landmarks-eecs445-64px", "berlin_cathedral"),
    ("landmarks-eecs445-64px", "st_stephen_cathedral_vienna"),
)
N_TRAIN, N_VAL, N_TEACH, N_QUERY, N_OTHER = 12, 6, 3, 30, 5


def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _photos(data: Path, dataset: str, cls: str) -> list[Path]:
    """The class's photos over all splits, in file-name order."""
    files = sorted((data / dataset).glob(f"*/{cls}/*.jpg"), key=lambda p: (p.name, p.parent.parent.name))
    assert files, f"no photos for {dataset}/{cls}"
    return files


def _embed(rec: Recognizer, paths: list[Path]) -> torch.Tensor:
    out = rec.predict_paths(paths, batch_size=32)
    bad = [r for r in out if not hasattr(r, "embedding")]
    assert not bad, bad
    return torch.from_numpy(np.stack([r.embedding for r in out]))


def _fit_head(emb: torch.Tensor, y: torch.Tensor, num_classes: int, weight_decay: float = 1e-3):
    """Multinomial logistic regression on unit embeddings (LBFGS): ``(W (C, D), b (C,))``."""
    w = torch.zeros(num_classes, emb.shape[1], requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(emb @ w.T + b, y) + weight_decay * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def _fit_temperature(log_p: torch.Tensor, y: torch.Tensor) -> float:
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100, line_search_fn="strong_wolfe")
    lp = torch.nan_to_num(log_p, neginf=-1e4)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(lp / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))


def _build_bundle(data: Path, weights: Path) -> tuple[ModelBundle, dict[str, torch.Tensor]]:
    """A MobileNetV2 bundle for MODEL_CLASSES (see the module docstring); also returns the
    embeddings of the held-out photos of those classes (``"val"``, ``"val_y"``)."""
    from core.recognition.backbones import LandmarkNet
    from core.recognition.scoring import class_max_similarity, fused_log_probs

    c = len(MODEL_CLASSES)
    net = LandmarkNet("mobilenet_v2", c)
    imagenet = torch.load(weights, map_location="cpu", weights_only=True)
    # torchvision 'features.*' -> LandmarkNet 'backbone.features.*'; the ImageNet classifier is dropped
    state = {f"backbone.{k}": v for k, v in imagenet.items() if not k.startswith("classifier.")}
    state["head.weight"] = torch.zeros(c, net.embedding_dim)
    state["head.bias"] = torch.zeros(c)
    net.load_state_dict(state, strict=True)
    base = ModelBundle(
        backbone="mobilenet_v2",
        input_size=224,
        resize_size=256,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        classes=[LandmarkClass(k, k.replace("_", " ")) for k in MODEL_CLASSES],
        temperature=1.0,
        no_landmark_threshold=0.25,
        embedding_dim=net.embedding_dim,
        model_version="teaching-test",
        state_dict=state,
    )
    rec = Recognizer(base, device="cpu")
    train, val, y_train, y_val = [], [], [], []
    for i, cls in enumerate(MODEL_CLASSES):
        files = _photos(data, "landmarks", cls)
        train += files[:N_TRAIN]
        val += files[N_TRAIN : N_TRAIN + N_VAL]
        y_train += [i] * N_TRAIN
        y_val += [i] * N_VAL
    e_train, e_val = _embed(rec, train), _embed(rec, val)
    y_train, y_val = torch.tensor(y_train), torch.tensor(y_val)
    w, b = _fit_head(e_train, y_train, c)
    gallery = e_train.half().float()  # what the bundle file would hold
    scoring = ScoringParams()
    log_p = fused_log_probs(e_val @ w.T + b, e_val, gallery, y_train, scoring.knn_weight, scoring.knn_temperature)
    temperature = _fit_temperature(log_p, y_val)
    same = class_max_similarity(e_val, gallery, y_train, c)[torch.arange(len(y_val)), y_val]
    scoring = replace(scoring, user_match_cosine=float(same.median()))
    state = dict(state, **{"head.weight": w, "head.bias": b})
    bundle = replace(
        base,
        state_dict=state,
        gallery_embeddings=gallery,
        gallery_labels=y_train,
        temperature=temperature,
        scoring=scoring,
        training={"note": "built by tests/test_teaching.py", "classes": list(MODEL_CLASSES)},
    )
    return bundle, {"val": e_val, "val_y": y_val}


@pytest.fixture(scope="module")
def built_model(shared_data, mobilenet_v2_weights):
    """``(bundle, held-out embeddings of its classes)`` built as the module docstring says."""
    torch.set_num_threads(2)
    return _build_bundle(shared_data, mobilenet_v2_weights)


def _teach(bundle: ModelBundle, data: Path, dataset: str, new: str, what: str, held_out=None):
    """Teach ``new`` from N_TEACH photos; returns (report, rate3, rate5, false_rate, changed_other,
    accuracy before/after on ``held_out``)."""
    known = {_norm(k) for k in bundle.class_keys} | {_norm(c.name) for c in bundle.classes}
    assert _norm(new) not in known, f"{new} is one of the model's classes ({what})"
    rec = Recognizer(bundle, device="cpu")

    new_files = _photos(data, dataset, new)
    teach, query = new_files[:5], new_files[5 : 5 + N_QUERY]
    others = [p for d, c in OTHER_CLASSES if _norm(c) != _norm(new) for p in _photos(data, d, c)[:N_OTHER]]
    e_teach, e_query, e_other = _embed(rec, teach), _embed(rec, query), _embed(rec, others)
    before_other = rec.score_embeddings(e_other)

    new_key = f"user:{new}"
    rec.set_user_gallery(e_teach[:N_TEACH], [new_key] * N_TEACH, names={new_key: new.replace("_", " ")})
    after_query = rec.score_embeddings(e_query)
    rate3 = sum(p.label == new_key for p in after_query) / len(after_query)
    top1 = sum(p.top_k[0][0] == new_key for p in after_query) / len(after_query)
    after_other = rec.score_embeddings(e_other)
    false_rate = sum(p.label == new_key for p in after_other) / len(after_other)
    changed_other = sum(a.label != b.label for a, b in zip(before_other, after_other)) / len(after_other)

    # the CNN path agrees with re-scoring stored embeddings
    direct = rec.predict_paths(query[:4])
    assert [p.label for p in direct] == [p.label for p in after_query[:4]]

    acc_before = acc_after = None
    if held_out is not None:  # the model's own classes keep their labels
        keys = bundle.class_keys

        def accuracy(preds):
            return sum(p.label == keys[int(y)] for p, y in zip(preds, held_out["val_y"])) / len(preds)

        preds = rec.score_embeddings(held_out["val"])
        acc_after = accuracy(preds)
        false_rate = max(false_rate, sum(p.label == new_key for p in preds) / len(preds))
        rec.set_user_gallery(None, [])
        acc_before = accuracy(rec.score_embeddings(held_out["val"]))

    rec.set_user_gallery(e_teach, [new_key] * len(e_teach))
    rate5 = sum(p.label == new_key for p in rec.score_embeddings(e_query)) / len(e_query)

    report = (
        f"{what}; taught {dataset}/{new}: {rate3:.0%} of {len(query)} other photos named from "
        f"{N_TEACH} photos (top-1 {top1:.0%}), {rate5:.0%} from 5; other landmarks given the new label: "
        f"{false_rate:.0%} (labels changed: {changed_other:.0%})"
        + (
            f"; held-out photos of the model's classes right: {acc_before:.0%} before, {acc_after:.0%} after"
            if acc_before is not None
            else ""
        )
    )
    print("\n" + report)
    return report, rate3, rate5, false_rate, changed_other, acc_before, acc_after


def test_three_labelled_photos_teach_a_new_landmark(built_model, shared_data, record_property):
    """The mechanism (decode → embed → user gallery → scoring) on real photos, with a small model
    built here: an unseen landmark is learnt from 3 photos, other landmarks keep their labels."""
    bundle, held_out = built_model
    dataset, new = NEW_CANDIDATES[0]
    report, rate3, _, false_rate, changed_other, acc_before, acc_after = _teach(
        bundle, shared_data, dataset, new, "MobileNetV2 (ImageNet) + head fitted on 8 classes, built here", held_out
    )
    record_property("teaching_built", report)
    assert rate3 >= 0.70, report
    assert false_rate <= 0.15, report
    assert changed_other <= 0.15, report
    assert acc_before >= 0.6, report  # the built model works at all
    assert acc_before - acc_after <= 0.15, report


def test_shipped_model_proposes_a_new_landmark_taught_from_five_photos(shared_data, record_property):
    """The product path with the shipped bundle: since issue 10 the app teaches by *proposals*, with the rule
    ``s_L(x) >= e(x) + margin`` (``Recognizer.teaching_evidence``, ``scoring.teaching_claims``, the bundle's
    ``teaching_margin``), never through ``set_user_gallery``'s gate. A 64 px landmark of landmarks-eecs445 the
    model was not trained on is taught from 3 and from 5 photos; with 5, at least 70 % of its other photos are
    proposed and at most 15 % of other landmarks' photos (the bounds of the test above).

    (The shipped fine-tuned model's ``user_match_cosine`` gate, calibrated on validation photos of classes
    the head was trained on, is optimistic for unseen landmarks: 20 % of other photos took the new label
    through ``set_user_gallery`` here — see MODEL_CARD.md, "Teaching". The app does not use that gate.)"""
    if not SHIPPED.is_file():
        pytest.fail(f"the shipped model {SHIPPED.relative_to(REPO)} is missing")
    torch.set_num_threads(2)
    shipped = load_bundle(SHIPPED)
    known = {_norm(k) for k in shipped.class_keys}
    dataset, new = next(((d, c) for d, c in NEW_CANDIDATES if _norm(c) not in known), (None, None))
    assert new is not None, "every candidate landmark is one of the shipped model's classes"
    rec = Recognizer(shipped, device="cpu")
    files = _photos(shared_data, dataset, new)
    teach, query = files[:5], files[5 : 5 + N_QUERY]
    others = [p for d, c in OTHER_CLASSES if _norm(c) != _norm(new) for p in _photos(shared_data, d, c)[:N_OTHER]]
    e_teach, e_query, e_other = (F.normalize(_embed(rec, x).float(), dim=1) for x in (teach, query, others))
    margin = rec.teaching_margin

    def proposed(e: torch.Tensor, k: int) -> float:
        taught_sim = (e @ e_teach[:k].T).max(dim=1).values
        evidence = torch.as_tensor(rec.teaching_evidence(e, f"user:{new}"))
        return float(teaching_claims(taught_sim, evidence, margin).float().mean())

    rate3, rate5, false3, false5 = (
        proposed(e_query, 3),
        proposed(e_query, 5),
        proposed(e_other, 3),
        proposed(e_other, 5),
    )
    report = (
        f"shipped {SHIPPED.name}, margin {margin:+.2f}; taught {dataset}/{new}: {rate3:.0%} of {len(query)} other "
        f"photos proposed from 3 photos, {rate5:.0%} from 5; other landmarks' photos proposed: {false3:.0%} / "
        f"{false5:.0%} of {len(others)}"
    )
    print("\n" + report)
    record_property("teaching_shipped", report)
    assert rate5 >= 0.70, report
    assert rate5 >= rate3, report  # more taught photos never propose fewer
    assert false5 <= 0.15, report

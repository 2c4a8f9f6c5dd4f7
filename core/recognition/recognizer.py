"""The landmark recognizer: photos in, top-k landmarks with calibrated confidences out.

A ``Recognizer`` holds one model bundle (``core.recognition.bundle``) on one torch device
(``core.recognition.device``). For each photo it returns a ``Prediction``: the top-k labels with calibrated
confidences, the "no landmark" decision and the L2-normalised embedding (stored by the app so a
photo can be re-scored later without running the CNN).

Steps (see ``core.recognition.scoring`` for the formulas):

1. decode (``core.photos.image_io.open_photo``: EXIF orientation, RGB, JPEG draft decoding) and
   preprocess (``core.recognition.preprocess``: resize shorter side, centre crop, ImageNet mean/std) —
   ``load_image``, thread-safe, run by a small thread pool in ``predict_paths``;
2. batched CNN forward under ``torch.inference_mode`` (fp16 autocast on CUDA) → unit embeddings
   ``(B, D)`` and head logits ``(B, C)``;
3. head + kNN-gallery fusion and temperature scaling (``scoring.fused_log_probs``,
   ``scoring.calibrated_probs``); the landmark gate when the bundle has one
   (``scoring.landmark_probability``, ``scoring.with_no_landmark``: P(no landmark) from the
   similarity to the nearest gallery photo); then the user gallery (``scoring.apply_user_gallery``):
   photos the user labelled, which teach new landmarks or fix confusions at once, without retraining;
4. top-k, and "is a landmark" = top-1 confidence ``>= bundle.no_landmark_threshold`` and top-1 label
   ``!= scoring.NO_LANDMARK``;
5. geometric verification of uncertain photos (``core.recognition.verification``), when the bundle has a
   features file beside it (``core.recognition.features_file``) and ``verify`` is on: ``needs_verification``
   says which predictions are uncertain, ``verify_prediction`` decodes the photo again for its local features
   and re-ranks the top-k. ``predict_paths`` does it for the uncertain photos; ``predict_tensors`` and
   ``score_embeddings`` (no file at hand) do not; ``core.tagging.tag`` runs it in a thread beside the CNN.

Label space: the model's class keys in head order; once a user gallery is set, followed by the new
keys it introduces (first-seen order); then ``scoring.NO_LANDMARK`` when there is a user gallery or
the bundle has a landmark gate.

Threading: ``load_image`` may run in any number of threads while one thread calls
``predict_tensors``/``predict_paths``/``score_embeddings``; ``set_user_gallery`` swaps an immutable
snapshot, so a prediction in flight uses either the old or the new gallery, never a mix.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from core.photos.image_io import ImageDecodeError
from core.recognition import scoring
from core.recognition.backbones import LandmarkNet
from core.recognition.bundle import BundleError, ModelBundle, load_bundle
from core.recognition.device import resolve_device
from core.recognition.features_file import FeaturesError, VerificationFeatures, features_path_for, load_features
from core.recognition.gallery import CompressedGallery, GalleryParams
from core.recognition.local_features import extract_local_features
from core.recognition.malloc_tuning import tune_malloc_for_inference
from core.recognition.preprocess import Preprocessor
from core.recognition.verification import Verification, needs_verification, verify_top_k

__all__ = ["Prediction", "Recognizer", "NO_LANDMARK_NAME"]

#: Display name of ``scoring.NO_LANDMARK``.
NO_LANDMARK_NAME = "No landmark"

#: Rows scored at once by ``score_embeddings`` (bounds the (rows × gallery) similarity matrix).
_SCORE_CHUNK = 4096


@dataclass(frozen=True)
class Prediction:
    """What the recognizer says about one photo.

    Attributes:
        top_k: ``(label key, calibrated confidence)`` pairs, confidence descending, at most
            ``Recognizer.top_k`` of them; keys are model class keys, user-taught keys or
            ``scoring.NO_LANDMARK``; confidences are in [0, 1] and sum to at most 1.
        label: the top-1 key when ``is_landmark``, else ``None``.
        confidence: top-1 calibrated confidence in [0, 1] (softmax confidence after temperature
            scaling and the gallery blend).
        is_landmark: top-1 confidence ``>= bundle.no_landmark_threshold`` and top-1 key is not
            ``scoring.NO_LANDMARK``.
        embedding: ``(D,)`` float32 numpy array with unit L2 norm.
        verification: the ``core.recognition.verification.Verification`` when the photo was verified
            (``top_k`` is then the re-ranked one), else ``None``.
    """

    top_k: tuple[tuple[str, float], ...]
    label: str | None
    confidence: float
    is_landmark: bool
    embedding: np.ndarray
    verification: Verification | None = None


@dataclass(frozen=True)
class _UserGallery:
    """Immutable snapshot of the user gallery (swapped atomically by ``set_user_gallery``)."""

    embeddings: torch.Tensor  # (M, D) float32 unit norm, on the recognizer's device
    labels: torch.Tensor  # (M,) int64 indices into ``keys``, on the device
    keys: tuple[str, ...]  # extended label space: classes + new keys + NO_LANDMARK
    names: Mapping[str, str]  # display names of new keys
    landmark_embeddings: torch.Tensor | None = None  # (M', D) rows not labelled NO_LANDMARK (landmark gate)


class Recognizer:
    """Runs a model bundle on photos. See the module docstring for the steps.

    Args:
        bundle: a ``ModelBundle`` or the path of a bundle file.
        device: ``"auto"`` (CUDA, then Apple MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
            ``"mps"`` or ``"gpu"`` (``core.recognition.device.resolve_device``).
        top_k: how many labels each ``Prediction.top_k`` holds (>= 1).
        threads: if given, ``torch.set_num_threads(threads)`` — process-wide, CPU inference threads.
            On the CPU the recognizer also applies ``core.recognition.malloc_tuning.tune_malloc_for_inference``
            (process-wide glibc settings that keep activation memory between batches).
        decode_workers: threads decoding photos in ``predict_paths`` (default on CPU: 2 on machines
            with more than 2 cores, else 1; on a GPU: cores - 1, at most 8; 0 decodes on the calling
            thread). Stored as the ``decode_workers`` attribute.
        tta: test-time augmentation: the embedding is the normalised mean of the photo's and its
            horizontal mirror's embeddings (two CNN passes per photo). Off by default: measured under
            cross-validation it does not pay for its cost (``resources/models/MODEL_CARD.md``).
        verify: use geometric verification when features are available (step 5).
        features: the verification features: a ``VerificationFeatures``, a file, or ``None`` = the
            bundle's ``NAME.features.safetensors`` beside a bundle given as a path, when it exists (a
            bundle without one runs without verification). Not read when ``verify`` is off.
    Raises:
        BundleError: the file is not a usable bundle, or its weights do not fit its backbone
            (``load_state_dict(strict=True)`` fails); a features file that is tampered, unreadable or built
            for another model (``core.recognition.features_file.FeaturesError``, a ``BundleError``).
        ValueError: unavailable device, ``top_k < 1``.

    Attributes:
        bundle: the ``ModelBundle``. model_version: ``bundle.model_version``.
        device: the ``torch.device`` in use. embedding_dim: D.
        preprocessor: the bundle's ``core.recognition.preprocess.Preprocessor``.
        verification_features: the loaded ``VerificationFeatures``, or ``None``.
        verify: whether verification runs (features loaded and ``verify`` asked for).
    """

    def __init__(
        self,
        bundle: ModelBundle | str | os.PathLike,
        device: str = "auto",
        top_k: int = 5,
        threads: int | None = None,
        *,
        decode_workers: int | None = None,
        tta: bool = False,
        verify: bool = True,
        features: VerificationFeatures | str | os.PathLike | None = None,
    ) -> None:
        bundle_path: Path | None = None
        if isinstance(bundle, (str, os.PathLike)):
            bundle_path = Path(bundle)
            bundle = load_bundle(bundle_path)
        if not isinstance(bundle, ModelBundle):
            raise TypeError(f"expected a ModelBundle or a path, got {type(bundle).__name__}")
        if int(top_k) < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        self.bundle = bundle
        self.model_version = bundle.model_version
        self.top_k = int(top_k)
        self.tta = bool(tta)
        self.device = resolve_device(device)
        self.embedding_dim = int(bundle.embedding_dim)
        self.preprocessor = Preprocessor.from_bundle(bundle)
        if decode_workers is None:
            cores = os.cpu_count() or 1
            if self.device.type == "cpu":  # the CNN needs the cores too
                decode_workers = 2 if cores > 2 else 1
            else:  # a GPU outruns one decoding thread by far: use the spare cores
                decode_workers = max(1, min(8, cores - 1))
        self.decode_workers = max(0, int(decode_workers))
        if self.device.type == "cpu":
            tune_malloc_for_inference()  # no page faults per batch (see core.recognition.malloc_tuning)

        # The network is the backbone alone: the head's weights are used directly by the scoring (a large bundle's
        # head stays float16 and is gathered per candidate class, never multiplied in full).
        head_keys = {"head.weight", "head.bias"}
        try:
            model = LandmarkNet(bundle.backbone, 1)  # the head is unused here (see above)
        except ValueError as exc:
            raise BundleError(str(exc)) from None
        backbone_state = {k[len("backbone.") :]: v for k, v in bundle.state_dict.items() if k.startswith("backbone.")}
        unexpected = sorted(k for k in bundle.state_dict if not k.startswith("backbone.") and k not in head_keys)
        try:
            if unexpected:
                raise RuntimeError(f"Error(s) in loading state_dict:\n    Unexpected key(s): {', '.join(unexpected)}")
            model.backbone.load_state_dict(backbone_state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            detail = " ".join(line.strip() for line in first[1:3]) if len(first) > 1 else str(exc)
            raise BundleError(f"the bundle's weights do not fit backbone {bundle.backbone!r}: {detail}") from None
        model.eval().requires_grad_(False)
        self._cuda = self.device.type == "cuda"
        # channels_last (NHWC) on the CPU too: oneDNN's NHWC convolutions ran MobileNetV2 ~15 % faster per photo
        # and, at batch 4, needed ~60 MB of activation memory instead of ~130 MB (bench/bench_camera.py).
        self._channels_last = self.device.type in ("cuda", "cpu")
        if self._channels_last:
            model = model.to(self.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
        else:
            model = model.to(self.device)
        self._model = model

        dev = self.device
        self._keys: tuple[str, ...] = tuple(bundle.class_keys)
        self._names = {c.key: c.name for c in bundle.classes}
        self._num_classes = len(bundle.classes)
        self._num_head = bundle.num_head_classes
        self._gallery: torch.Tensor | None = None
        self._gallery_labels: torch.Tensor | None = None
        self._compressed: CompressedGallery | None = None
        if bundle.gallery_index is not None and bundle.gallery_labels is not None:
            try:
                self._compressed = CompressedGallery(
                    bundle.gallery_index.numpy(),
                    bundle.gallery_labels.numpy(),
                    GalleryParams.from_json(bundle.gallery_params),
                    self.embedding_dim,
                )
            except (ValueError, TypeError) as exc:
                raise BundleError(f"the bundle's gallery index is unusable: {exc}") from None
            # FAISS holds its own copy of the index: drop the serialised bytes (214 MB at 81 000 landmarks)
            self.bundle = bundle = dataclasses.replace(bundle, gallery_index=torch.empty(1, dtype=torch.uint8))
            if threads is not None:  # FAISS has its own OpenMP threads (process-wide, like torch's)
                import faiss

                faiss.omp_set_num_threads(max(1, int(threads)))
            # (H, D) as stored (float16): rows are gathered per candidate class
            self._head_w = bundle.state_dict["head.weight"].detach().to(dev)
        else:
            self._head_w = bundle.state_dict["head.weight"].detach().float().to(dev)  # (H, D)
        self._head_b = bundle.state_dict["head.bias"].detach().float().to(dev)  # (H,)
        if (
            bundle.gallery_embeddings is not None
            and bundle.gallery_labels is not None
            and bundle.gallery_embeddings.shape[0] > 0
        ):
            # used exactly as stored (float16 → float32), as training calibrated the scoring on it
            self._gallery = bundle.gallery_embeddings.float().to(dev)
            self._gallery_labels = bundle.gallery_labels.long().to(dev)
        # rows scored at once by score_embeddings: bounds the (rows × classes) probability matrix to ~64 MB
        self._score_chunk = max(64, min(_SCORE_CHUNK, (1 << 24) // max(1, self._num_classes)))
        sp = bundle.scoring
        self._gate = sp.landmark_gate_cosine is not None and (self._gallery is not None or self._compressed is not None)
        self._user: _UserGallery | None = None
        self._user_lock = threading.Lock()
        self.verification_features = self._load_features(features, bundle_path) if verify else None
        self.verify = self.verification_features is not None
        self._features_missing = verify and self.verification_features is None

    def _load_features(
        self, features: VerificationFeatures | str | os.PathLike | None, bundle_path: Path | None
    ) -> VerificationFeatures | None:
        keys = list(self.bundle.class_keys)
        if isinstance(features, VerificationFeatures):
            if features.model_version != self.model_version or list(features.gallery.class_keys) != keys:
                raise FeaturesError(
                    f"the verification features were built for model {features.model_version}, "
                    f"not for this bundle's model {self.model_version}"
                )
            return features
        if features is None:
            if bundle_path is None:
                return None
            path = features_path_for(bundle_path)
            if not path.exists():
                return None
        else:
            path = Path(features)
        return load_features(path, model_version=self.model_version, class_keys=keys)

    # ------------------------------------------------------------------ verification
    @property
    def verification_status(self) -> str:
        """One line for the self-test and the model card: whether verification is on, and why not."""
        f = self.verification_features
        if f is not None:
            g = f.gallery
            landmarks = len({int(x) for x in g.labels})
            return f"on ({len(g)} gallery photos of {landmarks} landmarks, {f.params.geometry} RANSAC)"
        if self._features_missing:
            return "unavailable: no verification features"
        return "off (turned off in the settings)"

    def needs_verification(self, prediction: Prediction) -> bool:
        """Whether ``verify_prediction`` would look at this prediction (verification on and its top-1 uncertain,
        ``core.recognition.verification.needs_verification``)."""
        f = self.verification_features
        return f is not None and prediction.verification is None and needs_verification(prediction.top_k, f.params)

    def verify_prediction(self, prediction: Prediction, path: str | os.PathLike) -> Prediction:
        """Geometric verification of one prediction (thread-safe; OpenCV releases the GIL).

        Decodes ``path`` again for its local features (``core.recognition.local_features``), matches them
        against the gallery photos of the top candidates and re-ranks (``core.recognition.verification``).

        Args:
            prediction: what ``predict_tensors`` said about the photo at ``path``.
        Returns:
            a new ``Prediction`` (``verification`` set; label, confidence and ``is_landmark`` from the
            re-ranked top-k), or ``prediction`` itself when verification is off, the prediction is certain
            enough, or the photo cannot be decoded again.
        """
        f = self.verification_features
        if f is None or not self.needs_verification(prediction):
            return prediction
        _single_threaded_opencv()
        try:
            query = extract_local_features(path, f.extraction)
        except ImageDecodeError:
            return prediction
        v = verify_top_k(prediction.top_k, prediction.embedding, query, f.gallery, f.params)
        key0, c0 = v.top_k[0]
        is_lm = c0 >= float(self.bundle.no_landmark_threshold) and key0 != scoring.NO_LANDMARK
        return Prediction(
            top_k=v.top_k,
            label=key0 if is_lm else None,
            confidence=c0,
            is_landmark=is_lm,
            embedding=prediction.embedding,
            verification=v,
        )

    # ------------------------------------------------------------------ labels
    @property
    def label_keys(self) -> tuple[str, ...]:
        """The current label space: model class keys, then (with a user gallery) new keys and
        ``scoring.NO_LANDMARK``."""
        user = self._user
        if user is not None:
            return user.keys
        return self._keys + (scoring.NO_LANDMARK,) if self._gate else self._keys

    def label_name(self, key: str) -> str:
        """Display name for a label key: the class name from the bundle, ``"No landmark"`` for
        ``scoring.NO_LANDMARK``, the name given to ``set_user_gallery`` for a user-taught key, and
        the key itself for any other key (e.g. a label from an older model)."""
        if key == scoring.NO_LANDMARK:
            return NO_LANDMARK_NAME
        name = self._names.get(key)
        if name is not None:
            return name
        user = self._user
        if user is not None and key in user.names:
            return user.names[key]
        return key

    # ------------------------------------------------------------------ user gallery
    def set_user_gallery(self, embeddings, labels: Sequence[str], *, names: Mapping[str, str] | None = None) -> None:
        """Replace the user-labelled gallery (photos the user named or marked as "no landmark").

        Args:
            embeddings: ``(M, D)`` float32/float16 (numpy array or tensor); normalised here to unit
                L2 norm. ``M = 0`` (or ``None``) clears the user gallery.
            labels: M keys: model class keys, new landmark keys (taught by the user) or
                ``scoring.NO_LANDMARK``.
            names: optional display names for new keys (``label_name``).
        Raises:
            ValueError: shape mismatch, non-finite or zero embeddings, empty keys.
        The label space becomes: model classes, new keys in first-seen order, ``NO_LANDMARK``.
        """
        if embeddings is None or len(labels) == 0:
            if embeddings is not None and len(embeddings) != 0:
                raise ValueError(f"{len(embeddings)} embeddings but 0 labels")
            with self._user_lock:
                self._user = None
            return
        emb = torch.as_tensor(np.asarray(embeddings) if not torch.is_tensor(embeddings) else embeddings)
        if emb.ndim != 2 or emb.shape[1] != self.embedding_dim:
            raise ValueError(
                f"user gallery embeddings must have shape (M, {self.embedding_dim}), got {tuple(emb.shape)}"
            )
        if emb.shape[0] != len(labels):
            raise ValueError(f"{emb.shape[0]} embeddings but {len(labels)} labels")
        emb = emb.detach().to(torch.float32).cpu()
        norms = emb.norm(dim=1)
        if not torch.isfinite(emb).all() or bool((norms < 1e-6).any()):
            raise ValueError("user gallery embeddings must be finite and non-zero")
        index = {k: i for i, k in enumerate(self._keys)}
        new_keys: list[str] = []
        label_idx = []
        for key in labels:
            if not isinstance(key, str) or not key:
                raise ValueError(f"user gallery labels must be non-empty strings, got {key!r}")
            if key == scoring.NO_LANDMARK:
                label_idx.append(-1)  # resolved below, once the number of new keys is known
                continue
            if key not in index:
                index[key] = len(self._keys) + len(new_keys)
                new_keys.append(key)
            label_idx.append(index[key])
        keys = self._keys + tuple(new_keys) + (scoring.NO_LANDMARK,)
        no_landmark = len(keys) - 1
        lab = torch.tensor([no_landmark if i < 0 else i for i in label_idx], dtype=torch.int64)
        unit = (emb / norms.unsqueeze(1)).to(self.device)
        landmark_rows = lab != no_landmark
        snapshot = _UserGallery(
            embeddings=unit,
            labels=lab.to(self.device),
            landmark_embeddings=unit[landmark_rows.to(self.device)] if bool(landmark_rows.any()) else None,
            keys=keys,
            names=dict(names or {}),
        )
        with self._user_lock:
            self._user = snapshot

    # ------------------------------------------------------------------ teaching (proposals)
    @property
    def teaching_margin(self) -> float:
        """Margin of the teaching rule ``s_L(x) >= e(x) + margin`` (cosine units): the bundle's
        ``ScoringParams.user_match_margin``, or ``scoring.DEFAULT_USER_MATCH_MARGIN`` when it has none."""
        m = self.bundle.scoring.user_match_margin
        return float(scoring.DEFAULT_USER_MATCH_MARGIN if m is None else m)

    def teaching_evidence(self, embeddings, landmark: str | None) -> np.ndarray:
        """Best model evidence ``e(x)`` of photos against a taught ``landmark``
        (``scoring.best_evidence``): each photo's highest cosine to a gallery photo of any model class other
        than ``landmark`` (every class when the model does not know it, or for ``None`` / "no landmark").

        Args:
            embeddings: ``(N, D)`` float32/float16 (numpy array or tensor); re-normalised to unit norm.
            landmark: the taught landmark key.
        Returns:
            ``(N,)`` float32 numpy array in [-1, 1] (-1 everywhere when the bundle has no gallery).
        Raises:
            ValueError: wrong shape.
        """
        emb = embeddings if torch.is_tensor(embeddings) else torch.as_tensor(np.asarray(embeddings))
        if emb.ndim != 2 or emb.shape[1] != self.embedding_dim:
            raise ValueError(f"embeddings must have shape (N, {self.embedding_dim}), got {tuple(emb.shape)}")
        exclude = self._keys.index(landmark) if landmark in self._keys else None
        if self._compressed is not None:  # the closest prototype of another class
            unit = F.normalize(emb.to(torch.float32), dim=1).cpu().numpy()
            return self._compressed.best_evidence(unit, exclude)
        out = []
        with torch.inference_mode():
            for start in range(0, emb.shape[0], _SCORE_CHUNK):
                chunk = F.normalize(emb[start : start + _SCORE_CHUNK].to(self.device, torch.float32), dim=1)
                out.append(scoring.best_evidence(chunk, self._gallery, self._gallery_labels, exclude).cpu())
        if not out:
            return np.zeros(0, np.float32)
        return torch.cat(out).numpy().astype(np.float32)

    def teaching_claims(self, embeddings, taught_sim, landmark: str | None) -> np.ndarray:
        """The teaching rule ``s_L(x) >= e(x) + margin`` (``scoring.teaching_claims``) for many photos.

        Exact, but cheap on 100 000 photos: ``e(x)`` is at least x's highest cosine to one gallery photo of
        each other class (a lower bound from ~C photos), so photos whose ``s_L(x)`` does not beat that bound
        by the margin are settled without the full gallery; ``teaching_evidence`` runs on the rest only.

        Args:
            embeddings: ``(N, D)`` float32/float16 numpy array. taught_sim: ``(N,)`` ``s_L(x)``, the highest
                cosine of each photo to the person's photos of ``landmark``. landmark: the taught key.
        Returns:
            ``(N,)`` bool numpy array: the photos the taught landmark claims.
        """
        ts = np.asarray(taught_sim, np.float32)
        margin = self.teaching_margin
        if self._compressed is not None:
            emb_all = np.asarray(embeddings, np.float32)
            return ts >= self.teaching_evidence(emb_all, landmark) + margin
        if self._gallery is None or self._gallery_labels is None:
            return ts >= -1.0 + margin
        exclude = self._keys.index(landmark) if landmark in self._keys else -1
        labels = self._gallery_labels.cpu().numpy()
        firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels) if c != exclude]
        if not firsts:
            return ts >= -1.0 + margin
        reps = self._gallery[firsts].cpu().numpy().astype(np.float32)  # (R, D) unit rows
        emb = np.asarray(embeddings)
        maybe = np.zeros(len(ts), bool)
        for start in range(0, len(ts), _SCORE_CHUNK):
            chunk = emb[start : start + _SCORE_CHUNK].astype(np.float32)
            chunk /= np.maximum(np.linalg.norm(chunk, axis=1, keepdims=True), 1e-12)
            lower = (chunk @ reps.T).max(axis=1)
            maybe[start : start + len(chunk)] = ts[start : start + len(chunk)] >= lower + margin
        out = np.zeros(len(ts), bool)
        idx = np.flatnonzero(maybe)
        if idx.size:
            e = self.teaching_evidence(emb[idx].astype(np.float32), landmark)
            out[idx] = ts[idx] >= e + margin
        return out

    # ------------------------------------------------------------------ images
    def load_image(self, path: str | os.PathLike) -> torch.Tensor:
        """Decode and preprocess one photo: ``(3, S, S)`` float32 CPU tensor, S = bundle input size.

        Thread-safe. Raises:
            ImageDecodeError: unreadable, empty, truncated, non-image or oversized file.
        """
        return self.preprocessor.load(path)

    # ------------------------------------------------------------------ inference
    def _autocast(self):
        if self._cuda:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return nullcontext()

    def embed_tensors(self, batch: torch.Tensor) -> torch.Tensor:
        """CNN forward only: ``(B, 3, S, S)`` float32 → unit embeddings ``(B, D)`` float32 on the
        recognizer's device (no scoring).

        Raises:
            ValueError: wrong batch shape.
        """
        s = self.bundle.input_size
        if batch.ndim != 4 or tuple(batch.shape[1:]) != (3, s, s):
            raise ValueError(f"expected a batch of shape (B, 3, {s}, {s}), got {tuple(batch.shape)}")
        with torch.inference_mode():
            x = batch.to(self.device, non_blocking=True)
            if x.dtype != torch.float32:
                x = x.float()
            if self._channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                emb = self._model.embed(x).float()
                if self.tta:  # mean of the photo's and its mirror's unit embeddings
                    emb = emb + self._model.embed(torch.flip(x, dims=[3])).float()
            # Renormalise in float32 (under autocast the backbone ran in fp16).
            return F.normalize(emb, dim=1)

    def predict_tensors(self, batch: torch.Tensor) -> list[Prediction]:
        """Predict a preprocessed batch.

        Args:
            batch: ``(B, 3, S, S)`` float32, as ``load_image`` returns them, stacked; any device.
        Returns:
            B ``Prediction`` objects, in order.
        Raises:
            ValueError: wrong batch shape.
        """
        if batch.ndim == 4 and batch.shape[0] == 0:
            return []
        return self._score(self.embed_tensors(batch))

    def score_embeddings(self, embeddings) -> list[Prediction]:
        """Re-score stored embeddings without running the CNN (head, gallery, user gallery).

        Args:
            embeddings: ``(N, D)`` float32 or float16, numpy array or tensor; re-normalised to unit
                L2 norm (float16 storage leaves norms off by ~1e-4).
        Returns:
            N ``Prediction`` objects, equal (up to float rounding) to what ``predict_tensors`` gave
            for the same photos under the current galleries.
        Raises:
            ValueError: wrong shape or non-finite values.
        """
        emb = embeddings if torch.is_tensor(embeddings) else torch.as_tensor(np.asarray(embeddings))
        if emb.ndim != 2 or emb.shape[1] != self.embedding_dim:
            raise ValueError(f"embeddings must have shape (N, {self.embedding_dim}), got {tuple(emb.shape)}")
        out: list[Prediction] = []
        with torch.inference_mode():
            for start in range(0, emb.shape[0], self._score_chunk):
                chunk = emb[start : start + self._score_chunk].to(self.device, torch.float32)
                if not torch.isfinite(chunk).all():
                    raise ValueError("embeddings hold NaN or infinite values")
                out.extend(self._score(F.normalize(chunk, dim=1)))
        return out

    def _score(self, emb: torch.Tensor) -> list[Prediction]:
        """Unit embeddings ``(B, D)`` float32 (on the device) → predictions."""
        b = self.bundle
        sp = b.scoring
        user = self._user  # one snapshot for the whole batch
        s_max_c: torch.Tensor | None = None
        with torch.inference_mode():
            if self._compressed is not None:
                probs, s_max_c = self._score_compressed(emb)
            else:
                logits = F.linear(emb, self._head_w, self._head_b)
                log_p = scoring.fused_log_probs(
                    logits,
                    emb,
                    self._gallery,
                    self._gallery_labels,
                    sp.knn_weight,
                    sp.knn_temperature,
                    num_classes=self._num_classes,
                )
                probs = scoring.calibrated_probs(log_p, b.temperature)
            keys = self._keys if user is None else user.keys
            if self._gate and sp.landmark_gate_cosine is not None:
                # landmark gate over the model's gallery and the user's landmark (not "no landmark") photos
                s_max = scoring.max_similarity(emb, self._gallery) if self._gallery is not None else s_max_c
                assert s_max is not None
                if user is not None and user.landmark_embeddings is not None:
                    s_max = torch.maximum(s_max, scoring.max_similarity(emb, user.landmark_embeddings))
                p_landmark = scoring.landmark_probability(s_max, sp.landmark_gate_cosine, sp.landmark_gate_width)
                if user is None:
                    keys = self._keys + (scoring.NO_LANDMARK,)
                probs = scoring.with_no_landmark(probs, p_landmark, len(keys))
            if user is not None:
                probs = scoring.apply_user_gallery(
                    probs,
                    emb,
                    user.embeddings,
                    user.labels,
                    len(keys),
                    sp.knn_temperature,
                    sp.user_match_cosine,
                    sp.user_match_width,
                )
            k = min(self.top_k, len(keys))
            conf, idx = torch.topk(probs, k, dim=1)
            conf_l = conf.float().cpu().tolist()
            idx_l = idx.cpu().tolist()
            emb_np = emb.float().cpu().numpy()
        threshold = float(b.no_landmark_threshold)
        preds = []
        for i in range(len(idx_l)):
            top = tuple((keys[j], min(1.0, max(0.0, c))) for j, c in zip(idx_l[i], conf_l[i]))
            key0, c0 = top[0]
            is_lm = c0 >= threshold and key0 != scoring.NO_LANDMARK
            preds.append(
                Prediction(
                    top_k=top,
                    label=key0 if is_lm else None,
                    confidence=c0,
                    is_landmark=is_lm,
                    embedding=emb_np[i].copy(),
                )
            )
        return preds

    def _score_compressed(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Calibrated ``(B, C)`` probabilities and ``(B,)`` highest gallery similarity over a compressed gallery
        (``core.recognition.scoring.candidate_log_probs``: the head re-ranks the gallery's candidate classes)."""
        assert self._compressed is not None
        sp = self.bundle.scoring
        classes_np, sims_np = self._compressed.class_candidates(emb.float().cpu().numpy())
        classes = torch.from_numpy(classes_np).to(emb.device)
        sims = torch.from_numpy(sims_np).to(emb.device)
        rows = classes.clamp(min=0, max=self._num_head - 1)
        w = self._head_w[rows].float()  # (B, K, D)
        logits = torch.bmm(w, emb.float().unsqueeze(2)).squeeze(2) + self._head_b[rows]
        has_row = (classes >= 0) & (classes < self._num_head)
        logits = torch.where(has_row, logits, float("-inf"))
        log_p = scoring.candidate_log_probs(logits, sims, sp.knn_weight, sp.knn_temperature)
        p = torch.nan_to_num(scoring.calibrated_probs(log_p, self.bundle.temperature), nan=0.0)
        s_max = torch.where(torch.isfinite(sims[:, 0]), sims[:, 0], -1.0)
        return scoring.scatter_candidates(p, classes, self._num_classes), s_max

    # ------------------------------------------------------------------ files
    def _load_or_error(self, path) -> torch.Tensor | ImageDecodeError:
        """``(3, S, S)`` uint8 crop (normalised later, per batch, on the device) or the error."""
        try:
            return self.preprocessor.load_uint8(path)
        except ImageDecodeError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - never lose a whole batch to one odd file
            return ImageDecodeError(path, f"unexpected error while decoding ({exc.__class__.__name__}: {exc})")

    def predict_paths(
        self, paths: Iterable[str | os.PathLike], batch_size: int = 16, *, workers: int | None = None
    ) -> list[Prediction | ImageDecodeError]:
        """Decode, preprocess and predict photo files (with verification of the uncertain ones when it is on).

        Decoding runs in ``workers`` threads (default ``decode_workers``), up to two batches
        ahead of the model, so decoding overlaps with the CNN forward; verification runs on the calling
        thread after each batch.

        Args:
            paths: photo files.
            batch_size: photos per forward pass (>= 1).
            workers: decode threads; 0 decodes on the calling thread.
        Returns:
            one entry per path, in order: a ``Prediction``, or the ``ImageDecodeError`` for a file
            that could not be decoded (nothing is raised for bad files).
        Raises:
            ValueError: ``batch_size < 1``.
        """
        paths = list(paths)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        workers = self.decode_workers if workers is None else max(0, int(workers))
        results: list[Prediction | ImageDecodeError | None] = [None] * len(paths)
        if not paths:
            return []

        def run_batch(items: list[tuple[int, torch.Tensor | ImageDecodeError]]) -> None:
            good = [(i, t) for i, t in items if not isinstance(t, ImageDecodeError)]
            for i, t in items:
                if isinstance(t, ImageDecodeError):
                    results[i] = t
            if good:
                batch = torch.stack([t for _, t in good])  # (B, 3, S, S) uint8
                if self._cuda:
                    batch = batch.pin_memory()
                with torch.inference_mode():
                    x = self.preprocessor.normalize(batch.to(self.device, non_blocking=True))
                for (i, _), pred in zip(good, self.predict_tensors(x)):
                    results[i] = self.verify_prediction(pred, paths[i]) if self.verify else pred

        if workers == 0:
            for start in range(0, len(paths), batch_size):
                run_batch(
                    [(i, self._load_or_error(paths[i])) for i in range(start, min(start + batch_size, len(paths)))]
                )
            return results  # type: ignore[return-value]

        ahead = 2 * batch_size + workers  # decoded photos kept in flight beyond the current batch
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
            pending: collections.deque[tuple[int, Future]] = collections.deque()
            nxt = 0
            try:
                while pending or nxt < len(paths):
                    while nxt < len(paths) and len(pending) < batch_size + ahead:
                        pending.append((nxt, pool.submit(self._load_or_error, paths[nxt])))
                        nxt += 1
                    items = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
                    run_batch([(i, f.result()) for i, f in items])
            finally:
                for _, f in pending:
                    f.cancel()
        return results  # type: ignore[return-value]


_opencv_lock = threading.Lock()
_opencv_single = False


def _single_threaded_opencv() -> None:
    """One OpenCV thread per call (process-wide, once): verification runs beside the CNN, which needs the cores;
    the parallelism comes from the threads calling ``verify_prediction``."""
    global _opencv_single
    if _opencv_single:
        return
    with _opencv_lock:
        if not _opencv_single:
            import cv2

            cv2.setNumThreads(1)
            _opencv_single = True

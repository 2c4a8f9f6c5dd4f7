"""The verification features file: the gallery's local features, shipped beside a model bundle.

A bundle ``NAME.safetensors`` may have a features file ``NAME.features.safetensors`` beside it
(``features_path_for``). It is written and checked with the bundle's own integrity scheme
(``core.recognition.bundle.signed_safetensors`` / ``read_signed``: a JSON document and the tensor data
hashed together with SHA-256), so a tampered features file is refused exactly like a tampered bundle.

File layout (safetensors; header metadata ``format`` = ``"landmark-tagger-features"``, ``format_version`` = ``"1"``):

* ``features.keypoints`` ``(K, 2)`` float16: keypoint ``(x, y)`` pixels in each photo's shrunken image;
* ``features.descriptors`` ``(K, 128)`` uint8: OpenCV SIFT descriptors (RootSIFT is computed when matching);
* ``features.offsets`` ``(P + 1,)`` int64: photo i's keypoints are rows ``offsets[i]:offsets[i + 1]``;
* ``features.labels`` ``(P,)`` int64: each gallery photo's class index (into the bundle's classes);
* ``features.embeddings`` ``(P, D)`` float16 (optional): the gallery photos' CNN embeddings, for the shortlist;
* the JSON document: ``model_version`` (the bundle's: a features file built for another model is refused),
  ``class_keys`` (must equal the bundle's), ``descriptor`` (``local_features.DESCRIPTOR_KIND``),
  ``extraction`` (``ExtractionParams``), ``verification`` (``VerificationParams``) and ``source`` (how it
  was built: free-form JSON).

Size: 132 bytes a keypoint + 2·D bytes a photo; e.g. 56 landmarks × 10 photos × 256 keypoints ≈ 19 MB.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.recognition.bundle import BundleError, read_signed, signed_safetensors, write_atomically
from core.recognition.local_features import DESCRIPTOR_KIND, ExtractionParams
from core.recognition.verification import VerificationGallery, VerificationParams

__all__ = [
    "FEATURES_FORMAT_NAME",
    "FEATURES_FORMAT_VERSION",
    "FEATURES_SUFFIX",
    "FeaturesError",
    "VerificationFeatures",
    "features_path_for",
    "save_features",
    "load_features",
    "read_features_info",
]

FEATURES_FORMAT_NAME = "landmark-tagger-features"
FEATURES_FORMAT_VERSION = 1
#: ``NAME.safetensors`` → ``NAME`` + this suffix.
FEATURES_SUFFIX = ".features.safetensors"
_WHAT = "verification features file"


class FeaturesError(BundleError):
    """A features file that cannot be used (a ``BundleError``: refused like a bad bundle); one-line message."""


@dataclass
class VerificationFeatures:
    """A features file in memory.

    Attributes:
        model_version: the bundle it belongs to. gallery: the packed gallery (its ``class_keys`` are the
            bundle's). extraction: how its local features were extracted (queries must use the same).
        params: the verification constants. source: how it was built (free-form JSON).
    """

    model_version: str
    gallery: VerificationGallery
    extraction: ExtractionParams = field(default_factory=ExtractionParams)
    params: VerificationParams = field(default_factory=VerificationParams)
    source: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The JSON document stored in the header."""
        return {
            "model_version": self.model_version,
            "class_keys": list(self.gallery.class_keys),
            "descriptor": DESCRIPTOR_KIND,
            "extraction": asdict(self.extraction),
            "verification": asdict(self.params),
            "photos": len(self.gallery),
            "keypoints": int(self.gallery.keypoints.shape[0]),
            "source": self.source,
        }


def features_path_for(bundle_path: str | os.PathLike) -> Path:
    """Where a bundle's features file lives: ``dir/NAME.safetensors`` → ``dir/NAME.features.safetensors``."""
    p = Path(bundle_path)
    stem = p.name[: -len(".safetensors")] if p.name.endswith(".safetensors") else p.stem
    return p.with_name(stem + FEATURES_SUFFIX)


def save_features(features: VerificationFeatures, path: str | os.PathLike) -> Path:
    """Write a features file atomically (temp file + rename).

    Returns:
        the path written.
    Raises:
        FeaturesError: keypoints that do not fit float16 (beyond ±65504 px).
    """
    import torch

    g = features.gallery
    if g.keypoints.size and float(np.abs(g.keypoints).max()) > 65504.0:
        raise FeaturesError("keypoint coordinates do not fit float16")
    tensors = {
        "features.keypoints": torch.from_numpy(np.ascontiguousarray(g.keypoints, dtype=np.float16)),
        "features.descriptors": torch.from_numpy(np.ascontiguousarray(g.descriptors, dtype=np.uint8)),
        "features.offsets": torch.from_numpy(np.ascontiguousarray(g.offsets, dtype=np.int64)),
        "features.labels": torch.from_numpy(np.ascontiguousarray(g.labels, dtype=np.int64)),
    }
    if g.embeddings is not None:
        tensors["features.embeddings"] = torch.from_numpy(np.ascontiguousarray(g.embeddings, dtype=np.float16))
    document = json.dumps(features.document(), sort_keys=True, ensure_ascii=False)
    raw = signed_safetensors(
        tensors, document, format_name=FEATURES_FORMAT_NAME, format_version=FEATURES_FORMAT_VERSION
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, raw)
    return path


def _read(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        meta, raw = read_signed(
            path, format_name=FEATURES_FORMAT_NAME, format_version=FEATURES_FORMAT_VERSION, what=_WHAT
        )
    except FeaturesError:
        raise
    except BundleError as exc:
        raise FeaturesError(str(exc)) from None
    try:
        doc = json.loads(meta["bundle"])
    except json.JSONDecodeError as exc:
        raise FeaturesError(f"{path.name} is corrupt: {exc}") from None
    if not isinstance(doc, dict):
        raise FeaturesError(f"{path.name} is corrupt")
    return doc, raw


def read_features_info(path: str | os.PathLike) -> dict[str, Any]:
    """The features file's JSON document (model version, class keys, parameters, source), SHA-256 checked.

    Raises:
        FeaturesError: as ``load_features`` (without the model checks).
    """
    return _read(Path(path))[0]


def _check_model(name: str, doc: dict[str, Any], model_version: str | None, class_keys) -> None:
    if model_version is not None and doc.get("model_version") != model_version:
        raise FeaturesError(
            f"{name} was built for model {doc.get('model_version')}, not for this bundle's model {model_version}"
        )
    if class_keys is not None and list(doc.get("class_keys", [])) != list(class_keys):
        raise FeaturesError(f"{name} lists other landmarks than the model bundle")


def load_features(
    path: str | os.PathLike,
    *,
    model_version: str | None = None,
    class_keys: list[str] | tuple[str, ...] | None = None,
) -> VerificationFeatures:
    """Read and fully check a features file.

    Args:
        path: the file.
        model_version, class_keys: the bundle it must belong to (``None`` skips that check).
    Returns:
        the ``VerificationFeatures`` (keypoints and embeddings as float32).
    Raises:
        FeaturesError: missing, truncated, tampered (SHA-256 mismatch), newer format, another descriptor,
            built for another model (``model_version`` / ``class_keys`` differ), or tensors that do not fit.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    doc, raw = _read(path)
    _check_model(path.name, doc, model_version, class_keys)
    if doc.get("descriptor") != DESCRIPTOR_KIND:
        raise FeaturesError(
            f"{path.name} holds {doc.get('descriptor')!r} descriptors; this app matches {DESCRIPTOR_KIND}"
        )
    try:
        t = load(raw)
    except (SafetensorError, RuntimeError, ValueError) as exc:
        raise FeaturesError(f"{path.name} is corrupt: {exc}") from None
    try:
        emb = t.get("features.embeddings")
        gallery = VerificationGallery(
            class_keys=tuple(str(k) for k in doc["class_keys"]),
            labels=t["features.labels"].numpy().astype(np.int64),
            embeddings=None if emb is None else emb.float().numpy(),
            offsets=t["features.offsets"].numpy().astype(np.int64),
            keypoints=t["features.keypoints"].float().numpy(),
            descriptors=t["features.descriptors"].numpy(),
        )
        features = VerificationFeatures(
            model_version=str(doc["model_version"]),
            gallery=gallery,
            extraction=ExtractionParams(**doc.get("extraction", {})),
            params=VerificationParams(**doc.get("verification", {})),
            source=dict(doc.get("source", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FeaturesError(f"{path.name} is inconsistent ({exc.__class__.__name__}: {exc})") from None
    return features

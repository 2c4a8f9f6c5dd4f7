"""The model bundle: one safetensors file that carries a landmark recognizer.

This module is the only place that reads or writes bundles.

File layout (safetensors, https://github.com/huggingface/safetensors — never pickle):

* tensors ``model.backbone.*``, ``model.head.weight`` ``(C, D)``, ``model.head.bias`` ``(C,)``: the
  ``core.recognition.backbones.LandmarkNet`` state dict, prefixed with ``model.``;
* optional ``gallery.embeddings`` ``(N, D)`` float16 (L2-normalised) and ``gallery.labels`` ``(N,)``
  int64 (indices into the class list): the exact kNN gallery (every training photo);
* or, for large galleries (format 2), ``gallery.index`` ``(S,)`` uint8: a serialised FAISS index
  (``core.recognition.gallery``: IVF + 8-bit scalar quantisation over a few k-means prototypes per class) and
  ``gallery.labels`` ``(P,)`` int64, the class of each indexed prototype; the head weights are then stored
  float16;
* header metadata (``__metadata__``, str → str):
  ``format`` = ``"landmark-tagger-bundle"``, ``format_version`` = ``"1"`` (``"2"`` when the bundle has a compressed
  gallery or classes without a head row), ``bundle`` = the JSON document below, ``sha256`` = hex SHA-256 of
  ``bundle`` (UTF-8) followed by the raw tensor data section, so any change to a tensor byte (the FAISS index
  included) or to the metadata is detected.

The ``bundle`` JSON holds: backbone name, input size and resize size (pixels), normalisation
mean/std, the class list (stable key, display name, latitude/longitude in decimal degrees WGS84,
country), the calibration temperature, the "no landmark" threshold, scoring constants, embedding
size, model version id and the training summary/metrics; in format 2 also ``head_classes`` (H: the first H
classes have a head row, the others are recognised through the gallery only) and ``gallery`` (the compressed
gallery's parameters, ``core.recognition.gallery.GalleryParams``).

Large files are read through a memory map (the SHA-256 and the tensors come from the same mapping), so loading a
400 MB bundle needs no second copy of it in memory.

Loading checks everything and raises ``BundleError`` with a readable message for a missing,
truncated, tampered, newer-format or inconsistent file.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import struct
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where tensors are built, so read_bundle_info stays light
    import torch

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "BundleError",
    "LandmarkClass",
    "ScoringParams",
    "ModelBundle",
    "save_bundle",
    "load_bundle",
    "read_bundle_info",
    "signed_safetensors",
    "read_signed",
    "write_atomically",
]

FORMAT_NAME = "landmark-tagger-bundle"
#: Newest bundle format this app reads (and writes: 1 for bundles with an exact gallery and a head row per class,
#: 2 for a compressed gallery or gallery-only classes).
FORMAT_VERSION = 2
#: Largest bundle we agree to read (bytes); guards against reading a wrong multi-GB file.
MAX_BUNDLE_BYTES = 2 * 1024**3
_HEADER_LIMIT = 100 * 1024**2  # bytes; safetensors' own limit


class BundleError(ValueError):
    """A model bundle that cannot be used; ``str(err)`` is a one-line message for the user."""


@dataclass(frozen=True)
class LandmarkClass:
    """One landmark the model knows.

    Attributes:
        key: stable identifier (ASCII, e.g. ``"Colosseum"``); labels in the database refer to it.
        name: display name (e.g. ``"Colosseum, Rome"``).
        latitude, longitude: decimal degrees (WGS84), ``None`` when unknown.
        country: country name in English, ``None`` when unknown.
    """

    key: str
    name: str
    latitude: float | None = None
    longitude: float | None = None
    country: str | None = None


@dataclass(frozen=True)
class ScoringParams:
    """Constants of ``core.recognition.scoring`` stored with the model they were tuned for.

    Attributes:
        knn_weight: weight w of the kNN gallery probability in ``(1-w)·p_head + w·p_knn``.
        knn_temperature: τ in ``p_knn = softmax(s/τ)``, s the per-class max cosine similarity.
        user_match_cosine: cosine similarity at which a user-labelled gallery entry takes half the
            probability mass (centre of the gate ``sigmoid((s_max - s0)/width)``).
        user_match_width: width of that gate (cosine units).
        landmark_gate_cosine: centre c of the landmark gate ``sigmoid((s_max - c)/width)``, s_max the
            highest cosine similarity to the gallery (``core.recognition.scoring`` step 5); ``None`` = no gate
            (every photo is assumed to show a landmark; older bundles).
        landmark_gate_width: width of the landmark gate (cosine units).
        user_match_margin: margin m of the teaching rule ``s_L(x) >= e(x) + m``
            (``core.recognition.scoring.teaching_claims``), cosine units; ``None`` (bundles written before it
            existed) = ``scoring.DEFAULT_USER_MATCH_MARGIN``.
    """

    knn_weight: float = 0.5
    knn_temperature: float = 0.05
    user_match_cosine: float = 0.75
    user_match_width: float = 0.04
    landmark_gate_cosine: float | None = None
    landmark_gate_width: float = 0.03
    user_match_margin: float | None = None


@dataclass
class ModelBundle:
    """Everything a recognizer needs, in memory.

    Attributes:
        backbone: key of ``core.recognition.backbones.BACKBONES``.
        input_size: side of the square network input, pixels (e.g. 224).
        resize_size: shorter side the photo is resized to before the centre crop, pixels (e.g. 256).
        mean, std: per-channel RGB normalisation of [0, 1] pixel values (ImageNet mean/std by default:
            (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), from torchvision's ImageNet weights).
        classes: the C landmarks, in the order of the head's outputs.
        temperature: calibration temperature T > 0 (temperature scaling, Guo et al. 2017,
            "On Calibration of Modern Neural Networks").
        no_landmark_threshold: calibrated top-1 confidence below which the answer is "no landmark".
        embedding_dim: D.
        model_version: unique id of this model (changes whenever the weights change).
        state_dict: ``LandmarkNet`` state dict (keys ``backbone.*``, ``head.weight``, ``head.bias``).
        gallery_embeddings: ``(N, D)`` float32, unit L2 norm, or ``None``.
        gallery_labels: ``(N,)`` int64 indices into ``classes``, or ``None``.
        scoring: constants for ``core.recognition.scoring``.
        training: free-form JSON-serialisable training summary and metrics (the model card).
        head_classes: H ≤ C: the head has rows for the first H classes only (the others, with fewer photos than
            ``--min-images``, are recognised through the gallery); ``None`` = every class (``head.weight`` is
            ``(C, D)``).
        gallery_index: ``(S,)`` uint8 serialised FAISS index of the compressed gallery, or ``None``; then
            ``gallery_labels`` are the ``(P,)`` classes of its P prototype vectors and ``gallery_embeddings`` is
            ``None``.
        gallery_params: the compressed gallery's parameters (JSON: ``core.recognition.gallery.GalleryParams``).
    """

    backbone: str
    input_size: int
    resize_size: int
    mean: tuple[float, ...]  # 3 values (checked when saved / loaded)
    std: tuple[float, ...]
    classes: list[LandmarkClass]
    temperature: float
    no_landmark_threshold: float
    embedding_dim: int
    model_version: str
    state_dict: dict[str, torch.Tensor]
    gallery_embeddings: torch.Tensor | None = None
    gallery_labels: torch.Tensor | None = None
    scoring: ScoringParams = field(default_factory=ScoringParams)
    training: dict[str, Any] = field(default_factory=dict)
    head_classes: int | None = None
    gallery_index: torch.Tensor | None = None
    gallery_params: dict[str, Any] | None = None

    @property
    def class_keys(self) -> list[str]:
        return [c.key for c in self.classes]

    @property
    def num_head_classes(self) -> int:
        """H: the classes with a head row (the first H of ``classes``)."""
        return len(self.classes) if self.head_classes is None else int(self.head_classes)

    @property
    def format_version(self) -> int:
        """The format this bundle is written in: 2 with a compressed gallery or gallery-only classes, else 1."""
        return 2 if self.gallery_index is not None or self.num_head_classes != len(self.classes) else 1

    def metadata_document(self) -> dict[str, Any]:
        """The JSON document stored in the header (everything but tensors)."""
        doc = {
            "backbone": self.backbone,
            "input_size": int(self.input_size),
            "resize_size": int(self.resize_size),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "classes": [asdict(c) for c in self.classes],
            "temperature": float(self.temperature),
            "no_landmark_threshold": float(self.no_landmark_threshold),
            "embedding_dim": int(self.embedding_dim),
            "model_version": self.model_version,
            # user_match_margin is left out while unset, so bundles written before it existed stay identical
            "scoring": {k: v for k, v in asdict(self.scoring).items() if not (k == "user_match_margin" and v is None)},
            "training": self.training,
        }
        if self.num_head_classes != len(self.classes):
            doc["head_classes"] = self.num_head_classes
        if self.gallery_index is not None:
            doc["gallery"] = dict(self.gallery_params or {})
        return doc


def _digest(document: str, data: bytes | memoryview) -> str:
    h = hashlib.sha256()
    h.update(document.encode("utf-8"))
    h.update(data)
    return h.hexdigest()


def _split(raw: bytes) -> tuple[dict[str, Any], memoryview]:
    """Parse the safetensors header; return ``(header, data_section)``. Raises BundleError."""
    if len(raw) < 8:
        raise BundleError("the file is too short to be a model bundle (truncated or empty)")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > _HEADER_LIMIT or 8 + header_len > len(raw):
        raise BundleError("the file is truncated or is not a safetensors model bundle")
    try:
        header = json.loads(raw[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"the model bundle's header is corrupt ({exc.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise BundleError("the model bundle's header is corrupt")
    return header, memoryview(raw)[8 + header_len :]


def save_bundle(bundle: ModelBundle, path: str | Path) -> Path:
    """Write ``bundle`` to ``path`` atomically (temp file + rename).

    Tensors are stored float32 except the gallery embeddings (float16, halving their size); with a compressed
    gallery the head weights are stored float16 too (81 000 classes × 1 280: 207 MB instead of 415 MB).
    Raises:
        BundleError: the bundle is inconsistent (checked with the same rules as loading).
    """
    import torch

    _validate(bundle)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in bundle.state_dict.items()}
    if bundle.gallery_index is not None:
        tensors["model.head.weight"] = tensors["model.head.weight"].to(torch.float16)
        tensors["gallery.index"] = bundle.gallery_index.detach().cpu().to(torch.uint8).contiguous()
    elif bundle.gallery_embeddings is not None:
        tensors["gallery.embeddings"] = bundle.gallery_embeddings.detach().cpu().to(torch.float16).contiguous()
    if bundle.gallery_labels is not None:  # with embeddings or an index (_validate)
        tensors["gallery.labels"] = bundle.gallery_labels.detach().cpu().to(torch.int64).contiguous()
    document = json.dumps(bundle.metadata_document(), sort_keys=True, ensure_ascii=False)
    raw = signed_safetensors(tensors, document, format_name=FORMAT_NAME, format_version=bundle.format_version)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, raw)
    return path


def write_atomically(path: Path, raw: bytes) -> None:
    """Write ``raw`` to ``path`` through a temporary file and a rename (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(raw)
    tmp.replace(path)


def signed_safetensors(
    tensors: dict[str, torch.Tensor], document: str, *, format_name: str, format_version: int
) -> bytes:
    """Serialise ``tensors`` as safetensors with the integrity metadata of this module's scheme.

    The header metadata holds ``format`` = ``format_name``, ``format_version``, ``bundle`` = ``document``
    (a JSON text) and ``sha256`` = hex SHA-256 of ``document`` (UTF-8) followed by the raw tensor data
    section. ``read_signed`` checks it. Used for model bundles and for verification features files
    (``core.recognition.features_file``).

    Returns:
        the file's bytes.
    """
    from safetensors.torch import save

    meta = {"format": format_name, "format_version": str(format_version), "bundle": document}
    # The data section does not depend on the metadata, so hash it from a first serialisation.
    _, data = _split(save(tensors, metadata=meta))
    meta["sha256"] = _digest(document, data)
    raw = save(tensors, metadata=meta)
    _, data2 = _split(raw)
    assert _digest(document, data2) == meta["sha256"]
    return raw


def _check_signed(
    path: Path, raw: bytes | mmap.mmap, *, format_name: str, format_version: int, what: str
) -> tuple[dict[str, str], dict[str, Any], memoryview]:
    """Check the format and SHA-256 of a file's bytes; ``(metadata, header, data section)``. Raises BundleError."""
    try:
        header, data = _split(raw)  # type: ignore[arg-type]
    except BundleError as exc:
        raise BundleError(str(exc).replace("model bundle", what)) from None
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != format_name:
        raise BundleError(f"{path.name} is a safetensors file but not a Landmark Tagger {what}")
    kind = "bundle" if what == "model bundle" else what
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise BundleError(f"{path.name}: unreadable {kind} format version") from None
    if version > format_version:
        raise BundleError(
            f"{path.name} uses {kind} format {version}; this app reads up to {format_version}: update the app"
        )
    if version < 1:
        raise BundleError(f"{path.name}: unsupported {kind} format {version}")
    document = meta.get("bundle")
    if not isinstance(document, str) or _digest(document, data) != meta.get("sha256"):
        raise BundleError(
            f"{path.name} failed its integrity check (SHA-256): the file was modified or damaged after it was written"
        )
    return meta, header, data


def _stat_checked(path: Path, what: str) -> int:
    if not path.is_file():
        raise BundleError(f"{what} not found: {path}")
    size = path.stat().st_size
    if size > MAX_BUNDLE_BYTES:
        raise BundleError(f"{path.name} is {size} bytes, larger than any {what}")
    return size


def read_signed(
    path: Path, *, format_name: str, format_version: int, what: str = "model bundle"
) -> tuple[dict[str, str], bytes]:
    """Read a file written by ``signed_safetensors`` and check its format and SHA-256.

    Args:
        path: the file. format_name / format_version: what it must be (a newer version is refused).
        what: how messages name the file (``"model bundle"``, ``"verification features file"``).
    Returns:
        ``(metadata, raw bytes)``; ``metadata["bundle"]`` is the JSON document.
    Raises:
        BundleError: missing, unreadable, too large, truncated, another format, newer version, or failed
            integrity check (one line naming the file).
    """
    _stat_checked(path, what)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    meta, _, _ = _check_signed(path, raw, format_name=format_name, format_version=format_version, what=what)
    return meta, raw


#: safetensors dtype names → torch dtype names (the dtypes bundles hold).
_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I64": "int64", "I32": "int32"}
_DTYPES.update({"U8": "uint8", "I8": "int8", "BOOL": "bool"})


def _tensors_from(header: dict[str, Any], data: memoryview, path: Path) -> dict[str, torch.Tensor]:
    """Copy every tensor described by a safetensors ``header`` out of its ``data`` section (a memory map).

    Follows the safetensors format (https://github.com/huggingface/safetensors#format): ``dtype``, ``shape`` and
    ``data_offsets`` ``[begin, end)`` relative to the data section, little-endian. Raises BundleError on entries
    that do not fit the data.
    """
    import torch

    out: dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = getattr(torch, _DTYPES[info["dtype"]])
            shape = [int(v) for v in info["shape"]]
            begin, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise BundleError(f"{path.name} is corrupt: tensor {name!r} has an unknown dtype or bad offsets") from None
        count = 1
        for v in shape:
            count *= v
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not (0 <= begin <= end <= len(data)) or end - begin != count * itemsize or min(shape, default=0) < 0:
            raise BundleError(f"{path.name} is corrupt: tensor {name!r} does not fit the file")
        if count == 0:
            out[name] = torch.empty(shape, dtype=dtype)
            continue
        with warnings.catch_warnings():  # read-only mapping: torch warns that the buffer is not writable
            warnings.simplefilter("ignore", UserWarning)
            t = torch.frombuffer(data[begin:end], dtype=dtype, count=count)
        out[name] = t.reshape(shape).clone()  # a copy: the mapping is closed after loading
    return out


def _read_checked(path: Path) -> tuple[dict[str, str], bytes]:
    return read_signed(path, format_name=FORMAT_NAME, format_version=FORMAT_VERSION)


def read_bundle_info(path: str | Path) -> dict[str, Any]:
    """The bundle's metadata document (classes, metrics, version …) without building tensors.

    Raises:
        BundleError: as ``load_bundle``.
    """
    meta, _ = _read_checked(Path(path))
    return json.loads(meta["bundle"])


def load_bundle(path: str | Path) -> ModelBundle:
    """Read and fully check a bundle.

    The file is memory-mapped: its SHA-256 is computed over the mapping and the tensors are copied out of that
    same mapping (so what was checked is what is loaded), then the mapping is closed.

    Returns:
        the ``ModelBundle``; gallery embeddings come back as float32 (a compressed gallery's head weights stay
        float16, as stored).
    Raises:
        BundleError: missing, truncated, tampered (SHA-256 mismatch), newer format, unknown backbone,
            or tensors that do not fit the declared classes / embedding size.
    """
    path = Path(path)
    _stat_checked(path, "model bundle")
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise BundleError(f"cannot read model bundle {path}: {exc.strerror or exc}") from None
    with fh:
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:  # an empty file cannot be mapped
            if path.stat().st_size == 0:
                raise BundleError("the file is too short to be a model bundle (truncated or empty)") from None
            raise BundleError(f"cannot read model bundle {path}: {exc}") from None
    try:
        meta, header, data = _check_signed(
            path, mapped, format_name=FORMAT_NAME, format_version=FORMAT_VERSION, what="model bundle"
        )
        tensors = _tensors_from(header, data, path)
        del data
    finally:
        try:
            mapped.close()
        except BufferError:  # pragma: no cover - a view outlived us; the OS unmaps it with the object
            pass
    try:
        doc = json.loads(meta["bundle"])
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path.name} is corrupt: {exc}") from None
    try:
        head_classes = doc.get("head_classes")
        bundle = ModelBundle(
            backbone=str(doc["backbone"]),
            input_size=int(doc["input_size"]),
            resize_size=int(doc["resize_size"]),
            mean=tuple(float(v) for v in doc["mean"]),
            std=tuple(float(v) for v in doc["std"]),
            classes=[LandmarkClass(**c) for c in doc["classes"]],
            temperature=float(doc["temperature"]),
            no_landmark_threshold=float(doc["no_landmark_threshold"]),
            embedding_dim=int(doc["embedding_dim"]),
            model_version=str(doc["model_version"]),
            state_dict={k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")},
            gallery_embeddings=(tensors["gallery.embeddings"].float() if "gallery.embeddings" in tensors else None),
            gallery_labels=tensors.get("gallery.labels"),
            scoring=ScoringParams(**doc.get("scoring", {})),
            training=dict(doc.get("training", {})),
            head_classes=None if head_classes is None else int(head_classes),
            gallery_index=tensors.get("gallery.index"),
            gallery_params=dict(doc["gallery"]) if isinstance(doc.get("gallery"), dict) else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{path.name} has incomplete metadata ({exc.__class__.__name__}: {exc})") from None
    try:
        _validate(bundle)
    except BundleError as exc:
        raise BundleError(f"{path.name}: {exc}") from None
    return bundle


def _validate(b: ModelBundle) -> None:
    """Raise BundleError if the bundle's fields and tensors disagree."""
    import torch

    from core.recognition.backbones import BACKBONES

    if b.backbone not in BACKBONES:
        raise BundleError(f"unknown backbone {b.backbone!r} (this app knows {', '.join(sorted(BACKBONES))})")
    if BACKBONES[b.backbone].embedding_dim != b.embedding_dim:
        raise BundleError(f"embedding size {b.embedding_dim} does not match backbone {b.backbone}")
    if not b.classes:
        raise BundleError("the class list is empty")
    keys = [c.key for c in b.classes]
    if len(set(keys)) != len(keys) or any(not k for k in keys):
        raise BundleError("class keys must be unique and non-empty")
    for c in b.classes:
        if c.latitude is not None and not -90.0 <= c.latitude <= 90.0:
            raise BundleError(f"class {c.key}: latitude {c.latitude} out of range")
        if c.longitude is not None and not -180.0 <= c.longitude <= 180.0:
            raise BundleError(f"class {c.key}: longitude {c.longitude} out of range")
    if not (16 <= b.input_size <= 1024 and b.input_size <= b.resize_size <= 2048):
        raise BundleError(f"implausible input size {b.input_size} / resize size {b.resize_size}")
    if len(b.mean) != 3 or len(b.std) != 3 or any(s <= 0 for s in b.std):
        raise BundleError("normalisation mean/std must have 3 values, std > 0")
    if not (b.temperature > 0.0 and b.temperature < 1e3):
        raise BundleError(f"calibration temperature {b.temperature} must be positive")
    if not 0.0 <= b.no_landmark_threshold <= 1.0:
        raise BundleError(f"no-landmark threshold {b.no_landmark_threshold} must be in [0, 1]")
    sp = b.scoring
    if not (
        0.0 <= sp.knn_weight <= 1.0
        and sp.knn_temperature > 0
        and sp.user_match_width > 0
        and sp.landmark_gate_width > 0
    ):
        raise BundleError("scoring constants out of range (knn_weight in [0, 1], temperatures/widths > 0)")
    if sp.user_match_margin is not None and not -1.0 <= sp.user_match_margin <= 2.0:
        raise BundleError(f"teaching margin {sp.user_match_margin} must be in [-1, 2] (cosine units)")
    if sp.landmark_gate_cosine is not None and b.gallery_embeddings is None and b.gallery_index is None:
        raise BundleError("a landmark gate needs a gallery")
    h = b.num_head_classes
    if not 1 <= h <= len(b.classes):
        raise BundleError(f"head_classes {h} must be between 1 and the {len(b.classes)} classes")
    w, bias = b.state_dict.get("head.weight"), b.state_dict.get("head.bias")
    if w is None or bias is None:
        raise BundleError("the classification head's weights are missing")
    if tuple(w.shape) != (h, b.embedding_dim) or tuple(bias.shape) != (h,):
        raise BundleError(f"head shape {tuple(w.shape)} does not match {h} classes × {b.embedding_dim} embedding")
    if not any(k.startswith("backbone.") for k in b.state_dict):
        raise BundleError("the backbone's weights are missing")
    for k, t in b.state_dict.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise BundleError(f"tensor {k} holds NaN or infinite values")
    if b.gallery_embeddings is not None and b.gallery_index is not None:
        raise BundleError("a bundle holds either gallery embeddings or a gallery index, not both")
    if (b.gallery_embeddings is None and b.gallery_index is None) != (b.gallery_labels is None):
        raise BundleError("gallery embeddings and labels must come together")
    if b.gallery_index is not None:
        if b.gallery_index.ndim != 1 or b.gallery_index.dtype != torch.uint8 or b.gallery_index.numel() == 0:
            raise BundleError("the gallery index must be a non-empty byte string (uint8 tensor)")
        if b.gallery_labels is None or b.gallery_labels.ndim != 1:
            raise BundleError("the gallery index needs its labels")
        n = b.gallery_labels.shape[0]
        if n and (int(b.gallery_labels.min()) < 0 or int(b.gallery_labels.max()) >= len(b.classes)):
            raise BundleError("gallery labels point outside the class list")
    if h < len(b.classes):
        if b.gallery_labels is None:
            raise BundleError("classes without a head row need a gallery")
        covered = torch.zeros(len(b.classes), dtype=torch.bool)
        covered[b.gallery_labels.long()] = True
        if not bool(covered[h:].all()):
            raise BundleError("a class without a head row has no gallery photo")
    if b.gallery_embeddings is not None and b.gallery_labels is not None:
        n = b.gallery_embeddings.shape[0]
        if b.gallery_embeddings.ndim != 2 or b.gallery_embeddings.shape[1] != b.embedding_dim:
            raise BundleError(
                f"gallery embeddings have shape {tuple(b.gallery_embeddings.shape)}, expected (N, {b.embedding_dim})"
            )
        if tuple(b.gallery_labels.shape) != (n,):
            raise BundleError("gallery labels do not match gallery embeddings")
        if n and (int(b.gallery_labels.min()) < 0 or int(b.gallery_labels.max()) >= len(b.classes)):
            raise BundleError("gallery labels point outside the class list")

"""Model bundle files: round trip, and every kind of bad file refused with a clear ``BundleError``.

Bad files are made by editing real bundle bytes, or written here with safetensors directly and the
documented SHA-256 rule (hex SHA-256 of the ``bundle`` JSON, UTF-8, followed by the data section),
so a file can be well-formed and correctly signed yet inconsistent, which only ``_validate`` catches.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core.recognition.bundle import (
    FORMAT_NAME,
    FORMAT_VERSION,
    BundleError,
    LandmarkClass,
    ScoringParams,
    load_bundle,
    read_bundle_info,
    save_bundle,
)
from tests.helpers import make_tiny_bundle


def _parts(raw: bytes) -> tuple[dict, bytes]:
    """(safetensors header dict, data section bytes) of a bundle file's bytes."""
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(header: dict, data: bytes) -> bytes:
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # safetensors pads the header to 8 bytes
    return struct.pack("<Q", len(blob)) + blob + data


def _resign(header: dict, data: bytes) -> dict:
    """Recompute the documented SHA-256 for an edited header (a forger who knows the format)."""
    meta = header["__metadata__"]
    meta["sha256"] = hashlib.sha256(meta["bundle"].encode("utf-8") + data).hexdigest()
    return header


def _edit_document(path: Path, edit, *, resign: bool = True) -> None:
    header, data = _parts(path.read_bytes())
    doc = json.loads(header["__metadata__"]["bundle"])
    edit(doc)
    header["__metadata__"]["bundle"] = json.dumps(doc, sort_keys=True)
    if resign:
        _resign(header, data)
    path.write_bytes(_join(header, data))


def _write_unchecked(bundle, path: Path) -> Path:
    """Write ``bundle`` like ``save_bundle`` but without its consistency checks (correctly signed)."""
    from safetensors.torch import save

    tensors = {f"model.{k}": v.contiguous() for k, v in bundle.state_dict.items()}
    if bundle.gallery_embeddings is not None:
        tensors["gallery.embeddings"] = bundle.gallery_embeddings.to(torch.float16).contiguous()
        tensors["gallery.labels"] = bundle.gallery_labels.to(torch.int64).contiguous()
    document = json.dumps(bundle.metadata_document(), sort_keys=True)
    raw = save(tensors, metadata={"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "bundle": document})
    header, data = _parts(raw)
    path.write_bytes(_join(_resign(header, data), data))
    return path


# ----------------------------------------------------------------------------- round trip


def test_round_trip_keeps_every_field(tmp_path):
    b = make_tiny_bundle(("Colosseum", "Taj_Mahal", "Petra", "Machu_Picchu"), gallery_per_class=3, seed=3)
    b.classes[1] = LandmarkClass("Taj_Mahal", "Taj Mahal, Agra", 27.175, 78.0421, "India")
    b.classes[2] = LandmarkClass("Petra", "Petra", None, None, None)
    b.temperature = 1.7
    b.no_landmark_threshold = 0.35
    b.scoring = ScoringParams(knn_weight=0.25, knn_temperature=0.1, user_match_cosine=0.8, user_match_width=0.03)
    b.training = {"epochs": 3, "metrics": {"gap": 0.91, "top1": [0.5, 0.75]}, "note": "Zürich ü"}
    path = save_bundle(b, tmp_path / "sub" / "m.safetensors")
    assert not (tmp_path / "sub" / "m.safetensors.tmp").exists()

    got = load_bundle(path)
    for name in (
        "backbone",
        "input_size",
        "resize_size",
        "mean",
        "std",
        "classes",
        "temperature",
        "no_landmark_threshold",
        "embedding_dim",
        "model_version",
        "scoring",
        "training",
    ):
        assert getattr(got, name) == getattr(b, name), name
    assert got.class_keys == ["Colosseum", "Taj_Mahal", "Petra", "Machu_Picchu"]
    assert set(got.state_dict) == set(b.state_dict)
    for k, v in b.state_dict.items():
        assert got.state_dict[k].dtype == v.dtype, k
        assert torch.equal(got.state_dict[k], v), k
    # gallery: stored float16, returned float32
    assert got.gallery_embeddings.dtype == torch.float32
    assert got.gallery_embeddings.shape == (12, b.embedding_dim)
    assert torch.allclose(got.gallery_embeddings, b.gallery_embeddings, atol=1e-3)
    assert torch.equal(got.gallery_labels, b.gallery_labels)
    assert got.gallery_labels.dtype == torch.int64

    info = read_bundle_info(path)
    assert info["model_version"] == "tiny-3"
    assert info["classes"][1] == {
        "key": "Taj_Mahal",
        "name": "Taj Mahal, Agra",
        "latitude": 27.175,
        "longitude": 78.0421,
        "country": "India",
    }


def test_round_trip_without_gallery(tmp_path):
    b = make_tiny_bundle(gallery_per_class=0)
    got = load_bundle(save_bundle(b, tmp_path / "m.safetensors"))
    assert got.gallery_embeddings is None and got.gallery_labels is None
    assert torch.equal(got.state_dict["head.weight"], b.state_dict["head.weight"])


# ----------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated_file_is_refused(tiny_bundle_path, keep):
    raw = tiny_bundle_path.read_bytes()
    tiny_bundle_path.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(BundleError, match="truncated|integrity"):
        load_bundle(tiny_bundle_path)


def test_truncated_inside_header_is_refused(tiny_bundle_path):
    raw = tiny_bundle_path.read_bytes()
    tiny_bundle_path.write_bytes(raw[:200])
    with pytest.raises(BundleError, match="truncated"):
        load_bundle(tiny_bundle_path)


def test_flipped_tensor_byte_is_refused(tiny_bundle_path):
    raw = bytearray(tiny_bundle_path.read_bytes())
    header, data = _parts(bytes(raw))
    start, end = header["model.head.weight"]["data_offsets"]
    raw[len(raw) - len(data) + (start + end) // 2] ^= 0x01  # one bit of one head weight
    tiny_bundle_path.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match=r"integrity check \(SHA-256\)"):
        load_bundle(tiny_bundle_path)
    with pytest.raises(BundleError, match="integrity"):
        read_bundle_info(tiny_bundle_path)


def test_edited_metadata_is_refused(tiny_bundle_path):
    def lower_threshold(doc):
        doc["no_landmark_threshold"] = 0.01

    _edit_document(tiny_bundle_path, lower_threshold, resign=False)
    with pytest.raises(BundleError, match="modified or damaged"):
        load_bundle(tiny_bundle_path)


def test_removed_checksum_is_refused(tiny_bundle_path):
    header, data = _parts(tiny_bundle_path.read_bytes())
    del header["__metadata__"]["sha256"]
    tiny_bundle_path.write_bytes(_join(header, data))
    with pytest.raises(BundleError, match="integrity"):
        load_bundle(tiny_bundle_path)


def test_newer_format_version_asks_for_an_update(tiny_bundle_path):
    header, data = _parts(tiny_bundle_path.read_bytes())
    header["__metadata__"]["format_version"] = str(FORMAT_VERSION + 1)
    tiny_bundle_path.write_bytes(_join(header, data))
    with pytest.raises(BundleError, match=f"format {FORMAT_VERSION + 1}.*update the app"):
        load_bundle(tiny_bundle_path)


def test_wrong_head_shape_is_refused(tmp_path):
    b = make_tiny_bundle(("a", "b", "c"))
    b.state_dict = dict(b.state_dict)
    b.state_dict["head.weight"] = torch.zeros(4, b.embedding_dim)  # 4 rows for 3 classes
    b.state_dict["head.bias"] = torch.zeros(4)
    with pytest.raises(BundleError, match="head shape"):
        save_bundle(b, tmp_path / "x.safetensors")  # the writer refuses it too
    path = _write_unchecked(b, tmp_path / "x.safetensors")
    with pytest.raises(BundleError, match=r"x\.safetensors: head shape \(4, 256\) does not match 3 classes"):
        load_bundle(path)


def test_unknown_backbone_is_refused(tmp_path):
    b = replace(make_tiny_bundle(), backbone="resnet9000")
    path = _write_unchecked(b, tmp_path / "x.safetensors")
    with pytest.raises(BundleError, match="unknown backbone 'resnet9000'"):
        load_bundle(path)


def test_gallery_label_out_of_range_is_refused(tmp_path):
    b = make_tiny_bundle(("a", "b"), gallery_per_class=1)
    b.gallery_labels = torch.tensor([0, 5])
    path = _write_unchecked(b, tmp_path / "x.safetensors")
    with pytest.raises(BundleError, match="gallery labels point outside"):
        load_bundle(path)


def test_missing_metadata_field_is_refused(tiny_bundle_path):
    _edit_document(tiny_bundle_path, lambda doc: doc.pop("temperature"))
    with pytest.raises(BundleError, match="incomplete metadata.*temperature"):
        load_bundle(tiny_bundle_path)


def test_non_bundle_safetensors_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(BundleError, match="not a Landmark Tagger model bundle"):
        load_bundle(path)


@pytest.mark.parametrize("content", [b"this is a text file, not a model\n" * 10, b"\x89PNG\r\n\x1a\n" + b"\0" * 64])
def test_other_files_are_refused(tmp_path, content):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(BundleError, match="not a safetensors model bundle|truncated|corrupt"):
        load_bundle(path)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    with pytest.raises(BundleError, match="too short.*truncated or empty"):
        load_bundle(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope.safetensors")


def test_bundle_error_is_one_line(tiny_bundle_path):
    tiny_bundle_path.write_bytes(tiny_bundle_path.read_bytes()[:-10])
    with pytest.raises(BundleError) as info:
        load_bundle(tiny_bundle_path)
    assert "\n" not in str(info.value) and str(info.value)

"""Embedding extraction with a frozen backbone, cached on disk.

Frozen-mode training runs the CNN once per image *view* and trains only the head on the cached
L2-normalised embeddings, which makes training on a laptop CPU practical. View 0 of an image is the
evaluation transform (exactly what the app computes; it also becomes the bundle's kNN gallery);
views 1..K are random augmentations, seeded per (seed, image index, view) so a cache can be rebuilt
bit-for-bit.

Cache files are safetensors (``embeddings`` ``(N, D)`` float32, ``valid`` ``(N,)`` uint8) named
``<dataset fingerprint>-<weights hash>-<transform>-v<view>.safetensors``; any change of an image
file, label, weights or preprocessing setting gives a new name.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from core.recognition.backbones import LandmarkNet

__all__ = ["ImageViews", "weights_hash", "extract_embeddings", "cached_embeddings"]

log = logging.getLogger(__name__)


class ImageViews(Dataset):
    """``(tensor (3, S, S) float32, ok: bool)`` per image; undecodable images give zeros and ok=False.

    Args:
        paths: image files.
        transform: image path → tensor (``training.transforms.eval_loader`` / ``train_loader``).
        seed: when not None, the global torch RNG is seeded with ``hash(seed, index)`` before the
            transform, so random augmentation is reproducible regardless of worker scheduling.
        size: S, used for the zero tensor of a failed image.
    """

    def __init__(self, paths: Sequence[Path], transform: Callable, size: int, seed: int | None = None) -> None:
        self.paths = list(paths)
        self.transform = transform
        self.size = size
        self.seed = seed

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        if self.seed is not None:
            torch.manual_seed((self.seed * 1_000_003 + i) % (2**63))
        try:
            return self.transform(self.paths[i]), True
        except Exception as exc:  # noqa: BLE001 - corrupt/unreadable file: reported, never fatal
            log.warning("skipping %s: %s", self.paths[i], exc)
            return torch.zeros(3, self.size, self.size), False


def weights_hash(model: torch.nn.Module) -> str:
    """First 12 hex digits of SHA-256 over the backbone's state-dict (names + bytes): a cache key."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        if k.startswith("head."):
            continue
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


@torch.no_grad()
def extract_embeddings(
    model: LandmarkNet,
    paths: Sequence[Path],
    transform: Callable,
    size: int,
    *,
    seed: int | None = None,
    batch_size: int = 32,
    num_workers: int = 1,
    device: torch.device | str = "cpu",
    desc: str = "embedding",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the backbone (eval mode, no gradients) over images.

    Returns:
        ``(embeddings (N, D) float32 unit-norm, valid (N,) bool)``; rows of invalid images are zero.
    """
    model.eval().to(device)
    ds = ImageViews(paths, transform, size, seed)
    dl = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers, persistent_workers=False)
    embs: list[torch.Tensor] = []
    oks: list[torch.Tensor] = []
    for x, ok in tqdm(dl, desc=desc, unit="batch", leave=False):
        e = model.embed(x.to(device)).float().cpu()
        e[~ok] = 0.0
        embs.append(e)
        oks.append(ok)
    if not embs:
        return torch.zeros(0, model.embedding_dim), torch.zeros(0, dtype=torch.bool)
    return torch.cat(embs), torch.cat(oks)


def cached_embeddings(
    model: LandmarkNet,
    paths: Sequence[Path],
    transform: Callable,
    size: int,
    *,
    cache_dir: Path | None,
    key: str,
    seed: int | None = None,
    **kw,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``extract_embeddings`` with an on-disk cache ``cache_dir/<key>.safetensors`` (no cache when None).

    ``key`` must identify dataset, weights, transform and view (see module docstring). A corrupt
    cache file is ignored and rewritten.
    """
    from safetensors.torch import load_file, save_file

    path = cache_dir / f"{key}.safetensors" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            t = load_file(str(path))
            if t["embeddings"].shape[0] == len(paths):
                return t["embeddings"], t["valid"].bool()
        except Exception as exc:  # noqa: BLE001 - unreadable cache: recompute
            log.warning("ignoring unreadable feature cache %s: %s", path, exc)
    emb, ok = extract_embeddings(model, paths, transform, size, seed=seed, **kw)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        save_file({"embeddings": emb.contiguous(), "valid": ok.to(torch.uint8)}, str(tmp))
        tmp.replace(path)
    return emb, ok

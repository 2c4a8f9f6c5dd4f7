"""Lower-block activations of a frozen backbone, cached per photo and view (bottleneck caching one level down).

Fine-tuning only the upper blocks of a CNN needs the lower blocks' output for every training image, and
those blocks never change. So, as frozen-mode training caches embeddings ("bottleneck features", the
TensorFlow image-retraining recipe), this module caches the *activations* after the first ``cut`` blocks:
for MobileNetV2 with ``cut = 14`` that is ``features[13]``'s output, ``(96, 14, 14)`` at 224 px input,
37.6 kB per view in float16. Training the upper blocks (``features[14:]``: ~30 % of the network's
multiply-adds) on the cache runs several times faster than end-to-end fine-tuning on a CPU.

View 0 of a photo is the app's own preprocessing (``training.transforms.eval_loader``); views 1..V are
random augmentations (``training.transforms.train_loader``) seeded from ``(seed, view, photo key)``, so
a photo gets the same views whatever list it comes in — cross-validation folds share one cache.

Cache files (``cache_dir/<tag>-v<view>.safetensors``): ``acts`` ``(M, C, H, W)`` float16, ``ok`` ``(M,)``
uint8, and the photo keys (path, size, mtime) in the metadata. ``tag`` covers the backbone, a hash of
its weights, ``cut``, the input/resize sizes, and for augmented views the recipe and seed. Photos
missing from a file are computed and appended.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from core.recognition.backbones import LandmarkNet, backbone_blocks
from training.features import weights_hash
from training.transforms import AUGMENTATION_ID, eval_loader, train_loader

__all__ = ["ActivationCache", "UpperNet", "split_point", "photo_key"]

log = logging.getLogger(__name__)

#: Backbones whose stripped network is ``flatten(avgpool(features(x)))`` (so the upper part can be run alone).
FEATURES_BACKBONES = ("mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0")


def photo_key(path: str | Path) -> str:
    """``"<absolute path>|<size bytes>|<mtime ns>"``: a photo's identity in the cache (a changed file is new)."""
    st = os.stat(path)
    return f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"


def _features(model: LandmarkNet) -> nn.Sequential:
    """The backbone's ``features`` (``torchvision.models.mobilenet_v2(...).features`` and the like)."""
    features = model.backbone.features
    assert isinstance(features, nn.Sequential)
    return features


def split_point(model: LandmarkNet, unfreeze_blocks: int) -> int:
    """Index ``cut`` of the first trained block when the last ``unfreeze_blocks`` blocks are trained.

    Raises:
        ValueError: the backbone is not a ``features``-style network, or the count is out of range.
    """
    if model.backbone_name not in FEATURES_BACKBONES:
        raise ValueError(
            f"cached fine-tuning needs a features-style backbone ({', '.join(FEATURES_BACKBONES)}), "
            f"not {model.backbone_name!r}"
        )
    n = len(backbone_blocks(model.backbone_name, model.backbone))
    if not 0 <= unfreeze_blocks < n:
        raise ValueError(f"--unfreeze-blocks must be in [0, {n - 1}] for {model.backbone_name}, got {unfreeze_blocks}")
    return n - unfreeze_blocks


class UpperNet(nn.Module):
    """The trainable top of a ``LandmarkNet``: blocks ``cut..`` of ``backbone.features``, average pooling,
    L2 normalisation and the head. Shares its parameters with ``model`` (training it trains the model).

    ``embed(a)``: activations ``(B, C, H, W)`` (float16/32) → unit embeddings ``(B, D)`` float32;
    ``forward(a)`` → ``(embedding, logits (B, num_classes))``. ``embed(lower(x)) == model.embed(x)``.
    """

    def __init__(self, model: LandmarkNet, cut: int) -> None:
        super().__init__()
        self.blocks = _features(model)[cut:]
        self.head: nn.Linear = model.head

    def embed(self, a: torch.Tensor) -> torch.Tensor:
        x = self.blocks(a.float())
        return F.normalize(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), dim=1)

    def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.embed(a)
        return e, self.head(e)


class _Views(Dataset):
    """``(tensor (3, S, S) float32, ok)`` of one view of each photo; undecodable photos give zeros, ok False."""

    def __init__(self, paths: Sequence[Path], keys: Sequence[str], transform: Callable, size: int, seed: int | None):
        self.paths, self.keys, self.transform, self.size, self.seed = list(paths), list(keys), transform, size, seed

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        if self.seed is not None:  # the same augmentation of a photo in every list (folds share the cache)
            digest = hashlib.sha256(f"{self.seed}|{self.keys[i]}".encode()).digest()
            torch.manual_seed(int.from_bytes(digest[:8], "little") % (2**63))
        try:
            return self.transform(self.paths[i]), True
        except Exception as exc:  # noqa: BLE001 - corrupt/unreadable file: reported, never fatal
            log.warning("skipping %s: %s", self.paths[i], exc)
            return torch.zeros(3, self.size, self.size), False


class ActivationCache:
    """Lower-block activations of photos, computed once and kept on disk (see the module docstring).

    Args:
        model: the ``LandmarkNet`` (its first ``cut`` backbone blocks are used, in eval mode, frozen).
        cut: number of lower blocks (``split_point``).
        input_size, resize_size: the bundle's preprocessing, px.
        cache_dir: folder for the cache files (created); None keeps nothing on disk.
        seed: augmentation seed. device: where the lower blocks run. batch_size, workers: DataLoader settings.
    """

    def __init__(
        self,
        model: LandmarkNet,
        cut: int,
        input_size: int,
        resize_size: int,
        cache_dir: Path | None,
        *,
        seed: int = 0,
        device: torch.device | str = "cpu",
        batch_size: int = 32,
        workers: int = 1,
    ) -> None:
        self.lower = _features(model)[:cut].eval()
        for p in self.lower.parameters():
            p.requires_grad_(False)
        self.input_size, self.device, self.batch_size, self.workers = input_size, device, batch_size, workers
        self.seed = seed
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.clean = eval_loader(input_size, resize_size)
        self.augmented = train_loader(input_size)
        self.tag = f"act-{model.backbone_name}-{weights_hash(model)}-cut{cut}-{input_size}-{resize_size}"
        self._memory: dict[int, tuple[dict[str, int], torch.Tensor, torch.Tensor]] = {}

    def _file(self, view: int) -> Path | None:
        if self.cache_dir is None:
            return None
        name = f"{self.tag}-v{view}" + (f"-{AUGMENTATION_ID}-s{self.seed}" if view else "")
        return self.cache_dir / f"{name}.safetensors"

    def _load(self, view: int) -> tuple[dict[str, int], torch.Tensor, torch.Tensor]:
        if view in self._memory:
            return self._memory[view]
        path = self._file(view)
        if path is not None and path.is_file():
            from safetensors import safe_open

            try:
                with safe_open(str(path), framework="pt") as fh:
                    keys = json.loads((fh.metadata() or {})["keys"])
                    acts, ok = fh.get_tensor("acts"), fh.get_tensor("ok").bool()
                if len(keys) == acts.shape[0] == ok.shape[0]:
                    self._memory[view] = ({k: i for i, k in enumerate(keys)}, acts, ok)
                    return self._memory[view]
            except Exception as exc:  # noqa: BLE001 - an unreadable cache is recomputed, never fatal
                log.warning("ignoring the unreadable activation cache %s: %s", path, exc)
        empty: tuple[dict[str, int], torch.Tensor, torch.Tensor] = (
            {},
            torch.zeros(0, dtype=torch.float16),
            torch.zeros(0, dtype=torch.bool),
        )
        self._memory[view] = empty
        return empty

    @torch.no_grad()
    def _compute(self, paths: Sequence[Path], keys: Sequence[str], view: int) -> tuple[torch.Tensor, torch.Tensor]:
        transform = self.clean if view == 0 else self.augmented
        seed = None if view == 0 else self.seed * 1000 + view
        ds = _Views(paths, keys, transform, self.input_size, seed)
        dl = DataLoader(ds, batch_size=self.batch_size, shuffle=False, num_workers=self.workers)
        self.lower.to(self.device)
        acts, oks = [], []
        for x, ok in tqdm(dl, desc=f"activations view {view}", unit="batch", leave=False):
            a = self.lower(x.to(self.device)).to(torch.float16).cpu()
            a[~ok] = 0
            acts.append(a)
            oks.append(ok)
        return torch.cat(acts), torch.cat(oks)

    def view(self, paths: Sequence[Path], view: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Activations of one view of ``paths``: ``((N, C, H, W) float16, ok (N,) bool)``, in order."""
        keys = [photo_key(p) for p in paths]
        index, acts, ok = self._load(view)
        todo_keys = [k for k in dict.fromkeys(keys) if k not in index]
        if todo_keys:
            first = {k: p for p, k in zip(paths, keys)}
            new_acts, new_ok = self._compute([first[k] for k in todo_keys], todo_keys, view)
            acts = new_acts if acts.numel() == 0 else torch.cat([acts, new_acts])
            ok = torch.cat([ok, new_ok])
            index = dict(index)
            for k in todo_keys:
                index[k] = len(index)
            self._memory[view] = (index, acts, ok)
            self._save(view, index, acts, ok)
        rows = torch.tensor([index[k] for k in keys], dtype=torch.long)
        return acts[rows], ok[rows]

    def views(self, paths: Sequence[Path], count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Views 0..``count`` of ``paths``: ``((N, count + 1, C, H, W) float16, ok (N, count + 1) bool)``."""
        got = [self.view(paths, v) for v in range(count + 1)]
        return torch.stack([a for a, _ in got], 1), torch.stack([o for _, o in got], 1)

    def _save(self, view: int, index: dict[str, int], acts: torch.Tensor, ok: torch.Tensor) -> None:
        path = self._file(view)
        if path is None:
            return
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(index, key=index.__getitem__)
        tmp = path.with_name(path.name + ".part")
        save_file({"acts": acts.contiguous(), "ok": ok.to(torch.uint8)}, str(tmp), metadata={"keys": json.dumps(keys)})
        os.replace(tmp, path)

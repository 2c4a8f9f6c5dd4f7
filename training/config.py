"""``TrainConfig``: every setting of one training run (filled from the command line)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["MODES", "TrainConfig"]

#: Training modes: head on a frozen backbone, last N blocks fine-tuned end to end, last N blocks fine-tuned
#: on cached lower-block activations, or simple_cnn from scratch.
MODES = ("frozen", "finetune", "finetune-cached", "scratch")


@dataclass
class TrainConfig:
    """Settings of a training run.

    Attributes:
        data: training data (ImageFolder root holding ``train/`` [+ ``val/``], an ImageFolder split
            folder, a GLDv2 root or a ``path,label`` CSV).
        output: bundle file to write (``.safetensors``).
        work_dir: run artefacts (metrics JSON, PNG plots, checkpoints, feature cache).
        mode: one of ``MODES``. backbone: key of ``core.recognition.backbones.BACKBONES``.
        weights: ``"imagenet"`` or ``"none"``; backbone_weights: local full-classifier state_dict file.
        val_dir: explicit validation data (else a stratified split of ``val_fraction``).
        non_landmark: folder of photos without a landmark (threshold choice and metrics).
        outlier_exposure: folder of photos without a landmark used as negatives while training the head
            (frozen mode; Outlier Exposure). When it is the same folder as ``non_landmark`` the photos are
            split in two disjoint halves (see ``training.data_setup``). oe_weight: λ of the OE loss.
        min_images: drop classes with fewer training images. input_size, resize_size: pixels.
        views: augmented views per training image cached in the frozen and finetune-cached modes (plus 1
            clean view).
        epochs, batch_size, lr, weight_decay, label_smoothing, patience: optimisation.
        unfreeze_blocks: finetune / finetune-cached modes: number of last backbone blocks trained.
        cache_dir: finetune-cached mode: folder of the activation cache (default ``<work_dir>/cache``); runs
            on the same photos (cross-validation folds) share it.
        balanced: class-balanced sampling. max_non_landmark_rate: threshold constraint.
        threads: torch intra-op threads; workers: DataLoader worker processes; device: auto/cpu/cuda/mps.
        amp: mixed precision on CUDA (fine-tune/scratch). resume: continue from work_dir's checkpoint.
        seed: everything random is seeded from it. catalog: landmark catalog JSON (None = bundled).
        checkpoint_every: end-to-end modes: also write the checkpoint every this many optimisation steps (0 = at
            epoch ends only), so ``--resume`` continues mid-epoch. max_steps: stop this run after that many steps
            (checkpoint written, no bundle; 0 = no limit): time-boxed jobs on shared clusters.
        gallery: ``"auto"`` (exact up to ``core.recognition.gallery.EXACT_LIMIT`` training photos, compressed above),
            ``"exact"`` or ``"compressed"``. prototypes_per_class: k-means prototypes per class of a compressed gallery.
    """

    data: Path
    output: Path
    work_dir: Path | None = None
    mode: str = "frozen"
    backbone: str = "mobilenet_v2"
    weights: str = "imagenet"
    backbone_weights: Path | None = None
    val_dir: Path | None = None
    val_fraction: float = 0.15
    non_landmark: Path | None = None
    outlier_exposure: Path | None = None
    oe_weight: float = 0.5
    min_images: int = 5
    input_size: int = 224
    resize_size: int = 256
    views: int = 4
    epochs: int = 60
    batch_size: int = 32
    lr: float | None = None
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    patience: int = 10
    unfreeze_blocks: int = 3
    balanced: bool = True
    max_non_landmark_rate: float = 0.05
    threads: int | None = None
    workers: int = 1
    device: str = "auto"
    amp: bool = True
    resume: bool = False
    seed: int = 0
    catalog: Path | None = None
    cache_dir: Path | None = None
    gallery: str = "auto"
    checkpoint_every: int = 0
    max_steps: int = 0
    prototypes_per_class: int = 2

    def resolved_work_dir(self) -> Path:
        """``work_dir`` or ``<output without suffix>-run`` beside the bundle."""
        return Path(self.work_dir) if self.work_dir else Path(self.output).with_name(Path(self.output).stem + "-run")

    def to_json(self) -> dict:
        """JSON-serialisable dict (paths as strings)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}

"""``landmark-train``: the training module's command line.

Sub-commands:

* ``landmark-train train DATA --output BUNDLE [options]`` — train a model and write a bundle
  (run artefacts: ``metrics.json``, ``curves.png``, ``confusion.png``, checkpoints, feature cache in
  ``--work-dir``, default ``<BUNDLE stem>-run/``). Works under ``torchrun`` for fine-tune/scratch
  (DistributedDataParallel; rank 0 writes the bundle).
* ``landmark-train evaluate BUNDLE DATA_DIR [--non-landmark DIR] [--json]`` — metrics of any bundle on
  an ImageFolder tree, scored exactly as the app scores.
* ``landmark-train crossval DATA --non-landmark DIR --out-dir DIR [--folds 5] [--tta] [train options]`` —
  K-fold cross-validation of a recipe (``training.crossval``): mean ± sd per metric and per class.
* ``landmark-train features BUNDLE DATA_DIR [--output FILE] [--per-class 10] [--keypoints 256]`` — build the
  bundle's geometric-verification features file (``NAME.features.safetensors`` beside it) from its
  training photos (``training.local_features``).

Exit status: 0 success, 2 bad arguments or unusable input (one-line message on stderr), 1 other errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]


def _add_training_arguments(t: argparse.ArgumentParser) -> None:
    """The recipe options shared by ``train`` and ``crossval``."""
    from core.recognition.backbones import BACKBONES
    from training.config import MODES

    t.add_argument(
        "data", type=Path, help="ImageFolder root (with train/[val/]), split folder, GLDv2 root or path,label CSV"
    )
    t.add_argument("--work-dir", type=Path, help="run artefacts (default: <output stem>-run beside the bundle)")
    t.add_argument("--mode", choices=MODES, default="frozen")
    t.add_argument("--backbone", choices=sorted(BACKBONES), default="mobilenet_v2")
    t.add_argument(
        "--weights",
        choices=("imagenet", "none"),
        default="imagenet",
        help="torchvision ImageNet weights (downloaded by torchvision) or random init",
    )
    t.add_argument(
        "--backbone-weights",
        type=Path,
        help="local state_dict of the full torchvision classifier model, or a model bundle (.safetensors: fine-tune "
        "its backbone, e.g. the shipped model)",
    )
    t.add_argument("--val-dir", type=Path, help="validation ImageFolder (default: DATA/val or a stratified split)")
    t.add_argument("--val-fraction", type=float, default=0.15)
    t.add_argument("--non-landmark", type=Path, help="folder of photos without a landmark (threshold choice)")
    t.add_argument(
        "--outlier-exposure",
        type=Path,
        help="frozen mode: photos without a landmark used as negatives when training the head "
        "(Outlier Exposure); the same folder as --non-landmark is split in two halves",
    )
    t.add_argument("--oe-weight", type=float, default=0.5, help="weight of the Outlier Exposure loss")
    t.add_argument(
        "--min-images",
        type=int,
        default=5,
        help="classes with fewer training images get no head row: the kNN gallery alone recognises them",
    )
    t.add_argument(
        "--gallery",
        choices=("auto", "exact", "compressed"),
        default="auto",
        help="kNN gallery: every training embedding (exact), or k-means prototypes in a FAISS index "
        "(compressed); auto = compressed above 10 000 training photos",
    )
    t.add_argument("--prototypes-per-class", type=int, default=2, help="prototypes per class of a compressed gallery")
    t.add_argument("--input-size", type=int, default=None, help="network input side, px (default 224; 128 for scratch)")
    t.add_argument("--resize-size", type=int, default=None, help="shorter side before the centre crop, px")
    t.add_argument(
        "--views", type=int, default=None, help="frozen / finetune-cached: augmented views cached per image (4 / 5)"
    )
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--weight-decay", type=float, default=1e-4)
    t.add_argument("--label-smoothing", type=float, default=0.1)
    t.add_argument("--patience", type=int, default=10, help="early stopping: epochs without validation improvement")
    t.add_argument(
        "--unfreeze-blocks",
        type=int,
        default=None,
        help="finetune / finetune-cached: last N backbone blocks trained (3 / 5)",
    )
    t.add_argument(
        "--no-balanced",
        dest="balanced",
        action="store_false",
        help="plain shuffling instead of class-balanced sampling",
    )
    t.add_argument("--max-non-landmark-rate", type=float, default=0.05)
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--workers", type=int, default=1, help="DataLoader worker processes")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    t.add_argument("--no-amp", dest="amp", action="store_false", help="disable mixed precision on CUDA")
    t.add_argument("--resume", action="store_true", help="continue from the work dir's last checkpoint (mid-epoch too)")
    t.add_argument(
        "--checkpoint-every", type=int, default=0, help="finetune/scratch: also checkpoint every N steps (0: per epoch)"
    )
    t.add_argument(
        "--max-steps",
        type=int,
        default=0,
        help="finetune/scratch: stop after N steps with a checkpoint (--resume goes on)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--catalog", type=Path, help="landmark catalog JSON (default resources/landmarks.json)")
    t.add_argument("--cache-dir", type=Path, help="finetune-cached: activation cache folder (default <work dir>/cache)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="landmark-train", description="Train and evaluate Landmark Tagger model bundles.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model bundle")
    t.add_argument("--output", "-o", type=Path, required=True, help="bundle file to write (.safetensors)")
    _add_training_arguments(t)

    c = sub.add_parser(
        "crossval",
        help="K-fold cross-validation of a training recipe over all labelled photos (train/val/test pooled)",
    )
    c.add_argument("--folds", type=int, default=5)
    c.add_argument("--out-dir", type=Path, required=True, help="fold bundles, caches and crossval.json/.md")
    c.add_argument("--only-folds", type=str, default=None, help="comma-separated fold indices (default: all)")
    c.add_argument("--tta", action="store_true", help="also evaluate with test-time augmentation (horizontal flip)")
    c.add_argument("--reuse-bundles", action="store_true", help="evaluate the fold bundles already in --out-dir again")
    c.add_argument(
        "--exclude-classes",
        type=str,
        default="",
        help="comma-separated class folders left out entirely (e.g. landmarks to teach in a held-out teaching test)",
    )
    c.add_argument(
        "--verify",
        action="store_true",
        help="also evaluate with geometric verification (features built from each fold's training photos)",
    )
    _add_training_arguments(c)

    e = sub.add_parser("evaluate", help="metrics of a bundle on an ImageFolder tree")
    e.add_argument("bundle", type=Path)
    e.add_argument("data_dir", type=Path, help="ImageFolder: <class>/<image>")
    e.add_argument("--non-landmark", type=Path, help="folder of photos without a landmark")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.add_argument("--device", default="auto")
    e.add_argument("--batch-size", type=int, default=16)
    e.add_argument("--threads", type=int, default=None)
    e.add_argument("--no-verify", dest="verify", action="store_false", help="without geometric verification")

    f = sub.add_parser("features", help="build a bundle's verification features file from its training photos")
    f.add_argument("bundle", type=Path)
    f.add_argument("data_dir", type=Path, help="ImageFolder <class>/<image> (or a root with train/ [val/ test/])")
    f.add_argument("--output", "-o", type=Path, help="file to write (default: <bundle stem>.features.safetensors)")
    f.add_argument("--per-class", type=int, default=10, help="gallery photos per landmark (0: every photo)")
    f.add_argument("--keypoints", type=int, default=256, help="strongest keypoints kept per gallery photo")
    f.add_argument("--device", default="auto")
    f.add_argument("--batch-size", type=int, default=16)
    f.add_argument("--workers", type=int, default=2, help="feature extraction threads")
    f.add_argument("--threads", type=int, default=None)
    return p


def _config(a: argparse.Namespace):
    from training.config import TrainConfig

    scratch = a.mode == "scratch"
    input_size = a.input_size or (128 if scratch else 224)
    resize = a.resize_size or int(round(input_size * 256 / 224))
    epochs = a.epochs or {"frozen": 60, "finetune": 15, "finetune-cached": 10, "scratch": 30}[a.mode]
    cached = a.mode == "finetune-cached"
    backbone = "simple_cnn" if scratch else a.backbone
    return TrainConfig(
        data=a.data,
        output=getattr(a, "output", None) or Path(a.out_dir) / "model.safetensors",
        work_dir=a.work_dir,
        mode=a.mode,
        backbone=backbone,
        weights=a.weights,
        backbone_weights=a.backbone_weights,
        val_dir=a.val_dir,
        val_fraction=a.val_fraction,
        non_landmark=a.non_landmark,
        outlier_exposure=a.outlier_exposure,
        oe_weight=a.oe_weight,
        min_images=a.min_images,
        input_size=input_size,
        resize_size=resize,
        views=a.views if a.views is not None else (5 if cached else 4),
        epochs=epochs,
        batch_size=a.batch_size,
        lr=a.lr,
        weight_decay=a.weight_decay,
        label_smoothing=a.label_smoothing,
        patience=a.patience,
        unfreeze_blocks=a.unfreeze_blocks if a.unfreeze_blocks is not None else (5 if cached else 3),
        balanced=a.balanced,
        max_non_landmark_rate=a.max_non_landmark_rate,
        threads=a.threads,
        workers=a.workers,
        device=a.device,
        amp=a.amp,
        resume=a.resume,
        seed=a.seed,
        catalog=a.catalog,
        cache_dir=a.cache_dir,
        gallery=a.gallery,
        checkpoint_every=a.checkpoint_every,
        max_steps=a.max_steps,
        prototypes_per_class=a.prototypes_per_class,
    )


def _crossval(args: argparse.Namespace) -> int:
    """``landmark-train crossval``: run the protocol of ``training.crossval`` and print its tables."""
    from core.recognition.device import resolve_device
    from core.recognition.recognizer import Recognizer
    from training.cached_finetune import run_cached_finetune
    from training.crossval import format_report, run_crossval
    from training.frozen import run_frozen

    cfg = _config(args)
    if cfg.mode not in ("frozen", "finetune-cached"):
        raise ValueError("crossval runs the frozen and finetune-cached modes")
    if cfg.non_landmark is None:
        raise ValueError("crossval needs --non-landmark (photos without a landmark are split into the folds too)")
    variants = {"app": lambda b: Recognizer(b, device=cfg.device, top_k=5, verify=False)}
    if args.tta:
        variants["app + TTA (flip)"] = lambda b: Recognizer(b, device=cfg.device, top_k=5, tta=True, verify=False)
    after = None
    if args.verify:
        from training.local_features import build_features_from_photos

        def after(bundle: Path, data) -> None:
            build_features_from_photos(
                bundle,
                list(data.train.paths) + list(data.val.paths),
                list(data.train.labels) + list(data.val.labels),
                source_name="cross-validation fold training part",
                device=cfg.device,
                workers=max(1, cfg.workers),
            )

        variants["app + verification"] = lambda b: Recognizer(b, device=cfg.device, top_k=5, verify=True)
    only = [int(x) for x in args.only_folds.split(",")] if args.only_folds else None
    report = run_crossval(
        cfg,
        run_frozen if cfg.mode == "frozen" else run_cached_finetune,
        variants,
        folds=args.folds,
        out_dir=args.out_dir,
        device=resolve_device(cfg.device),
        only_folds=only,
        after_training=after,
        reuse_bundles=args.reuse_bundles,
        exclude_classes=[k for k in args.exclude_classes.split(",") if k],
    )
    text = format_report(report)
    (args.out_dir / "crossval.md").write_text(text + "\n")
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``landmark-train`` / ``python -m training``; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    import torch

    from core.recognition.bundle import BundleError
    from training.datasets import DatasetError
    from training.weights import WeightsError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        if args.command == "train":
            from training.run import train

            cfg = _config(args)
            if cfg.backbone_weights is not None and cfg.mode == "scratch":
                raise ValueError("--backbone-weights cannot be used with --mode scratch")
            if cfg.outlier_exposure is not None and cfg.mode not in ("frozen", "finetune-cached"):
                raise ValueError("--outlier-exposure is implemented for --mode frozen and finetune-cached only")
            result = train(cfg)
            if result is not None:
                path, m = result
                v = m["validation"]
                print(
                    f"wrote {path} ({m['model_version']}): validation top-1 {v['top1']:.3f}, "
                    f"GAP {v['gap']:.3f}, ECE {v['ece']:.3f}"
                )
            return 0
        if args.command == "crossval":
            return _crossval(args)
        if args.command == "features":
            from training.local_features import build_features_for_bundle

            out, feats = build_features_for_bundle(
                args.bundle,
                args.data_dir,
                output=args.output,
                per_class=args.per_class or None,
                gallery_keypoints=args.keypoints,
                device=args.device,
                batch_size=args.batch_size,
                workers=args.workers,
            )
            g = feats.gallery
            print(
                f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): {len(g)} gallery photos of "
                f"{len(set(g.labels.tolist()))} landmarks, {g.keypoints.shape[0]} keypoints, model {feats.model_version}"
            )
            return 0
        from training.evaluate import evaluate_bundle, format_table

        report = evaluate_bundle(
            args.bundle,
            args.data_dir,
            non_landmark=args.non_landmark,
            device=args.device,
            batch_size=args.batch_size,
            verify=args.verify,
        )
        print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else format_table(report))
        return 0
    except (DatasetError, WeightsError, BundleError, ValueError, FileNotFoundError) as exc:
        print(f"landmark-train: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

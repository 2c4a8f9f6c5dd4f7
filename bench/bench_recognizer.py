"""Recognizer throughput on this machine: prints images/s, is not a test.

Three figures per batch size (1, 16, 64 by default), on real photos from ``../shared/data/landmarks``:

* **decode + preprocess**: ``Recognizer.load_image`` (``core.photos.image_io.open_photo`` with draft
  decoding + ``core.recognition.preprocess``) over the photos, one thread, then stacking the batch;
* **model forward**: the CNN alone (``LandmarkNet.forward``: embedding + head logits) under
  ``torch.inference_mode`` on batches decoded beforehand;
* **end to end**: ``Recognizer.predict_paths`` (decode in worker threads overlapping the forward,
  scoring with the gallery, top-k, ``Prediction`` objects).

The target (issue 2) is end to end >= 90 % of forward-only throughput. Each figure is the best of
``--repeat`` runs, forward and end-to-end runs interleaved (the machine is shared; the best run
is the least disturbed one).

Model: the shipped bundle ``resources/models/landmarks-mobilenet_v2.safetensors`` when present,
else MobileNetV2 (ImageNet weights from ``../shared/torch-home`` when present, else random) with a
random 43-class head and a 10-per-class random gallery (speed does not depend on the weights).

Usage: ``python bench/bench_recognizer.py [--threads 1] [--images 256] [--batches 1,16,64]
[--workers N] [--repeat 2] [--device cpu] [--bundle PATH]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from core.recognition.bundle import LandmarkClass, ModelBundle, load_bundle  # noqa: E402
from core.recognition.recognizer import Recognizer  # noqa: E402

SHARED = Path(os.environ.get("LANDMARK_SHARED", REPO.parent / "shared")).resolve()
SHIPPED = REPO / "resources" / "models" / "landmarks-mobilenet_v2.safetensors"
IMAGENET_MNV2 = SHARED / "torch-home" / "derived" / "mobilenet_v2_coral_tf2ptq_calib-a812eb75.pth"


def _bench_bundle(path: str | None) -> tuple[ModelBundle, str]:
    if path:
        return load_bundle(path), Path(path).name
    if SHIPPED.is_file():
        return load_bundle(SHIPPED), f"shipped {SHIPPED.name}"
    from core.recognition.backbones import LandmarkNet

    torch.manual_seed(0)
    classes = 43
    net = LandmarkNet("mobilenet_v2", classes)
    what = "mobilenet_v2 (random weights)"
    if IMAGENET_MNV2.is_file():
        sd = torch.load(IMAGENET_MNV2, map_location="cpu", weights_only=True)
        net.backbone.load_state_dict({k: v for k, v in sd.items() if not k.startswith("classifier.")}, strict=True)
        what = "mobilenet_v2 (ImageNet backbone)"
    gallery = torch.nn.functional.normalize(torch.randn(classes * 10, net.embedding_dim), dim=1)
    bundle = ModelBundle(
        backbone="mobilenet_v2",
        input_size=224,
        resize_size=256,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        classes=[LandmarkClass(f"c{i}", f"Class {i}") for i in range(classes)],
        temperature=1.0,
        no_landmark_threshold=0.3,
        embedding_dim=net.embedding_dim,
        model_version="bench",
        state_dict=net.state_dict(),
        gallery_embeddings=gallery,
        gallery_labels=torch.arange(classes).repeat_interleave(10),
    )
    return bundle, what + ", random 43-class head, 430-entry gallery"


def _best(fn, repeat: int) -> float:
    """Smallest wall time of ``repeat`` calls, seconds."""
    return _best2(fn, repeat)[0]


def _best2(fn, repeat: int) -> tuple[float, float]:
    """Smallest wall time and smallest process CPU time (all threads) of ``repeat`` calls, seconds."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--images", type=int, default=256, help="photos per measurement (default 256)")
    ap.add_argument("--batches", default="1,16,64", help="batch sizes (default 1,16,64)")
    ap.add_argument("--workers", type=int, default=None, help="decode threads in predict_paths (default: recognizer's)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per figure; the best is printed (default 2)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default cpu)")
    ap.add_argument("--bundle", default=None, help="bundle file (default: shipped, else a built MobileNetV2)")
    args = ap.parse_args(argv)

    photos_dir = SHARED / "data" / "landmarks"
    if not photos_dir.is_dir():
        print(f"bench_recognizer: skipped, needs ../shared/data/landmarks (not found at {photos_dir})")
        return 0
    paths = sorted(photos_dir.glob("*/*/*.jpg"))
    if len(paths) < args.images:
        paths = paths * (args.images // max(1, len(paths)) + 1)
    # spread over classes: every k-th photo
    step = max(1, len(paths) // args.images)
    paths = paths[::step][: args.images]
    batches = [int(b) for b in args.batches.split(",") if b.strip()]

    torch.set_num_threads(args.threads)
    bundle, what = _bench_bundle(args.bundle)
    rec = Recognizer(bundle, device=args.device, threads=args.threads, decode_workers=args.workers)
    workers = rec.decode_workers
    n = len(paths)
    print(f"Recognizer benchmark — {what}")
    print(
        f"device {rec.device}, torch {torch.__version__}, {args.threads} torch thread(s), "
        f"{workers} decode worker(s), {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"{n} photos from {photos_dir.relative_to(SHARED.parent)}, input {bundle.input_size} px, best of {args.repeat}"
    )

    # decode + preprocess alone (independent of the batch size, measured once, one thread)
    tensors: list[torch.Tensor] = []

    def decode_all():
        tensors.clear()
        tensors.extend(rec.load_image(p) for p in paths)

    t_decode, c_decode = _best2(decode_all, args.repeat)
    model = rec._model  # the CNN exactly as the recognizer runs it

    def forward_all(b: int):
        with torch.inference_mode():
            for i in range(0, n, b):
                x = torch.stack(tensors[i : i + b]).to(rec.device)
                with rec._autocast():
                    emb, logits = model(x)
                if rec.device.type == "cuda":
                    torch.cuda.synchronize()

    print(
        f"\n{'batch':>5} | {'decode+preprocess':>17} | {'model forward':>13} | {'end to end':>10} | e2e / forward"
        f" | CPU ms/img: decode, forward, e2e"
    )
    print("-" * 110)
    for b in batches:
        stack_t = _best(lambda b=b: [torch.stack(tensors[i : i + b]) for i in range(0, n, b)], 1)
        forward_all(b)  # warm-up (allocator, kernels)
        rec.predict_paths(paths[:b], batch_size=b)
        t_fwd = t_e2e = c_fwd = c_e2e = float("inf")
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            w, c = _best2(lambda b=b: forward_all(b), 1)
            t_fwd, c_fwd = min(t_fwd, w), min(c_fwd, c)
            w, c = _best2(lambda b=b: rec.predict_paths(paths, batch_size=b), 1)
            t_e2e, c_e2e = min(t_e2e, w), min(c_e2e, c)
        dec_rate = n / (t_decode + stack_t)
        print(
            f"{b:>5} | {dec_rate:>13.1f} /s | {n / t_fwd:>10.1f} /s | {n / t_e2e:>7.1f} /s | {t_fwd / t_e2e:>8.0%}"
            f"      | {c_decode / n * 1e3:6.1f}, {c_fwd / n * 1e3:6.1f}, {c_e2e / n * 1e3:6.1f}"
        )
    print(
        "\nimages/s (wall clock); e2e / forward = end-to-end throughput as a share of forward-only throughput "
        "(target >= 90 %);\nCPU ms/img = process CPU time (all threads) per photo, independent of other load "
        "on the machine"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scaling benchmark of the model bundle and "similar photos": 1 000, 10 000 and 81 000 landmarks × 20 photos.

Not a test: it prints figures. Run ``.venv/bin/python bench/bench_gallery_scale.py [--classes 1000,10000,81000]``.

Synthetic embeddings with cluster structure like a landmark CNN's (D = 1 280, MobileNetV2's): landmarks come in
families (one per 10 landmarks: cathedrals, bridges …): a landmark's centre is its family's direction plus its own
(cosine ≈ 0.6 between landmarks of one family, ≈ 0 across families); a photo is its centre plus noise, cosine ≈ 0.75
to the centre, ≈ 0.56 between two photos of one landmark. The head is the class centres × 16 (weight imprinting).

Per scale, in a fresh process for each bundle (so load time and memory are what an app start pays):

* **bundle**: size on disk (MB). Up to 10 000 photos the gallery is exact (every photo, float16, format 1); above, a
  compressed gallery (``core.recognition.gallery``: 2 k-means prototypes per landmark, FAISS IVF-SQ8; head float16);
* **load**: seconds for ``Recognizer(path)`` (read + SHA-256 + tensors + FAISS index), and the **extra RSS** (MB) it
  leaves (resident memory after loading minus before; the backbone's ~14 MB included);
* **scoring**: ``Recognizer.score_embeddings`` (everything after the CNN: head, gallery, fusion, temperature, top-k)
  for one photo (median ms) and for a batch of 64 (median ms per batch), on 1 thread (``BENCH_THREADS``; torch and
  FAISS each run their own OpenMP runtime: on the 2 busy cores of the development machine 2 threads each cost 39 ms
  per photo instead of 0.9, spin-waiting, as DEVELOPERS.md found for torch alone);
* **top-5 recall**: share of fresh query photos whose landmark is among the gallery's 5 best classes, for the
  bundle's gallery and for exact search over every training photo (per-class maximum cosine), and their ratio.

Then "similar photos" over a 100 000-photo library (``core.store.similarity``, the same clustered embeddings:
5 000 landmarks × 20 photos): the FAISS HNSW-SQ8 index file beside the database (build time, file size; the first
query of a session, which loads the file; then median and 95th-percentile ms per query over 300 random photos) against
the exact search (its first query reads the 100 000 float16 embeddings from SQLite), and the index's recall@20 over
those 300 photos against brute-force cosine and against the exact path's answers (that path is itself approximate:
random-projection candidates, see ``EmbeddingIndex``). ``--similar-only 30000`` runs only this part, at 30 000 photos.

Figures of a run on the 2-core development machine are in ``training/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

D = 1280
PER_CLASS = 20
#: Per-dimension photo noise and a landmark's own share of its centre (see the module docstring).
NOISE = float(os.environ.get("BENCH_NOISE", "0.04"))
OWN = float(os.environ.get("BENCH_OWN", "0.6"))
SHARED = float(os.environ.get("BENCH_SHARED", "0.9"))
CHUNK_CLASSES = 2000


def centres(n_classes: int, seed: int = 0) -> np.ndarray:
    """``(C, D)`` float32 unit landmark centres in families of 10."""
    rng = np.random.default_rng(seed)
    fam = rng.standard_normal((max(1, n_classes // 10), D)).astype(np.float32)
    fam /= np.linalg.norm(fam, axis=1, keepdims=True)
    own = rng.standard_normal((n_classes, D)).astype(np.float32)
    own /= np.linalg.norm(own, axis=1, keepdims=True)
    c = fam[np.arange(n_classes) // 10 % len(fam)] + OWN * own
    return c / np.linalg.norm(c, axis=1, keepdims=True)


_NUISANCE = np.random.default_rng(12345).standard_normal((256, D)).astype(np.float32) / np.sqrt(D)


def photos(c: np.ndarray, classes: np.ndarray, seed: int) -> np.ndarray:
    """Unit photo embeddings of the given classes: centre + a mix of 3 of 256 nuisance directions shared by every
    landmark (sky, crowds, trees, night: what makes photos of different landmarks alike) + independent noise."""
    rng = np.random.default_rng(seed)
    n = len(classes)
    pick = rng.integers(0, len(_NUISANCE), (n, 3))
    mix = (_NUISANCE[pick] * rng.standard_normal((n, 3, 1)).astype(np.float32)).sum(axis=1) / np.sqrt(3)
    x = c[classes] + SHARED * mix + NOISE * rng.standard_normal((n, D)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def chunks(c: np.ndarray):
    """``(labels, photos)`` of the training set, ``CHUNK_CLASSES`` landmarks at a time (never all in memory)."""
    for start in range(0, len(c), CHUNK_CLASSES):
        cls = np.repeat(np.arange(start, min(start + CHUNK_CLASSES, len(c))), PER_CLASS)
        yield cls, photos(c, cls, seed=1 + start)


def build_bundle(n_classes: int, out: Path, queries: int) -> dict:
    import torch

    from core.recognition.backbones import LandmarkNet
    from core.recognition.bundle import LandmarkClass, ModelBundle, ScoringParams, save_bundle
    from core.recognition.gallery import EXACT_LIMIT, class_prototypes, index_prototypes

    c = centres(n_classes)
    q_cls = np.random.default_rng(7).integers(0, n_classes, queries)
    q = photos(c, q_cls, seed=99)
    # exact per-class maximum cosine over every training photo, streamed
    best = np.full((queries, n_classes), -np.inf, np.float32)
    protos, plabels, gallery, glabels = [], [], [], []
    compressed = n_classes * PER_CLASS > EXACT_LIMIT
    for cls, x in chunks(c):
        s = q @ x.T  # (Q, chunk)
        lo = cls[0]
        per = s.reshape(queries, -1, PER_CLASS).max(axis=2)
        best[:, lo : lo + per.shape[1]] = per
        if compressed:
            p, pl = class_prototypes(x, cls, per_class=2)
            protos.append(p)
            plabels.append(pl)
        else:
            gallery.append(x)
            glabels.append(cls)
    exact_top5 = np.argsort(-best, axis=1)[:, :5]
    exact_recall = float(np.mean([t in row for t, row in zip(q_cls, exact_top5)]))
    net = LandmarkNet("mobilenet_v2", 1)
    state = {k: v for k, v in net.state_dict().items() if k.startswith("backbone.")}
    state["head.weight"] = torch.from_numpy(c * 16.0)
    state["head.bias"] = torch.zeros(n_classes)
    kw: dict = {}
    if compressed:
        data, pl, params = index_prototypes(
            np.concatenate(protos), np.concatenate(plabels), photos=n_classes * PER_CLASS, per_class=2
        )
        kw = dict(
            gallery_index=torch.from_numpy(data), gallery_labels=torch.from_numpy(pl), gallery_params=params.to_json()
        )
    else:
        kw = dict(
            gallery_embeddings=torch.from_numpy(np.concatenate(gallery)),
            gallery_labels=torch.from_numpy(np.concatenate(glabels)),
        )
    bundle = ModelBundle(
        backbone="mobilenet_v2",
        input_size=224,
        resize_size=256,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        classes=[LandmarkClass(f"lm{i}", f"Landmark {i}") for i in range(n_classes)],
        temperature=1.0,
        no_landmark_threshold=0.3,
        embedding_dim=D,
        model_version=f"bench-{n_classes}",
        state_dict=state,
        scoring=ScoringParams(knn_weight=0.5, knn_temperature=0.05),
        **kw,
    )
    save_bundle(bundle, out)
    np.save(out.with_suffix(".q.npy"), q)
    np.save(out.with_suffix(".qcls.npy"), q_cls)
    return {"exact_top5_recall": exact_recall, "compressed": compressed}


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(path: Path) -> dict:
    """In this (fresh) process: load, memory, scoring latency and the bundle gallery's top-5 recall."""
    import torch

    threads = int(os.environ.get("BENCH_THREADS", "1"))
    torch.set_num_threads(threads)
    import faiss

    faiss.omp_set_num_threads(threads)
    from core.recognition.recognizer import Recognizer

    q = np.load(path.with_suffix(".q.npy"))
    q_cls = np.load(path.with_suffix(".qcls.npy"))
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    rec = Recognizer(path, device="cpu", top_k=5, verify=False)
    load_s = time.perf_counter() - t0
    rss1 = _rss_mb()
    rec.score_embeddings(q[:64])  # warm-up
    one = []
    for i in range(min(200, len(q))):
        t = time.perf_counter()
        rec.score_embeddings(q[i : i + 1])
        one.append(time.perf_counter() - t)
    batch = []
    for i in range(0, min(len(q), 640), 64):
        t = time.perf_counter()
        rec.score_embeddings(q[i : i + 64])
        batch.append(time.perf_counter() - t)
    # the gallery's own top-5 classes (kNN expert), as exact search is measured
    if rec._compressed is not None:
        cls, _ = rec._compressed.class_candidates(q)
        top5 = [[c for c in row if c >= 0][:5] for row in cls]
    else:
        g, gl = rec._gallery.numpy(), rec._gallery_labels.numpy()
        s = q @ g.T
        per = np.full((len(q), len(rec.bundle.classes)), -np.inf, np.float32)
        for c in range(per.shape[1]):
            per[:, c] = s[:, gl == c].max(axis=1)
        top5 = np.argsort(-per, axis=1)[:, :5].tolist()
    recall = float(np.mean([t in row for t, row in zip(q_cls, top5)]))
    preds = rec.score_embeddings(q)
    app_top5 = float(np.mean([f"lm{t}" in [k for k, _ in p.top_k] for t, p in zip(q_cls, preds)]))
    return {
        "load_s": load_s,
        "extra_rss_mb": rss1 - rss0,
        "ms_per_photo": 1e3 * float(np.median(one)),
        "ms_per_batch64": 1e3 * float(np.median(batch)),
        "top5_recall": recall,
        "app_top5": app_top5,
    }


def similar_photos(n: int = 100_000, queries: int = 300, limit: int = 20) -> dict:
    """Build a library database of ``n`` clustered embeddings; time exact and FAISS "similar photos" and measure the
    index's recall@``limit`` over ``queries`` random photos.

    Recall is the share of the exact top-``limit`` found, against two references: brute-force cosine over the
    float16 embeddings (``recall_vs_bruteforce``) and the answer of the exact path small libraries use
    (``EmbeddingIndex.similar`` without an index file: random-projection candidates ranked by exact cosine,
    ``recall_vs_exact_path``); that path's own recall against brute force is printed too.
    """
    from sqlalchemy import create_engine, insert

    from core.store.models import embeddings, metadata
    from core.store.similarity import EmbeddingIndex

    tmp = Path(tempfile.mkdtemp(prefix="bench-similar-"))
    engine = create_engine(f"sqlite:///{tmp / 'lib.sqlite3'}")
    metadata.create_all(engine, tables=[embeddings])
    c = centres(n // 20, seed=3)
    parts = []
    with engine.begin() as conn:
        for start in range(0, n, 20_000):
            cls = np.arange(start, min(start + 20_000, n)) // 20
            x = photos(c, cls, seed=start).astype(np.float16)
            parts.append(x)
            conn.execute(
                insert(embeddings),
                [
                    {"photo_id": start + i + 1, "model_version": "m", "dim": D, "vector": v.tobytes()}
                    for i, v in enumerate(x)
                ],
            )
    pids = np.random.default_rng(5).choice(n, queries, replace=False) + 1
    xq = np.concatenate(parts)[pids - 1].astype(np.float32)
    xq /= np.linalg.norm(xq, axis=1, keepdims=True)
    sims = np.empty((queries, n), np.float32)
    off = 0
    for part in parts:
        sims[:, off : off + len(part)] = xq @ part.astype(np.float32).T
        off += len(part)
    sims /= np.linalg.norm(np.concatenate(parts).astype(np.float32), axis=1)[None, :]
    sims[np.arange(queries), pids - 1] = -np.inf
    truth = [set((np.argsort(-row)[:limit] + 1).tolist()) for row in sims]
    del parts, sims
    out: dict = {"n": n, "queries": queries}
    ann_path = tmp / "lib.sqlite3.similar.faiss"
    answers: dict = {}
    with engine.connect() as conn:
        t = time.perf_counter()
        EmbeddingIndex(ann_path=ann_path).refresh_ann(conn, "m")  # what the tagging job runs
        out["ann_build_s"] = time.perf_counter() - t
        out["ann_file_mb"] = ann_path.stat().st_size / 1e6
        for name, idx in (("exact", EmbeddingIndex()), ("ann", EmbeddingIndex(ann_path=ann_path))):
            t = time.perf_counter()
            idx.similar(conn, "m", int(pids[0]), limit)  # a session's first query: loads the file (or the matrix)
            out[f"{name}_first_ms"] = 1e3 * (time.perf_counter() - t)
            times, hits = [], []
            for pid in pids:
                t = time.perf_counter()
                r = idx.similar(conn, "m", int(pid), limit)
                times.append(time.perf_counter() - t)
                hits.append({i for i, _ in r})
            out[f"{name}_ms_median"] = 1e3 * float(np.median(times))
            out[f"{name}_ms_p95"] = 1e3 * float(np.percentile(times, 95))
            answers[name] = hits
    rec = lambda got, ref: float(np.mean([len(g & r) / limit for g, r in zip(got, ref)]))  # noqa: E731
    out["ann_recall_vs_bruteforce"] = rec(answers["ann"], truth)
    out["ann_recall_vs_exact_path"] = rec(answers["ann"], answers["exact"])
    out["ann_recall_min"] = float(min(len(g & r) / limit for g, r in zip(answers["ann"], truth)))
    out["exact_path_recall_vs_bruteforce"] = rec(answers["exact"], truth)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", default="1000,10000,81000")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--no-similar", action="store_true")
    ap.add_argument("--similar-only", type=int, metavar="N", help='only "similar photos", over N photos')
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: the fresh measuring process
    a = ap.parse_args()
    if a.measure:
        print(json.dumps(measure(a.measure)))
        return 0
    if a.similar_only:
        import faiss

        faiss.omp_set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
        print(json.dumps({k: round(v, 3) for k, v in similar_photos(a.similar_only).items()}))
        return 0
    rows = []
    work = Path(tempfile.mkdtemp(prefix="bench-gallery-"))
    for n in [int(v) for v in a.classes.split(",")]:
        path = work / f"b{n}.safetensors"
        t = time.perf_counter()
        info = build_bundle(n, path, a.queries)
        info["build_s"] = time.perf_counter() - t
        # no OMP_NUM_THREADS here: with it set, libgomp's threads spin-wait, and torch's and FAISS's two OpenMP
        # runtimes spinning on 2 busy cores made one photo cost 39 ms instead of 2 (measured); threads are set
        # through the libraries' own calls in ``measure``
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        res = subprocess.run(
            [sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True, env=env, check=True
        )
        m = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append({"classes": n, "bundle_mb": path.stat().st_size / 1e6, **info, **m})
        path.unlink()
        print(json.dumps(rows[-1]), flush=True)
    print()
    print(
        "| classes × 20 photos | gallery | bundle MB | load s | extra RSS MB | ms / photo | ms / batch of 64 | top-5 recall (bundle / exact) | ratio | app top-5 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['classes']:,} | {'IVF-SQ8, 2 prototypes/class' if r['compressed'] else 'exact, float16'} "
            f"| {r['bundle_mb']:.0f} | {r['load_s']:.2f} | {r['extra_rss_mb']:.0f} | {r['ms_per_photo']:.2f} "
            f"| {r['ms_per_batch64']:.1f} | {r['top5_recall']:.3f} / {r['exact_top5_recall']:.3f} "
            f"| {r['top5_recall'] / max(r['exact_top5_recall'], 1e-9):.3f} | {r['app_top5']:.3f} |"
        )
    if not a.no_similar:
        import faiss

        faiss.omp_set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
        s = similar_photos()
        print()
        print(f"similar photos, 100 000-photo library: {json.dumps({k: round(v, 3) for k, v in s.items()})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tagging: run the recognizer on every photo that needs it and commit the results.

The work list (``core.store.photos.work_list``) is every ``pending`` photo plus every tagged photo whose
``model_version`` differs from the recognizer's (a new model re-tags; manual labels stay, see
``core.tagging.labels``). ``Recognizer.load_image`` decodes photos in a thread pool ahead of the model
(decoding overlaps the CNN forward); the calling thread runs ``predict_tensors`` on batches; ONE writer
thread commits results in batched transactions. A bad file becomes ``failed`` with the decoder's readable
reason (``decode_failure``); it never stops the run.

Geometric verification (``Recognizer.needs_verification`` / ``verify_prediction``, when the model has
verification features and it is on): an uncertain prediction goes to ONE verification thread, which decodes
the photo again for its local features and re-ranks its top-k, while the CNN goes on with the next batch; the
verified result then goes to the writer. At most ``2 * batch_size`` photos wait for verification (beyond
that the CNN thread waits for the oldest), so memory stays bounded.

Crash safety: a photo stays ``pending`` until the transaction holding its result commits, and a result is
an idempotent upsert guarded by the photo's file fingerprint, so after ``kill -9`` the next run simply picks up
the photos still pending: every photo's result is committed exactly once (``photos.inference_count`` counts
committed model results).

Pause/resume/cancel: ``core.tagging.jobs.JobControl``; progress: ``core.tagging.progress.ProgressTracker``.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from core.domain import PhotoStatus
from core.store import location
from core.store import results as store_results
from core.store.corrections import load_corrections
from core.store.engine import Connection, Database
from core.store.landmarks import landmark_coords
from core.store.photos import status_counts, work_list
from core.store.timestamps import utc_now
from core.tagging.jobs import Cancelled, JobControl
from core.tagging.labels import resolve_label
from core.tagging.progress import ProgressTracker

__all__ = ["TagReport", "TagResult", "tag_photos", "write_results", "decode_failure", "file_missing"]


@dataclass
class TagReport:
    """Counts of one tagging run."""

    inferred: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: bool = False


@dataclass
class TagResult:
    """What the tagger produced for one photo: a ``Prediction``, or the readable reason it failed."""

    photo_id: int
    fingerprint: str | None  # the file's fingerprint when it was listed for tagging (guards the write)
    prediction: Any = None  # core.recognition.recognizer.Prediction
    failure: str | None = None  # readable reason
    missing: bool = False  # the failure is that the file was not there (retried when it appears again)


def write_results(
    conn: Connection,
    results: Sequence[TagResult],
    model_version: str,
    threshold: float,
    coords: Mapping[str, tuple[float | None, float | None]],
) -> int:
    """Upsert a batch of model results (idempotent; guarded by each photo's file fingerprint).

    Args:
        conn: a write connection. results: what the tagger produced. model_version: the recognizer's.
        threshold: the bundle's no-landmark threshold. coords: ``{key: (latitude, longitude)}`` of the landmarks.
    Returns:
        the number of photos written (a photo whose file changed or left meanwhile is skipped).
    """
    corr = load_corrections(conn, [r.photo_id for r in results])
    now = utc_now()
    written = 0
    for r in results:
        if r.failure is not None:
            written += store_results.mark_failed(
                conn, r.photo_id, r.fingerprint, r.failure, model_version, now, file_missing=r.missing
            )
            continue
        p = r.prediction
        row = store_results.tag_target(conn, r.photo_id, r.fingerprint, model_version)
        if row is None or row.status == PhotoStatus.GPS:
            continue
        res = resolve_label(p.top_k, p.is_landmark, threshold, corr.get(r.photo_id))
        store_results.save_model_result(
            conn,
            r.photo_id,
            status=res.status,
            label=res.label,
            label_source=res.label_source,
            confidence=res.confidence,
            loc=location.photo_location(row.gps_latitude, row.gps_longitude, res.label, coords),
            model_version=model_version,
            now=now,
            top_k=p.top_k,
            embedding=p.embedding,
        )
        written += 1
    return written


def file_missing(exc: BaseException, path: str) -> bool:
    """True when decoding ``path`` failed because the file (or its folder) is not there."""
    from core.photos.image_io import ImageDecodeError

    if isinstance(exc, ImageDecodeError):
        return exc.kind == "missing"
    return isinstance(exc, FileNotFoundError) or not os.path.exists(path)


def decode_failure(exc: BaseException, path: str) -> str:
    """The readable ``failure_reason`` of a photo whose decoding raised ``exc``."""
    from core.photos.image_io import ImageDecodeError

    if isinstance(exc, ImageDecodeError):
        return exc.reason
    if isinstance(exc, FileNotFoundError) or not os.path.exists(path):
        return "the file vanished before it could be tagged"
    if isinstance(exc, OSError):
        return f"cannot read the file: {exc.strerror or exc}"
    return f"unexpected error while decoding ({exc.__class__.__name__}: {exc})"


_FLUSH = object()


class _Writer(threading.Thread):
    """The one thread that commits results: batches of ``commit_every`` or whatever arrived within
    ``flush_s`` seconds, one transaction per batch."""

    def __init__(
        self,
        db: Database,
        model_version: str,
        threshold: float,
        coords: Mapping[str, tuple[float | None, float | None]],
        on_commit: Callable[[int, int], None],
        commit_every: int,
        flush_s: float,
    ) -> None:
        super().__init__(name="tag-writer", daemon=True)
        self.db, self.model_version, self.threshold, self.coords = db, model_version, threshold, coords
        self.on_commit, self.commit_every, self.flush_s = on_commit, commit_every, flush_s
        self.q: queue.Queue = queue.Queue(maxsize=4 * commit_every)
        self.error: BaseException | None = None

    def run(self) -> None:
        pending: list[TagResult] = []
        deadline = None
        done = False
        while not done:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            flush = False
            flushed: threading.Event | None = None
            try:
                item = self.q.get(timeout=timeout)
                if item is None:
                    done = True
                elif isinstance(item, tuple) and item[0] is _FLUSH:
                    flush = True
                    flushed = item[1]
                else:
                    pending.append(item)
                    if deadline is None:
                        deadline = time.monotonic() + self.flush_s
            except queue.Empty:
                pass
            if pending and (done or flush or len(pending) >= self.commit_every or time.monotonic() >= (deadline or 0)):
                if self.error is None:
                    try:
                        with self.db.write() as conn:
                            write_results(conn, pending, self.model_version, self.threshold, self.coords)
                        failed = sum(1 for r in pending if r.failure is not None)
                        self.on_commit(len(pending), failed)
                    except BaseException as exc:  # noqa: BLE001 - reported by the job
                        self.error = exc
                pending = []
                deadline = None
            if flushed is not None:
                flushed.set()

    def put(self, item: TagResult) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(item)

    def flush(self, timeout: float = 60.0) -> None:
        """Commit what has arrived and wait (at most ``timeout`` s) until it is committed (on pause)."""
        done = threading.Event()
        self.q.put((_FLUSH, done))
        done.wait(timeout)

    def close(self) -> None:
        self.q.put(None)
        self.join()


def tag_photos(
    db: Database,
    recognizer: Any,
    tracker: ProgressTracker | None = None,
    control: JobControl | None = None,
    *,
    batch_size: int = 16,
    decode_workers: int = 1,
    commit_every: int = 32,
    flush_s: float = 1.0,
    work: Sequence[tuple[int, str, str | None]] | None = None,
) -> TagReport:
    """Run the recognizer on every photo of ``work_list`` and commit the results.

    Args:
        db: the library database.
        recognizer: a ``core.recognition.recognizer.Recognizer`` (``load_image``, ``predict_tensors``,
            ``model_version``, ``bundle.no_landmark_threshold``); may be ``None`` when ``work`` is empty.
        tracker: progress ("tagging": results committed / photos to tag; ``counts`` per status).
        control: pause / resume / cancel. On cancel the results decoded so far are still committed;
            the rest stays ``pending``.
        batch_size: photos per CNN forward pass.
        decode_workers: threads decoding photos ahead of the model (>= 1).
        commit_every: results per write transaction (the writer also commits every ``flush_s`` s).
        work: explicit ``(id, path, fingerprint)`` list (default: ``work_list``).
    Returns:
        a ``TagReport``.
    Raises:
        whatever the writer hit (e.g. one of ``core.store.errors.DB_ERRORS`` for a locked database);
        ``Cancelled`` is not raised (see ``TagReport.cancelled``).
    """
    control = control or JobControl()
    report = TagReport()
    if work is not None and not work:
        if tracker is not None:
            tracker.start_phase("tagging", 0, "nothing to tag")
        return report
    import torch  # here, not above: a job with nothing to tag never imports torch

    mv = recognizer.model_version
    threshold = float(recognizer.bundle.no_landmark_threshold)
    with db.read() as conn:
        if work is None:
            work = work_list(conn, mv)
        coords = dict(landmark_coords(conn))
    if tracker is not None:
        tracker.start_phase("tagging", len(work), f"tagging {len(work)} photos")
    if not work:
        return report

    def on_commit(n: int, failed: int) -> None:
        report.inferred += n - failed
        report.failed += failed
        if tracker is not None:
            with db.read() as c:
                counts = status_counts(c)
            tracker.advance(n, counts=counts)

    writer = _Writer(db, mv, threshold, coords, on_commit, commit_every, flush_s)
    writer.start()
    ahead = 2 * batch_size + decode_workers
    pool = ThreadPoolExecutor(max_workers=max(1, decode_workers), thread_name_prefix="decode")
    inflight: deque[tuple[tuple[int, str, str | None], Future]] = deque()
    nxt = 0
    verifies = bool(getattr(recognizer, "verify", False))
    verify_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify") if verifies else None
    verifying: deque[tuple[tuple[int, str, str | None], Any, Future]] = deque()

    def verified(item: tuple[int, str, str | None], pred: Any, fut: Future) -> None:
        try:
            pred = fut.result()
        except Exception:  # noqa: BLE001 - verification is an improvement: the CNN's answer stands
            pass
        writer.put(TagResult(item[0], item[2], prediction=pred))

    def drain(limit: int) -> None:
        """Hand finished verifications to the writer; wait for the oldest while more than ``limit`` wait."""
        while verifying and (verifying[0][2].done() or len(verifying) > limit):
            verified(*verifying.popleft())

    def on_pause() -> None:
        writer.flush()
        if tracker is not None:
            tracker.set_state("paused", "paused")

    def on_resume() -> None:
        if tracker is not None:
            tracker.set_state("tagging", "tagging")

    def load(path: str):
        try:
            return recognizer.load_image(path)
        except BaseException as exc:  # noqa: BLE001 - becomes a failed photo
            return exc

    try:
        while inflight or nxt < len(work):
            try:
                control.checkpoint(on_pause, on_resume)
            except Cancelled:
                report.cancelled = True
                break
            while nxt < len(work) and len(inflight) < batch_size + ahead:
                item = work[nxt]
                inflight.append((item, pool.submit(load, item[1])))
                nxt += 1
            batch_items: list[tuple[int, str, str | None]] = []
            tensors = []
            for _ in range(min(batch_size, len(inflight))):
                item, fut = inflight.popleft()
                out = fut.result()
                if isinstance(out, BaseException):
                    failure = decode_failure(out, item[1])
                    writer.put(TagResult(item[0], item[2], failure=failure, missing=file_missing(out, item[1])))
                else:
                    batch_items.append(item)
                    tensors.append(out)
            if tensors:
                preds = recognizer.predict_tensors(torch.stack(tensors))
                for item, pred in zip(batch_items, preds):
                    if verify_pool is not None and recognizer.needs_verification(pred):
                        verifying.append((item, pred, verify_pool.submit(recognizer.verify_prediction, pred, item[1])))
                    else:
                        writer.put(TagResult(item[0], item[2], prediction=pred))
            drain(2 * batch_size)
    finally:
        for _, fut in inflight:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        try:
            drain(0)  # the photos already predicted are committed, verified, also on cancel
        finally:
            if verify_pool is not None:
                verify_pool.shutdown(wait=True, cancel_futures=True)
            writer.close()
    if writer.error is not None:
        raise writer.error
    report.skipped = len(work) - report.inferred - report.failed
    return report

"""The viewer's pictures, decoded off the GUI thread: screen size first, full resolution when zooming in.

* ``decode_for_viewer(path, fit)`` decodes with ``core.photos.image_io.open_photo`` (EXIF orientation, HEIF/HEIC
  through pillow-heif, the decompression-bomb guard) into a ``QImage`` (RGB888). With ``fit`` (pixels) a JPEG is
  decoded at 1/2, 1/4 or 1/8 scale when that still covers the fit box (libjpeg DCT scaling, ``Image.draft``),
  then reduced to fit: a 48 MP photo is on screen after ~0.2 s instead of ~0.9 s, a 96 MP one after ~0.5 s instead
  of ~3 s (``bench/bench_places.py``). Without ``fit``: full resolution.
* ``ViewerImages`` runs those decodes in a ``QThreadPool`` (2 threads; the photo shown first, then its
  neighbours: ``request(..., prefetch=True)``), keeps the last few screen-size pictures and one full-resolution
  one, and hands each result to the GUI thread with a queued signal. The GUI thread never decodes.

Memory: a full-resolution picture is width × height × 3 bytes (100 MP, the largest ``open_photo`` accepts:
300 MB), held once; the ``QImage`` shares the decoder's bytes (``Decoded.data``) instead of copying them.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage

__all__ = ["SCREEN", "FULL", "Decoded", "decode_for_viewer", "ViewerImages"]

#: Picture levels: fitted to the screen, or every pixel of the photo.
SCREEN, FULL = 0, 1
#: Screen-size pictures kept (the photo shown, its neighbours, a few visited ones).
KEEP_SCREEN = 8


@dataclass(frozen=True)
class Decoded:
    """One decoded picture.

    Attributes:
        photo_id: the photo. level: ``SCREEN`` or ``FULL``. image: RGB888 pixels, the photo upright.
        full_size: ``(width, height)`` of the photo at full resolution, pixels (orientation applied).
        data: the bytes ``image`` points into (kept alive with it). thread: ``threading.get_ident()`` of the
        decoding thread. seconds: how long the decode took.
    """

    photo_id: int
    level: int
    image: QImage
    full_size: tuple[int, int]
    data: bytes
    thread: int
    seconds: float


def decode_for_viewer(path: str | Path, fit: tuple[int, int] | None) -> tuple[QImage, bytes, tuple[int, int]]:
    """Decode ``path`` for the viewer (any thread).

    Args:
        fit: ``(width, height)`` in pixels the picture must fit (never enlarged), or ``None`` for full resolution.
    Returns:
        ``(image, data, full_size)``: an RGB888 ``QImage`` pointing into ``data`` (keep both), and the photo's
        full ``(width, height)``.
    Raises:
        ImageDecodeError: the file cannot be decoded (missing, not an image, corrupt, too large).
    """
    from PIL import Image

    from core.photos.image_io import image_size, open_photo

    fw, fh = image_size(path)
    if fit is None:
        pil = open_photo(path)
    else:
        w, h = max(1, int(fit[0])), max(1, int(fit[1]))
        s = min(1.0, w / max(1, fw), h / max(1, fh))
        pil = open_photo(path, target_size=max(1, math.ceil(min(fw, fh) * s)))
        if pil.width > w or pil.height > h:
            pil.thumbnail((w, h), Image.Resampling.LANCZOS)
    if fit is None:
        fw, fh = pil.size
    width, height = pil.size
    data = pil.tobytes("raw", "RGB")  # open_photo gives RGB; convert() would copy the pixels once more
    pil.close()
    image = QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image, data, (fw, fh)


class _Signals(QObject):
    ready = Signal(object)  # Decoded
    failed = Signal(int, int, str)  # photo id, level, reason


class _Decode(QRunnable):
    def __init__(self, owner: ViewerImages, photo_id: int, path: Path, level: int, fit: tuple[int, int] | None):
        super().__init__()
        self.owner, self.photo_id, self.path, self.level, self.fit = owner, photo_id, path, level, fit

    def run(self) -> None:  # worker thread
        t0 = time.perf_counter()
        try:
            image, data, full = decode_for_viewer(self.path, self.fit)
        except Exception as exc:  # noqa: BLE001 - any decode failure is shown in the viewer, never raised
            self.owner._signals.failed.emit(self.photo_id, self.level, str(exc) or type(exc).__name__)
            return
        self.owner._signals.ready.emit(
            Decoded(self.photo_id, self.level, image, full, data, threading.get_ident(), time.perf_counter() - t0)
        )


class ViewerImages(QObject):
    """Decodes photos for the viewer in worker threads and keeps the recent ones (GUI thread API).

    Attributes:
        fit: ``(width, height)`` of screen-size pictures, pixels (the viewer sets its canvas size × device ratio).
        decode_threads: ``threading.get_ident()`` of the threads that decoded so far (tests check it is never the
            GUI thread).

    Signals:
        ready(object): a ``Decoded`` picture (GUI thread). failed(int, int, str): photo id, level, reason.
    """

    ready = Signal(object)
    failed = Signal(int, int, str)

    def __init__(self, parent: QObject | None = None, threads: int = 2):
        super().__init__(parent)
        self.fit = (1920, 1200)
        self.decode_threads: list[int] = []
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._screen: OrderedDict[int, Decoded] = OrderedDict()
        self._full: Decoded | None = None
        self._pending: set[tuple[int, int]] = set()
        self._failures: dict[tuple[int, int], str] = {}
        self._signals = _Signals()
        self._signals.ready.connect(self._on_ready, Qt.ConnectionType.QueuedConnection)
        self._signals.failed.connect(self._on_failed, Qt.ConnectionType.QueuedConnection)

    def get(self, photo_id: int, level: int) -> Decoded | None:
        """The decoded picture of ``photo_id`` at ``level`` if it is kept, else ``None``."""
        if level == FULL:
            return self._full if self._full is not None and self._full.photo_id == photo_id else None
        d = self._screen.get(photo_id)
        if d is not None:
            self._screen.move_to_end(photo_id)
        return d

    def failure(self, photo_id: int, level: int) -> str | None:
        """Why decoding ``photo_id`` at ``level`` failed, or ``None``."""
        return self._failures.get((photo_id, level))

    def pending(self, photo_id: int, level: int) -> bool:
        """A decode of ``photo_id`` at ``level`` is queued or running."""
        return (photo_id, level) in self._pending

    def request(self, photo_id: int, path: str | Path, level: int = SCREEN, *, prefetch: bool = False) -> bool:
        """Decode ``photo_id`` at ``level`` unless it is kept, queued or failed; ``prefetch`` queues it behind the
        photos asked for without it. Returns whether a decode was queued."""
        key = (photo_id, level)
        if self.get(photo_id, level) is not None or key in self._pending or key in self._failures:
            return False
        self._pending.add(key)
        fit = self.fit if level == SCREEN else None
        self.pool.start(_Decode(self, photo_id, Path(path), level, fit), 0 if prefetch else 1)
        return True

    def clear(self) -> None:
        """Forget every kept picture and failure (the viewer closed; the library changed)."""
        self._screen.clear()
        self._full = None
        self._failures.clear()

    def wait_idle(self, ms: int = 10_000) -> bool:
        """Wait until no decode runs (tests, closing); ``False`` on timeout."""
        return self.pool.waitForDone(ms)

    def _on_ready(self, d: Decoded) -> None:
        self._pending.discard((d.photo_id, d.level))
        self.decode_threads.append(d.thread)
        if d.level == FULL:
            self._full = d
        else:
            self._screen[d.photo_id] = d
            self._screen.move_to_end(d.photo_id)
            while len(self._screen) > KEEP_SCREEN:
                self._screen.popitem(last=False)
        self.ready.emit(d)

    def _on_failed(self, photo_id: int, level: int, reason: str) -> None:
        self._pending.discard((photo_id, level))
        self._failures[(photo_id, level)] = reason
        self.failed.emit(photo_id, level, reason)

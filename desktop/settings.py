"""Persisted user settings (QSettings, INI format) for the desktop app.

The organisation and application names are set once (``configure_application``) so the platform
stores the file where users expect (``~/.config/LandmarkTagger/Landmark Tagger.ini`` on Linux,
the registry on Windows is avoided by forcing INI). Tests point ``LANDMARK_TAGGER_SETTINGS`` at an
INI file in a temporary folder, or pass ``path=`` explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSettings

ORGANIZATION = "LandmarkTagger"
APPLICATION = "Landmark Tagger"
DEVICES = ("auto", "cpu", "gpu")
#: Default "needs review" threshold: labels whose softmax confidence is below it go to the
#: Needs review album (probability in [0, 1]).
DEFAULT_REVIEW_THRESHOLD = 0.5
#: Default thumbnail edge (pixels) in the grid.
DEFAULT_THUMB_SIZE = 160
THUMB_SIZES = (96, 128, 160, 200, 256)
#: Default size cap of the thumbnail cache on disk, MB (2^20 bytes): 1 GB. Smallest and largest allowed.
DEFAULT_THUMB_CACHE_MB, MIN_THUMB_CACHE_MB, MAX_THUMB_CACHE_MB = 1024, 64, 1024 * 1024

#: XMP sidecar naming conventions (``core.domain.SidecarConvention``) and their names in the Settings dialog.
XMP_CONVENTIONS = ("digikam", "darktable", "lightroom")
XMP_CONVENTION_TITLES = {
    "digikam": "digiKam (photo.jpg.xmp)",
    "darktable": "darktable (photo.jpg.xmp)",
    "lightroom": "Lightroom (photo.xmp)",
}
SETTINGS_ENV = "LANDMARK_TAGGER_SETTINGS"


def configure_application() -> None:
    """Set the organisation/application names QSettings and the cache folder are keyed by."""
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)


@dataclass
class AppSettings:
    """The user's settings.

    Attributes:
        folders: watched photo folders (absolute paths, kept in sync with the library's folders).
        model_path: model bundle file, ``None`` = the shipped default bundle.
        device: ``"auto"`` (GPU when there is one), ``"cpu"`` or ``"gpu"``.
        review_threshold: confidence in [0, 1] below which a label needs review.
        thumb_size: thumbnail edge in pixels (one of ``THUMB_SIZES``).
        db_path: database file, ``None`` = the platform default (not shown in the dialog).
        follow_links: follow symbolic links that lead out of a watched folder (off: they are not indexed).
        verify: geometric verification of uncertain photos, when the model has verification features.
        xmp_sidecars: write each labelled photo's XMP sidecar beside it, and update it when a label changes.
        xmp_convention: sidecar names of the app the person uses (one of ``XMP_CONVENTIONS``).
        thumb_cache_mb: size cap of the thumbnail cache on disk, MB (``MIN_THUMB_CACHE_MB`` … ``MAX_THUMB_CACHE_MB``);
            the least recently used thumbnails are deleted beyond it.
    """

    folders: list[str] = field(default_factory=list)
    model_path: str | None = None
    device: str = "auto"
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD
    thumb_size: int = DEFAULT_THUMB_SIZE
    db_path: str | None = None
    follow_links: bool = False
    verify: bool = True
    xmp_sidecars: bool = False
    xmp_convention: str = "digikam"
    thumb_cache_mb: int = DEFAULT_THUMB_CACHE_MB

    @staticmethod
    def qsettings(path: str | os.PathLike | None = None) -> QSettings:
        """The QSettings object: ``path`` or ``$LANDMARK_TAGGER_SETTINGS`` (INI) or the platform default."""
        path = path or os.environ.get(SETTINGS_ENV)
        if path:
            return QSettings(str(path), QSettings.Format.IniFormat)
        return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> AppSettings:
        """Read the settings; missing or malformed values fall back to the defaults."""
        s = cls.qsettings(path)
        value: Callable[[str, Any], Any] = s.value  # QSettings values are untyped (str, list, number)
        folders = value("library/folders", [])
        if isinstance(folders, str):
            folders = [folders] if folders else []
        device = str(value("model/device", "auto") or "auto")
        try:
            threshold = float(value("review/threshold", DEFAULT_REVIEW_THRESHOLD))
        except (TypeError, ValueError):
            threshold = DEFAULT_REVIEW_THRESHOLD
        try:
            thumb = int(value("view/thumb_size", DEFAULT_THUMB_SIZE))
        except (TypeError, ValueError):
            thumb = DEFAULT_THUMB_SIZE
        verify = str(value("model/verify", "true")).strip().lower() not in ("false", "0", "no", "off")
        try:
            cache_mb = int(value("view/thumb_cache_mb", DEFAULT_THUMB_CACHE_MB))
        except (TypeError, ValueError):
            cache_mb = DEFAULT_THUMB_CACHE_MB
        model = value("model/path", "") or None
        db = value("library/db_path", "") or None
        follow = str(value("library/follow_links", "false")).strip().lower() in ("1", "true", "yes")
        xmp = str(value("xmp/enabled", "false")).strip().lower() in ("1", "true", "yes")
        convention = str(value("xmp/convention", "digikam") or "digikam")
        return cls(
            folders=[str(f) for f in (folders or [])],
            model_path=str(model) if model else None,
            device=device if device in DEVICES else "auto",
            review_threshold=min(1.0, max(0.0, threshold)),
            thumb_size=thumb if thumb in THUMB_SIZES else DEFAULT_THUMB_SIZE,
            db_path=str(db) if db else None,
            follow_links=follow,
            verify=verify,
            xmp_sidecars=xmp,
            xmp_convention=convention if convention in XMP_CONVENTIONS else "digikam",
            thumb_cache_mb=min(MAX_THUMB_CACHE_MB, max(MIN_THUMB_CACHE_MB, cache_mb)),
        )

    def save(self, path: str | os.PathLike | None = None) -> None:
        """Write the settings and flush them to disk."""
        s = self.qsettings(path)
        s.setValue("library/folders", list(self.folders))
        s.setValue("library/db_path", self.db_path or "")
        s.setValue("library/follow_links", bool(self.follow_links))
        s.setValue("model/path", self.model_path or "")
        s.setValue("model/device", self.device)
        s.setValue("model/verify", "true" if self.verify else "false")
        s.setValue("review/threshold", float(self.review_threshold))
        s.setValue("view/thumb_size", int(self.thumb_size))
        s.setValue("xmp/enabled", bool(self.xmp_sidecars))
        s.setValue("xmp/convention", self.xmp_convention)
        s.setValue("view/thumb_cache_mb", int(self.thumb_cache_mb))
        s.sync()

    def library_device(self) -> str:
        """The device string ``Library.open`` takes: ``"gpu"`` → ``"mps"`` on macOS, else ``"cuda"``."""
        if self.device == "gpu":
            import sys

            return "mps" if sys.platform == "darwin" else "cuda"
        return self.device

    @staticmethod
    def settings_file(path: str | os.PathLike | None = None) -> Path:
        """Where the settings are stored (for the About dialog and error messages)."""
        return Path(AppSettings.qsettings(path).fileName())

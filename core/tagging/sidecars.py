"""XMP sidecars of the library's photos: writing their labels (export) and reading other apps' keywords (import).

Export (``export_sidecars``): for each photo with a *confident* label — the person's, a GPS label, or a model label
at or above the review threshold (an unsure model label would teach other apps a guess) — its sidecar is written
or merged (``core.photos.xmp.merge_sidecar``), then written through ``core.photos.safe_write.replace_file``
(temporary file in the same folder, renamed into place; replaced only while it is still the file that was read).
A photo without such a label whose sidecar holds our earlier keyword gets it removed ("cleaned"; a sidecar left
with nothing in it — one we created — is removed): a correction updates its sidecar. A sidecar that does not parse is left untouched and reported; a folder that cannot be written
is a per-file error; the photos themselves are never opened for writing.

Import (``labels_from_sidecars``): the keywords of the sidecars beside each photo (``photo.jpg.xmp`` and
``photo.xmp``; our own keywords are not counted) that name a landmark of the library — its display name or its key,
compared without case and accents, as a keyword or the last level of a hierarchical keyword
(``Places|France|Eiffel Tower, Paris``) — become the photo's label, as the person's (``core.tagging.relabel``
records them as one undoable change). A sidecar that names two landmarks is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from core.domain import (
    NO_LANDMARK,
    LabelSource,
    LocationSource,
    PhotoStatus,
    SidecarOptions,
    SidecarOutcome,
    SidecarReport,
    SidecarResult,
)
from core.photos.pathnames import display_path, text_to_path
from core.photos.safe_write import file_signature, remove_file, replace_file, sync_folder
from core.photos.xmp import SidecarError, SidecarLabel, merge_sidecar, read_keywords, sidecar_candidates, sidecar_path
from core.store.places import fold

__all__ = ["confident_label", "export_sidecars", "landmark_index", "labels_from_sidecars"]

_WRITTEN = (SidecarOutcome.CREATED, SidecarOutcome.UPDATED, SidecarOutcome.CLEANED)


def confident_label(row: Any, review_threshold: float, estimated_gps: bool) -> SidecarLabel | None:
    """The label to write for a ``core.store.photos.sidecar_rows`` row, or ``None`` (no landmark, or a model label
    below ``review_threshold``). ``estimated_gps``: add the landmark's coordinates for a photo without EXIF GPS."""
    if row.label is None or row.label == NO_LANDMARK or row.status not in (PhotoStatus.TAGGED, PhotoStatus.GPS):
        return None
    if row.label_source == LabelSource.MODEL and (row.confidence is None or row.confidence < review_threshold):
        return None
    gps = None
    if estimated_gps and row.location_source == LocationSource.LANDMARK:
        if row.latitude is not None and row.longitude is not None:
            gps = (float(row.latitude), float(row.longitude))
    return SidecarLabel(
        landmark=row.label,
        name=row.name or row.label,
        country=row.country,
        confidence=row.confidence,
        model_version=row.model_version if row.label_source == LabelSource.MODEL else None,
        source=row.label_source or LabelSource.MODEL,
        gps=gps,
    )


def _one(
    photo_id: int, photo: Path, sidecar: Path, label: SidecarLabel | None, options: SidecarOptions, dry_run: bool
) -> SidecarResult | None:
    """Export one photo's sidecar; ``None`` when there was nothing to do (no label, no mark of ours)."""
    shown = label.name if label is not None else None
    sig = file_signature(sidecar)
    if label is None and sig is None:
        return None
    try:
        existing = sidecar.read_bytes() if sig is not None else None
    except OSError as exc:
        return SidecarResult(photo_id, photo, sidecar, SidecarOutcome.ERROR, shown, f"cannot read it: {exc.strerror}")
    try:
        data = merge_sidecar(existing, label, options.convention)
    except SidecarError as exc:
        return SidecarResult(photo_id, photo, sidecar, SidecarOutcome.ERROR, shown, f"{exc}; left untouched")
    if data is None:
        return SidecarResult(photo_id, photo, sidecar, SidecarOutcome.UNCHANGED, shown) if label is not None else None
    if existing is None:
        outcome = SidecarOutcome.CREATED
    else:
        outcome = SidecarOutcome.UPDATED if label is not None else SidecarOutcome.CLEANED
    if not dry_run:
        try:
            if data == b"" and sig is not None:  # it held only what we wrote: no sidecar at all
                remove_file(sidecar, expected=sig)
            else:
                replace_file(sidecar, data, expected=sig, sync_folder=False)  # one folder fsync per folder
        except Exception as exc:  # noqa: BLE001 - ExportError, or an OSError the checks did not foresee
            return SidecarResult(photo_id, photo, sidecar, SidecarOutcome.ERROR, shown, str(exc))
    return SidecarResult(photo_id, photo, sidecar, outcome, shown)


def export_sidecars(
    rows: Sequence[Any],
    options: SidecarOptions,
    review_threshold: float,
    *,
    dry_run: bool = False,
    on_done: Callable[[int], Any] | None = None,
) -> SidecarReport:
    """Write (or merge, or clean) the sidecars of these photos (see the module docstring).

    Args:
        rows: ``core.store.photos.sidecar_rows`` rows. options: convention and estimated GPS.
        review_threshold: model labels below it are not written. dry_run: compute everything, write nothing.
        on_done: called with the number of photos done so far (progress).
    Returns:
        the ``SidecarReport`` (per-file results; errors never raise).
    """
    start = time.perf_counter()
    by_sidecar: dict[Path, list[Any]] = {}
    for r in rows:
        photo = Path(text_to_path(r.path)) if isinstance(r.path, str) else Path(r.path)
        by_sidecar.setdefault(sidecar_path(photo, options.convention), []).append((r, photo))
    results: list[SidecarResult] = []
    skipped = 0
    done = 0
    for sidecar, entries in by_sidecar.items():
        if len(entries) > 1:  # Lightroom names: photo.jpg and photo.cr2 would share photo.xmp
            names = " and ".join(display_path(p.name) for _, p in entries)
            why = f"{names} would share {display_path(sidecar.name)}: choose digiKam or darktable names"
            for r, photo in entries:
                label = confident_label(r, review_threshold, options.estimated_gps)
                if label is None:
                    skipped += 1
                else:
                    results.append(SidecarResult(r.id, photo, sidecar, SidecarOutcome.ERROR, label.name, why))
            done += len(entries)
            if on_done is not None:
                on_done(done)
            continue
        r, photo = entries[0]
        label = confident_label(r, review_threshold, options.estimated_gps)
        res = _one(r.id, photo, sidecar, label, options, dry_run)
        if res is None:
            skipped += 1
        else:
            results.append(res)
        done += 1
        if on_done is not None:
            on_done(done)
    if not dry_run:
        for folder in {r.sidecar.parent for r in results if r.outcome in _WRITTEN}:
            sync_folder(folder)
    results.sort(key=lambda x: x.photo_id)
    return SidecarReport(options, dry_run, tuple(results), skipped, time.perf_counter() - start)


def landmark_index(names: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``{folded text: landmark key}`` from ``(key, display name)`` pairs: each display name, each key and each key
    with spaces for underscores (``Eiffel_Tower`` → ``"eiffel tower"``), folded (``core.store.places.fold``)."""
    out: dict[str, str] = {}
    for key, name in names:
        for text_ in (key, key.replace("_", " "), name):
            out.setdefault(fold(text_), key)
    return out


def labels_from_sidecars(
    photos: Iterable[tuple[int, Path]], index: Mapping[str, str]
) -> tuple[dict[int, str], list[tuple[int, str]], list[tuple[Path, str]]]:
    """The landmark each photo's sidecars name (see the module docstring).

    Args:
        photos: ``(photo id, file path)``. index: ``landmark_index``.
    Returns:
        ``(found, ambiguous, errors)``: ``{photo id: landmark key}``; ``(photo id, reason)`` of photos whose
        sidecars name several landmarks; ``(sidecar, reason)`` of sidecars that cannot be read (left untouched).
    """
    found: dict[int, str] = {}
    ambiguous: list[tuple[int, str]] = []
    errors: list[tuple[Path, str]] = []
    for photo_id, photo in photos:
        keys: list[str] = []
        for sidecar in sidecar_candidates(photo):
            try:
                kw = read_keywords(sidecar.read_bytes())
            except SidecarError as exc:
                errors.append((sidecar, str(exc)))
                continue
            except OSError as exc:
                errors.append((sidecar, f"cannot read it: {exc.strerror or exc}"))
                continue
            for word in kw.keywords:
                key = index.get(fold(word))
                if key is not None and key not in keys:
                    keys.append(key)
        if len(keys) == 1:
            found[photo_id] = keys[0]
        elif len(keys) > 1:
            ambiguous.append((photo_id, f"its sidecar names {len(keys)} landmarks ({', '.join(keys)})"))
    return found, ambiguous, errors

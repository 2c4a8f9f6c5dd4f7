"""The labelling rule: how the model's top-k and the user's corrections make a photo's effective label.

A manual label (``CorrectionState.manual``: a landmark key or ``NO_LANDMARK``) always beats the model. Otherwise
the model's label is used, skipping the landmarks the user rejected for this photo (``reject`` tombstones:
re-tagging never gives them back; the next candidate of the top-k is used instead). ``resolve_label`` is the
single place this rule lives: the tagger (``core.tagging.tag``) and re-scoring after corrections
(``core.tagging.relabel``) use it.

A photo with EXIF GPS never reaches the model: ``resolve_gps_label`` gives it the person's label when there is one,
else the landmark its position was placed at (``core.tagging.places``, source ``gps``) unless the person rejected
that landmark for it. Scans (``core.tagging.places.place_gps_photos``) and corrections use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.domain import NO_LANDMARK, CorrectionState, LabelSource, PhotoStatus

__all__ = ["MANUAL_CONFIDENCE", "GPS_CONFIDENCE", "GpsLabel", "Resolved", "resolve_label", "resolve_gps_label"]

#: Confidence stored with a manual label (the user is sure).
MANUAL_CONFIDENCE = 1.0

#: Confidence stored with a GPS label: the photo was taken within the landmark's uncertainty circle. It counts as
#: confident (landmark albums, never "Needs review"); ``label_source`` ``gps`` tells it from the person's labels.
GPS_CONFIDENCE = 1.0


@dataclass(frozen=True)
class Resolved:
    """The effective label of a photo (what ``photos`` stores).

    Attributes:
        status: ``tagged`` or ``no_landmark``.
        label: landmark key or ``None``.
        label_source: ``"manual"`` or ``"model"``.
        confidence: in [0, 1]; 1.0 for manual labels.
    """

    status: str
    label: str | None
    label_source: str
    confidence: float


def resolve_label(
    top_k: Sequence[tuple[str, float]] | None,
    is_landmark: bool | None,
    threshold: float,
    corrections: CorrectionState | None,
) -> Resolved:
    """Combine the model's prediction with the user's corrections.

    Args:
        top_k: ``((key, confidence), ...)`` descending, or ``None`` when the model has not run.
        is_landmark: the recognizer's own decision for ``top_k[0]`` (used when nothing is rejected).
        threshold: the bundle's no-landmark threshold (confidence in [0, 1]).
        corrections: the photo's corrections, or ``None``.
    Returns:
        the ``Resolved`` label. Rule: manual label first; otherwise the first top-k entry that was
        not rejected is the label when it is not ``NO_LANDMARK`` and its confidence reaches
        ``threshold``; otherwise "no landmark".
    """
    c = corrections or CorrectionState()
    if c.manual == NO_LANDMARK:
        return Resolved(PhotoStatus.NO_LANDMARK, None, LabelSource.MANUAL, MANUAL_CONFIDENCE)
    if c.manual is not None:
        return Resolved(PhotoStatus.TAGGED, c.manual, LabelSource.MANUAL, MANUAL_CONFIDENCE)
    top_k = list(top_k or [])
    if not top_k:
        return Resolved(PhotoStatus.NO_LANDMARK, None, LabelSource.MODEL, 0.0)
    if not c.rejected and is_landmark is not None:
        key, conf = top_k[0]
        if is_landmark:
            return Resolved(PhotoStatus.TAGGED, key, LabelSource.MODEL, float(conf))
        return Resolved(PhotoStatus.NO_LANDMARK, None, LabelSource.MODEL, float(conf))
    candidates = [(k, v) for k, v in top_k if k not in c.rejected]
    if not candidates:
        return Resolved(PhotoStatus.NO_LANDMARK, None, LabelSource.MODEL, 0.0)
    key, conf = candidates[0]
    if key != NO_LANDMARK and conf >= threshold:
        return Resolved(PhotoStatus.TAGGED, key, LabelSource.MODEL, float(conf))
    return Resolved(PhotoStatus.NO_LANDMARK, None, LabelSource.MODEL, float(conf))


#: ``(label, label_source, confidence)`` of a GPS photo (``resolve_gps_label``); all ``None`` when it has no label.
GpsLabel = tuple[str | None, str | None, float | None]


def resolve_gps_label(place_landmark: str | None, corrections: CorrectionState | None) -> GpsLabel:
    """The effective label of a photo with EXIF GPS (status stays ``gps``; the model never runs on it).

    Args:
        place_landmark: the landmark key its position was placed at (``core.tagging.places``), or ``None``.
        corrections: the photo's corrections, or ``None``.
    Returns:
        ``(label, label_source, confidence)``: the person's label when there is one (``NO_LANDMARK`` → label
        ``None``, source ``manual``, 1.0); else ``place_landmark`` with source ``gps`` and ``GPS_CONFIDENCE`` unless
        the person rejected it; else ``(None, None, None)``.
    """
    c = corrections or CorrectionState()
    if c.manual == NO_LANDMARK:
        return None, LabelSource.MANUAL, MANUAL_CONFIDENCE
    if c.manual is not None:
        return c.manual, LabelSource.MANUAL, MANUAL_CONFIDENCE
    if place_landmark is not None and place_landmark not in c.rejected:
        return place_landmark, LabelSource.GPS, GPS_CONFIDENCE
    return None, None, None

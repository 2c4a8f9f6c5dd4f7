"""The labelling rule: how the model's top-k and the user's corrections make a photo's effective label.

A manual label (``CorrectionState.manual``: a landmark key or ``NO_LANDMARK``) always beats the model. Otherwise
the model's label is used, skipping the landmarks the user rejected for this photo (``reject`` tombstones:
re-tagging never gives them back; the next candidate of the top-k is used instead). ``resolve_label`` is the
single place this rule lives: the tagger (``core.tagging.tag``), scans of GPS photos (``core.tagging.scan``)
and re-scoring after corrections (``core.tagging.relabel``) all use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.domain import NO_LANDMARK, CorrectionState, LabelSource, PhotoStatus

__all__ = ["MANUAL_CONFIDENCE", "Resolved", "resolve_label"]

#: Confidence stored with a manual label (the user is sure).
MANUAL_CONFIDENCE = 1.0


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

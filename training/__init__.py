"""Training module: produces Landmark Tagger model bundles from labelled photos (``landmark-train``).

Depends on ``core`` (backbones, bundle format, scoring, preprocessing, recognizer), never the reverse.

Modules, one job each:

* ``cli`` — the ``landmark-train`` command (``train``, ``evaluate``); ``__main__`` = ``python -m training``.
* ``config`` — ``TrainConfig``, every setting of a run.
* ``datasets`` — ImageFolder / GLDv2 / ``path,label`` CSV readers, min-images filter, stratified split,
  class-balanced sampling weights, dataset fingerprints.
* ``data_setup`` — a run's train/validation/non-landmark/outlier photo lists.
* ``transforms`` — the app's evaluation loader and the training augmentation.
* ``weights`` — ``LandmarkNet`` with torchvision ImageNet weights or a local state_dict.
* ``features`` — frozen-backbone embedding extraction with an on-disk cache.
* ``head`` — training the linear head on embeddings (class-balanced, early stopping, Outlier Exposure).
* ``frozen`` — the frozen-backbone mode end to end.
* ``loop`` — fine-tune and from-scratch modes (AMP, frozen BatchNorm, checkpoints/resume, DDP).
* ``distributed`` — ``torchrun`` process-group setup and a distributed weighted sampler.
* ``calibration`` — temperature scaling, kNN constants, landmark gate, threshold, user-gallery gate centre.
* ``metrics`` — top-k accuracy, GAP, ECE, per-class accuracy, confusion matrix.
* ``finalize`` — calibration + metrics + plots + the bundle. ``plots`` — PNG curves and confusion matrix.
* ``evaluate`` — ``landmark-train evaluate``: any bundle on any ImageFolder, through ``core.recognition.recognizer``.
* ``run`` — dispatch a config to its mode; device choice.
"""

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
* ``run`` — ``train(cfg)``: the device, then the mode's runner (``RUNNERS``: mode name → function).
* ``frozen`` — the frozen-backbone mode: cached embeddings (``FrozenEmbedder``), head training, bundle.
* ``finetune`` — the ``finetune`` mode: which backbone blocks train (``freeze_for_finetune``), learning rates.
* ``scratch`` — the ``scratch`` mode: ``simple_cnn`` from random initialisation.
* ``end_to_end`` — the run of an image-trained mode (finetune, scratch): DDP setup, data, loaders, ``fit``,
  embeddings with the best weights, ``finalize``.
* ``fit`` — the epoch loop: optimisation, DistributedDataParallel, early stopping, checkpoints, ``--resume``.
* ``engine`` — ``train_one_epoch`` and ``evaluate`` (one pass over a loader; AMP; frozen BatchNorm).
* ``loaders`` — image datasets and ``build_loaders`` (class-balanced and distributed sampling).
* ``checkpoint`` — ``save_checkpoint`` / ``load_checkpoint`` (``checkpoint.pt``) and the best weights (``best.pt``).
* ``optim`` — AdamW parameter groups, cosine learning-rate decay, one (AMP-scaled) optimisation step.
* ``distributed`` — ``torchrun`` process-group setup and a distributed weighted sampler.
* ``calibration`` — temperature scaling, kNN constants, landmark gate, threshold, user-gallery gate centre.
* ``metrics`` — top-k accuracy, GAP, ECE, per-class accuracy, confusion matrix.
* ``finalize`` — calibration + metrics + plots + the bundle. ``plots`` — PNG curves and confusion matrix.
* ``evaluate`` — ``landmark-train evaluate``: any bundle on any ImageFolder, through ``core.recognition.recognizer``.

Imports go one way (import-linter contracts in ``pyproject.toml``): ``cli`` → ``run`` → the modes →
``end_to_end`` → ``fit`` → ``engine`` / ``checkpoint`` / ``loaders`` → ``optim``; no module imports
one that imports it back. A new mode is a module beside ``frozen``/``finetune``/``scratch`` (reusing
``fit`` with its own ``FitPlan`` and loaders, or ``features``/``head``) plus an entry in ``run.RUNNERS``.
"""

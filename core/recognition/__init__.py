"""Recognition: model bundles, backbones, preprocessing, scoring and the ``Recognizer``.

Uses torch; never SQL (it never imports ``core.store``). Modules: ``bundle`` (the one reader/writer
of model bundles), ``backbones`` (``LandmarkNet``), ``preprocess`` (photo → input tensor),
``scoring`` (head + kNN fusion, temperature scaling, landmark gate, user gallery), ``recognizer``
(photos → ``Prediction``), ``device`` (CUDA / MPS / CPU), ``catalog`` (``resources/landmarks.json``),
``malloc_tuning`` (glibc settings for CPU inference).
"""

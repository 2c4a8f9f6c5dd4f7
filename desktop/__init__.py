"""Landmark Tagger desktop GUI (PySide6): a thin layer over ``core.library.Library``.

Modules: ``launcher`` (the ``landmark-tagger`` entry point), ``app`` (QApplication set-up),
``main_window`` (the window), ``sidebar`` (albums), ``photo_grid`` (paged thumbnail grid),
``thumbnails`` (off-thread thumbnails with a disk cache), ``details`` (the selected photo),
``relabel`` (corrections and suggestions), ``status`` (tagging progress strip), ``welcome``
(first run), ``dialogs`` (settings, model card), ``settings`` (QSettings), ``errors`` (banner and
exception hook), ``background`` (worker-thread → GUI-thread signals), ``stall`` (responsiveness
meter), ``qtfix`` (PySide6 import-hook speed-up).
"""

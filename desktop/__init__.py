"""Landmark Tagger desktop GUI (PySide6): a thin layer over ``core.library.Library``.

Started through ``cli.entry`` (the ``landmark-tagger`` entry point). Modules: ``app`` (QApplication set-up),
``main_window`` (the window), ``sidebar`` (albums), ``photo_grid`` (paged thumbnail grid),
``thumbnails`` (off-thread thumbnails with a disk cache), ``details`` (the selected photo),
``relabel`` (corrections and suggestions), ``status`` (tagging progress strip), ``welcome``
(first run), ``dialogs`` (settings, model card), ``settings`` (QSettings), ``errors`` (banner and
exception hook), ``background`` (worker-thread → GUI-thread signals),
``qtfix`` (PySide6 import-hook speed-up, applied here before any other desktop module loads).
"""

from desktop.qtfix import speed_up_feature_hook

#: Whether PySide6's ``__feature__`` import hook was found and replaced by the fast check.
FEATURE_HOOK_PATCHED = speed_up_feature_hook()

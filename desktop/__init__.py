"""Landmark Tagger desktop GUI (PySide6): a thin layer over ``core.library.Library``.

Started through ``cli.entry`` (the ``landmark-tagger`` entry point). Modules: ``app`` (QApplication set-up,
icon), ``main_window`` (puts the parts together), ``actions`` (menus, toolbar, shortcuts),
``library_session`` (opening/closing the library off the GUI thread, tagging, watching),
``corrections_controller`` (change label, confirm ✓ / reject ✗, proposals, undo/redo/revert, off the GUI
thread), ``browser`` (sidebar | search + grid or map | details),
``search_bar`` (search field and filters → ``SearchQuery``), ``sidebar`` (albums, *Map*), ``photo_grid`` (paged
thumbnail grid, a timeline with month headers), ``map_view`` (the map's markers, pan and zoom), ``map_clusters``
(Web Mercator and grid clustering, numpy), ``basemap`` (the offline Natural Earth countries), ``viewer`` (the
full-size viewer), ``viewer_images`` (its pictures, decoded off the GUI thread), ``thumbnails`` (off-thread thumbnails with a disk cache), ``details`` (the selected
photo), ``relabel`` (the change-label dialog), ``proposals`` (the proposals offer and review dialog),
``history`` (the History dialog), ``status`` (tagging progress strip),
``welcome`` (first run), ``dialogs`` (settings, model card), ``settings`` (QSettings), ``errors``
(banner, ``BannerAction``, exception hook), ``background`` (worker-thread → GUI-thread signals),
``qtfix`` (PySide6 import-hook speed-up, applied here before any other desktop module loads).
"""

from desktop.qtfix import speed_up_feature_hook

#: Whether PySide6's ``__feature__`` import hook was found and replaced by the fast check.
FEATURE_HOOK_PATCHED = speed_up_feature_hook()

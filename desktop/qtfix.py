"""Keep PySide6's ``__feature__`` import hook from slowing every later import.

Once PySide6 is imported, shiboken's ``feature_imported`` hook runs for every newly imported module
and decides whether it may use ``from __feature__ import ...`` by calling
``inspect.getsource(module)`` and searching it for ``"PySide6"``. ``inspect.getsource`` tokenises the
whole file through ``linecache``; for the ~2 000 modules that ``torch`` and ``torchvision`` import
this roughly doubled their import time here (5.4 s → 10.4 s on 2 cores), and because imports hold the
GIL, it also stalled the GUI thread while the model loaded in a worker thread.

``speed_up_feature_hook()`` replaces that check with a plain byte search of the module's file (the
same answer for source modules; compiled modules without a readable source are treated as not using
PySide6, which is what ``inspect.getsource`` failing with ``OSError``/``TypeError`` also gives).
It does nothing if the private hook is not where PySide6 6.x keeps it.
"""

from __future__ import annotations

import sys


def _fast_uses_pyside(module) -> bool:
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        return False
    try:
        with open(path, "rb") as fh:
            return b"PySide6" in fh.read()
    except OSError:
        return False


def speed_up_feature_hook() -> bool:
    """Install the fast check; returns whether the hook was found and patched."""
    import PySide6.QtCore  # noqa: F401 - loads shibokensupport

    patched = False
    for name in ("shibokensupport.feature", "PySide6.support.feature"):
        mod = sys.modules.get(name)
        if mod is not None and callable(getattr(mod, "_mod_uses_pyside", None)):
            setattr(mod, "_mod_uses_pyside", _fast_uses_pyside)  # noqa: B010 - a private attribute of shiboken
            patched = True
    return patched

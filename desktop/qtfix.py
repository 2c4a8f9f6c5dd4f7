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
            mod._mod_uses_pyside = _fast_uses_pyside
            patched = True
    return patched


def _lost_refs(call, n: int = 64) -> dict:
    """Call ``call()`` ``n`` times; references lost by ``None``/``True``/``False`` meanwhile."""
    objs = (None, True, False)
    before = [sys.getrefcount(o) for o in objs]
    for _ in range(n):
        call()
    return {o: b - sys.getrefcount(o) for o, b in zip(objs, before)}


_CHECKED: dict = {}


def guard_refcount_bugs() -> bool:
    """Survive PySide6 6.12.0's reference-count bugs on Python < 3.12; returns whether they were found.

    PySide6 6.12.0 returns ``None`` from some void methods (``QPainter.drawPixmap``, ``setFont``,
    ``setRenderHint``, ``QFont.setPointSizeF`` …) and ``True``/``False`` from
    ``SignalInstance.emit()``/``disconnect()`` without a new reference, so every call takes one
    reference off those singletons. On Python 3.11 (where they are not immortal) the process then
    aborts with "Fatal Python error: none_dealloc" / "bool_dealloc" after some thousands of calls —
    minutes into a tagging run. PySide6 6.11.x is not affected (checked 6.11.2 and 6.11.3), and
    ``pyproject.toml`` excludes 6.12.0; this guard covers an environment that has it anyway.

    The bug is detected by probing two affected calls (the probe's own losses are given back). When
    found, ``None``, ``True`` and ``False`` get 2**40 extra references, which is what Python 3.12's
    immortal objects do by design; those three objects are never freed anyway.
    """
    if "found" in _CHECKED:
        return _CHECKED["found"]
    import ctypes

    from PySide6.QtCore import QObject, Signal
    from PySide6.QtGui import QFont

    class _Probe(QObject):
        sig = Signal()

    probe, font = _Probe(), QFont()
    lost = _lost_refs(probe.sig.emit)
    for obj, n in _lost_refs(lambda: font.setPointSizeF(9.0)).items():
        lost[obj] += n
    found = any(n >= 32 for n in lost.values())
    if sys.version_info < (3, 12):
        for obj, n in lost.items():
            extra = max(0, n) + (2**40 if found else 0)
            if extra:
                # ob_refcnt is the first field of every PyObject (Include/object.h)
                ctypes.c_ssize_t.from_address(id(obj)).value += extra
    _CHECKED["found"] = found
    return found

"""Imported first by every desktop module that uses PySide6: applies ``desktop.qtfix`` once.

* ``guard_refcount_bugs`` — PySide6 6.12.0's reference-count bugs (``None``/``True``/``False``
  returned without a reference), which abort Python 3.11 after some thousands of Qt calls;
* ``speed_up_feature_hook`` — PySide6's import hook that doubled torch's import time.
"""

from desktop.qtfix import guard_refcount_bugs, speed_up_feature_hook

REFCOUNT_BUGS_FOUND = guard_refcount_bugs()
FEATURE_HOOK_PATCHED = speed_up_feature_hook()

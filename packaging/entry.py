"""PyInstaller entry script of the frozen Landmark Tagger (see ``packaging/landmark_tagger.spec``).

One script serves the two executables of the bundle:

* ``Landmark Tagger`` (windowed on Windows/macOS): the GUI, ``desktop.launcher.main``;
* ``landmark-tagger-cli`` (console): the command line, ``core.cli.main``.

``--self-test`` goes straight to ``core.selftest.main`` in both, without importing Qt, so the frozen
bundle can be checked on a machine with no display (``packaging/smoke_test.sh``).
``desktop.launcher`` dispatches ``--self-test`` the same way when run from source (``make run``).
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def _run(argv: list[str]) -> int:
    """Run the right entry point for this executable's name and ``argv`` (without the program)."""
    if "--self-test" in argv:
        from core.selftest import main as selftest_main

        return selftest_main([a for a in argv if a != "--self-test"])
    exe = os.path.basename(sys.executable).lower()
    if exe.startswith("landmark-tagger-cli"):
        from core.cli import main as cli_main

        return cli_main(argv)
    from desktop.launcher import main as gui_main

    return gui_main()


if __name__ == "__main__":
    # torch / DataLoader workers may spawn processes; in a frozen app the child must not run main again.
    multiprocessing.freeze_support()
    sys.exit(_run(sys.argv[1:]) or 0)

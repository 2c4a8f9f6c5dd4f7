"""PyInstaller entry script of the frozen Landmark Tagger (see ``packaging/landmark_tagger.spec``).

One script serves the two executables of the bundle, both through ``cli.entry.main`` (the same
dispatch as ``make run`` and the ``landmark-tagger`` console script):

* ``Landmark Tagger`` (windowed on Windows/macOS): no arguments → the GUI; arguments → the CLI;
* ``landmark-tagger-cli`` (console): the command line only.

``--self-test`` never imports Qt, so the frozen bundle can be checked on a machine with no display
(``packaging/smoke_test.sh``).
"""

from __future__ import annotations

import multiprocessing
import os
import sys

if __name__ == "__main__":
    # torch / DataLoader workers may spawn processes; in a frozen app the child must not run main again.
    multiprocessing.freeze_support()
    from cli.entry import main

    console_only = os.path.basename(sys.executable).lower().startswith("landmark-tagger-cli")
    sys.exit(main(sys.argv[1:], gui=not console_only) or 0)

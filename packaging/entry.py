"""PyInstaller entry script of the frozen Landmark Tagger (see ``packaging/landmark_tagger.spec``).

One script serves the two executables of the bundle:

* ``Landmark Tagger`` (windowed on Windows/macOS): the GUI, ``cli.entry.main``;
* ``landmark-tagger-cli`` (console): the command line, ``cli.commands.main``.

``--self-test [--device D] [--model PATH] [--output FILE]`` goes straight to ``cli.selftest.main`` in
both, without importing Qt, so the frozen bundle can be checked on a machine with no display
(``packaging/smoke_test.sh``). Everything else of the GUI executable is ``cli.entry.main``, as
for ``make run`` (no arguments: the GUI; arguments: the CLI).
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def _run(argv: list[str]) -> int:
    """Run the right entry point for this executable's name and ``argv`` (without the program)."""
    if argv[:1] == ["--self-test"]:
        from cli.selftest import main as selftest_main

        return selftest_main(argv[1:])
    exe = os.path.basename(sys.executable).lower()
    if exe.startswith("landmark-tagger-cli"):
        from cli.commands import main as cli_main

        return cli_main(argv)
    from cli.entry import main as launcher_main

    return launcher_main(argv)


if __name__ == "__main__":
    # torch / DataLoader workers may spawn processes; in a frozen app the child must not run main again.
    multiprocessing.freeze_support()
    sys.exit(_run(sys.argv[1:]) or 0)

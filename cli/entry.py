"""The one entry point of Landmark Tagger, for ``make run``, the console scripts and the frozen app.

* no arguments → the desktop GUI (``desktop.app.run_gui``), unless this is the console-only
  executable, which prints its usage instead;
* ``--self-test`` anywhere among the arguments → ``cli.selftest.main(the other arguments)`` (installation
  check, no GUI; global options such as ``--db PATH --self-test`` are accepted);
* any other arguments → ``cli.commands.main(argv)`` (command-line sub-commands).

Imports are lazy so that the CLI never loads Qt and the GUI starts without importing the CLI.
``packaging/entry.py`` (the PyInstaller script) calls ``main`` too.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None, *, gui: bool = True) -> int:
    """Dispatch on the command-line arguments; returns the process exit status (0 = success).

    Args:
        argv: the arguments without the program name (default ``sys.argv[1:]``).
        gui: ``False`` for the console-only executable of the frozen app: no arguments then run
            ``landmark-tagger --help`` instead of opening a window.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args and gui:
        from desktop.app import run_gui

        return run_gui()
    if "--self-test" in args:  # options: --device, --model, --output, --verbose (--db, --json accepted)
        from cli.selftest import main as selftest_main

        return int(selftest_main([a for a in args if a != "--self-test"]) or 0)
    from cli.commands import main as cli_main

    return int(cli_main(args or ["--help"]) or 0)


if __name__ == "__main__":  # pragma: no cover - `python -m cli.entry`
    sys.exit(main())

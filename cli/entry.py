"""The ``landmark-tagger`` entry point.

* no arguments → the desktop GUI (``desktop.app.run_gui``);
* ``--self-test [options]`` → ``cli.selftest.main(options)`` (installation check, no GUI);
* any other arguments → ``cli.commands.main(argv)`` (command-line sub-commands).

Imports are lazy so that the CLI never loads Qt and the GUI starts without importing the CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch on the command-line arguments; returns the process exit status (0 = success)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        from desktop.app import run_gui

        return run_gui()
    if args[0] == "--self-test":  # options: --device, --model, --output, --verbose
        from cli.selftest import main as selftest_main

        return int(selftest_main(args[1:]) or 0)
    from cli.commands import main as cli_main

    return int(cli_main(args) or 0)


if __name__ == "__main__":  # pragma: no cover - `python -m cli.entry`
    sys.exit(main())

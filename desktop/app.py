"""Starting the GUI: QApplication, application names (for QSettings), icon, exception hook."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import cast

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from core.paths import resources_dir


def app_icon_path() -> Path:
    """``resources/icons/landmark-tagger.png`` (also when frozen: ``core.paths.resources_dir``)."""
    return resources_dir() / "icons" / "landmark-tagger.png"


def create_application(argv: list[str] | None = None) -> QApplication:
    """The ``QApplication`` (reused if one exists), with names, icon and the error hook installed."""
    from desktop.errors import install_excepthook
    from desktop.settings import configure_application

    configure_application()
    # Tagging runs in Python threads of this process; a GUI thread waiting for the GIL gets it after
    # at most the switch interval (default 5 ms). 2 ms lowered the count of GUI stalls > 50 ms while
    # tagging in bench/bench_gui.py without slowing the tagger measurably.
    sys.setswitchinterval(0.002)
    app = cast(QApplication, QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1]))
    icon = app_icon_path()
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    install_excepthook()
    return app


def run_gui(argv: list[str] | None = None) -> int:
    """Show the main window and run the event loop; returns the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("landmark_tagger").setLevel(logging.INFO)
    app = create_application(argv)
    from desktop.main_window import MainWindow

    window = MainWindow()
    window.show()
    _quit_on_termination_signals(window)
    return app.exec()


def _quit_on_termination_signals(window) -> None:
    """SIGTERM / Ctrl-C close the window the normal way (library closed, settings saved).

    Python runs signal handlers only between bytecodes, so a 200 ms timer wakes the interpreter
    while Qt's event loop waits in C++.
    """

    def handler(signum, _frame) -> None:
        logging.getLogger("landmark_tagger").info("signal %d: closing", signum)
        window.close()
        QApplication.quit()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread, or the platform lacks the signal
            return
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(200)

"""``cli.entry.main``: the one dispatch of ``make run``, the console scripts and the frozen app."""

from __future__ import annotations

import sys
import types


def test_entry_dispatches_gui_cli_and_self_test(monkeypatch):
    from cli import entry

    calls = []
    monkeypatch.setitem(
        sys.modules, "cli.commands", types.SimpleNamespace(main=lambda argv: calls.append(("cli", argv)) or 3)
    )
    monkeypatch.setitem(
        sys.modules,
        "cli.selftest",
        types.SimpleNamespace(main=lambda argv=None: calls.append(("self", list(argv or []))) or 0),
    )
    monkeypatch.setitem(sys.modules, "desktop.app", types.SimpleNamespace(run_gui=lambda: calls.append(("gui",)) or 0))
    assert entry.main(["tag", "--db", "x"]) == 3
    assert entry.main(["--self-test", "--device", "cpu"]) == 0
    assert entry.main([]) == 0
    assert entry.main([], gui=False) == 3  # the console-only executable prints its usage instead
    assert calls == [("cli", ["tag", "--db", "x"]), ("self", ["--device", "cpu"]), ("gui",), ("cli", ["--help"])]

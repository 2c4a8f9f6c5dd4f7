"""Open first, load the model later (issue 14): browsing an already-tagged library never imports torch.

Each check runs in a fresh Python process (this one has torch loaded already) and looks at ``sys.modules``:

* every read-only CLI command (``albums``, ``search``, ``stats``, ``export-corrections``, ``folders``, ``history``,
  ``similar``, ``check``, ``backups``) imports neither torch nor torchvision, nor Alembic (the database is at head), nor
  FAISS (only large galleries and large libraries' "similar photos" need it);
* the window opens the library, runs its start-up scan (nothing to tag), starts watching, and shows albums and the
  grid without importing torch;
* when there is something to tag, the job loads the model and says so first (``LOADING_MODEL_MESSAGE``), and the
  tagging strip shows "Loading the model…".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.domain import LOADING_MODEL_MESSAGE, Progress
from core.library import Library

REPO = Path(__file__).resolve().parents[2]
PHOTOS = [
    "landmarks/test/Haleakala_National_Park/4b01b01771e6ac41.jpg",
    "landmarks/test/Haleakala_National_Park/52f055ef478ba7dd.jpg",
    "landmarks/test/Colosseum/The Roman Colosseum1 (10).jpg",
]

CLI_PROBE = r"""
import json, sys
sys.path.insert(0, {repo!r})
from cli.entry import main
out = {{}}
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    out[argv[4]] = {{"code": code, "heavy": sorted(m for m in ("torch", "torchvision", "alembic", "faiss") if m in sys.modules)}}
sys.stderr.write("PROBE " + json.dumps(out) + "\n")
"""

GUI_PROBE = r"""
import json, os, sys
sys.path.insert(0, {repo!r})
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from desktop.app import create_application
app = create_application(["probe"])
from PySide6.QtCore import QTimer
from desktop.main_window import MainWindow
win = MainWindow({settings!r}, cache_dir={cache!r})
state = {{}}
def ready():
    state["rows"] = win.browser.grid_model.rowCount()
    state["torch_at_ready"] = "torch" in sys.modules
def finished(p):
    state["tag_state"] = p.state
    state["torch_after_scan"] = "torch" in sys.modules
def watched(p):  # the watcher's reconciliation scan after the start-up scan
    if p.state in ("done", "cancelled", "failed") and "tag_state" in state:
        state["watch_state"] = p.state
        state["torch_after_watch"] = "torch" in sys.modules
        win.close()
        app.quit()
win.libraryReady.connect(ready)
win.taggingFinished.connect(finished)
win.session.watchProgress.connect(watched)
QTimer.singleShot(60000, app.quit)
win.show()
app.exec()
sys.stderr.write("PROBE " + json.dumps(state) + "\n")
"""


def _probe(code: str, args: list[str], env_home: Path) -> dict:
    env = dict(os.environ, LANDMARK_TAGGER_HOME=str(env_home), QT_QPA_PLATFORM="offscreen")
    res = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300, cwd=REPO
    )
    line = [ln for ln in res.stderr.splitlines() if ln.startswith("PROBE ")]
    assert res.returncode == 0 and line, res.stderr[-3000:]
    return json.loads(line[-1][6:])


@pytest.fixture
def tagged_library(shared_data, tmp_path, tiny_bundle_path):
    """A library of three real photos, tagged (with the tiny bundle) and corrected once; closed cleanly."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for rel in PHOTOS:
        shutil.copy(shared_data / rel, folder / Path(rel).name)
    db = tmp_path / "lib.sqlite3"
    with Library.open(db, tiny_bundle_path, "cpu") as lib:
        lib.add_folder(folder)
        final = lib.tag()
        assert final.counts["tagged"] + final.counts["no_landmark"] == 3
        first = lib.photos(limit=1)[0].id
        lib.relabel([first], not_landmark=True)
    return db, folder, tiny_bundle_path, first


@pytest.mark.shared
def test_read_only_commands_never_import_torch(tagged_library, tmp_path):
    db, _folder, model, first = tagged_library
    base = ["--db", str(db), "--model", str(model)]
    commands = [
        ["albums"],
        ["search", "colosseum"],
        ["stats"],
        ["export-corrections", str(tmp_path / "c.csv")],
        ["folders"],
        ["history"],
        ["similar", str(first)],
        ["check"],
        ["backups"],
    ]
    got = _probe(CLI_PROBE.format(repo=str(REPO)), [json.dumps([base + c for c in commands])], tmp_path / "home")
    assert set(got) == {c[0] for c in commands}
    for name, r in got.items():
        assert r["code"] == 0, name
        assert r["heavy"] == [], f"{name} imported {r['heavy']}"


@pytest.mark.shared
def test_the_window_shows_a_tagged_library_without_torch(tagged_library, tmp_path):
    from PySide6.QtCore import QSettings

    db, folder, model, _first = tagged_library
    settings = tmp_path / "settings.ini"
    qs = QSettings(str(settings), QSettings.Format.IniFormat)
    qs.setValue("library/folders", [str(folder)])
    qs.setValue("library/db_path", str(db))
    qs.setValue("model/path", str(model))
    qs.setValue("model/device", "cpu")
    qs.sync()
    got = _probe(GUI_PROBE.format(repo=str(REPO), settings=str(settings), cache=str(tmp_path / "cache")), [], tmp_path)
    assert got["rows"] == 3
    assert got["torch_at_ready"] is False
    assert got["tag_state"] == "done"  # the start-up scan ran and found nothing to tag …
    assert got["torch_after_scan"] is False  # … so the model was never loaded
    assert got["watch_state"] == "done" and got["torch_after_watch"] is False  # nor by the watcher's rescan


@pytest.mark.shared
def test_a_job_with_photos_to_tag_says_it_loads_the_model(shared_data, tmp_path, tiny_bundle_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(shared_data / PHOTOS[0], folder / "a.jpg")
    seen: list[Progress] = []
    with Library.open(tmp_path / "lib.sqlite3", tiny_bundle_path, "cpu") as lib:
        assert not lib.model_loaded
        lib.add_folder(folder)
        lib.tag(on_progress=seen.append)
        assert lib.model_loaded
        messages = [p.message for p in seen]
        assert LOADING_MODEL_MESSAGE in messages
        loading = messages.index(LOADING_MODEL_MESSAGE)
        assert all(p.state != "tagging" for p in seen[:loading])  # said before tagging starts
        # an unchanged library: the next job finds nothing to tag and does not say it
        seen.clear()
        lib.tag(on_progress=seen.append)
        assert LOADING_MODEL_MESSAGE not in [p.message for p in seen]


def test_the_tagging_strip_says_loading_the_model(qtbot):
    from desktop.status import LOADING_MODEL_TEXT, TaggingStatus

    strip = TaggingStatus()
    qtbot.addWidget(strip)
    strip.update_progress(Progress(state="scanning", done=3, total=0, message=LOADING_MODEL_MESSAGE))
    assert strip.label.text() == LOADING_MODEL_TEXT == "Loading the model…"
    assert strip.bar.maximum() == 0  # busy indicator
    strip.update_progress(Progress(state="tagging", done=1, total=4, message="tagging 4 photos"))
    assert strip.label.text().startswith("Tagging 1 / 4")

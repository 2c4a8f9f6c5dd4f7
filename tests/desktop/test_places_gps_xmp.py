"""Places and XMP sidecars in the window (issue 13, items 1 and 3): a GPS photo at a landmark reads
"Eiffel Tower, Paris · from GPS" in the details pane and the grid, a GPS photo elsewhere by its place; Settings →
"Write XMP sidecars" writes them at once, corrections made in the window update them, and the setting persists."""

from __future__ import annotations

import pytest

from core.library import Library
from core.photos.xmp import read_properties
from desktop.photo_grid import caption, tooltip
from desktop.relabel import RelabelChoice
from desktop.settings import AppSettings
from tests.desktop.helpers import copy_db, wait_corrections
from tests.helpers import copy_with_gps, landmark_photos, make_tiny_bundle

pytestmark = pytest.mark.shared


@pytest.fixture()
def places_window(make_window, env, shared_data, tmp_path):
    from core.recognition.bundle import save_bundle

    folder = tmp_path / "Photos"
    camera = shared_data / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg"
    copy_with_gps(camera, folder / "tower.jpg", 48.8585, 2.2945)
    (folder / "arezzo.jpg").write_bytes(camera.read_bytes())
    (folder / "colosseum.jpg").write_bytes(landmark_photos(shared_data, "Colosseum", "test")[0].read_bytes())
    model = save_bundle(make_tiny_bundle(("Eiffel_Tower", "Colosseum")), tmp_path / "tiny.safetensors")
    db = tmp_path / "seed.sqlite3"
    with Library.open(db, model, "cpu") as lib:
        lib.add_folder(folder)
        lib.tag()
    copy_db(db, env.db)
    return make_window(model, [folder], auto_tag=False), folder


def test_gps_labels_and_places_are_shown(qtbot, places_window):
    win, folder = places_window
    lib = win.library
    by_name = {p.path.name: p for p in lib.photos()}
    tower, arezzo = by_name["tower.jpg"], by_name["arezzo.jpg"]
    assert caption(tower) == "Eiffel Tower, Paris · from GPS"
    assert "From the photo's GPS" in tooltip(tower)
    assert caption(arezzo) == "Arezzo, Italy"
    details = win.browser.details
    details.show_photo(lib.photo(tower.id))
    assert details.title.text() == "Eiffel Tower, Paris · from GPS"
    assert "GPS position" in details.source.text()
    assert "Paris, France" in details.info.text()
    details.show_photo(lib.photo(arezzo.id))
    assert details.title.text() == "Arezzo, Italy"


def test_settings_switch_on_sidecars_and_corrections_update_them(qtbot, places_window, env):
    win, folder = places_window
    lib = win.library
    by_name = {p.path.name: p for p in lib.photos()}
    new = AppSettings.load(env.settings)
    assert new.xmp_sidecars is False
    new.xmp_sidecars, new.xmp_convention = True, "darktable"
    win.apply_settings(new)
    side = folder / "tower.jpg.xmp"
    qtbot.waitUntil(side.is_file, timeout=20_000)
    assert read_properties(side.read_bytes())["Xmp.dc.subject"] == ["Eiffel Tower, Paris"]
    assert AppSettings.load(env.settings).xmp_sidecars is True
    assert AppSettings.load(env.settings).xmp_convention == "darktable"
    # a correction in the window updates the sidecar
    col = by_name["colosseum.jpg"].id
    assert win.corrections.apply([col], RelabelChoice(landmark="Colosseum"))
    wait_corrections(qtbot, win)
    col_side = folder / "colosseum.jpg.xmp"
    qtbot.waitUntil(col_side.is_file, timeout=20_000)
    assert read_properties(col_side.read_bytes())["Xmp.dc.subject"] == ["Colosseum, Rome"]
    # a sidecar that cannot be written is reported in the window (the label changed all the same)
    col_side.write_bytes(b"<x:xmpmeta broken")
    messages = []
    win.session.sidecarProblem.connect(messages.append)
    assert win.corrections.apply([col], RelabelChoice(landmark="Eiffel_Tower"))
    wait_corrections(qtbot, win)
    qtbot.waitUntil(lambda: bool(messages), timeout=20_000)
    assert "colosseum.jpg.xmp" in messages[0] and lib.photo(col).label == "Eiffel_Tower"


def test_settings_dialog_has_the_sidecar_controls(qtbot, places_window, env):
    from desktop.dialogs import SettingsDialog

    win, _ = places_window
    dlg = SettingsDialog(AppSettings.load(env.settings))
    qtbot.addWidget(dlg)
    assert not dlg.xmp_sidecars.isChecked() and not dlg.xmp_convention.isEnabled()
    dlg.xmp_sidecars.setChecked(True)
    assert dlg.xmp_convention.isEnabled()
    dlg.xmp_convention.setCurrentIndex(dlg.xmp_convention.findData("lightroom"))
    out = dlg.result_settings()
    assert (out.xmp_sidecars, out.xmp_convention) == (True, "lightroom")

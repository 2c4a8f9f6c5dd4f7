"""Database safety (issue 12 item 4) on a real library of real photos: the check on open, rolling backups,
Restore from backup and Rebuild from photos."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from core.library import (
    DatabaseDamagedError,
    Library,
    check_library,
    library_backups,
    rebuild_library,
    restore_library,
)
from core.store.backup import KEEP_DAILY, daily_backup, list_backups
from core.store.health import clean_record_path, needs_check
from tests.helpers import copy_photos, damage_database, landmark_photos

pytestmark = pytest.mark.shared


@pytest.fixture
def library(tmp_path, shared_data, tiny_bundle_path):
    """``(db path, photo folder, model)``: 12 real photos tagged, two of them corrected by hand, then closed."""
    folder = tmp_path / "Photos"
    copy_photos(landmark_photos(shared_data, "Petra", "test")[:6], folder, "petra")
    copy_photos(landmark_photos(shared_data, "Colosseum", "test")[:6], folder, "colosseum")
    db = tmp_path / "lib.db"
    lib = Library.open(db, tiny_bundle_path, threads=1)
    try:
        lib.add_folder(folder)
        lib.tag()
        ids = [p.id for p in lib.photos()]
        lib.relabel(ids[:2], new_name="My Rock")
    finally:
        lib.close()
    return db, folder, tiny_bundle_path


def _manual(lib) -> dict[str, str]:
    return {p.path.name: p.label_name for p in lib.photos() if p.label_source == "manual"}


def test_the_file_is_checked_at_open_only_when_it_changed_since_the_last_clean_close(library):
    db, _folder, model = library
    assert clean_record_path(db).is_file() and not needs_check(db)
    lib = Library.open(db, model)
    assert not lib.checked_at_open  # unchanged since the clean close: no 0.5 s quick_check
    assert not clean_record_path(db).exists()  # open now: a crash would mean "check next time"
    lib.close()
    os.utime(db, ns=(time.time_ns(), time.time_ns()))  # another program touched the file
    lib = Library.open(db, model)
    assert lib.checked_at_open
    lib.close()


def test_8_kb_of_garbage_in_the_middle_is_caught_before_any_command_reads(library):
    db, _folder, model = library
    damage_database(db)
    with pytest.raises(DatabaseDamagedError, match="is damaged"):
        Library.open(db, model)
    result = check_library(db)
    assert not result.ok and result.problems
    assert not check_library(db, full=True).ok
    with pytest.raises(DatabaseDamagedError):  # and again: a damaged file never gets a clean-close record
        Library.open(db, model)


def test_a_damaged_database_is_never_copied_over_a_good_backup(library):
    db, _folder, model = library
    good = library_backups(db)
    assert [b.kind for b in good] == ["daily"]  # taken when the session that changed the library closed
    lib = Library.open(db, model)
    try:
        damage_database(db)
        with pytest.raises(DatabaseDamagedError):
            lib.backup_if_due(force=True)
    finally:
        lib.close()
    assert library_backups(db) == good
    assert not clean_record_path(db).exists()


def test_daily_backups_keep_the_newest_copy_of_each_of_the_last_seven_days(library):
    db = library[0]
    start = datetime(2031, 3, 1, 8, 0, tzinfo=timezone.utc)
    for day in range(10):
        for hour in (0, 5):  # two sessions a day: the later copy replaces the earlier one
            daily_backup(db, now=start + timedelta(days=day, hours=hour), force=True)
    daily = [b for b in list_backups(db) if b.kind == "daily"]
    assert len(daily) == KEEP_DAILY
    assert [b.created_at for b in daily] == [start + timedelta(days=d, hours=5) for d in range(9, 2, -1)]


def test_restore_from_backup_brings_the_library_back_and_keeps_the_damaged_file(library):
    db, _folder, model = library
    lib = Library.open(db, model)
    expected = _manual(lib)
    lib.close()
    damage_database(db)
    backup = library_backups(db)[0]
    replaced = restore_library(db, backup)
    assert replaced is not None and replaced.is_file() and not check_library(replaced).ok  # kept, not deleted
    lib = Library.open(db, model)
    try:
        assert _manual(lib) == expected and len(lib.photos()) == 12
    finally:
        lib.close()


def test_rebuild_from_photos_keeps_folders_landmarks_and_corrections_from_a_backup(library):
    db, folder, model = library
    lib = Library.open(db, model)
    expected = _manual(lib)
    lib.close()
    damage_database(db)
    report = rebuild_library(db)
    assert report.source is not None and report.source.name.startswith("lib.db.daily-")
    assert report.rows["folders"] == 1 and report.rows["corrections"] >= 2 and not report.lost
    assert report.rows["photos"] == 12  # the photos' identities (the corrections hang on them), to be read again
    lib = Library.open(db, model)
    try:
        assert lib.folders() == [folder] and {p.status for p in lib.photos()} == {"pending"}
        assert _manual(lib) == {}  # nothing read yet: the scan reads every file again
        final = lib.tag()
        assert final.counts["pending"] == 0 and len(lib.photos()) == 12
        assert _manual(lib) == expected  # corrections are keyed by the photo's id: they apply again
        assert "My Rock" in [n for _, n in lib.landmark_names()]
    finally:
        lib.close()

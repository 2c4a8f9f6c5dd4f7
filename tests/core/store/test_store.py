"""The SQLite store: pragmas, Alembic migrations with backup, and one-line errors for bad databases."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import datetime

import pytest
from sqlalchemy import text

from core.library import Library, LibraryError
from core.store import open_database
from core.store.engine import Database
from core.store.migrate import head_revision, upgrade_to


def test_fresh_database_is_wal_with_foreign_keys_and_head_schema(tmp_path):
    db, backup = open_database(tmp_path / "lib.db", busy_timeout_s=2.5)
    assert backup is None  # nothing to back up on a new file
    with db.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 2500
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision() == "0007"
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
    assert {
        "folders",
        "photos",
        "predictions",
        "embeddings",
        "landmarks",
        "landmarks_fts",
        "corrections",
        "changes",
        "proposals",
    } <= tables
    db.dispose()


def test_fts_index_follows_landmark_rows(tmp_path):
    db, _ = open_database(tmp_path / "lib.db")
    with db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO landmarks (key, name, source, created_at) VALUES "
                "('Eiffel_Tower', 'Eiffel Tower, Paris', 'model', 'x')"
            )
        )
    with db.read() as conn:
        hit = conn.execute(text("SELECT key FROM landmarks_fts WHERE landmarks_fts MATCH '\"ffel\"'")).all()
    assert hit == [("Eiffel_Tower",)]
    with db.write() as conn:
        conn.execute(text("UPDATE landmarks SET name = 'Tour Eiffel' WHERE key = 'Eiffel_Tower'"))
    with db.read() as conn:
        assert (
            conn.execute(text("SELECT name FROM landmarks_fts WHERE key = 'Eiffel_Tower'")).scalar().startswith("Tour")
        )
    with db.write() as conn:
        conn.execute(text("DELETE FROM landmarks"))
    with db.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM landmarks_fts")).scalar() == 0
    db.dispose()


def test_cascade_deletes_predictions_and_embeddings(tmp_path):
    db, _ = open_database(tmp_path / "lib.db")
    with db.write() as conn:
        conn.execute(text("INSERT INTO folders (id, path, added_at) VALUES (1, '/p', 'x')"))
        conn.execute(
            text(
                "INSERT INTO photos (id, folder_id, path, content_hash, size, mtime_ns, status) "
                "VALUES (1, 1, '/p/a.jpg', 'h', 1, 1, 'tagged')"
            )
        )
        conn.execute(text("INSERT INTO predictions VALUES (1, 0, 'k', 0.9, 'v')"))
        conn.execute(text("INSERT INTO embeddings VALUES (1, 'v', 2, x'00000000')"))
        conn.execute(text("DELETE FROM folders"))
    with db.read() as conn:
        assert [
            conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in ("photos", "predictions", "embeddings")
        ] == [0, 0, 0]
    db.dispose()


def _make_0001_database(path):
    """A database at revision 0001 holding a photo, its prediction and a correction."""
    db = Database(path)
    upgrade_to(db, "0001")
    with db.write() as conn:
        conn.execute(text("INSERT INTO folders (id, path, added_at) VALUES (1, '/photos', '2026-01-01')"))
        conn.execute(
            text(
                "INSERT INTO photos (id, folder_id, path, content_hash, size, mtime_ns, status, label, "
                "label_source, confidence, model_version) VALUES (7, 1, '/photos/a.jpg', 'abc', 10, 20, "
                "'tagged', 'Colosseum', 'manual', 1.0, 'm1')"
            )
        )
        conn.execute(text("INSERT INTO predictions VALUES (7, 0, 'Petra', 0.6, 'm1')"))
        conn.execute(
            text(
                "INSERT INTO landmarks (key, name, latitude, longitude, country, source, created_at) VALUES ('Colosseum', 'Colosseum, Rome', 41.89, 12.49, 'Italy', 'model', 'x')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO corrections (content_hash, kind, label, created_at) "
                "VALUES ('abc', 'label', 'Colosseum', 'x')"
            )
        )
    db.dispose()


def test_older_revision_migrates_with_data_intact_and_a_backup(tmp_path):
    path = tmp_path / "lib.db"
    _make_0001_database(path)
    db, backup = open_database(path)
    assert backup is not None and backup.name.startswith("lib.db.bak-0001-") and backup.is_file()
    with db.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0007"
        photo = conn.execute(text("SELECT path, label, label_source FROM photos WHERE id = 7")).one()
        assert tuple(photo) == ("/photos/a.jpg", "Colosseum", "manual")
        # 0006 dated it by its file (mtime 20 ns: the epoch, in local time) for the timeline
        dated = conn.execute(text("SELECT timeline_at FROM photos WHERE id = 7")).scalar()
        assert dated == datetime.fromtimestamp(0).isoformat(timespec="seconds")
        assert conn.execute(text("SELECT label FROM predictions WHERE photo_id = 7")).scalar() == "Petra"
        # 0007 keyed the correction by the photo whose bytes it was made for
        c = conn.execute(text("SELECT photo_id, content_hash, kind, label, change_id FROM corrections")).one()
        assert tuple(c) == (7, None, "label", "Colosseum", None)
        # the new revision's tables work
        conn.execute(text("SELECT COUNT(*) FROM embeddings")).scalar()
        conn.execute(text("SELECT COUNT(*) FROM proposals")).scalar()
    db.dispose()
    # the backup is the old database, still at 0001 with the data
    b = sqlite3.connect(backup)
    assert b.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    assert b.execute("SELECT label FROM photos WHERE id = 7").fetchone() == ("Colosseum",)
    b.close()
    # opening again: already at head, no new backup
    db2, backup2 = open_database(path)
    assert backup2 is None
    db2.dispose()


def _make_0006_database(path):
    """A database at revision 0006: photo 1 (bytes ``h1``) and its byte-identical copy 2, photo 3 whose bytes changed
    at the same path after its correction (the old scanner gave it ``h3-new``: the correction of ``h3-old`` was
    orphaned), photo 4 corrected together with photo 3, and a correction whose photo left the library (``gone``)."""
    db = Database(path)
    upgrade_to(db, "0006")
    with db.write() as conn:
        conn.execute(text("INSERT INTO folders (id, path, added_at) VALUES (1, '/photos', '2026-01-01')"))
        for pid, h in ((1, "h1"), (2, "h1"), (3, "h3-new"), (4, "h4"), (5, "h5")):
            conn.execute(
                text(
                    "INSERT INTO photos (id, folder_id, path, content_hash, size, mtime_ns, status) "
                    "VALUES (:id, 1, :p, :h, 10, 20, 'tagged')"
                ),
                {"id": pid, "p": f"/photos/{pid}.jpg", "h": h},
            )
        changes = [
            (1, "set_landmark", "[1]"),  # photo 1 → Petra (its copy 2 had it too: same bytes)
            (2, "set_landmark", "[4, 3]"),  # photos 3 and 4 → Colosseum, corrections written by photo id
            (3, "reject", "[5]"),  # photo 5: reject Petra
            (4, "set_landmark", "[99]"),  # a photo that left the library
        ]
        for cid, kind, ids in changes:
            conn.execute(
                text(
                    "INSERT INTO changes (id, kind, photo_ids, description, created_at) "
                    "VALUES (:id, :k, :ids, 'x', '2026-01-01T00:00:00+00:00')"
                ),
                {"id": cid, "k": kind, "ids": ids},
            )
        corrections = [
            ("h1", "label", "Petra", 1),
            ("h3-old", "label", "Colosseum", 2),
            ("h4", "label", "Colosseum", 2),
            ("h5", "reject", "Petra", 3),
            ("gone", "label", "Petra", 4),
            ("h1", "not_landmark", None, None),  # newer than the first one: it wins
        ]
        for h, kind, label, cid in corrections:
            conn.execute(
                text(
                    "INSERT INTO corrections (content_hash, kind, label, created_at, change_id) "
                    "VALUES (:h, :k, :l, 'x', :c)"
                ),
                {"h": h, "k": kind, "l": label, "c": cid},
            )
    db.dispose()


def test_0007_keys_every_correction_by_its_photo(tmp_path):
    """Revision 0007 loses no correction: each goes to the photos with its bytes (a copy each), an orphaned one to
    the photo its change named, and one whose photo left the library is kept without a photo."""
    from core.domain import NO_LANDMARK
    from core.store.corrections import load_corrections

    path = tmp_path / "lib.db"
    _make_0006_database(path)
    db, backup = open_database(path)
    assert backup is not None and backup.name.startswith("lib.db.bak-0006-")
    try:
        with db.read() as conn:
            rows = conn.execute(
                text("SELECT photo_id, content_hash, kind, label, change_id FROM corrections ORDER BY id")
            ).all()
            assert [tuple(r) for r in rows] == [
                (1, None, "label", "Petra", 1),
                (2, None, "label", "Petra", 1),
                (3, None, "label", "Colosseum", 2),  # orphaned by the old scanner, attached again
                (4, None, "label", "Colosseum", 2),
                (5, None, "reject", "Petra", 3),
                (None, "gone", "label", "Petra", 4),  # kept, applies to no photo
                (1, None, "not_landmark", None, None),
                (2, None, "not_landmark", None, None),
            ]
            state = load_corrections(conn)
            assert state[1].manual == state[2].manual == NO_LANDMARK  # the newest correction wins, for both
            assert state[3].manual == state[4].manual == "Colosseum" and state[5].rejected == {"Petra"}
            assert set(state) == {1, 2, 3, 4, 5}
            fp = conn.execute(text("SELECT fingerprint FROM photos WHERE id = 1")).scalar()
            assert fp is None  # files are not read by the migration
        with db.write() as conn:  # the photo goes: its corrections go with it
            conn.execute(text("DELETE FROM photos WHERE id = 3"))
        with db.read() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM corrections WHERE photo_id = 3")).scalar() == 0
    finally:
        db.dispose()


def test_library_opens_an_old_database_and_keeps_its_manual_label(tmp_path, tiny_bundle_path):
    path = tmp_path / "lib.db"
    _make_0001_database(path)
    lib = Library.open(path, tiny_bundle_path)
    try:
        assert lib.backup_path is not None and lib.backup_path.exists()
        p = lib.photo(7)
        assert (p.label, p.label_source, p.content_hash) == ("Colosseum", "manual", "abc")
    finally:
        lib.close()


def test_newer_schema_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "lib.db"
    db, _ = open_database(path)
    with db.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    db.dispose()
    with pytest.raises(LibraryError, match="newer version of Landmark Tagger") as err:
        open_database(path)
    assert "\n" not in str(err.value)


def test_not_a_database_file(tmp_path):
    path = tmp_path / "lib.db"
    path.write_bytes(b"these are not the bytes of an SQLite database" * 100)
    with pytest.raises(LibraryError, match="not a Landmark Tagger library database"):
        open_database(path)


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE contacts (name TEXT)")
    con.commit()
    con.close()
    with pytest.raises(LibraryError, match="not a Landmark Tagger library"):
        open_database(path)


def test_read_only_database_file(tmp_path):
    path = tmp_path / "lib.db"
    db, _ = open_database(path)
    db.dispose()
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP)
    try:
        with pytest.raises(LibraryError, match="read-only") as err:
            open_database(path)
        assert str(path) in str(err.value)
    finally:
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def test_locked_database_gives_a_clear_error(tmp_path, tiny_bundle_path):
    path = tmp_path / "lib.db"
    Library.open(path, tiny_bundle_path).close()
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO folders (path, added_at) VALUES ('/elsewhere', 'x')")
    try:
        with pytest.raises(LibraryError, match="locked by another program") as err:
            lib = Library.open(path, tiny_bundle_path, busy_timeout_s=0.2)
            try:
                lib.add_folder(tmp_path)
            finally:
                lib.close()
        assert "\n" not in str(err.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    # once the other program lets go, the same operation works
    lib = Library.open(path, tiny_bundle_path, busy_timeout_s=0.2)
    lib.add_folder(tmp_path)
    assert lib.folders() == [tmp_path]
    lib.close()


def test_the_head_read_from_the_revision_files_is_alembics_head():
    """Opening a library at head skips Alembic (core.store.migrate.shipped_head); it must agree with Alembic."""
    from core.store.migrate import shipped_head

    assert shipped_head() == head_revision()

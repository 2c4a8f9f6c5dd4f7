"""Changes written in short write transactions (issue 14.5): the same result as one transaction, nothing left half
done by a crash in the middle, and opening a library writes only to finish such a change."""

from __future__ import annotations

import contextlib

import pytest
import torch
from sqlalchemy import text

import core.tagging.relabel as relabel
from core.library import Library
from tests.helpers import copy_photos, landmark_photos

torch.set_num_threads(1)


@pytest.fixture()
def lib(tmp_path, shared_data, tiny_bundle_path):
    copy_photos(landmark_photos(shared_data, "Petra")[:6], tmp_path / "p")
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    lib.add_folder(tmp_path / "p")
    lib.tag()
    yield lib
    lib.close()


def _labels(lib: Library) -> dict[int, tuple]:
    return {s.id: (s.status, s.label, s.label_source, s.confidence) for s in lib.photos()}


def _count_writes(lib: Library) -> list[int]:
    """Count the write transactions of ``lib`` from now on (one element per transaction)."""
    seen: list[int] = []
    original = lib._db.write

    @contextlib.contextmanager
    def counted():
        with original() as conn:
            seen.append(1)
            yield conn

    lib._db.write = counted  # type: ignore[method-assign]
    return seen


def test_a_long_change_is_written_in_short_transactions_with_the_same_result(lib, monkeypatch):
    ids = [s.id for s in lib.photos()]
    before = _labels(lib)
    change = lib.relabel(ids[:4], landmark="gamma")
    one_txn = _labels(lib)
    lib.undo()
    assert _labels(lib) == before
    monkeypatch.setattr(relabel, "WRITE_BUDGET_S", 0.0)  # every step commits: the longest possible change
    monkeypatch.setattr(relabel, "REFRESH_STEP", 1)
    writes = _count_writes(lib)
    again = lib.relabel(ids[:4], landmark="gamma")
    assert len(writes) >= 4 + 3  # the change, its corrections, going in force, 4 refreshes, done
    assert _labels(lib) == one_txn and again.photo_ids == change.photo_ids
    writes.clear()
    lib.undo()
    assert len(writes) >= 4 and _labels(lib) == before
    lib.redo()
    assert _labels(lib) == one_txn
    with lib._db.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM changes WHERE pending IS NOT NULL")).scalar() == 0


def _crash_on(monkeypatch, name: str, after: int) -> None:
    """Make ``relabel.<name>`` raise on its call number ``after + 1`` (a crash between two transactions)."""
    real = getattr(relabel, name)
    calls = [0]

    def flaky(*args, **kwargs):
        calls[0] += 1
        if calls[0] > after:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(relabel, name, flaky)


def test_a_change_interrupted_while_its_labels_follow_is_finished_at_open(lib, monkeypatch):
    ids = [s.id for s in lib.photos()]
    monkeypatch.setattr(relabel, "WRITE_BUDGET_S", 0.0)
    monkeypatch.setattr(relabel, "REFRESH_STEP", 1)
    _crash_on(monkeypatch, "refresh_effective_labels", after=2)
    with pytest.raises(RuntimeError, match="power cut"):
        lib.relabel(ids[:5], landmark="gamma")
    half = [lib.photo(i).label_source for i in ids[:5]]
    assert half.count("manual") == 2  # its corrections are in force; 2 photos of 5 follow them so far
    monkeypatch.undo()
    path, model = lib.db_path, lib.model_path
    lib.close()
    again = Library.open(path, model, threads=1)
    try:
        assert again._wrote  # it had to finish the change
        assert [again.photo(i).label for i in ids[:5]] == ["gamma"] * 5
        assert again.history()[0].photo_ids == tuple(ids[:5]) and again.history()[0].kind == "set_landmark"
        with again._db.read() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM changes WHERE pending IS NOT NULL")).scalar() == 0
    finally:
        again.close()


def test_a_change_interrupted_while_it_was_recorded_never_happened(lib, monkeypatch):
    ids = [s.id for s in lib.photos()]
    before, history = _labels(lib), lib.history()
    monkeypatch.setattr(relabel, "WRITE_BUDGET_S", 0.0)
    monkeypatch.setattr(relabel, "ROWS_STEP", 2)
    _crash_on(monkeypatch, "_refresh_steps", after=0)  # after all its corrections were stored, before in force
    with pytest.raises(RuntimeError, match="power cut"):
        lib.relabel(ids, new_name="Rose City")
    # stored but not in force: no label changed, the history does not show it
    assert _labels(lib) == before and lib.history() == history
    with lib._db.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM corrections")).scalar() == len(ids)
    monkeypatch.undo()
    path, model = lib.db_path, lib.model_path
    lib.close()
    young = Library.open(path, model, threads=1)  # another program may still be recording it: left alone
    assert not young._wrote
    young.close()
    monkeypatch.setattr(relabel, "RECORD_TIMEOUT_S", 0.0)
    again = Library.open(path, model, threads=1)
    try:
        assert again._wrote and _labels(again) == before and again.history() == history
        assert "Rose City" not in dict(again.landmark_names()).values()
        with again._db.read() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM corrections")).scalar() == 0
            assert conn.execute(text("SELECT COUNT(*) FROM changes")).scalar() == len(history)
    finally:
        again.close()


def test_opening_a_library_writes_nothing_when_no_change_was_interrupted(lib):
    lib.relabel([lib.photos()[0].id], landmark="gamma")
    path, model = lib.db_path, lib.model_path
    lib.close()
    again = Library.open(path, model, threads=1)
    try:
        assert not again._wrote
    finally:
        again.close()

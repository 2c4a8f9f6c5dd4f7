"""Corrections: set / new landmark / not a landmark / reject (tombstone), undo, duplicates, export,
and teaching: corrected photos re-score look-alikes from their stored embeddings without the CNN."""

from __future__ import annotations

import shutil

import pytest
import torch

from core.domain import NO_LANDMARK, CorrectionState
from core.library import AlbumKind, AlbumRef, Library, LibraryError
from core.recognition.bundle import save_bundle
from core.tagging.labels import resolve_label
from tests.helpers import copy_photos, landmark_photos, pretrained_bundle

torch.set_num_threads(1)

TINY_COORDS = {"alpha": (10.0, 20.0), "beta": (11.0, 21.0), "gamma": (12.0, 22.0)}


def test_resolve_label_rules():
    top = (("a", 0.6), ("b", 0.3), (NO_LANDMARK, 0.1))
    assert resolve_label(top, True, 0.25, None).label == "a"
    r = resolve_label(top, True, 0.25, CorrectionState(rejected={"a"}))
    assert (r.status, r.label, r.label_source, r.confidence) == ("tagged", "b", "model", 0.3)
    r = resolve_label(top, True, 0.35, CorrectionState(rejected={"a"}))  # next one below threshold
    assert (r.status, r.label) == ("no_landmark", None)
    r = resolve_label(top, True, 0.25, CorrectionState(manual="z", rejected={"a"}))
    assert (r.status, r.label, r.label_source, r.confidence) == ("tagged", "z", "manual", 1.0)
    r = resolve_label(top, True, 0.25, CorrectionState(manual=NO_LANDMARK))
    assert (r.status, r.label, r.label_source) == ("no_landmark", None, "manual")
    assert resolve_label(((NO_LANDMARK, 0.9), ("a", 0.1)), None, 0.05, None).status == "no_landmark"


@pytest.fixture()
def tagged_lib(tmp_path, shared_data, tiny_bundle_path):
    photos = copy_photos(landmark_photos(shared_data, "Colosseum")[:6], tmp_path / "p")
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    lib.add_folder(tmp_path / "p")
    lib.tag()
    yield lib, photos
    lib.close()


def test_set_existing_landmark_by_key_or_name_and_undo(tagged_lib):
    lib, _ = tagged_lib
    pid = lib.photos()[0].id
    before = lib.photo(pid)
    target = next(k for k in TINY_COORDS if k != before.label)
    change = lib.relabel([pid], landmark=target.title())  # display name works too
    assert change.kind == "set_landmark" and change.landmark == target and change.photo_ids == (pid,)
    d = lib.photo(pid)
    assert (d.label, d.label_source, d.confidence) == (target, "manual", 1.0)
    assert (d.latitude, d.longitude, d.location_source) == (*TINY_COORDS[target], "landmark")
    assert pid in [s.id for s in lib.photos(AlbumRef(AlbumKind.LANDMARK, target))]
    assert lib.last_change() == change
    undone = lib.undo()
    assert undone.id == change.id
    d = lib.photo(pid)
    assert (d.label, d.label_source, d.confidence) == (before.label, "model", pytest.approx(before.confidence))
    assert lib.last_change() is None and lib.undo() is None
    with pytest.raises(LibraryError, match="already undone"):
        lib.undo(change)


def test_new_landmark_not_landmark_and_their_undo(tagged_lib):
    lib, _ = tagged_lib
    ids = [s.id for s in lib.photos()]
    c1 = lib.relabel(ids[:2], new_name="  Ruined  Arena ")
    assert c1.kind == "new_landmark" and c1.landmark.startswith("user:")
    assert (c1.landmark, "Ruined Arena") in lib.landmark_names()
    album = next(a for a in lib.albums() if a.ref.key == c1.landmark)
    assert album.user_created and album.count >= 2 and album.title == "Ruined Arena"
    # a user landmark has no coordinates: no estimated location
    assert lib.photo(ids[0]).location_source is None
    # naming it again reuses the landmark
    c2 = lib.relabel([ids[2]], new_name="ruined arena")
    assert c2.kind == "set_landmark" and c2.landmark == c1.landmark
    c3 = lib.relabel([ids[3]], not_landmark=True)
    d = lib.photo(ids[3])
    assert (d.status, d.label, d.label_source, d.location_source) == ("no_landmark", None, "manual", None)
    assert ids[3] in [s.id for s in lib.photos(AlbumRef(AlbumKind.UNRECOGNIZED))]
    lib.undo(c3)
    assert lib.photo(ids[3]).status == "tagged" and lib.photo(ids[3]).label_source == "model"
    lib.undo(c2)
    lib.undo(c1)
    assert c1.landmark not in dict(lib.landmark_names())  # nothing uses it any more
    assert all(lib.photo(i).label_source == "model" for i in ids)


def test_reject_is_a_tombstone(tagged_lib, tmp_path):
    from tests.helpers import make_tiny_bundle

    lib, photos = tagged_lib
    pid = lib.photos()[0].id
    bad = lib.photo(pid).label
    change = lib.relabel([pid], reject=True)
    assert change.kind == "reject" and change.landmark == bad
    d = lib.photo(pid)
    assert d.label != bad and bad in d.rejected and d.label_source == "model"
    # re-tagging with other models never brings it back
    for seed in (1, 2, 3):
        lib.close()
        path = save_bundle(make_tiny_bundle(seed=seed), tmp_path / f"tiny-{seed}.safetensors")
        lib = Library.open(lib.db_path, path, threads=1)
        lib.tag()
        d = lib.photo(pid)
        assert d.model_version == f"tiny-{seed}" and d.label != bad and bad in d.rejected
    lib.close()


def test_corrections_follow_the_photo_not_its_bytes(tagged_lib, tmp_path):
    """A correction belongs to the photo (its row): a byte-identical copy elsewhere is another photo, the photo keeps
    it when its bytes change or it moves, and it leaves with the photo (never orphaned)."""
    lib, photos = tagged_lib
    pid = next(s.id for s in lib.photos() if s.path == photos[0])
    lib.relabel([pid], landmark="gamma")
    dup = photos[0].parent / "sub" / "copy.jpg"
    dup.parent.mkdir()
    shutil.copyfile(photos[0], dup)
    lib.tag()
    d = next(s for s in lib.photos() if s.path == dup)
    assert d.id != pid and d.label_source == "model"  # another photo: the model's label
    assert (lib.photo(pid).label, lib.photo(pid).label_source) == ("gamma", "manual")
    with open(photos[0], "ab") as fh:  # another app wrote to it: other bytes, same path
        fh.write(b"\0")
    moved = photos[0].parent / "sub" / "moved.jpg"
    dup.rename(moved)  # and the copy moved
    lib.tag()
    p = lib.photo(pid)
    assert (p.path, p.label, p.label_source) == (photos[0], "gamma", "manual")
    assert lib.photo(d.id).path == moved
    assert lib.export_corrections(tmp_path / "c.csv") == 1
    # removed from the library: its corrections go with it; added back, the files are new photos
    lib.remove_folder(photos[0].parent)
    assert lib.photos() == [] and lib.export_corrections(tmp_path / "c.csv", force=True) == 0
    lib.add_folder(photos[0].parent)
    lib.tag()
    again = next(s for s in lib.photos() if s.path == photos[0])
    assert again.label_source == "model" and lib.history()[0].photo_ids == (pid,)


def test_bad_relabel_requests(tagged_lib):
    lib, _ = tagged_lib
    pid = lib.photos()[0].id
    with pytest.raises(LibraryError, match="unknown landmark"):
        lib.relabel([pid], landmark="Atlantis")
    with pytest.raises(LibraryError, match="exactly one"):
        lib.relabel([pid])
    with pytest.raises(LibraryError, match="exactly one"):
        lib.relabel([pid], landmark="alpha", not_landmark=True)
    with pytest.raises(LibraryError, match="no photo with id"):
        lib.relabel([pid, 99999], landmark="alpha")
    with pytest.raises(LibraryError, match="no photos"):
        lib.relabel([], landmark="alpha")
    assert lib.last_change() is None


def test_export_corrections_is_read_by_landmark_train(tagged_lib, tmp_path):
    from training.datasets import read_labels_csv

    lib, photos = tagged_lib
    ids = [s.id for s in lib.photos()]
    lib.relabel(ids[:2], landmark="beta")
    new = lib.relabel([ids[2]], new_name="Arena")
    lib.relabel([ids[3]], not_landmark=True)
    out = tmp_path / "corrections.csv"
    assert lib.export_corrections(out) == 3
    data = read_labels_csv(out)
    got = sorted(zip((str(p) for p in data.paths), data.labels))
    want = sorted([(str(lib.photo(i).path), "beta") for i in ids[:2]] + [(str(lib.photo(ids[2]).path), new.landmark)])
    assert got == want


# ------------------------------------------------------------------------------ teaching (real model)
@pytest.fixture(scope="module")
def teach_env(tmp_path_factory, shared_data, mobilenet_v2_weights):
    tmp = tmp_path_factory.mktemp("teach")
    classes = ["Colosseum", "Taj_Mahal", "Christ_the_Redeemer", "Petra"]
    bundle = save_bundle(
        pretrained_bundle(mobilenet_v2_weights, shared_data, classes, gallery=True), tmp / "mnv2.safetensors"
    )
    mp = copy_photos(landmark_photos(shared_data, "Machu_Picchu")[:16], tmp / "p" / "mp")
    others = copy_photos(
        [p for c in ("Colosseum", "Taj_Mahal") for p in landmark_photos(shared_data, c, "test")[:6]],
        tmp / "p" / "other",
    )
    return tmp, bundle, mp, others


def test_teaching_a_new_landmark_proposes_look_alikes_without_the_cnn(teach_env, tmp_path, shared_data):
    tmp, bundle, mp, others = teach_env
    lib = Library.open(tmp_path / "lib.db", bundle, threads=1)
    try:
        lib.add_folder(tmp / "p")
        lib.tag()
        by_path = {s.path: s for s in lib.photos()}
        # the model knows Colosseum / Taj Mahal well
        assert sum(by_path[p].label == ("Colosseum" if i < 6 else "Taj_Mahal") for i, p in enumerate(others)) >= 10
        assert not any(by_path[p].label and by_path[p].label.startswith("user:") for p in mp)
        calls = []
        rec = lib.recognizer()
        orig = rec.load_image
        rec.load_image = lambda p: calls.append(p) or orig(p)
        teach = [by_path[p].id for p in mp[:4]]
        before = {s.id: (s.label, s.confidence) for s in lib.photos()}
        change = lib.relabel(teach, new_name="Machu Picchu citadel")
        assert calls == []  # scored from stored embeddings only
        # only the taught photos changed; look-alikes are proposed, not relabelled
        after = {s.id: (s.label, s.confidence) for s in lib.photos()}
        assert {i for i in before if before[i] != after[i]} == set(teach)
        proposed = {p.photo.id for p in lib.proposals(change)}
        rest_mp = {by_path[p].id for p in mp[4:]}
        other_ids = {by_path[p].id for p in others}
        assert len(proposed & rest_mp) >= 6, "most other Machu Picchu photos are proposed"
        assert len(proposed & other_ids) <= 1, "unrelated photos are not proposed"
        assert change.proposals == len(proposed) and change.rescored == 0
        for pid in proposed:
            assert lib.photo(pid).label_source == "model" and lib.photo(pid).label != change.landmark
        # similar photos of a Machu Picchu photo are mostly Machu Picchu
        sims = lib.similar(teach[0], limit=5)
        assert len(sims) == 5 and all(-1.0 <= s <= 1.0 for _, s in sims)
        assert [s for _, s in sims] == sorted((s for _, s in sims), reverse=True)
        assert sum(p.id in rest_mp | set(teach) for p, _ in sims) >= 4
        # new photos tagged later get proposals from what was taught, and keep the model's own labels
        extra = copy_photos(landmark_photos(shared_data, "Machu_Picchu")[16:22], tmp_path / "later")
        lib.add_folder(tmp_path / "later")
        lib.tag()
        later = [s for s in lib.photos() if s.path in set(extra)]
        assert all(s.label != change.landmark for s in later)
        new_props = [p for p in lib.proposals() if p.request == "new_photo"]
        assert sum(p.photo.id in {s.id for s in later} for p in new_props) >= 3
        # undo: the taught photos go back to the model's own answer, the proposals are withdrawn
        lib.undo(change)
        assert all(not (lib.photo(i).label or "").startswith("user:") for i in set(teach))
        assert lib.proposals(change) == []
        assert change.landmark not in dict(lib.landmark_names())
    finally:
        lib.close()

"""The "Labels a person can trust" scenarios (issue 10), replayed on real photos through the ``Library`` API.

Not a test: prints how many photos *outside the selection* changed their label after each correction, and
how many of those had been right. Run from the repository root::

    .venv/bin/python bench/scenario_corrections.py [--model PATH] [--shared ../shared]

The library holds 12 photos of each of 10 landmarks from ``../shared/data/landmarks`` (held-out ``test``
photos first, then ``train``): six the shipped model knows (Angkor Wat, Alhambra, Christ the Redeemer,
Great Wall, Machu Picchu, Chichén Itzá), Pyramids of Giza, and three it never saw (Eiffel Tower, Gateway of
India, Qutub Minar). Each scenario starts from a fresh copy of the tagged library:

* ``angkor``: one Angkor Wat photo (one the model called Alhambra when there is one, else its least sure
  one) corrected to Angkor Wat;
* ``great_wall``: the least sure Great Wall photo corrected to Great Wall;
* ``four_wrong``: the four least sure wrongly labelled photos of known landmarks corrected one by one;
* ``teach_eiffel``: four Eiffel Tower photos given the new landmark "Eiffel Tower".

The script runs against any version of the API: where ``Library.proposals`` exists it also prints how
many proposals each correction made (and how many were right), which change nothing until accepted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CLASSES = [
    "Angkor_Wat",
    "Alhambra",
    "Christ_the_Redeemer",
    "Great_Wall_of_China",
    "Machu_Picchu",
    "Chichen_Itza",
    "Pyramids_of_Giza",
    "Eiffel_Tower",
    "Gateway_of_India",
    "Qutub_Minar",
]
PER_CLASS = 12


def build_folder(shared: Path, dest: Path) -> dict[str, str]:
    """Copy 12 photos per class into ``dest/<class>/``; returns ``{copied path: true class}``."""
    truth: dict[str, str] = {}
    for cls in CLASSES:
        paths = sorted((shared / "data/landmarks/test" / cls).glob("*.jpg"))
        paths += sorted((shared / "data/landmarks/train" / cls).glob("*.jpg"))
        d = dest / cls
        d.mkdir(parents=True)
        for i, p in enumerate(paths[:PER_CLASS]):
            q = d / f"{i:02d}_{p.name}"
            shutil.copyfile(p, q)
            truth[str(q)] = cls
    return truth


def snapshot(lib) -> dict[int, tuple]:
    """``{photo id: (status, label, label_source, confidence)}`` of every photo."""
    return {p.id: (p.status, p.label, p.label_source, p.confidence) for p in lib.photos()}


def report(name: str, lib, before: dict, after: dict, selected: set[int], truth_of: dict[int, str], changes) -> None:
    moved = [i for i in before if i not in selected and before[i][:3] != after[i][:3]]
    right = [i for i in moved if before[i][1] == truth_of[i]]
    conf = sorted(round(100 * (before[i][3] or 0)) for i in right)
    print(
        f"{name}: {len(selected)} photo(s) corrected; {len(moved)} other photos changed label, "
        f"{len(right)} of them had been right (their confidences: {conf} %)"
    )
    if hasattr(lib, "proposals"):
        props = [p for c in changes for p in lib.proposals(change=c)]
        ok = sum(1 for p in props if truth_of.get(p.photo.id) == p.new_label or truth_of.get(p.photo.id) == "?")
        print(f"    proposals made: {len(props)} ({ok} right); nothing applied until accepted")


def main(argv: list[str] | None = None) -> int:
    from core.library import Library

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model bundle (default: the shipped one)")
    ap.add_argument("--shared", default=os.environ.get("LANDMARK_SHARED", str(REPO.parent / "shared")))
    args = ap.parse_args(argv)
    shared = Path(args.shared)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_p = Path(tmp)
        truth = build_folder(shared, tmp_p / "photos")
        base_db = tmp_p / "base.db"
        with Library.open(base_db, args.model, device="cpu") as lib:
            lib.add_folder(tmp_p / "photos")
            lib.tag()
            base = snapshot(lib)
            truth_of = {p.id: truth[str(p.path)] for p in lib.photos()}
            known = {c for c in CLASSES if c in dict(lib.landmark_names())}
        wrong = sum(1 for i, t in truth_of.items() if t in known and base[i][1] != t)
        print(f"tagged {len(base)} photos; {wrong} photos of known landmarks labelled wrongly by the model")

        def fresh(name: str) -> Library:
            db = tmp_p / f"{name}.db"
            shutil.copyfile(base_db, db)
            return Library.open(db, args.model, device="cpu")

        def least_sure(cls: str, pred=lambda i: True) -> int:
            ids = [i for i, t in truth_of.items() if t == cls and pred(i)]
            return min(ids, key=lambda i: base[i][3] or 0.0)

        # --- angkor
        with fresh("angkor") as lib:
            called_alhambra = [i for i, t in truth_of.items() if t == "Angkor_Wat" and base[i][1] == "Alhambra"]
            pid = called_alhambra[0] if called_alhambra else least_sure("Angkor_Wat")
            c = lib.relabel([pid], landmark="Angkor_Wat")
            report("angkor", lib, base, snapshot(lib), {pid}, truth_of, [c])
        # --- great wall
        with fresh("great_wall") as lib:
            pid = least_sure("Great_Wall_of_China")
            c = lib.relabel([pid], landmark="Great_Wall_of_China")
            report("great_wall", lib, base, snapshot(lib), {pid}, truth_of, [c])
        # --- four wrongly labelled photos of known landmarks, one correction each
        with fresh("four_wrong") as lib:
            cands = sorted(
                (i for i, t in truth_of.items() if t in known and base[i][1] != t), key=lambda i: base[i][3] or 0.0
            )[:4]
            cs = [lib.relabel([i], landmark=truth_of[i]) for i in cands]
            report("four_wrong", lib, base, snapshot(lib), set(cands), truth_of, cs)
        # --- teaching a landmark the model never saw
        with fresh("teach") as lib:
            eiffel = sorted(i for i, t in truth_of.items() if t == "Eiffel_Tower")
            c = lib.relabel(eiffel[:4], new_name="Eiffel Tower")
            truth_of_t = {i: (c.landmark if t == "Eiffel_Tower" else t) for i, t in truth_of.items()}
            after = snapshot(lib)
            report("teach_eiffel", lib, base, after, set(eiffel[:4]), truth_of_t, [c])
            took = [i for i in eiffel[4:] if after[i][1] == c.landmark]
            print(f"    other Eiffel Tower photos now labelled Eiffel Tower: {len(took)} of {len(eiffel) - 4}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tests for cli/commands.py: ``main([...])`` in-process on a temporary library with real photos.

The model is the tiny random-weight bundle from conftest (labels are meaningless but deterministic);
what is checked is the command-line plumbing: JSON outputs, the progress bar, exit codes, one-line errors.
"""

from __future__ import annotations

import csv
import json
import shutil
import threading
from pathlib import Path

import pytest

from cli.commands import build_parser, main

GPS_SAMPLE = "exif-samples/jpg/gps/DSCN0010.jpg"  # 43.467448 N, 11.885127 E (MANIFEST.csv)
LANDMARK_SAMPLES = [
    "landmarks/test/Haleakala_National_Park/4b01b01771e6ac41.jpg",
    "landmarks/test/Haleakala_National_Park/52f055ef478ba7dd.jpg",
    "landmarks/test/Colosseum/The Roman Colosseum1 (10).jpg",
]


@pytest.fixture
def photos(shared_data, tmp_path) -> Path:
    folder = tmp_path / "photos"
    (folder / "trip").mkdir(parents=True)
    for rel in LANDMARK_SAMPLES:
        shutil.copy(shared_data / rel, folder / "trip" / Path(rel).name)
    shutil.copy(shared_data / GPS_SAMPLE, folder / "gps.jpg")
    (folder / "notes.txt").write_text("not a photo")
    return folder


@pytest.fixture
def cli(tmp_path, tiny_bundle_path, capsys):
    """Run ``main`` with a temporary --db and the tiny --model; returns (exit code, stdout, stderr)."""
    db = tmp_path / "lib.sqlite3"

    def run(*args: str, json_out: bool = False):
        argv = ["--db", str(db), "--model", str(tiny_bundle_path)] + (["--json"] if json_out else []) + list(args)
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _json(out: str):
    return json.loads(out)


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("landmark-tagger: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.shared
def test_add_tag_browse_correct_export(cli, photos, tmp_path):
    code, out, _ = cli("add-folder", str(photos), json_out=True)
    assert code == 0 and _json(out)["folders"] == [str(photos)]

    code, out, _ = cli("tag", json_out=True)
    assert code == 0
    result = _json(out)
    assert result["state"] == "done"
    counts = result["counts"]
    assert counts["gps"] == 1  # the GPS photo is never sent to the model
    assert counts["tagged"] + counts["no_landmark"] == 3 and counts["failed"] == 0

    code, out, _ = cli("albums", json_out=True)
    albums = {(a["ref"]["kind"], a["ref"]["key"]): a for a in _json(out)}
    assert albums[("has_gps", None)]["count"] == 1

    code, out, _ = cli("search", "--has-gps", json_out=True)
    (gps,) = _json(out)
    assert gps["path"] == str(photos / "gps.jpg") and gps["location_source"] == "gps"
    assert gps["latitude"] == pytest.approx(43.467448, abs=1e-5)
    assert gps["longitude"] == pytest.approx(11.885127, abs=1e-5)
    assert gps["taken_at"] == "2008-10-22T16:28:39"

    code, out, _ = cli("search", "--from", "2008-10-22", "--to", "2008-10-22", json_out=True)
    assert [p["path"] for p in _json(out)] == [str(photos / "gps.jpg")]
    code, out, _ = cli("search", "--to", "2008-10-21", json_out=True)
    assert _json(out) == []
    code, out, _ = cli("search", "--folder", str(photos / "trip"), "--limit", "0", json_out=True)
    assert len(_json(out)) == 3

    code, out, _ = cli("stats", json_out=True)
    stats = _json(out)
    assert stats["photos"] == 4 and stats["folders"] == 1 and stats["embeddings"] == 3

    target = photos / "trip" / "4b01b01771e6ac41.jpg"
    code, out, _ = cli("relabel", str(target), "--new", "Our Beach", json_out=True)
    assert code == 0
    change = _json(out)["change"]
    assert change["kind"] == "new_landmark" and len(change["photo_ids"]) == 1
    code, out, _ = cli("search", "--source", "manual", json_out=True)
    (manual,) = _json(out)
    assert manual["path"] == str(target) and manual["label_name"] == "Our Beach"
    code, out, _ = cli("search", "our bea", json_out=True)  # name search, prefix
    assert str(target) in [p["path"] for p in _json(out)]

    csv_path = tmp_path / "corrections.csv"
    code, out, _ = cli("export-corrections", str(csv_path), json_out=True)
    assert code == 0 and _json(out)["rows"] == 1
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [{"path": str(target), "label": change["landmark"]}]

    code, out, _ = cli("similar", str(manual["id"]), "--limit", "2", json_out=True)
    hits = _json(out)
    assert code == 0 and 1 <= len(hits) <= 2
    assert manual["id"] not in [h["id"] for h in hits]
    assert all(-1.0 <= h["similarity"] <= 1.0 for h in hits)
    code, out, _ = cli("similar", str(target), "--limit", "2", json_out=True)  # by path: same answer
    assert code == 0 and _json(out) == hits

    code, out, _ = cli("undo", json_out=True)
    assert code == 0 and _json(out)["undone"]["id"] == change["id"]
    code, out, _ = cli("search", "--source", "manual", json_out=True)
    assert _json(out) == []

    code, out, _ = cli("remove-folder", str(photos), json_out=True)
    assert code == 0 and _json(out)["folders"] == []
    code, out, _ = cli("stats", json_out=True)
    assert _json(out)["photos"] == 0
    assert (photos / "gps.jpg").exists()  # the photos themselves are untouched


@pytest.mark.shared
def test_tag_shows_a_progress_bar_and_a_summary(cli, photos):
    assert cli("add-folder", str(photos))[0] == 0
    code, out, err = cli("tag")
    assert code == 0
    assert "Tagging" in err and "3/3" in err and "photos/s" in err and "ETA" in err
    assert out.startswith("Done: 4 new")
    code, out, err = cli("tag", "--no-progress")
    assert code == 0 and "photos/s" not in err and "0 new" in out


@pytest.mark.shared
def test_text_outputs(cli, photos):
    cli("add-folder", str(photos))
    cli("tag", "--no-progress")
    code, out, _ = cli("albums")
    assert code == 0 and "Has GPS" in out
    code, out, _ = cli("search", "--has-gps")
    assert str(photos / "gps.jpg") in out and "(Arezzo, Italy)" in out  # a GPS photo is named by its place
    code, out, _ = cli("search", "--limit", "1")
    assert "(showing 1 of 4" in out
    code, out, _ = cli("stats")
    assert "photos" in out and "4" in out


@pytest.mark.shared
def test_watch_tags_a_photo_dropped_in(cli, photos, shared_data):
    cli("add-folder", str(photos))
    dropped = photos / "new_arrival.jpg"
    timer = threading.Timer(1.0, shutil.copy, args=(shared_data / LANDMARK_SAMPLES[0], dropped))
    timer.start()
    try:
        code, out, err = cli("watch", "--duration", "5", "--settle", "0.3", json_out=True)
    finally:
        timer.cancel()
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["event"] == "watching" and events[0]["mode"] in ("events", "polling")
    assert events[-1] == {"event": "stopped"}
    changes = [e for e in events if e["event"] == "change"]
    assert any(str(dropped) in e["upserted"] for e in changes), events
    code, out, _ = cli("search", "--folder", str(photos), "--limit", "0", json_out=True)
    assert str(dropped) in [p["path"] for p in _json(out)]


def test_missing_folder_is_one_line_exit_1(cli, tmp_path):
    code, out, err = cli("add-folder", str(tmp_path / "no_such_folder"))
    assert code == 1 and out == ""
    assert "folder not found" in _one_error_line(err)


def test_bad_model_file_is_one_line_exit_1(tmp_path, capsys):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"this is not a model bundle" * 10)
    code = main(["--db", str(tmp_path / "db.sqlite3"), "--model", str(bad), "stats"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert "model" in _one_error_line(err)
    code = main(["--db", str(tmp_path / "db.sqlite3"), "--model", str(tmp_path / "missing.safetensors"), "albums"])
    out, err = capsys.readouterr()
    assert code == 1 and "model" in _one_error_line(err)


@pytest.mark.parametrize(
    "args,words",
    [
        ([], "required"),
        (["frobnicate"], "invalid choice"),
        (["search", "--min-conf", "2"], "outside 0..1"),
        (["search", "--min-conf", "0.9", "--max-conf", "0.1"], "--min-conf is larger"),
        (["search", "--from", "2020-13-01"], "invalid date"),
        (["search", "--has-gps", "--estimated"], "not allowed with"),
        (["relabel", "1"], "exactly one"),
        (["relabel", "1", "--landmark", "x", "--not-landmark"], "exactly one"),
        (["--device", "tpu", "stats"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_one_line(cli, args, words):
    code, out, err = cli(*args)
    assert code == 2
    assert words in _one_error_line(err)


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in (
        "add-folder",
        "remove-folder",
        "tag",
        "watch",
        "albums",
        "search",
        "similar",
        "relabel",
        "export-corrections",
        "stats",
    ):
        assert name in out
    assert main(["search", "--help"]) == 0
    assert "--has-gps" in capsys.readouterr().out


def test_library_errors_exit_1(cli, tmp_path):
    code, _, err = cli("tag")
    assert code == 1 and "no folders" in _one_error_line(err)
    code, _, err = cli("similar", "42")
    assert code == 1 and "no photo with id 42" in _one_error_line(err)
    code, _, err = cli("similar", str(tmp_path / "nowhere.jpg"))
    assert code == 1 and "no such photo" in _one_error_line(err)
    code, _, err = cli("remove-folder", str(tmp_path))
    assert code == 1 and "not a library folder" in _one_error_line(err)
    code, _, err = cli("export-corrections", str(tmp_path / "no_dir" / "out.csv"))
    assert code == 1 and "cannot write" in _one_error_line(err)


def test_global_options_after_the_command(tmp_path, tiny_bundle_path, capsys):
    code = main(["stats", "--json", "--db", str(tmp_path / "x.sqlite3"), "--model", str(tiny_bundle_path)])
    out, _ = capsys.readouterr()
    assert code == 0 and json.loads(out)["db_path"] == str(tmp_path / "x.sqlite3")
    args = build_parser().parse_args(["--json", "albums"])
    assert args.json is True and args.db is None and args.device == "auto"


@pytest.mark.shared
def test_trust_commands_confirm_reject_history_undo_redo_revert_proposals(cli, photos):
    assert cli("add-folder", str(photos))[0] == 0
    assert cli("tag", "--no-progress")[0] == 0
    rows = _json(cli("search", "--limit", "0", json_out=True)[1])
    tagged = [r for r in rows if r["status"] in ("tagged", "no_landmark")]
    first, second = tagged[0]["id"], tagged[1]["id"]
    before = {r["id"]: (r["label"], r["confidence"]) for r in rows}
    # relabel changes exactly that photo and reports proposals, never "N photos now match"
    code, out, _ = cli("relabel", str(first), "--landmark", "beta")
    assert code == 0 and "now match" not in out and "undo" in out
    after = {r["id"]: (r["label"], r["confidence"]) for r in _json(cli("search", "--limit", "0", json_out=True)[1])}
    assert {i for i in before if before[i] != after[i]} <= {first}
    code, out, _ = cli("confirm", str(second), json_out=True)
    assert code == 0 and _json(out)["change"]["kind"] == "confirm"
    code, out, _ = cli("history", json_out=True)
    hist = _json(out)
    assert [h["kind"] for h in hist] == ["confirm", "set_landmark"] and hist[0]["photo_count"] == 1
    assert "confirm" in cli("history")[1]
    assert cli("undo")[1].startswith("Undone:")
    assert cli("redo")[1].startswith("Redone:")
    assert cli("redo")[1].strip() == "Nothing to redo."
    code, out, _ = cli("revert", str(hist[1]["id"]))
    assert code == 0 and out.startswith("Reverted:")
    # proposals: listing and accepting all (whatever the tiny model proposes) works and is one change
    code, out, _ = cli("suggestions", json_out=True)
    assert code == 0 and isinstance(_json(out), list)
    code, out, _ = cli("accept", "--all")
    assert code == 0 and out.strip()
    code, out, _ = cli("dismiss", "--all")
    assert code == 0 and "dismissed" in out
    code, out, _ = cli("more-like", str(second), json_out=True)
    assert code == 0 and isinstance(_json(out), list)
    # reject takes the photo's next candidate (or no landmark)
    code, out, _ = cli("reject", str(first), json_out=True)
    assert code == 0 and _json(out)["change"]["kind"] == "reject"


def test_unknown_landmark_names_close_matches_in_one_line(cli, photos):
    cli("add-folder", str(photos))
    cli("tag", "--no-progress")
    pid = str(_json(cli("search", "--limit", "1", json_out=True)[1])[0]["id"])
    code, _, err = cli("relabel", pid, "--landmark", "alphaa")
    assert code == 1
    assert "unknown landmark 'alphaa'; did you mean: alpha" in _one_error_line(err)
    code, _, err = cli("accept")
    assert code == 2 and "proposal ids or --all" in _one_error_line(err)


@pytest.mark.shared
def test_a_label_survives_another_app_writing_to_the_photo(cli, photos, tmp_path):
    """Issue 12.3, as reported: ``relabel 3 --landmark Colosseum; printf '\\0' >> photo.jpg; tag`` gave the photo the
    model's label back and orphaned the correction, which ``export-corrections`` then left out."""
    assert cli("add-folder", str(photos))[0] == 0
    assert cli("tag", "--no-progress")[0] == 0
    target = photos / "trip" / Path(LANDMARK_SAMPLES[0]).name

    def row() -> dict:
        return next(r for r in _json(cli("search", "--limit", "0", json_out=True)[1]) if r["path"] == str(target))

    pid = row()["id"]
    assert cli("relabel", str(pid), "--landmark", "Colosseum")[0] == 0
    with open(target, "ab") as fh:  # printf '\0' >> photo.jpg
        fh.write(b"\0")
    assert cli("tag", "--no-progress")[0] == 0
    shown = row()
    assert (shown["id"], shown["label"], shown["label_source"]) == (pid, "Colosseum", "manual")
    out = tmp_path / "corrections.csv"
    assert cli("export-corrections", str(out))[0] == 0
    with open(out, newline="", encoding="utf-8") as fh:
        assert [(r["path"], r["label"]) for r in csv.DictReader(fh)] == [(str(target), "Colosseum")]

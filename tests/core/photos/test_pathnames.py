"""core/photos/pathnames.py: file names that are not valid UTF-8 are stored losslessly and shown safely
(issue 12 item 1)."""

from __future__ import annotations

import os

import pytest

from core.domain import display_text
from core.photos.pathnames import display_path, has_undecodable_bytes, path_key, path_to_text, text_to_path

LATIN1_NAME = os.fsdecode(b"/photos/caf\xe9/Petra \xff.jpg")  # what os.scandir gives for Latin-1 bytes


@pytest.mark.parametrize(
    "path",
    [
        "/photos/plain.jpg",
        "/photos/Café – 東京.jpg",
        LATIN1_NAME,
        "/photos/has\uffffescape.jpg",  # the escape character itself
        "/photos/\uffffdce9.jpg",  # text that looks like an escape sequence
        "C:\\Users\\x\\lone\ud800surrogate.jpg",  # Windows: an unpaired UTF-16 surrogate
    ],
)
def test_text_form_round_trips_exactly_and_is_valid_utf8(path):
    text = path_to_text(path)
    text.encode("utf-8")  # SQLite text must be valid UTF-8
    assert text_to_path(text) == path


def test_valid_names_keep_their_text_so_existing_libraries_need_no_migration():
    for p in ("/a/b.jpg", "/photos/Café – 東京.jpg", "C:\\Users\\x\\y.jpg"):
        assert path_to_text(p) == p


def test_a_folder_prefix_range_on_the_text_holds_every_path_below_it():
    folder = os.fsdecode(b"/media/usb/caf\xe9")
    inside = [folder + "/a.jpg", folder + os.fsdecode(b"/\xff\xfe/b.jpg"), folder + "/sub/c.jpg"]
    outside = [folder + "x/d.jpg", os.fsdecode(b"/media/usb/caf\xe8/e.jpg"), "/media/usb/café/f.jpg"]
    lo = path_to_text(folder) + "/"
    hi = lo[:-1] + chr(ord("/") + 1)
    assert all(lo <= path_to_text(p) < hi for p in inside)
    assert not any(lo <= path_to_text(p) < hi for p in outside)


def test_display_forms_are_safe_to_print():
    shown = display_path(LATIN1_NAME)
    shown.encode("utf-8")
    assert shown == "/photos/caf\ufffd/Petra \ufffd.jpg" and has_undecodable_bytes(LATIN1_NAME)
    assert display_text("Evil\x1b[31mRED\x1b[0m\n") == "Evil\ufffd[31mRED\ufffd[0m\ufffd"
    assert display_text("a\u202egnp.exe") == "a\ufffdgnp.exe"  # a right-to-left override cannot disguise text
    assert display_text("Tour Eiffel, Paris") == "Tour Eiffel, Paris"
    assert path_key(LATIN1_NAME).encode("utf-8") and text_to_path(path_key(LATIN1_NAME)) == LATIN1_NAME

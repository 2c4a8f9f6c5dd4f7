"""Search, albums and similar photos on a library with known contents (rows written directly)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest
from sqlalchemy import text

from core.library import AlbumKind, AlbumRef, Library, LibraryError, PhotoOrder, SearchQuery
from core.store.search import levenshtein

LANDMARKS = [
    ("Eiffel_Tower", "Eiffel Tower, Paris", 48.8584, 2.2945),
    ("Colosseum", "Colosseum, Rome", 41.8902, 12.4922),
    ("Tower_Bridge", "Tower Bridge, London", 51.5055, -0.0754),
]

#: The files' modification time (local time): the date of the photos without an EXIF date.
FILE_TIME = datetime(2018, 7, 1, 12, 30)


def _add_photo(
    conn,
    pid,
    folder,
    name,
    *,
    status="tagged",
    label=None,
    source="model",
    conf=None,
    gps=None,
    taken=None,
    emb=None,
    mv="tiny-0",
    mtime=FILE_TIME,
):
    path = f"{folder}/{name}"
    coords = dict((k, (la, lo)) for k, _, la, lo in LANDMARKS)
    if gps:
        lat, lon, loc = gps[0], gps[1], "gps"
    elif label in coords:
        lat, lon, loc = coords[label][0], coords[label][1], "landmark"
    else:
        lat = lon = loc = None
    conn.execute(
        text(
            "INSERT INTO photos (id, folder_id, path, content_hash, size, mtime_ns, status, label, label_source, confidence, "
            "model_version, gps_latitude, gps_longitude, latitude, longitude, location_source, taken_at) VALUES "
            "(:id, 1, :p, :h, 1, :mt, :st, :l, :ls, :c, :mv, :glat, :glon, :lat, :lon, :loc, :t)"
        ),
        {
            "id": pid,
            "p": path,
            "h": f"h{pid}",
            "st": status,
            "l": label,
            "ls": source if label or status == "no_landmark" else None,
            "c": conf,
            "mv": mv,
            "glat": gps[0] if gps else None,
            "glon": gps[1] if gps else None,
            "lat": lat,
            "lon": lon,
            "loc": loc,
            "t": taken.isoformat() if taken else None,
            "mt": int(mtime.timestamp()) * 1_000_000_000,
        },
    )
    if emb is not None:
        v = np.asarray(emb, np.float32)
        v = (v / np.linalg.norm(v)).astype(np.float16)
        conn.execute(
            text("INSERT INTO embeddings VALUES (:id, :mv, :d, :v)"),
            {"id": pid, "mv": mv, "d": len(v), "v": v.tobytes()},
        )


@pytest.fixture()
def lib(tmp_path, tiny_bundle_path):
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, review_threshold=0.5)
    root = str(tmp_path / "photos")
    with lib._db.write() as conn:
        for k, n, la, lo in LANDMARKS:
            conn.execute(
                text(
                    "INSERT OR REPLACE INTO landmarks (key, name, latitude, longitude, country, source, created_at) "
                    "VALUES (:k, :n, :la, :lo, NULL, 'model', 'x')"
                ),
                {"k": k, "n": n, "la": la, "lo": lo},
            )
        conn.execute(text("INSERT INTO folders (id, path, added_at) VALUES (1, :p, 'x')"), {"p": root})
        a = lambda *args, **kw: _add_photo(conn, *args, **kw)  # noqa: E731
        a(
            1,
            root + "/2019",
            "e1.jpg",
            label="Eiffel_Tower",
            conf=0.95,
            taken=datetime(2019, 5, 1, 10),
            emb=[1, 0, 0, 0],
        )
        a(
            2,
            root + "/2019",
            "e2.jpg",
            label="Eiffel_Tower",
            conf=0.40,
            taken=datetime(2019, 5, 2, 11),
            emb=[0.9, 0.1, 0, 0],
        )
        a(
            3,
            root + "/2020",
            "e3.jpg",
            label="Eiffel_Tower",
            source="manual",
            conf=1.0,
            taken=datetime(2020, 1, 1),
            emb=[0.5, 0.5, 0, 0],
        )
        a(4, root + "/2020", "c1.jpg", label="Colosseum", conf=0.8, taken=datetime(2020, 6, 1), emb=[0, 1, 0, 0])
        a(5, root + "/2020", "c2.jpg", label="Colosseum", conf=0.3, emb=[0, 0.9, 0.1, 0])
        a(6, root + "/2021", "b1.jpg", label="Tower_Bridge", conf=0.7, taken=datetime(2021, 3, 3), emb=[0, 0, 1, 0])
        a(7, root + "/2021", "n1.jpg", status="no_landmark", conf=0.2, emb=[0, 0, 0, 1])
        a(8, root + "/phone", "g1.jpg", status="gps", gps=(43.7, 7.26), taken=datetime(2021, 8, 8))
        a(9, root + "/phone", "g2.jpg", status="gps", gps=(-22.9, -43.2), label="Colosseum", source="manual", conf=1.0)
        a(10, root + "/junk", "bad.jpg", status="failed")
        a(11, root + "/new", "p.jpg", status="pending")
        a(12, root + "/old", "x.jpg", label="Eiffel_Tower", conf=0.9, emb=[-1, 0, 0, 0], mv="older-model")
    yield lib
    lib.close()


def ids(photos):
    return sorted(p.id for p in photos)


def test_levenshtein():
    assert levenshtein("eifel", "eiffel") == 1
    assert levenshtein("colloseum", "colosseum") == 2
    assert levenshtein("", "abc") == 3
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("abcdef", "uvwxyz", limit=2) == 3


@pytest.mark.parametrize(
    "query,expected",
    [
        ("Eiffel", {1, 2, 3, 12}),  # FTS5 trigram
        ("eif", {1, 2, 3, 12}),  # 3-character prefix
        ("Ei", {1, 2, 3, 12}),  # 2-character prefix (LIKE)
        ("tower", {1, 2, 3, 12, 6}),  # a word of two names
        ("paris", {1, 2, 3, 12}),  # the city in the display name
        ("Eifel", {1, 2, 3, 12}),  # typo: one letter missing
        ("Eifel Tower", {1, 2, 3, 12}),  # typo inside a longer query
        ("Colloseum", {4, 5, 9}),  # typo: two edits
        ("tower bridge", {6}),
        ("xyzzyq", set()),
    ],
)
def test_search_by_landmark_name(lib, query, expected):
    assert set(ids(lib.photos(query=SearchQuery(text=query)))) == expected
    assert lib.count(query=SearchQuery(text=query)) == len(expected)


def test_filters(lib, tmp_path):
    q = lambda **kw: ids(lib.photos(query=SearchQuery(**kw)))  # noqa: E731
    assert q(label_source="manual") == [3, 9]
    assert q(label_source="model") == [1, 2, 4, 5, 6, 7, 12]
    assert q(min_confidence=0.7, max_confidence=0.95) == [1, 4, 6, 12]
    assert q(text="eiffel", max_confidence=0.5) == [2]
    assert q(location="gps") == [8, 9]
    assert q(location="estimated") == [1, 2, 3, 4, 5, 6, 12]
    assert q(location="none") == [7, 10, 11]
    assert q(date_from=datetime(2019, 5, 2), date_to=datetime(2020, 6, 1)) == [2, 3, 4]
    # a bare date includes that whole day; photos without an EXIF date are dated by their file (2018-07-01)
    assert q(date_to=datetime(2019, 5, 1)) == [1, 5, 7, 9, 10, 11, 12]
    assert q(date_from=datetime(2018, 7, 1), date_to=datetime(2018, 7, 1)) == [5, 7, 9, 10, 11, 12]
    assert q(folder=tmp_path / "photos" / "2020") == [3, 4, 5]
    assert q(folder=tmp_path / "photos" / "202") == []  # a folder, not a name prefix
    assert q(status="failed") == [10]
    assert q(landmark="Colosseum", label_source="model") == [4, 5]
    with pytest.raises(LibraryError, match="label source"):
        lib.photos(query=SearchQuery(label_source="robot"))
    with pytest.raises(LibraryError, match="location"):
        lib.photos(query=SearchQuery(location="moon"))


def test_albums_and_paging(lib):
    albums = lib.albums()
    landmark_albums = [a for a in albums if a.ref.kind == AlbumKind.LANDMARK]
    # an album holds confident labels only (the person's, or the model's at or above the review threshold);
    # the unsure ones are counted apart and live in Needs review
    assert [(a.ref.key, a.count, a.unsure) for a in landmark_albums] == [
        ("Eiffel_Tower", 3, 1),
        ("Colosseum", 2, 1),
        ("Tower_Bridge", 1, 0),
    ]
    eiffel = landmark_albums[0]
    assert eiffel.title == "Eiffel Tower, Paris" and eiffel.cover_photo_id == 3  # most confident (manual 1.0)
    assert (eiffel.latitude, eiffel.longitude) == (48.8584, 2.2945)
    special = {a.ref.kind: a.count for a in albums if a.ref.kind != AlbumKind.LANDMARK}
    assert special == {"unrecognized": 1, "has_gps": 2, "needs_review": 2, "failed": 1, "pending": 1}
    assert [p.id for p in lib.photos(AlbumRef(AlbumKind.NEEDS_REVIEW))] == [5, 2]  # least sure first (0.3, 0.4)
    assert ids(lib.photos(AlbumRef(AlbumKind.LANDMARK, "Colosseum"))) == [4, 9]
    assert ids(lib.photos(AlbumRef(AlbumKind.LANDMARK, "Colosseum"), include_unsure=True)) == [4, 5, 9]
    assert lib.count(AlbumRef(AlbumKind.LANDMARK, "Colosseum")) == 2
    assert lib.count(AlbumRef(AlbumKind.LANDMARK, "Colosseum"), include_unsure=True) == 3
    assert ids(lib.photos(AlbumRef(AlbumKind.HAS_GPS))) == [8, 9]
    assert ids(lib.photos(AlbumRef(AlbumKind.LANDMARK, "Eiffel_Tower"), SearchQuery(label_source="manual"))) == [3]
    page = lib.photos(limit=4, offset=4)
    assert [p.id for p in page] == [5, 6, 7, 8]
    assert lib.count() == 12 and lib.count(AlbumRef(AlbumKind.NEEDS_REVIEW)) == 2
    p = lib.photos(AlbumRef(AlbumKind.LANDMARK, "Tower_Bridge"))[0]
    assert (p.label_name, p.location_source, p.taken_at) == ("Tower Bridge, London", "landmark", datetime(2021, 3, 3))


def test_review_threshold_is_configurable(tmp_path, tiny_bundle_path, lib):
    path = lib.db_path
    lib.close()
    strict = Library.open(path, tiny_bundle_path, review_threshold=0.85)
    try:
        assert [p.id for p in strict.photos(AlbumRef(AlbumKind.NEEDS_REVIEW))] == [5, 2, 6, 4]  # by confidence
        assert [(a.ref.key, a.count) for a in strict.albums() if a.ref.kind == AlbumKind.LANDMARK] == [
            ("Eiffel_Tower", 3),
            ("Colosseum", 1),
        ]  # Tower Bridge (0.7) holds no confident photo: its album is hidden, the photo is in Needs review
    finally:
        strict.close()


def test_similar_photos_by_cosine(lib):
    hits = lib.similar(1, limit=3)
    assert [p.id for p, _ in hits] == [2, 3, 4]  # photo 12 is from another model version: not compared
    assert [round(s, 3) for _, s in hits] == pytest.approx([0.9 / math.hypot(0.9, 0.1), math.sqrt(0.5), 0.0], abs=2e-3)
    assert [p.id for p, _ in lib.similar(4, limit=2)] == [5, 3]
    with pytest.raises(LibraryError, match="no embedding"):
        lib.similar(8)
    with pytest.raises(LibraryError, match="no photo"):
        lib.similar(999)


def test_landmark_names_for_completion(lib):
    names = lib.landmark_names()
    assert ("Eiffel_Tower", "Eiffel Tower, Paris") in names and ("alpha", "Alpha") in names
    assert [n for _, n in names] == sorted((n for _, n in names), key=str.lower)


def test_place_names_match_folded_prefixes_and_typos():
    from core.store.places import fold, match_places

    names = ["Huế", "Hanoi", "Paris", "Köln", "New Delhi", "Parma"]
    assert fold("  HUẾ ") == "hue"
    assert match_places(names, "hue") == ["Huế"]
    assert match_places(names, "KOLN") == ["Köln"]
    assert match_places(names, "delhi") == ["New Delhi"]  # a word of the name
    assert match_places(names, "par") == ["Paris", "Parma"]  # prefixes
    assert match_places(names, "paris") == ["Paris"]  # exact and prefix matches win over typos (Parma)
    assert match_places(names, "hannoi") == ["Hanoi"]  # one typo in six letters
    assert match_places(names, "xyz") == [] and match_places(names, "  ") == []


def test_timeline_newest_first_by_exif_date_else_file_time(lib):
    """``order="newest"``: by the EXIF date, else the file's time (photos 5, 7, 9-12: 2018-07-01 12:30), newest
    first, ties by the newest id; in every album, and paged; Needs review stays least sure first."""
    newest = PhotoOrder.NEWEST
    assert [p.id for p in lib.photos(order=newest)] == [8, 6, 4, 3, 2, 1, 12, 11, 10, 9, 7, 5]
    assert [p.id for p in lib.photos(order=newest, limit=4, offset=4)] == [2, 1, 12, 11]
    by_id = {p.id: p for p in lib.photos()}
    assert by_id[8].timeline_at == by_id[8].taken_at == datetime(2021, 8, 8)
    assert by_id[5].taken_at is None and by_id[5].timeline_at == FILE_TIME
    assert [p.id for p in lib.photos(AlbumRef(AlbumKind.LANDMARK, "Eiffel_Tower"), order=newest)] == [3, 1, 12]
    assert [p.id for p in lib.photos(AlbumRef(AlbumKind.NEEDS_REVIEW), order=newest)] == [5, 2]  # least sure first
    q = SearchQuery(date_from=datetime(2019, 1, 1), date_to=datetime(2020, 12, 31))
    assert [p.id for p in lib.photos(query=q, order=newest)] == [4, 3, 2, 1]
    with pytest.raises(LibraryError, match="order"):
        lib.photos(order="oldest")


def test_timeline_date_follows_the_file_and_the_exif_date(lib):
    """Triggers keep ``timeline_at``: a touched file (new mtime) moves on the timeline, an EXIF date wins, a file
    seen missing (mtime -1) keeps its date."""
    later = datetime(2022, 2, 2, 8, 0)
    with lib._db.write() as conn:
        conn.execute(text("UPDATE photos SET mtime_ns = :m WHERE id = 5"), {"m": int(later.timestamp()) * 10**9})
        conn.execute(text("UPDATE photos SET mtime_ns = :m WHERE id = 1"), {"m": int(later.timestamp()) * 10**9})
        conn.execute(text("UPDATE photos SET mtime_ns = -1 WHERE id = 7"))
    by_id = {p.id: p for p in lib.photos()}
    assert by_id[5].timeline_at == later
    assert by_id[1].timeline_at == datetime(2019, 5, 1, 10)  # its EXIF date
    assert by_id[7].timeline_at == FILE_TIME
    assert lib.photos(order=PhotoOrder.NEWEST, limit=1)[0].id == 5
    with lib._db.write() as conn:
        conn.execute(text("UPDATE photos SET taken_at = NULL WHERE id = 1"))
    assert lib.photos(query=SearchQuery(date_from=later), order=PhotoOrder.NEWEST)[0].id in (1, 5)
    assert {p.id for p in lib.photos(query=SearchQuery(date_from=later))} == {1, 5}


def test_timeline_pages_walk_the_index(lib):
    """A dense filter and no filter read the timeline index backwards (no temporary sort)."""
    with lib._db.read() as conn:
        plan = " ".join(
            str(r[-1])
            for r in conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT p.id FROM photos p INDEXED BY ix_photos_timeline "
                    "ORDER BY p.timeline_at DESC, p.id DESC LIMIT 10"
                )
            )
        )
    assert "ix_photos_timeline" in plan and "TEMP B-TREE" not in plan


def test_map_box_and_map_points(lib):
    """``SearchQuery.bbox`` (south, west, north, east) holds the photos located inside it (GPS or estimated);
    ``map_points`` lists every located photo with its source."""
    points = lib.map_points()
    assert sorted(i for i, *_ in points) == [1, 2, 3, 4, 5, 6, 8, 9, 12]
    assert {i: s for i, _, _, s in points}[8] == "gps" and {i: s for i, _, _, s in points}[4] == "landmark"
    assert (8, 43.7, 7.26, "gps") in points
    europe = SearchQuery(bbox=(35.0, -10.0, 60.0, 30.0))
    assert ids(lib.photos(query=europe)) == [1, 2, 3, 4, 5, 6, 8, 12]  # not 9 (Rio de Janeiro)
    paris = SearchQuery(bbox=(48.8584, 2.2945, 48.8584, 2.2945))  # inclusive: one point
    assert ids(lib.photos(query=paris)) == [1, 2, 3, 12]
    assert lib.count(query=SearchQuery(bbox=(43.0, 7.0, 44.0, 8.0), location="gps")) == 1
    assert sorted(i for i, *_ in lib.map_points(SearchQuery(location="gps"))) == [8, 9]
    for bad in ((50.0, 0.0, 40.0, 10.0), (0.0, 10.0, 1.0, 5.0), (float("nan"), 0, 1, 1), ("a", 0, 1, 1), (1, 2)):
        with pytest.raises(LibraryError, match="map box"):
            lib.photos(query=SearchQuery(bbox=bad))  # type: ignore[arg-type]


def test_photo_row_finds_a_photo_in_every_order(lib):
    """``Library.photo_row`` is the photo's index in ``photos()`` of the same album, query and order (``None``
    when it is not there)."""
    cases = [
        (None, None, PhotoOrder.NEWEST),
        (None, None, PhotoOrder.FOUND),
        (AlbumRef(AlbumKind.NEEDS_REVIEW), None, PhotoOrder.NEWEST),
        (AlbumRef(AlbumKind.LANDMARK, "Eiffel_Tower"), None, PhotoOrder.NEWEST),
        (None, SearchQuery(date_to=datetime(2019, 12, 31)), PhotoOrder.NEWEST),
        (None, SearchQuery(location="any"), PhotoOrder.FOUND),
    ]
    for album, query, order in cases:
        shown = [p.id for p in lib.photos(album, query, order=order)]
        for pid in range(1, 14):
            expected = shown.index(pid) if pid in shown else None
            assert lib.photo_row(pid, album, query, order=order) == expected, (album, query, order, pid)
    with lib._db.write() as conn:  # a photo without a date sorts last on the timeline
        conn.execute(text("UPDATE photos SET timeline_at = NULL WHERE id = 6"))
    shown = [p.id for p in lib.photos(order=PhotoOrder.NEWEST)]
    assert shown[-1] == 6 and lib.photo_row(6, order=PhotoOrder.NEWEST) == len(shown) - 1
    assert lib.photo_row(7, order=PhotoOrder.NEWEST) == shown.index(7)


def test_scans_write_the_timeline_date_the_triggers_would(lib):
    """``timeline_text`` (what a scan writes with a new row) gives the text the revision-0006 triggers compute in
    SQLite for a row written without it: the EXIF date, else the file time in local time (any season)."""
    from core.store.photos import timeline_text

    times = [datetime(2019, 1, 15, 3, 4, 5), datetime(2021, 3, 28, 2, 30), datetime(2022, 7, 1, 23, 59, 59)]
    times += [datetime(2023, 10, 29, 2, 30), datetime(2024, 12, 31, 12, 0)]
    with lib._db.write() as conn:
        for k, t in enumerate(times):
            conn.execute(
                text(
                    "INSERT INTO photos (id, folder_id, path, content_hash, size, mtime_ns, status) "
                    "VALUES (:id, 1, :p, :h, 1, :m, 'pending')"
                ),
                {"id": 100 + k, "p": f"/t/{k}.jpg", "h": f"t{k}", "m": int(t.timestamp()) * 10**9 + 123},
            )
        rows = conn.execute(text("SELECT mtime_ns, timeline_at FROM photos WHERE id >= 100 ORDER BY id")).all()
    assert [timeline_text(None, m) for m, _ in rows] == [t for _, t in rows]
    assert datetime.fromisoformat(rows[-1][1]) == times[-1]  # noon: no daylight-saving change anywhere
    assert timeline_text("2008-10-22T16:28:39", 5) == "2008-10-22T16:28:39"
    assert timeline_text(None, -1) is None

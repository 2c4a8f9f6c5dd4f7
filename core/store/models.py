"""The library database schema (SQLAlchemy Core tables) at the head Alembic revision.

The tables are created and changed only by the Alembic revisions in ``core/store/migrations/versions``;
this module describes the head schema: the store's queries are built on these ``Table`` objects, and it is
Alembic's ``target_metadata`` (``migrations/env.py``). ``tests/core/store/test_schema.py`` checks with
``alembic.autogenerate.compare_metadata`` that the migrations create exactly this schema, so a new revision
and this module change together. Not described here (``ALEMBIC_ONLY``): the FTS5 table ``landmarks_fts``
(+ its shadow tables) and the triggers, which only the revisions create.

Conventions: paths are absolute POSIX-or-native strings as ``str(Path)``, stored in the lossless text form of
``core.photos.pathnames.path_to_text`` (the same text for every valid UTF-8 path; a file name that is not
valid UTF-8 round-trips exactly); ``photos.mtime_ns`` is -1 (``core.store.photos.UNSEEN_MTIME_NS``) for a photo
whose file was missing when the tagger looked for it; times are ISO-8601 text
(``taken_at`` naive local camera time; ``*_at`` UTC); coordinates decimal degrees WGS84; confidences
calibrated softmax confidences in [0, 1].

Tables:

* ``folders`` — library folders being watched.
* ``photos`` — one row per photo. Its ``id`` is the photo's identity: labels, corrections, predictions, the
  embedding and proposals hang on it. The file at a path stays the same photo when its bytes change (another app
  wrote a caption or a rating, a re-save): a scan keeps the row and only the model's result is done again. A file
  that vanished and re-appears elsewhere with the same bytes is the same photo moved (the row gets the new path).
  The bytes are named by ``fingerprint`` (0007): ``"<size>:<hex SHA-256 of the first and last 64 KiB>"``
  (``core.photos.scanner.file_fingerprint``, digiKam's *uniqueHash* idea: no photo is read whole), ``NULL`` for
  rows scanned before 0007 until their file changes. ``content_hash`` is the hex SHA-256 of all the bytes
  (``core.photos.scanner.content_hash``) where it is known: for files of at most 128 KiB (the fingerprint read them
  whole), when two files' fingerprints collided (the full hash tells them apart), and for rows scanned before 0007;
  ``''`` otherwise. ``status`` is ``pending`` / ``gps`` / ``tagged`` /
  ``no_landmark`` / ``failed`` (+ ``failure_reason``). EXIF fields (``gps_*``, ``taken_at``,
  ``camera_*``), the effective label (``label`` key, ``label_source`` model|manual|gps, ``confidence``,
  ``model_version``), the location (``latitude``/``longitude`` with ``location_source`` gps|landmark)
  and ``inference_count`` (how many model results were committed for this file: the crash-safety
  tests check it is exactly 1). Places (0005), for photos with EXIF GPS: ``city`` / ``country`` (offline reverse
  geocoding), ``place_landmark`` (the catalog landmark whose uncertainty circle holds the position) and
  ``placed_at`` (``NULL`` until placed). ``timeline_at`` (0006) is the photo's date on the timeline: ``taken_at``, else
  the file's modification time as naive local ISO text; scans write it with each new row
  (``core.store.photos.timeline_text``) and triggers keep it for every other writer of ``taken_at`` / ``mtime_ns``;
  ``ix_photos_timeline`` pages the grid newest first.
* ``predictions`` — the model's top-k for a photo: ``(photo_id, rank)`` → label key, confidence.
* ``embeddings`` (revision 0002) — the photo's L2-normalised embedding, ``(D,)`` float16 bytes.
* ``landmarks`` — the catalog: model classes (source ``model``, with ``coordinate_uncertainty_m`` from the catalog
  since 0005) and user-created ones (``user``);
  ``landmarks_fts`` is an FTS5 trigram index over ``name`` and ``key`` kept in sync by triggers.
* ``corrections`` — the person's corrections of a photo, keyed by ``photo_id`` (0007; before, by content hash, so
  a caption written by another app orphaned them): kind ``label`` (label = a landmark key), ``not_landmark``,
  ``reject`` (tombstone: label must never be given back by the model). They follow the photo across byte changes
  and moves, and leave with it (``ON DELETE CASCADE``): a correction never outlives its photo. ``change_id`` (0002)
  groups them for undo. ``content_hash`` is only kept on the rows revision 0007 could not attach to a photo (their
  photo had left the library before the upgrade); such a row applies to no photo.
* ``changes`` (0002) — one row per correction (``Library.relabel``, ``confirm``, ``reject``,
  ``accept_proposals``), for the history, undo and redo: ``undone``, ``undo_seq`` (order of undos),
  ``redoable`` and ``created_landmark_name`` (0004). Corrections of an undone change stay in
  ``corrections`` but are out of force. ``pending`` (0007) is set while a change is written in several short
  write transactions (``core.tagging.relabel``): ``record`` while its corrections are being stored (out of
  force), ``refresh`` while its photos' labels are being brought in line; ``NULL`` once done. Opening a library
  finishes a change a crash interrupted.
* ``proposals`` (0004) — labels proposed by teaching or "find more like this" (photo, producing change,
  ``request``, old label/confidence, new label, similarity, ``state`` open|accepted|dismissed,
  ``accepted_change_id``); applied only when accepted.
* ``status_counts`` / ``label_counts`` (0003) — photos per status / per effective label, kept exact by
  triggers on ``photos``; the album list and progress counts read them instead of a GROUP BY.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

__all__ = [
    "metadata",
    "ALEMBIC_ONLY",
    "include_name",
    "folders",
    "photos",
    "predictions",
    "embeddings",
    "landmarks",
    "corrections",
    "changes",
    "proposals",
    "status_counts",
    "label_counts",
]

metadata = MetaData()

#: Prefix of the tables the revisions create that this schema does not describe: the FTS5 virtual table
#: ``landmarks_fts`` and its shadow tables (``landmarks_fts_data``, ``_idx``, ``_content``, ``_docsize``,
#: ``_config``).
ALEMBIC_ONLY = "landmarks_fts"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic ``include_name`` hook: leave the FTS5 tables (``ALEMBIC_ONLY``) out of schema comparisons."""
    return not (type_ == "table" and name is not None and name.startswith(ALEMBIC_ONLY))


folders = Table(
    "folders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", Text, nullable=False, unique=True),
    Column("added_at", Text, nullable=False),
)

photos = Table(
    "photos",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("folder_id", Integer, ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False, unique=True),
    Column("content_hash", Text, nullable=False),
    Column("fingerprint", Text),
    Column("size", Integer, nullable=False),
    Column("mtime_ns", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("failure_reason", Text),
    Column("gps_latitude", Float),
    Column("gps_longitude", Float),
    Column("gps_altitude", Float),
    Column("taken_at", Text),
    Column("camera_make", Text),
    Column("camera_model", Text),
    Column("exif_error", Text),
    Column("label", Text),
    Column("label_source", Text),
    Column("confidence", Float),
    Column("model_version", Text),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("location_source", Text),
    Column("inference_count", Integer, nullable=False, server_default="0"),
    Column("scanned_at", Text),
    Column("tagged_at", Text),
    Column("city", Text),
    Column("country", Text),
    Column("place_landmark", Text),
    Column("placed_at", Text),
    Column("timeline_at", Text),
    Index("ix_photos_status", "status"),
    Index("ix_photos_label_conf", "label", "confidence"),
    Index("ix_photos_label_source", "label_source"),
    Index("ix_photos_confidence", "confidence"),
    Index("ix_photos_taken_at", "taken_at"),
    Index("ix_photos_folder", "folder_id"),
    Index("ix_photos_hash", "content_hash"),
    Index("ix_photos_location_source", "location_source"),
    Index("ix_photos_label", "label"),
    Index("ix_photos_review", "status", "label_source", "confidence"),
    Index("ix_photos_city", "city"),
    Index("ix_photos_country", "country"),
    Index("ix_photos_placed", "status", "placed_at"),
    Index("ix_photos_timeline", "timeline_at"),
    Index("ix_photos_fingerprint", "fingerprint"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("label", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("model_version", Text, nullable=False),
    PrimaryKeyConstraint("photo_id", "rank"),
)

embeddings = Table(
    "embeddings",
    metadata,
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
    Column("model_version", Text, nullable=False),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Index("ix_embeddings_model", "model_version"),
)

landmarks = Table(
    "landmarks",
    metadata,
    Column("key", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("country", Text),
    Column("source", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("coordinate_uncertainty_m", Float),
)

corrections = Table(
    "corrections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("photo_id", Integer, ForeignKey("photos.id", name="fk_corrections_photo", ondelete="CASCADE")),
    Column("content_hash", Text),
    Column("kind", Text, nullable=False),
    Column("label", Text),
    Column("created_at", Text, nullable=False),
    Column("change_id", Integer, ForeignKey("changes.id", name="fk_corrections_change", ondelete="CASCADE")),
    Index("ix_corrections_photo", "photo_id"),
    Index("ix_corrections_change", "change_id"),
)

changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("landmark", Text),
    Column("photo_ids", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_landmark", Text),
    Column("suggested", Text, nullable=False, server_default="[]"),
    Column("created_at", Text, nullable=False),
    Column("undone", Integer, nullable=False, server_default="0"),
    Column("undo_seq", Integer),
    Column("redoable", Integer, nullable=False, server_default="0"),
    Column("created_landmark_name", Text),
    Column("pending", Text),
)

proposals = Table(
    "proposals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("photo_id", Integer, nullable=False),  # no foreign key: a deleted photo is skipped when accepting
    Column("change_id", Integer, ForeignKey("changes.id", name="fk_proposals_change", ondelete="CASCADE")),
    Column("request", Text, nullable=False),
    Column("old_status", Text),
    Column("old_label", Text),
    Column("old_confidence", Float),
    Column("new_label", Text, nullable=False),
    Column("similarity", Float, nullable=False),
    Column("state", Text, nullable=False, server_default="open"),
    Column("created_at", Text, nullable=False),
    Column(
        "accepted_change_id",
        Integer,
        ForeignKey("changes.id", name="fk_proposals_accepted_change", ondelete="SET NULL"),
    ),
    Index("ix_proposals_state", "state", "new_label"),
    Index("ix_proposals_photo", "photo_id"),
    Index("ix_proposals_change", "change_id"),
    Index("ix_proposals_accepted", "accepted_change_id"),
)

status_counts = Table(
    "status_counts",
    metadata,
    Column("status", Text, primary_key=True),
    Column("n", Integer, nullable=False),
)

label_counts = Table(
    "label_counts",
    metadata,
    Column("label", Text, primary_key=True),
    Column("n", Integer, nullable=False),
)

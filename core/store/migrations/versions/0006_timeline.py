"""The timeline: every photo's date, kept by triggers, and an index to page it newest first.

* ``photos.timeline_at`` — the photo's date on the timeline as ISO-8601 text, naive local time: ``taken_at``
  (EXIF DateTimeOriginal) when the photo has one, else the file's modification time (``mtime_ns``) in the
  computer's local time zone (SQLite ``strftime(..., 'unixepoch', 'localtime')``, the same conversion as Python's
  ``datetime.fromtimestamp``). Filled for the existing rows here.
* Triggers ``photos_timeline_ai`` (after an insert that did not give it) and ``photos_timeline_au`` (after an update
  of ``taken_at`` or ``mtime_ns``) keep it, so every writer (moves, touched files, tests writing rows directly) gets
  it without knowing about it; scans give it with the new rows (``core.store.photos.timeline_text``), which saves
  the insert trigger's second write of each row. A file seen missing (``mtime_ns`` = -1,
  ``core.store.photos.UNSEEN_MTIME_NS``) keeps its date. The triggers update only ``timeline_at``: no other
  trigger on ``photos`` listens to that column.
* ``ix_photos_timeline`` on ``(timeline_at)`` (entries ordered by ``(timeline_at, rowid)``): a page of
  ``ORDER BY timeline_at DESC, id DESC LIMIT n OFFSET k`` reads ``k + n`` index entries backwards, no sort.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: The date of a photo row ``r`` (``new`` in a trigger): its EXIF date, else its file time in local time, else
#: (a file seen missing: mtime_ns -1) the date it had.
_DATE = (
    "COALESCE({r}.taken_at, CASE WHEN {r}.mtime_ns >= 0 THEN "
    "strftime('%Y-%m-%dT%H:%M:%S', {r}.mtime_ns / 1000000000, 'unixepoch', 'localtime') END{keep})"
)

_TRIGGERS = {
    "photos_timeline_ai": f"""
        CREATE TRIGGER photos_timeline_ai AFTER INSERT ON photos WHEN new.timeline_at IS NULL BEGIN
            UPDATE photos SET timeline_at = {_DATE.format(r="new", keep="")} WHERE id = new.id;
        END""",
    "photos_timeline_au": f"""
        CREATE TRIGGER photos_timeline_au AFTER UPDATE OF taken_at, mtime_ns ON photos
        WHEN new.taken_at IS NOT old.taken_at OR new.mtime_ns IS NOT old.mtime_ns BEGIN
            UPDATE photos SET timeline_at = {_DATE.format(r="new", keep=", old.timeline_at")} WHERE id = new.id;
        END""",
}


def upgrade() -> None:
    op.add_column("photos", sa.Column("timeline_at", sa.Text))
    op.execute(f"UPDATE photos SET timeline_at = {_DATE.format(r='photos', keep='')}")
    for sql in _TRIGGERS.values():
        op.execute(sql)
    op.create_index("ix_photos_timeline", "photos", ["timeline_at"])


def downgrade() -> None:
    op.drop_index("ix_photos_timeline", "photos")
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    # ALTER TABLE DROP COLUMN (SQLite >= 3.35), not a batch copy: copying ``photos`` would drop its other triggers
    op.drop_column("photos", "timeline_at")

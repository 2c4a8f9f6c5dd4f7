"""Photo identity: a photo is its row, not its bytes; corrections follow the photo id; quick file fingerprints.

* ``photos.fingerprint`` (+ ``ix_photos_fingerprint``) — ``"<size>:<hex SHA-256 of the first and last 64 KiB>"``
  (``core.photos.scanner.file_fingerprint``), what scans compare instead of a SHA-256 of the whole file. Existing
  rows keep ``NULL`` (their files are not read here) and their ``content_hash``: a scan matches them by it.
* ``corrections.photo_id`` (foreign key to ``photos.id``, ``ON DELETE CASCADE``, + ``ix_corrections_photo``)
  replaces the content hash as the key, so a caption or a re-save of the file no longer orphans the person's
  label. The table is rebuilt (SQLite cannot change a column's constraints in place; nothing else references it
  and it has no triggers). Every existing correction is kept:

  1. it is attached to every photo whose ``content_hash`` is its own (byte-identical copies each keep the label
     they had), in the order of the old rows, so the newest correction still wins;
  2. a correction whose bytes no photo has any more (the file was changed at the same path: the old scanner gave
     the row its new hash and orphaned the correction) is attached through its change: ``changes.photo_ids`` lists
     the photos it corrected, and its corrections were written one per photo, in that order for ``accept`` and by
     photo id for the other kinds. The pairing is used only when the counts agree, every pair whose hash still
     matches names the same photo, and the paired photo is still in the library;
  3. the rest (their photo left the library before the upgrade) keep their ``content_hash`` with ``photo_id``
     ``NULL``: kept, applied to no photo, never exported.

* ``changes.pending`` — ``record`` / ``refresh`` while a change is written in short transactions
  (``core.tagging.relabel``), ``NULL`` when done; existing changes are done.
* ``ix_corrections_hash`` goes (corrections are no longer looked up by hash).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _new_corrections_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("photo_id", sa.Integer),
        sa.Column("content_hash", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("label", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("change_id", sa.Integer),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"], name="fk_corrections_photo", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["change_id"], ["changes.id"], name="fk_corrections_change", ondelete="CASCADE"),
    )


def _attach(conn: sa.Connection) -> list[dict]:
    """The new rows (in order) for the old ``corrections`` rows (see the module docstring)."""
    old = conn.execute(
        sa.text("SELECT id, content_hash, kind, label, created_at, change_id FROM corrections ORDER BY id")
    ).all()
    by_hash: dict[str, list[int]] = {}
    hash_of: dict[int, str] = {}
    for pid, h in conn.execute(sa.text("SELECT id, content_hash FROM photos ORDER BY id")):
        by_hash.setdefault(h, []).append(pid)
        hash_of[pid] = h
    # step 2: pair the corrections of each change with the photos it corrected
    paired: dict[int, int] = {}
    of_change: dict[int, list] = {}
    for r in old:
        if r.change_id is not None:
            of_change.setdefault(r.change_id, []).append(r)
    for cid, kind, raw in conn.execute(sa.text("SELECT id, kind, photo_ids FROM changes")):
        rows = of_change.get(cid, [])
        try:
            ids = [int(i) for i in json.loads(raw or "[]")]
        except (ValueError, TypeError):
            continue
        if not rows or len(rows) != len(ids) or all(r.content_hash in by_hash for r in rows):
            continue  # nothing to pair, or nothing orphaned here
        order = ids if kind == "accept" else sorted(ids)
        pairs = list(zip(rows, order))
        if any(r.content_hash in by_hash and hash_of.get(p) != r.content_hash for r, p in pairs):
            continue  # the pairing does not hold: attach nothing through it
        for r, p in pairs:
            if r.content_hash not in by_hash and p in hash_of:
                paired[r.id] = p
    new: list[dict] = []
    for r in old:
        base = {"kind": r.kind, "label": r.label, "created_at": r.created_at, "change_id": r.change_id}
        targets = by_hash.get(r.content_hash) or ([paired[r.id]] if r.id in paired else [])
        if targets:
            new += [{**base, "photo_id": p, "content_hash": None} for p in targets]
        else:
            new.append({**base, "photo_id": None, "content_hash": r.content_hash})
    return new


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column("photos", sa.Column("fingerprint", sa.Text))
    op.create_index("ix_photos_fingerprint", "photos", ["fingerprint"])
    op.add_column("changes", sa.Column("pending", sa.Text))
    rows = _attach(conn)
    _new_corrections_table("corrections_0007")
    if rows:
        conn.execute(
            sa.text(
                "INSERT INTO corrections_0007 (photo_id, content_hash, kind, label, created_at, change_id) "
                "VALUES (:photo_id, :content_hash, :kind, :label, :created_at, :change_id)"
            ),
            rows,
        )
    op.drop_index("ix_corrections_hash", "corrections")
    op.drop_index("ix_corrections_change", "corrections")
    op.drop_table("corrections")
    op.rename_table("corrections_0007", "corrections")
    op.create_index("ix_corrections_photo", "corrections", ["photo_id"])
    op.create_index("ix_corrections_change", "corrections", ["change_id"])


def downgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        "corrections_0006",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("label", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("change_id", sa.Integer),
        sa.ForeignKeyConstraint(["change_id"], ["changes.id"], name="fk_corrections_change", ondelete="CASCADE"),
    )
    # a photo's correction goes back to being keyed by its bytes: the full hash, else its fingerprint (the old
    # scanner will not match it, but no row is lost)
    conn.execute(
        sa.text(
            "INSERT INTO corrections_0006 (id, content_hash, kind, label, created_at, change_id) "
            "SELECT c.id, COALESCE(NULLIF(p.content_hash, ''), c.content_hash, p.fingerprint, ''), c.kind, c.label, "
            "c.created_at, c.change_id FROM corrections c LEFT JOIN photos p ON p.id = c.photo_id ORDER BY c.id"
        )
    )
    op.drop_index("ix_corrections_photo", "corrections")
    op.drop_index("ix_corrections_change", "corrections")
    op.drop_table("corrections")
    op.rename_table("corrections_0006", "corrections")
    op.create_index("ix_corrections_hash", "corrections", ["content_hash"])
    op.create_index("ix_corrections_change", "corrections", ["change_id"])
    op.drop_column("changes", "pending")
    op.drop_index("ix_photos_fingerprint", "photos")
    # ALTER TABLE DROP COLUMN, not a batch copy: copying ``photos`` would drop its triggers
    op.drop_column("photos", "fingerprint")

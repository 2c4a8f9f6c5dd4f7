"""Initial schema: folders, photos, predictions, landmarks (+ FTS5 trigram index), corrections.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "folders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False, unique=True),
        sa.Column("added_at", sa.Text, nullable=False),
    )
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("folder_id", sa.Integer, sa.ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("path", sa.Text, nullable=False, unique=True),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("mtime_ns", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("failure_reason", sa.Text),
        sa.Column("gps_latitude", sa.Float),
        sa.Column("gps_longitude", sa.Float),
        sa.Column("gps_altitude", sa.Float),
        sa.Column("taken_at", sa.Text),
        sa.Column("camera_make", sa.Text),
        sa.Column("camera_model", sa.Text),
        sa.Column("exif_error", sa.Text),
        sa.Column("label", sa.Text),
        sa.Column("label_source", sa.Text),
        sa.Column("confidence", sa.Float),
        sa.Column("model_version", sa.Text),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("location_source", sa.Text),
        sa.Column("inference_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("scanned_at", sa.Text),
        sa.Column("tagged_at", sa.Text),
    )
    for name, cols in [
        ("ix_photos_status", ["status"]),
        ("ix_photos_label_conf", ["label", "confidence"]),
        ("ix_photos_label_source", ["label_source"]),
        ("ix_photos_confidence", ["confidence"]),
        ("ix_photos_taken_at", ["taken_at"]),
        ("ix_photos_folder", ["folder_id"]),
        ("ix_photos_hash", ["content_hash"]),
        ("ix_photos_location_source", ["location_source"]),
    ]:
        op.create_index(name, "photos", cols)
    op.create_table(
        "predictions",
        sa.Column("photo_id", sa.Integer, sa.ForeignKey("photos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("photo_id", "rank"),
    )
    op.create_table(
        "landmarks",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("country", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    # FTS5 trigram index (https://sqlite.org/fts5.html#the_trigram_tokenizer): substring matches of
    # 3+ characters; kept in sync with `landmarks` by triggers.
    op.execute("CREATE VIRTUAL TABLE landmarks_fts USING fts5(key UNINDEXED, name, tokenize='trigram')")
    op.execute(
        "CREATE TRIGGER landmarks_ai AFTER INSERT ON landmarks BEGIN "
        "INSERT INTO landmarks_fts(key, name) VALUES (new.key, new.name || ' ' || replace(new.key, '_', ' ')); END"
    )
    op.execute(
        "CREATE TRIGGER landmarks_ad AFTER DELETE ON landmarks BEGIN DELETE FROM landmarks_fts WHERE key = old.key; END"
    )
    op.execute(
        "CREATE TRIGGER landmarks_au AFTER UPDATE ON landmarks BEGIN "
        "DELETE FROM landmarks_fts WHERE key = old.key; "
        "INSERT INTO landmarks_fts(key, name) VALUES (new.key, new.name || ' ' || replace(new.key, '_', ' ')); END"
    )
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("label", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    op.create_index("ix_corrections_hash", "corrections", ["content_hash"])


def downgrade() -> None:
    op.drop_table("corrections")
    op.execute("DROP TABLE landmarks_fts")
    op.drop_table("landmarks")
    op.drop_table("predictions")
    op.drop_table("photos")
    op.drop_table("folders")

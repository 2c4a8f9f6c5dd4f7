"""Album counters kept by triggers, and indexes for paging albums in id order.

* ``label_counts(label, n)`` and ``status_counts(status, n)``: photos per effective label and per status,
  maintained by triggers on ``photos`` (insert, delete, update of label/status), so the album list and
  the progress counts cost a few rows instead of a 100 000-row GROUP BY. Filled from existing rows.
* ``ix_photos_label`` on ``(label)`` (entries ordered by ``(label, rowid)``): a landmark album's page
  ``WHERE label = ? ORDER BY id LIMIT n`` reads n index entries, no sort.
* ``ix_photos_review`` on ``(status, label_source, confidence)``: "Needs review" counted from the index.
* ``ix_embeddings_model`` on ``embeddings(model_version)``: counting a model's embeddings (the similar-photo
  cache's freshness check) reads the index, not 256 MB of vectors.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TRIGGERS = {
    "photos_counts_ai": """
        CREATE TRIGGER photos_counts_ai AFTER INSERT ON photos BEGIN
            INSERT INTO status_counts (status, n) VALUES (new.status, 1)
                ON CONFLICT(status) DO UPDATE SET n = n + 1;
            INSERT INTO label_counts (label, n) SELECT new.label, 1 WHERE new.label IS NOT NULL
                ON CONFLICT(label) DO UPDATE SET n = n + 1;
        END""",
    "photos_counts_ad": """
        CREATE TRIGGER photos_counts_ad AFTER DELETE ON photos BEGIN
            UPDATE status_counts SET n = n - 1 WHERE status = old.status;
            UPDATE label_counts SET n = n - 1 WHERE label = old.label;
        END""",
    "photos_counts_au_status": """
        CREATE TRIGGER photos_counts_au_status AFTER UPDATE OF status ON photos
        WHEN old.status IS NOT new.status BEGIN
            UPDATE status_counts SET n = n - 1 WHERE status = old.status;
            INSERT INTO status_counts (status, n) VALUES (new.status, 1)
                ON CONFLICT(status) DO UPDATE SET n = n + 1;
        END""",
    "photos_counts_au_label": """
        CREATE TRIGGER photos_counts_au_label AFTER UPDATE OF label ON photos
        WHEN old.label IS NOT new.label BEGIN
            UPDATE label_counts SET n = n - 1 WHERE label = old.label;
            INSERT INTO label_counts (label, n) SELECT new.label, 1 WHERE new.label IS NOT NULL
                ON CONFLICT(label) DO UPDATE SET n = n + 1;
        END""",
}


def upgrade() -> None:
    op.create_table(
        "status_counts", sa.Column("status", sa.Text, primary_key=True), sa.Column("n", sa.Integer, nullable=False)
    )
    op.create_table(
        "label_counts", sa.Column("label", sa.Text, primary_key=True), sa.Column("n", sa.Integer, nullable=False)
    )
    op.execute("INSERT INTO status_counts (status, n) SELECT status, COUNT(*) FROM photos GROUP BY status")
    op.execute(
        "INSERT INTO label_counts (label, n) SELECT label, COUNT(*) FROM photos WHERE label IS NOT NULL GROUP BY label"
    )
    for sql in _TRIGGERS.values():
        op.execute(sql)
    op.create_index("ix_photos_label", "photos", ["label"])
    op.create_index("ix_photos_review", "photos", ["status", "label_source", "confidence"])
    op.create_index("ix_embeddings_model", "embeddings", ["model_version"])


def downgrade() -> None:
    op.drop_index("ix_embeddings_model", "embeddings")
    op.drop_index("ix_photos_review", "photos")
    op.drop_index("ix_photos_label", "photos")
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.drop_table("label_counts")
    op.drop_table("status_counts")

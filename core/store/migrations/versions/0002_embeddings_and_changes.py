"""Embeddings per photo (similar photos, re-scoring without the CNN) and the undo log of changes.

Adds ``embeddings``, ``changes`` and ``corrections.change_id``. Corrections made before this
revision keep ``change_id`` NULL (they cannot be undone, but still apply).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "embeddings",
        sa.Column("photo_id", sa.Integer, sa.ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("landmark", sa.Text),
        sa.Column("photo_ids", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_landmark", sa.Text),
        sa.Column("suggested", sa.Text, nullable=False, server_default="[]"),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("undone", sa.Integer, nullable=False, server_default="0"),
    )
    with op.batch_alter_table("corrections") as batch:
        batch.add_column(
            sa.Column(
                "change_id", sa.Integer, sa.ForeignKey("changes.id", name="fk_corrections_change", ondelete="CASCADE")
            )
        )
        batch.create_index("ix_corrections_change", ["change_id"])


def downgrade() -> None:
    with op.batch_alter_table("corrections") as batch:
        batch.drop_index("ix_corrections_change")
        batch.drop_column("change_id")
    op.drop_table("changes")
    op.drop_table("embeddings")

"""Labels a person can trust: proposals, and undo/redo kept in the database.

* ``proposals`` — labels that teaching (the person's labelled or confirmed photos) or "find more like this"
  *proposes* for model-labelled photos: photo, the change that produced it (``NULL`` for "find more like
  this" and for newly tagged photos), ``request`` (``teach`` / ``more_like`` / ``new_photo``), old label and
  confidence, new label, similarity, ``state`` (``open`` / ``accepted`` / ``dismissed``) and the change
  that accepted it. Nothing changes a photo's label until a proposal is accepted. ``photo_id`` has no
  foreign key on purpose: accepting a proposal whose photo was deleted meanwhile skips it and says so.
* ``changes.undo_seq`` (order of undos, for redo), ``changes.redoable`` (an undone change that ``redo`` may
  re-apply; a new change clears it: standard editor semantics) and ``changes.created_landmark_name``
  (so redoing a change that created a landmark creates it again). Corrections of an undone change are
  kept (not deleted) and are out of force while it is undone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("undo_seq", sa.Integer))
        batch.add_column(sa.Column("redoable", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("created_landmark_name", sa.Text))
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("photo_id", sa.Integer, nullable=False),
        sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id", name="fk_proposals_change", ondelete="CASCADE")),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("old_status", sa.Text),
        sa.Column("old_label", sa.Text),
        sa.Column("old_confidence", sa.Float),
        sa.Column("new_label", sa.Text, nullable=False),
        sa.Column("similarity", sa.Float, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="open"),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column(
            "accepted_change_id",
            sa.Integer,
            sa.ForeignKey("changes.id", name="fk_proposals_accepted_change", ondelete="SET NULL"),
        ),
    )
    op.create_index("ix_proposals_state", "proposals", ["state", "new_label"])
    op.create_index("ix_proposals_photo", "proposals", ["photo_id"])
    op.create_index("ix_proposals_change", "proposals", ["change_id"])
    op.create_index("ix_proposals_accepted", "proposals", ["accepted_change_id"])


def downgrade() -> None:
    op.drop_index("ix_proposals_accepted", "proposals")
    op.drop_index("ix_proposals_change", "proposals")
    op.drop_index("ix_proposals_photo", "proposals")
    op.drop_index("ix_proposals_state", "proposals")
    op.drop_table("proposals")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("created_landmark_name")
        batch.drop_column("redoable")
        batch.drop_column("undo_seq")

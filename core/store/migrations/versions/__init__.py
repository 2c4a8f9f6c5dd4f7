"""Alembic revisions of the library database, oldest first (0001 initial, 0002 embeddings + undo)."""

"""Alembic revisions of the library database, oldest first (0001 initial, 0002 embeddings + undo log,
0003 album counters + paging indexes)."""

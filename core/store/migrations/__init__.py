"""Alembic migration environment of the library database (``env.py`` + ``versions/``)."""

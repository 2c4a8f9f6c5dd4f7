"""The library's SQLite store: schema (``models``), engine (``engine``), Alembic migrations
(``migrate`` + ``migrations/``), backups (``backup``), error translation (``errors``), and
``open_database`` which ties them together."""

from __future__ import annotations

from core.store.open import open_database

__all__ = ["open_database"]

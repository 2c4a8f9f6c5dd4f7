"""Alembic environment: runs revisions on the connection handed over by ``core.store.migrate``.

There is no ``alembic.ini`` at runtime: ``core.store.migrate`` builds an ``alembic.config.Config``
with ``script_location`` pointing at this folder and passes an open SQLAlchemy connection in
``config.attributes["connection"]``. Offline (SQL script) mode is not supported.

``target_metadata`` is the head schema of ``core.store.models`` (what ``alembic revision --autogenerate``
and ``tests/core/store/test_schema.py`` compare the database with); the FTS5 tables are left out of the
comparison (``models.include_name``).
"""

from alembic import context

from core.store import models

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from a hand-run alembic CLI
    raise RuntimeError("run migrations through core.store.migrate (needs an open connection)")

context.configure(
    connection=connection,
    target_metadata=models.metadata,
    include_name=models.include_name,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()

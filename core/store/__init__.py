"""The library's SQLite store: the only package that holds SQL. Its functions take a ``Connection``
(from ``Database.read()`` / ``Database.write()``) and return plain rows, values or ``core.domain`` types.

* ``engine`` — ``Database`` (SQLAlchemy engine: WAL, busy timeout, ``BEGIN IMMEDIATE`` writers), ``Connection``;
* ``models`` — the schema (SQLAlchemy Core tables): what the queries use and Alembic compares against;
* ``migrate`` + ``migrations/`` — Alembic revisions run at open; ``backup`` — copies taken before migrating and
  the rolling daily copies (online backup API); ``health`` — ``quick_check`` / ``integrity_check`` and when to run
  them (the file changed since its last clean close); ``repair`` — restore a backup, rebuild from the photos;
* ``open`` — ``open_database`` (checks, engine, migrations); ``errors`` — DB errors → one-line ``LibraryError``;
* ``timestamps`` — the ISO-8601 text form of times;
* ``folders`` — the ``folders`` table, and which folder a path belongs to;
* ``photos`` — photo rows: file changes from scans (incl. moves and deletes), look-ups, work list, status
  counts, ``PhotoSummary`` / ``PhotoDetails``;
* ``results`` — the model's results (upsert of label, top-k, embedding) and effective labels;
* ``corrections`` — the ``corrections`` and ``changes`` tables, the user gallery;
* ``landmarks`` — the ``landmarks`` table: model classes and catalog landmarks synced at open, user landmarks,
  names, coordinates and uncertainty;
* ``places`` — GPS photos' places (city, country, landmark placed at), the list of places, place-name matching;
* ``location`` — estimated location of a photo from its landmark;
* ``search`` — name search (FTS5 + typo tolerance), photo filters (also a map box), paging in id or timeline
  order, the map's points; ``similarity`` —
  ``EmbeddingIndex`` (similar photos, re-scoring); ``albums`` — the album list; ``stats`` — library counts.
"""

from __future__ import annotations

from core.store.open import open_database

__all__ = ["open_database"]

"""The text form of times in the database: ISO-8601 strings (``*_at`` columns are UTC, ``taken_at`` is the
camera's naive local time)."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["utc_now", "parse_time"]


def utc_now() -> str:
    """Current UTC time, ISO-8601 text with seconds (``"2026-11-21T10:15:00+00:00"``)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_time(value: str | None) -> datetime | None:
    """The ``datetime`` of an ISO-8601 column value; ``None`` for an empty or unreadable one."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None

"""File paths as the operating system gives them: a lossless text form for storage, a safe form for display.

On POSIX a file name is bytes. Python hands a name that is not valid UTF-8 over as a ``str`` in which every
undecodable byte ``0xXY`` is the lone surrogate ``U+DCXY`` (PEP 383, ``os.fsdecode``); such a ``str`` opens
the right file, but it cannot be encoded as UTF-8, so it cannot be stored as SQLite text, printed on a UTF-8
terminal, or shown in Qt as it is. (Windows file names may hold unpaired UTF-16 surrogates, which Python gives
as lone surrogates too.)

* ``path_to_text`` / ``text_to_path`` — a reversible escape into valid UTF-8 text: each surrogate code point
  (U+D800..U+DFFF) and the escape character ``PATH_ESCAPE`` (U+FFFF, a Unicode noncharacter) itself become
  ``PATH_ESCAPE`` + 4 lower-case hex digits. Every other character stays as it is, so a valid UTF-8 path — all
  paths stored by earlier versions — has the same text form, and the escape works character by character:
  ``path_to_text(a + b) == path_to_text(a) + path_to_text(b)``. Hence the text of every path below a folder
  starts with the folder's text + ``os.sep`` (the escape never produces ``/`` or ``\\``), and folder
  prefix ranges on the stored text keep working.
* ``display_path`` — one line to print or show: undecodable bytes become U+FFFD (the replacement
  character) and control characters are replaced too (``core.domain.display_text``).
* ``path_key`` — a text key for caches and Qt signals (lossless, valid UTF-8).
"""

from __future__ import annotations

import os
import re

from core.domain import display_text

__all__ = ["PATH_ESCAPE", "path_to_text", "text_to_path", "display_path", "path_key", "has_undecodable_bytes"]

#: Escape character of ``path_to_text`` (U+FFFF, a noncharacter: never assigned, practically never in a name).
PATH_ESCAPE = "\uffff"

_NEEDS_ESCAPE = re.compile("[\ud800-\udfff\uffff]")
_ESCAPED = re.compile("\uffff([0-9a-f]{4})")
_SURROGATE = re.compile("[\ud800-\udfff]")


def path_to_text(path: str | os.PathLike[str]) -> str:
    """The lossless, valid-UTF-8 text form of ``path`` (see the module docstring).

    Args:
        path: a path as Python gives it (``str`` possibly holding lone surrogates, or a ``PathLike``).
    Returns:
        ``str`` that encodes as UTF-8; equal to ``os.fspath(path)`` when that is valid UTF-8 without U+FFFF.
    """
    s = os.fspath(path)
    if s.isascii():
        return s
    return _NEEDS_ESCAPE.sub(lambda m: f"{PATH_ESCAPE}{ord(m.group()):04x}", s)


def text_to_path(text: str) -> str:
    """The path whose ``path_to_text`` is ``text`` (undoes the escape; other text comes back unchanged)."""
    if PATH_ESCAPE not in text:
        return text
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def has_undecodable_bytes(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` holds bytes that are not valid UTF-8 (lone surrogates in the ``str``)."""
    return _SURROGATE.search(os.fspath(path)) is not None


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as one safe line of text: undecodable bytes as U+FFFD, control characters replaced.

    Not reversible: use it for what a person reads (CLI output, window), never to open the file.
    """
    return display_text(os.fspath(path))


def path_key(path: str | os.PathLike[str]) -> str:
    """A lossless text key for ``path`` that survives UTF-8 encoding and Qt's ``QString`` (``path_to_text``)."""
    return path_to_text(path)

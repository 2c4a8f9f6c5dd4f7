"""XMP sidecars: the photo's landmark written beside it, where digiKam, darktable, Lightroom and Immich read it.

The XMP library is exiv2 through its Python binding ``exiv2`` (python-exiv2: wheels bundle libexiv2 for Linux,
Windows and macOS). Sidecars are parsed into exiv2's ``XmpData``, changed property by property, and serialised by
exiv2's XMP toolkit; no XML is built by hand. ``pyexiv2`` was not used: it writes every array as ``rdf:Seq``, which
would turn an existing ``dc:subject`` bag into a sequence. The photo itself is never opened for writing: only the
bytes of the sidecar are produced here, and the caller writes them with ``core.photos.safe_write.replace_file``
(temporary file in the same folder, then rename).

Names (``sidecar_path``), per the application the person picks (``Convention``):

* digiKam: ``photo.jpg.xmp`` (digiKam's default, "photo.jpg.xmp" naming);
* darktable: ``photo.jpg.xmp`` (darktable keeps its edit history, ``darktable:history``, in the same file: it is
  kept as it is);
* Lightroom: ``photo.xmp`` (Lightroom Classic's name for raw files' sidecars; two photos that differ only by
  extension would share it, so the export refuses that pair).

What a label writes (``merge_sidecar``):

* ``dc:subject`` (bag): the landmark's display name ("Eiffel Tower, Paris");
* ``lr:hierarchicalSubject`` (bag): ``Places|<Country>|<Landmark>`` (``Places|<Landmark>`` without a country);
* digiKam only, ``digiKam:TagsList`` (seq): ``Places/<Country>/<Landmark>`` — digiKam reads its own tag list first
  and ignores the others when a sidecar has one;
* ``exif:GPSLatitude`` / ``exif:GPSLongitude`` (``"DDD,MM.mmmmmmN"``): only when asked for (``--estimated-gps``),
  for a photo without EXIF GPS whose landmark has coordinates, and never over coordinates already in the sidecar;
* our own namespace ``lt`` (``NAMESPACE``): ``lt:landmark`` (key), ``lt:confidence`` (``"0.9312"``),
  ``lt:modelVersion``, ``lt:labelSource`` (model/manual/gps), and what we added — ``lt:addedSubject``,
  ``lt:addedHierarchicalSubject``, ``lt:addedTagsList`` (bags), ``lt:addedGPS`` (``"True"``) — so that a
  correction removes exactly our old keyword and coordinates and never one the person typed in another app.

Everything else in an existing sidecar is kept (other keywords, ratings, regions, darktable's history, unknown
namespaces). A sidecar that does not parse (exiv2 reports a decode error, or it is not XMP) raises
``SidecarError``: the caller leaves it untouched and reports it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.domain import SidecarConvention

__all__ = [
    "NAMESPACE",
    "PREFIX",
    "Convention",
    "SidecarError",
    "SidecarLabel",
    "SidecarKeywords",
    "sidecar_path",
    "sidecar_candidates",
    "hierarchy",
    "gps_coordinate",
    "merge_sidecar",
    "read_keywords",
    "read_properties",
]

#: Our XMP namespace (URI) and its prefix.
NAMESPACE = "https://landmark-tagger.org/ns/xmp/1.0/"
PREFIX = "lt"


#: Sidecar naming conventions (the app the person uses): ``core.domain.SidecarConvention``.
Convention = SidecarConvention


class SidecarError(Exception):
    """An existing sidecar cannot be used (corrupt, not XMP, unreadable); ``str(err)`` is one line."""


@dataclass(frozen=True)
class SidecarLabel:
    """What is written for one photo.

    Attributes:
        landmark: the landmark key. name: its display name (``dc:subject``). country: its country, or ``None``.
        confidence: the label's confidence in [0, 1], or ``None``. model_version: the model that made it, or
            ``None`` (a label of the person's, or from GPS). source: ``model`` / ``manual`` / ``gps``.
        gps: ``(latitude, longitude)`` to write as estimated coordinates, or ``None``.
    """

    landmark: str
    name: str
    country: str | None = None
    confidence: float | None = None
    model_version: str | None = None
    source: str = "model"
    gps: tuple[float, float] | None = None


@dataclass(frozen=True)
class SidecarKeywords:
    """The keywords of a sidecar (``read_keywords``).

    Attributes:
        keywords: ``dc:subject`` entries and the last level of each ``lr:hierarchicalSubject`` /
            ``digiKam:TagsList`` entry, in that order, without the ones we added.
        ours: our landmark key when the sidecar holds our marks, else ``None``.
    """

    keywords: tuple[str, ...] = ()
    ours: str | None = None
    hierarchical: tuple[str, ...] = field(default=(), compare=False)


_SUBJECT = "Xmp.dc.subject"
_HIERARCHY = "Xmp.lr.hierarchicalSubject"
_TAGSLIST = "Xmp.digiKam.TagsList"
_LAT, _LON = "Xmp.exif.GPSLatitude", "Xmp.exif.GPSLongitude"
_OURS = {
    "landmark": f"Xmp.{PREFIX}.landmark",
    "confidence": f"Xmp.{PREFIX}.confidence",
    "model": f"Xmp.{PREFIX}.modelVersion",
    "source": f"Xmp.{PREFIX}.labelSource",
    "gps": f"Xmp.{PREFIX}.addedGPS",
}
_ADDED = {
    _SUBJECT: f"Xmp.{PREFIX}.addedSubject",
    _HIERARCHY: f"Xmp.{PREFIX}.addedHierarchicalSubject",
    _TAGSLIST: f"Xmp.{PREFIX}.addedTagsList",
}

#: exiv2's XMP toolkit and its namespace registry are process-wide: one sidecar at a time.
_LOCK = threading.Lock()
_ready = False


def _exiv2() -> Any:
    """The ``exiv2`` module, set up once: our namespace registered, warnings on (a failed decode is seen)."""
    global _ready
    import exiv2

    if not _ready:
        exiv2.XmpParser.initialize()
        try:
            exiv2.XmpProperties.registerNs(NAMESPACE, PREFIX)
        except exiv2.Exiv2Error:  # pragma: no cover - registered by another import of this module
            pass
        exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.warn)
        _ready = True
    return exiv2


def sidecar_path(photo: str | Path, convention: str) -> Path:
    """The sidecar of ``photo`` under ``convention`` (``Convention``): ``photo.jpg.xmp`` or ``photo.xmp``.

    Raises:
        ValueError: an unknown convention.
    """
    p = Path(photo)
    if convention in (Convention.DIGIKAM, Convention.DARKTABLE):
        return p.with_name(p.name + ".xmp")
    if convention == Convention.LIGHTROOM:
        return p.with_suffix(".xmp")
    raise ValueError(f"unknown sidecar convention {convention!r} (one of {', '.join(Convention.ALL)})")


def sidecar_candidates(photo: str | Path) -> list[Path]:
    """The sidecars another app may have written for ``photo`` that exist: ``photo.jpg.xmp``, then ``photo.xmp``."""
    p = Path(photo)
    out = []
    for c in (p.with_name(p.name + ".xmp"), p.with_suffix(".xmp")):
        if c != p and c not in out and c.is_file():
            out.append(c)
    return out


def hierarchy(name: str, country: str | None, sep: str = "|") -> str:
    """``Places|<Country>|<Landmark>`` (``sep`` ``"/"`` for digiKam's tag list); a separator inside a name becomes
    a space."""
    parts = ["Places", *([country] if country else []), name]
    return sep.join(" ".join(x.replace("|", " ").replace("/", " ").split()) for x in parts)


def gps_coordinate(value: float, axis: str) -> str:
    """An XMP ``GPSCoordinate`` (``"DDD,MM.mmmmmmK"``, XMP Specification Part 2, EXIF schema) of ``value`` degrees;
    ``axis`` ``"lat"`` (N/S) or ``"lon"`` (E/W).

    Raises:
        ValueError: not a finite number in range.
    """
    limit, pos, neg = (90.0, "N", "S") if axis == "lat" else (180.0, "E", "W")
    if not math.isfinite(value) or abs(value) > limit:
        raise ValueError(f"{value!r} is not a {axis} in [-{limit}, {limit}]")
    a = abs(value)
    deg = int(a)
    minutes = (a - deg) * 60.0
    return f"{deg},{minutes:.6f}{pos if value >= 0 else neg}"


@contextmanager
def _decode_errors() -> Iterator[list[str]]:
    """Collect exiv2's warnings and errors logged on this thread meanwhile (python-exiv2 sends them to the
    ``exiv2`` logger): a sidecar whose XMP does not decode is only *logged* by exiv2, not raised."""
    seen: list[str] = []
    me = threading.get_ident()

    class _Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread == me and record.levelno >= logging.WARNING:
                seen.append(record.getMessage())

    handler = _Catch(logging.WARNING)
    logger = logging.getLogger("exiv2")
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)


def _open(data: bytes | None) -> Any:
    """An exiv2 XMP sidecar image in memory: parsed from ``data``, or a new empty one.

    Raises:
        SidecarError: ``data`` is not XMP, or its XMP does not decode.
    """
    ex = _exiv2()
    if data is None:
        return ex.ImageFactory.create(ex.ImageType.xmp)
    if not data.strip():
        raise SidecarError("the sidecar is empty")
    with _decode_errors() as problems:
        try:
            img = ex.ImageFactory.open(data)
            if img.imageType() != ex.ImageType.xmp:
                raise SidecarError("the sidecar is not an XMP file")
            img.readMetadata()
            # exiv2 copies XMP's exif:/tiff:/dc: properties into its Exif/IPTC data on read and back over the XMP
            # on write; a sidecar is XMP only, so drop the copies: what we change (or remove) in XMP stays so
            img.clearExifData()
            img.clearIptcData()
        except ex.Exiv2Error as exc:
            raise SidecarError(f"the sidecar cannot be read ({_exiv2_message(exc)})") from None
    if problems:
        raise SidecarError(f"the sidecar is damaged ({problems[0].strip().rstrip('.')})")
    return img


def _exiv2_message(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    return str(args[-1]) if args else str(exc)


def _values(xmp: Any, key: str) -> list[str] | None:
    """The items of an array property (a simple one as one item), or ``None`` when absent."""
    ex = _exiv2()
    d = xmp.findKey(ex.XmpKey(key))
    if d == xmp.end():
        return None
    if d.typeId() in (ex.TypeId.xmpBag, ex.TypeId.xmpSeq, ex.TypeId.xmpAlt):
        return [d.toString(i) for i in range(d.count())]
    return [d.toString()]


def _text(xmp: Any, key: str) -> str | None:
    vals = _values(xmp, key)
    return vals[0] if vals else None


def _array_type(xmp: Any, key: str, default: Any) -> Any:
    ex = _exiv2()
    d = xmp.findKey(ex.XmpKey(key))
    if d != xmp.end() and d.typeId() in (ex.TypeId.xmpBag, ex.TypeId.xmpSeq):
        return d.typeId()
    return default


def _set_array(xmp: Any, key: str, items: Sequence[str], type_id: Any) -> None:
    ex = _exiv2()
    _erase(xmp, key)
    if not items:
        return
    v = ex.Value.create(type_id)
    for item in items:
        v.read(item)
    xmp.add(ex.XmpKey(key), v)


def _set_text(xmp: Any, key: str, value: str | None) -> None:
    _erase(xmp, key)
    if value is not None:
        xmp[key] = value


def _erase(xmp: Any, key: str) -> None:
    ex = _exiv2()
    d = xmp.findKey(ex.XmpKey(key))
    while d != xmp.end():
        xmp.erase(d)
        d = xmp.findKey(ex.XmpKey(key))


def _snapshot(xmp: Any) -> list[tuple[str, str, str]]:
    return sorted((d.key(), d.typeName(), d.toString()) for d in xmp)


def _serialise(img: Any) -> bytes:
    img.writeMetadata()
    io = img.io()
    try:
        return bytes(io.mmap())
    finally:
        io.munmap()


def _merge_array(xmp: Any, key: str, want: str | None, default_type: Any) -> None:
    """Make array ``key`` hold ``want`` (``None``: none of ours), removing what we added before and keeping the
    person's items and their order; records what we added in ``_ADDED[key]``."""
    ex = _exiv2()
    items = _values(xmp, key)
    prev = _values(xmp, _ADDED[key]) or []
    new_items = list(items or [])
    for a in prev:
        if a != want and a in new_items:
            new_items.remove(a)
    added: list[str] = []
    if want is not None:
        if want not in new_items:
            new_items.append(want)
            added = [want]
        elif want in prev:
            added = [want]  # still ours
    if new_items != (items or []):
        _set_array(xmp, key, new_items, _array_type(xmp, key, default_type))
    if added != prev:
        _set_array(xmp, _ADDED[key], added, ex.TypeId.xmpBag)


def _merge_gps(xmp: Any, want: tuple[float, float] | None) -> None:
    """Estimated coordinates: ours are replaced or removed; coordinates someone else wrote are never touched."""
    ours = _text(xmp, _OURS["gps"]) == "True"
    if ours:
        if want is None:
            _erase(xmp, _LAT)
            _erase(xmp, _LON)
            _erase(xmp, _OURS["gps"])
            return
    elif want is None or _values(xmp, _LAT) is not None or _values(xmp, _LON) is not None:
        return
    lat, lon = gps_coordinate(want[0], "lat"), gps_coordinate(want[1], "lon")
    if _text(xmp, _LAT) != lat:
        _set_text(xmp, _LAT, lat)
    if _text(xmp, _LON) != lon:
        _set_text(xmp, _LON, lon)
    if not ours:
        _set_text(xmp, _OURS["gps"], "True")


def _merge_text(xmp: Any, key: str, value: str | None) -> None:
    if _text(xmp, key) != value:
        _set_text(xmp, key, value)


def merge_sidecar(existing: bytes | None, label: SidecarLabel | None, convention: str) -> bytes | None:
    """The sidecar's new bytes with ``label`` merged in (see the module docstring), or ``None`` when nothing
    changes (the sidecar already says this; or no label and no sidecar / none of our marks), or ``b""`` when the
    sidecar is left with no property at all (it held only what we wrote: the caller removes the file).

    Our previous keywords are replaced (or removed when ``label`` is ``None``); the person's keywords, their
    order and every other property stay.

    Args:
        existing: the current sidecar's bytes, or ``None`` when there is none.
        label: what to write, or ``None`` to remove what we wrote before (the photo has no confident label now).
        convention: a ``Convention`` value (``digikam`` also writes ``digiKam:TagsList``).
    Raises:
        SidecarError: ``existing`` is not a readable XMP sidecar (it must be left untouched).
        ValueError: an unknown convention.
    """
    if convention not in Convention.ALL:
        raise ValueError(f"unknown sidecar convention {convention!r} (one of {', '.join(Convention.ALL)})")
    if existing is None and label is None:
        return None
    with _LOCK:
        ex = _exiv2()
        img = _open(existing)
        xmp = img.xmpData()
        before = _snapshot(xmp)
        want: dict[str, str | None] = {_SUBJECT: None, _HIERARCHY: None, _TAGSLIST: None}
        if label is not None:
            want[_SUBJECT] = label.name
            want[_HIERARCHY] = hierarchy(label.name, label.country)
            if convention == Convention.DIGIKAM:
                want[_TAGSLIST] = hierarchy(label.name, label.country, "/")
        _merge_array(xmp, _SUBJECT, want[_SUBJECT], ex.TypeId.xmpBag)
        _merge_array(xmp, _HIERARCHY, want[_HIERARCHY], ex.TypeId.xmpBag)
        _merge_array(xmp, _TAGSLIST, want[_TAGSLIST], ex.TypeId.xmpSeq)
        _merge_gps(xmp, label.gps if label is not None else None)
        _merge_text(xmp, _OURS["landmark"], label.landmark if label else None)
        _merge_text(xmp, _OURS["source"], label.source if label else None)
        conf = label.confidence if label else None
        _merge_text(xmp, _OURS["confidence"], f"{float(conf):.4f}" if conf is not None else None)
        _merge_text(xmp, _OURS["model"], (label.model_version or None) if label else None)
        if _snapshot(xmp) == before:
            return None
        if xmp.empty():
            return b""  # exiv2 serialises no data as nothing at all: the sidecar held only what we wrote
        return _serialise(img)


def read_keywords(data: bytes) -> SidecarKeywords:
    """The keywords of a sidecar another app wrote (for importing labels), without the ones we added.

    Raises:
        SidecarError: not a readable XMP sidecar.
    """
    with _LOCK:
        img = _open(data)
        xmp = img.xmpData()
        ours = _text(xmp, _OURS["landmark"])
        out: list[str] = []
        hier: list[str] = []
        for key, sep in ((_SUBJECT, None), (_HIERARCHY, "|"), (_TAGSLIST, "/")):
            added = set(_values(xmp, _ADDED[key]) or [])
            for item in _values(xmp, key) or []:
                if item in added:
                    continue
                if sep is None:
                    out.append(item)
                else:
                    hier.append(item)
                    leaf = item.split(sep)[-1].strip()
                    if leaf:
                        out.append(leaf)
        return SidecarKeywords(tuple(dict.fromkeys(k.strip() for k in out if k.strip())), ours, tuple(hier))


def read_properties(data: bytes) -> dict[str, list[str]]:
    """``{exiv2 key: items}`` of every property of a sidecar (tests and diagnostics: what is in it).

    Raises:
        SidecarError: not a readable XMP sidecar.
    """
    with _LOCK:
        img = _open(data)
        out: dict[str, list[str]] = {}
        for d in img.xmpData():
            out[d.key()] = _values(img.xmpData(), d.key()) or []
        return out

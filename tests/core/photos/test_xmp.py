"""XMP sidecars (``core.photos.xmp``): what a label writes, round trips through exiv2, merging into sidecars that
digiKam and darktable wrote without losing anything, corrections replacing only our keyword, corrupt sidecars."""

from __future__ import annotations

import exiv2
import pytest

from core.photos.xmp import (
    NAMESPACE,
    Convention,
    SidecarError,
    SidecarLabel,
    gps_coordinate,
    hierarchy,
    merge_sidecar,
    read_keywords,
    read_properties,
    sidecar_candidates,
    sidecar_path,
)

#: A sidecar as digiKam 8 writes it (its XMP toolkit is exiv2's: "XMP Core 4.4.0-Exiv2"): digiKam's tag list,
#: MicrosoftPhoto's last keywords, Lightroom's hierarchical subjects, dc:subject, ratings, a face region, and a
#: namespace exiv2 does not know.
DIGIKAM_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:MicrosoftPhoto="http://ns.microsoft.com/photo/1.0/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:mediapro="http://ns.iview-multimedia.com/mediapro/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:acme="http://example.org/acme/1.0/"
   xmp:Rating="4"
   xmp:CreatorTool="digiKam-8.2.0"
   MicrosoftPhoto:Rating="75"
   tiff:Orientation="1"
   acme:reviewed="yes">
   <digiKam:TagsList>
    <rdf:Seq>
     <rdf:li>People/Anna</rdf:li>
     <rdf:li>Holidays/Paris 2023</rdf:li>
    </rdf:Seq>
   </digiKam:TagsList>
   <MicrosoftPhoto:LastKeywordXMP>
    <rdf:Bag>
     <rdf:li>People/Anna</rdf:li>
     <rdf:li>Holidays/Paris 2023</rdf:li>
    </rdf:Bag>
   </MicrosoftPhoto:LastKeywordXMP>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>People|Anna</rdf:li>
     <rdf:li>Holidays|Paris 2023</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
   <mediapro:CatalogSets>
    <rdf:Bag>
     <rdf:li>People|Anna</rdf:li>
    </rdf:Bag>
   </mediapro:CatalogSets>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>Anna</rdf:li>
     <rdf:li>Paris 2023</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="4000" stDim:h="3000" stDim:unit="pixel"/>
    <mwg-rs:RegionList>
     <rdf:Bag>
      <rdf:li>
       <rdf:Description mwg-rs:Name="Anna" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="0.41" stArea:y="0.38" stArea:w="0.1" stArea:h="0.15" stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
     </rdf:Bag>
    </mwg-rs:RegionList>
   </mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
""".encode()

#: A darktable 4 sidecar: its edit history (a sequence of structures) and import data.
DARKTABLE_XMP = b"""<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:darktable="http://darktable.sf.net/"
   exif:DateTimeOriginal="2023:05:01 10:12:13"
   xmp:Rating="1"
   xmpMM:DerivedFrom="IMG_0001.CR2"
   darktable:import_timestamp="63818000000000000"
   darktable:xmp_version="5"
   darktable:history_end="2">
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:num="0" darktable:operation="exposure" darktable:enabled="1" darktable:modversion="6"
      darktable:params="0000000000000000000080400000803f" darktable:multi_name="" darktable:multi_priority="0"/>
     <rdf:li darktable:num="1" darktable:operation="colorin" darktable:enabled="1" darktable:modversion="7"
      darktable:params="gz48eJzjZhgFowABWAAAHdgAPQ==" darktable:multi_name="" darktable:multi_priority="0"/>
    </rdf:Seq>
   </darktable:history>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>darktable|format|cr2</rdf:li>
    </rdf:Bag>
   </dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""

EIFFEL = SidecarLabel("Eiffel_Tower", "Eiffel Tower, Paris", "France", 0.93125, "mnv2-7", "model")
COLOSSEUM = SidecarLabel("Colosseum", "Colosseum, Rome", "Italy", 1.0, None, "manual")


def _types(data: bytes) -> dict[str, str]:
    """``{key: exiv2 type name}`` read with exiv2 directly (not through the module under test)."""
    img = exiv2.ImageFactory.open(data)
    img.readMetadata()
    return {d.key(): d.typeName() for d in img.xmpData()}


def test_sidecar_names_per_convention(tmp_path):
    photo = tmp_path / "IMG_0001.JPG"
    assert sidecar_path(photo, Convention.DIGIKAM) == tmp_path / "IMG_0001.JPG.xmp"
    assert sidecar_path(photo, Convention.DARKTABLE) == tmp_path / "IMG_0001.JPG.xmp"
    assert sidecar_path(photo, Convention.LIGHTROOM) == tmp_path / "IMG_0001.xmp"
    with pytest.raises(ValueError, match="unknown sidecar convention"):
        sidecar_path(photo, "picasa")
    assert sidecar_candidates(photo) == []
    (tmp_path / "IMG_0001.xmp").write_bytes(DIGIKAM_XMP)
    (tmp_path / "IMG_0001.JPG.xmp").write_bytes(DIGIKAM_XMP)
    assert sidecar_candidates(photo) == [tmp_path / "IMG_0001.JPG.xmp", tmp_path / "IMG_0001.xmp"]


def test_formats():
    assert hierarchy("Eiffel Tower, Paris", "France") == "Places|France|Eiffel Tower, Paris"
    assert hierarchy("Dome of the Rock", None) == "Places|Dome of the Rock"
    assert hierarchy("A|B/C", "X", "/") == "Places/X/A B C"
    assert gps_coordinate(48.8584, "lat") == "48,51.504000N"
    assert gps_coordinate(-22.9519, "lat") == "22,57.114000S"
    assert gps_coordinate(-43.2105, "lon") == "43,12.630000W"
    with pytest.raises(ValueError):
        gps_coordinate(91.0, "lat")


def test_new_sidecar_round_trips_through_exiv2():
    data = merge_sidecar(None, EIFFEL, Convention.LIGHTROOM)
    assert data is not None and b"Eiffel Tower, Paris" in data
    props = read_properties(data)
    assert props["Xmp.dc.subject"] == ["Eiffel Tower, Paris"]
    assert props["Xmp.lr.hierarchicalSubject"] == ["Places|France|Eiffel Tower, Paris"]
    assert props["Xmp.lt.confidence"] == ["0.9313"] and props["Xmp.lt.modelVersion"] == ["mnv2-7"]
    assert props["Xmp.lt.landmark"] == ["Eiffel_Tower"] and props["Xmp.lt.labelSource"] == ["model"]
    assert "Xmp.digiKam.TagsList" not in props and "Xmp.exif.GPSLatitude" not in props
    types = _types(data)
    assert types["Xmp.dc.subject"] == "XmpBag" and types["Xmp.lr.hierarchicalSubject"] == "XmpBag"
    assert NAMESPACE.encode() in data
    # the same label again: nothing to write
    assert merge_sidecar(data, EIFFEL, Convention.LIGHTROOM) is None
    assert merge_sidecar(None, None, Convention.LIGHTROOM) is None
    assert read_keywords(data).keywords == () and read_keywords(data).ours == "Eiffel_Tower"


def test_merging_into_a_digikam_sidecar_keeps_everything():
    before = read_properties(DIGIKAM_XMP)
    merged = merge_sidecar(DIGIKAM_XMP, EIFFEL, Convention.DIGIKAM)
    after = read_properties(merged)
    for key, items in before.items():
        if key in ("Xmp.dc.subject", "Xmp.lr.hierarchicalSubject", "Xmp.digiKam.TagsList"):
            assert after[key][: len(items)] == items, key  # the person's keywords first, in their order
        else:
            assert after[key] == items, key  # ratings, regions, unknown namespaces: all kept
    assert after["Xmp.dc.subject"][-1] == "Eiffel Tower, Paris"
    assert after["Xmp.lr.hierarchicalSubject"][-1] == "Places|France|Eiffel Tower, Paris"
    assert after["Xmp.digiKam.TagsList"][-1] == "Places/France/Eiffel Tower, Paris"
    assert after["Xmp.MicrosoftPhoto.LastKeywordXMP"] == before["Xmp.MicrosoftPhoto.LastKeywordXMP"]
    types = _types(merged)
    assert types["Xmp.dc.subject"] == "XmpBag" and types["Xmp.digiKam.TagsList"] == "XmpSeq"
    assert types["Xmp.lr.hierarchicalSubject"] == "XmpBag"
    # a correction replaces our keyword only
    corrected = merge_sidecar(merged, COLOSSEUM, Convention.DIGIKAM)
    c = read_properties(corrected)
    assert c["Xmp.dc.subject"] == ["Anna", "Paris 2023", "Colosseum, Rome"]
    assert c["Xmp.digiKam.TagsList"] == ["People/Anna", "Holidays/Paris 2023", "Places/Italy/Colosseum, Rome"]
    assert c["Xmp.lt.labelSource"] == ["manual"] and "Xmp.lt.modelVersion" not in c
    # the label goes (undo to no landmark): the sidecar says exactly what it said before
    cleaned = merge_sidecar(corrected, None, Convention.DIGIKAM)
    assert read_properties(cleaned) == before
    assert read_keywords(corrected).keywords == ("Anna", "Paris 2023")


def test_darktable_history_is_kept_and_no_digikam_tags_are_added():
    merged = merge_sidecar(DARKTABLE_XMP, EIFFEL, Convention.DARKTABLE)
    after, before = read_properties(merged), read_properties(DARKTABLE_XMP)
    history = {k: v for k, v in before.items() if k.startswith("Xmp.darktable.")}
    assert len(history) > 10 and {k: after[k] for k in history} == history
    assert after["Xmp.dc.subject"] == ["darktable|format|cr2", "Eiffel Tower, Paris"]
    assert "Xmp.digiKam.TagsList" not in after
    assert read_properties(merge_sidecar(merged, None, Convention.DARKTABLE)) == before


def test_a_keyword_the_person_wrote_is_never_removed():
    assert merge_sidecar(DIGIKAM_XMP, None, Convention.DIGIKAM) is None  # none of our marks: nothing to clean
    own = DIGIKAM_XMP.replace(b"<rdf:li>Paris 2023</rdf:li>", b"<rdf:li>Eiffel Tower, Paris</rdf:li>")
    merged = merge_sidecar(own, EIFFEL, Convention.DIGIKAM)
    assert read_properties(merged)["Xmp.dc.subject"] == ["Anna", "Eiffel Tower, Paris"]  # not twice
    corrected = read_properties(merge_sidecar(merged, COLOSSEUM, Convention.DIGIKAM))
    assert corrected["Xmp.dc.subject"] == ["Anna", "Eiffel Tower, Paris", "Colosseum, Rome"]  # theirs stays
    assert "Xmp.lt.addedSubject" not in read_properties(merged)  # we added nothing to dc:subject


def test_estimated_gps_is_written_only_where_there_is_none():
    with_gps = SidecarLabel(**{**EIFFEL.__dict__, "gps": (48.8584, 2.2945)})
    data = merge_sidecar(None, with_gps, Convention.DIGIKAM)
    props = read_properties(data)
    assert props["Xmp.exif.GPSLatitude"] == ["48,51.504000N"] and props["Xmp.exif.GPSLongitude"] == ["2,17.670000E"]
    assert props["Xmp.lt.addedGPS"] == ["True"]
    # another label without coordinates: ours go
    gone = read_properties(merge_sidecar(data, COLOSSEUM, Convention.DIGIKAM))
    assert "Xmp.exif.GPSLatitude" not in gone and "Xmp.lt.addedGPS" not in gone
    # coordinates someone else wrote are never replaced
    theirs = DIGIKAM_XMP.replace(
        b'xmp:Rating="4"', b'xmp:Rating="4" exif:GPSLatitude="41,53.412N" exif:GPSLongitude="12,29.532E"'
    ).replace(b'xmlns:acme="', b'xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:acme="')
    kept = read_properties(merge_sidecar(theirs, with_gps, Convention.DIGIKAM))
    assert kept["Xmp.exif.GPSLatitude"] == read_properties(theirs)["Xmp.exif.GPSLatitude"]
    assert "Xmp.lt.addedGPS" not in kept


@pytest.mark.parametrize(
    "data, why",
    [
        (DIGIKAM_XMP[: len(DIGIKAM_XMP) // 2], "damaged"),  # cut off mid-way
        (DIGIKAM_XMP.replace(b"</dc:subject>", b"</dc:subjekt>"), "damaged"),  # tags do not match
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\x00\x01\x02 binary garbage" * 20, "cannot be read"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64, "not an XMP file"),  # a JPEG named .xmp
    ],
)
def test_corrupt_sidecars_raise(data, why):
    with pytest.raises(SidecarError, match=why):
        merge_sidecar(data, EIFFEL, Convention.DIGIKAM)
    with pytest.raises(SidecarError):
        read_keywords(data)


def test_keywords_for_import_leave_ours_out():
    merged = merge_sidecar(DIGIKAM_XMP, EIFFEL, Convention.DIGIKAM)
    kw = read_keywords(merged)
    assert "Eiffel Tower, Paris" not in kw.keywords and kw.ours == "Eiffel_Tower"
    assert kw.keywords == ("Anna", "Paris 2023")
    lr_only = DIGIKAM_XMP.replace(b"<rdf:li>Holidays|Paris 2023</rdf:li>", b"<rdf:li>Places|Italy|Colosseum</rdf:li>")
    assert "Colosseum" in read_keywords(lr_only).keywords  # the last level of a hierarchical keyword


def test_a_sidecar_left_with_nothing_is_to_be_removed():
    ours_only = merge_sidecar(None, EIFFEL, Convention.DIGIKAM)
    assert merge_sidecar(ours_only, None, Convention.DIGIKAM) == b""

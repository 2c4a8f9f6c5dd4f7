"""``core.photos.image_io.open_photo``: real files made here with Pillow (and one real HEIF from ../shared)."""

from __future__ import annotations

import pickle
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

import core.photos.image_io as image_io
from core.photos.image_io import MAX_IMAGE_PIXELS, ImageDecodeError, image_size, open_photo


def _noise_jpeg(path, size=(256, 192), seed=0, **save):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr, "RGB").save(path, "JPEG", quality=90, **save)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _big_bilevel_png(path, width, height):
    """A valid all-black 1-bit PNG of width × height pixels, written without allocating the image
    (the zero scanlines compress to a few kB per 100 MP)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    )
    return path


# ----------------------------------------------------------------------------- good files


def test_jpeg_decodes_to_rgb(tmp_path):
    path = _noise_jpeg(tmp_path / "a.jpg")
    img = open_photo(path)
    assert img.mode == "RGB" and img.size == (256, 192)
    # pixels are loaded: usable after open_photo closed the file
    assert np.asarray(img).shape == (192, 256, 3)


def test_exif_orientation_6_is_applied(tmp_path):
    # stored 40 × 20, left half red, right half blue; Orientation 6 = "rotate 90° clockwise to display",
    # so the displayed photo is 20 × 40 with red on top.
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = (255, 0, 0)
    arr[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    path = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(path, "JPEG", quality=95, exif=exif.tobytes())
    with Image.open(path) as raw:
        assert raw.size == (40, 20) and raw.getexif()[0x0112] == 6
    img = open_photo(path)
    assert img.size == (20, 40)
    top, bottom = np.asarray(img)[5, 10], np.asarray(img)[35, 10]
    assert top[0] > 200 and top[2] < 60  # red
    assert bottom[2] > 200 and bottom[0] < 60  # blue
    assert image_size(path) == (20, 40)  # from the header, orientation applied


def test_image_size_matches_the_decoded_photo(shared_data, tmp_path):
    """``image_size`` (header only) gives the size ``open_photo`` decodes, for real rotated JPEGs and a real HEIF;
    a file that is not an image is an ``ImageDecodeError``."""
    samples = shared_data / "exif-samples"
    paths = sorted((samples / "jpg" / "orientation").glob("*.jpg")) + [
        samples / "heic" / "mobile" / "HMD_Nokia_8.3_5G.heif"
    ]
    assert len(paths) > 8
    for path in paths:
        assert image_size(path) == open_photo(path).size, path.name
    (tmp_path / "note.jpg").write_text("not a photo")
    with pytest.raises(ImageDecodeError) as err:
        image_size(tmp_path / "note.jpg")
    assert err.value.kind == "not_image"
    with pytest.raises(ImageDecodeError) as err:
        image_size(tmp_path / "gone.jpg")
    assert err.value.kind == "missing"


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_malformed_exif_keeps_the_photo(tmp_path):
    path = tmp_path / "badexif.jpg"
    Image.new("RGB", (32, 24), (10, 200, 30)).save(path, "JPEG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7fgarbage")
    img = open_photo(path)
    assert img.size == (32, 24) and img.mode == "RGB"


def test_large_jpeg_is_draft_decoded_but_keeps_target_size(tmp_path):
    path = tmp_path / "big.jpg"
    Image.linear_gradient("L").resize((2400, 1600)).convert("RGB").save(path, "JPEG", quality=85)
    assert open_photo(path).size == (2400, 1600)  # no target: full resolution
    # 1600 // 256 = 6 -> DCT scale 1/4 -> 600 × 400, shorter side still >= 256
    img = open_photo(path, target_size=256)
    assert img.size == (600, 400) and img.mode == "RGB"
    assert open_photo(path, target_size=200).size == (300, 200)  # 1600 // 200 = 8 -> 1/8
    assert open_photo(path, target_size=1000).size == (2400, 1600)  # too big for any reduction
    assert open_photo(path, target_size=5000).size == (2400, 1600)


def test_draft_decoding_is_not_applied_to_png(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (1200, 800), (1, 2, 3)).save(path)
    assert open_photo(path, target_size=100).size == (1200, 800)


def test_transparent_png_is_composited_over_white(tmp_path):
    path = tmp_path / "alpha.png"
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 255))
    img.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent black
    img.save(path)
    out = np.asarray(open_photo(path))
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[3, 3]) == (255, 0, 0)


@pytest.mark.parametrize("mode,value,expected", [("L", 128, 128), ("I;16", 65535, 255), ("P", 0, 0), ("CMYK", 0, 255)])
def test_other_modes_become_rgb(tmp_path, mode, value, expected):
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    Image.new(mode, (8, 6), value).save(path)
    img = open_photo(path)
    assert img.mode == "RGB" and img.size == (8, 6)
    assert np.asarray(img)[0, 0, 0] == expected


def test_heif_from_a_real_phone(shared_data):
    path = shared_data / "exif-samples" / "heic" / "mobile" / "HMD_Nokia_8.3_5G.heif"
    img = open_photo(path, target_size=256)
    assert img.mode == "RGB"
    assert min(img.size) >= 256 and max(img.size) > 3000
    assert np.asarray(img).std() > 5  # real picture content, not a blank frame


def test_decoding_from_many_threads_gives_the_same_pixels(tmp_path):
    paths = [_noise_jpeg(tmp_path / f"{i}.jpg", size=(300 + i, 200), seed=i) for i in range(12)]
    paths.append(tmp_path / "missing.jpg")

    def decode(p):
        try:
            return np.asarray(open_photo(p, target_size=64))
        except ImageDecodeError as exc:
            return exc.kind

    sequential = [decode(p) for p in paths]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(decode, paths * 3))
    for i, got in enumerate(parallel):
        want = sequential[i % len(paths)]
        if isinstance(want, str):
            assert got == want == "missing"
        else:
            assert np.array_equal(got, want)


# ----------------------------------------------------------------------------- bad files


def _decode_error(path, **kw) -> ImageDecodeError:
    with pytest.raises(ImageDecodeError) as info:
        open_photo(path, **kw)
    err = info.value
    assert err.path == str(path)
    assert str(err).startswith(path.name + ": ") and "\n" not in str(err)
    return err


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    err = _decode_error(path)
    assert err.kind == "empty" and err.reason == "the file is empty (0 bytes)"


def test_missing_file(tmp_path):
    err = _decode_error(tmp_path / "gone.jpg")
    assert err.kind == "missing" and "does not exist" in err.reason


def test_directory_named_like_a_photo(tmp_path):
    path = tmp_path / "folder.jpg"
    path.mkdir()
    err = _decode_error(path)
    assert err.kind == "unreadable" and "cannot read" in err.reason


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list: bread, milk\n" * 20)
    err = _decode_error(path)
    assert err.kind == "not_image" and "not an image" in err.reason


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_jpeg(tmp_path, keep):
    path = _noise_jpeg(tmp_path / "full.jpg", size=(320, 240))
    with Image.open(path) as ok:
        ok.load()  # the untruncated file is fine
    raw = path.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(raw[: int(len(raw) * keep)])
    err = _decode_error(cut)
    assert err.kind == "corrupt" and "truncated" in err.reason
    # with draft decoding too, and Pillow's global setting was not changed
    assert _decode_error(cut, target_size=64).kind == "corrupt"
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_jpeg_header_only(tmp_path):
    raw = _noise_jpeg(tmp_path / "full.jpg").read_bytes()
    path = tmp_path / "head.jpg"
    path.write_bytes(raw[:30])
    err = _decode_error(path)
    assert err.kind == "corrupt" and "truncated or corrupt" in err.reason


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's own ~89 MP notice
@pytest.mark.parametrize("side", [12_000, 15_000])
def test_decompression_bomb_png_is_refused_before_decoding(tmp_path, side):
    # 12000² = 144 MP (over our 100 MP, below Pillow's own hard limit), 15000² = 225 MP (over both)
    path = _big_bilevel_png(tmp_path / "bomb.png", side, side)
    assert path.stat().st_size < 100_000  # a small file that would expand to hundreds of MB
    assert struct.unpack(">II", path.read_bytes()[16:24]) == (side, side)  # IHDR width, height
    err = _decode_error(path)
    assert err.kind == "too_large" and "too large" in err.reason and "decompression bomb" in err.reason


def test_pixel_limit_is_the_module_constant(tmp_path, monkeypatch):
    assert MAX_IMAGE_PIXELS == 100_000_000
    monkeypatch.setattr(image_io, "MAX_IMAGE_PIXELS", 5_000)
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    Image.new("RGB", (50, 100), "white").save(small)  # 5 000 px: allowed
    Image.new("RGB", (50, 101), "white").save(big)  # 5 050 px: refused
    assert open_photo(small).size == (50, 100)
    assert _decode_error(big).kind == "too_large"


def test_bad_target_size_is_a_value_error(tmp_path):
    path = _noise_jpeg(tmp_path / "a.jpg")
    with pytest.raises(ValueError):
        open_photo(path, target_size=0)


def test_decode_error_pickles():
    err = ImageDecodeError("/photos/x.jpg", "the file is empty (0 bytes)", "empty")
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.reason, back.kind) == (err.path, err.reason, err.kind)
    assert str(back) == "x.jpg: the file is empty (0 bytes)"


def test_real_camera_files_decode(shared_data):
    """Every JPEG/TIFF in the exif-samples (including the 'odd' ones) decodes or fails cleanly."""
    files = sorted(
        p for p in (shared_data / "exif-samples").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".tif", ".tiff")
    )
    assert len(files) >= 50
    decoded = 0
    for path in files:
        try:
            img = open_photo(path, target_size=224)
        except ImageDecodeError as exc:
            assert exc.reason
            continue
        assert img.mode == "RGB" and min(img.size) > 0
        decoded += 1
    assert decoded >= len(files) - 2
    # orientation samples: every portrait_N decodes as portrait, every landscape_N as landscape
    for path in files:
        if path.parent.name == "orientation":
            w, h = open_photo(path).size
            assert (h > w) == path.name.startswith("portrait"), path.name

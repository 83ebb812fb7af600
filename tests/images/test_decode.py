"""Tests for stagelens.images decoding (decode.py). Every input is generated in tmp_path with Pillow."""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import time
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageFile, features

from stagelens.images import (
    DEFAULT_MAX_SIDE,
    MAX_PIXELS,
    ImageError,
    PreparedImage,
    load_image,
    load_images,
)
from stagelens.images import decode as images

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


# --- helpers -----------------------------------------------------------------


def pixel(img: PreparedImage, x: int, y: int) -> tuple[int, int, int]:
    width = img.sent_size[0]
    i = (y * width + x) * 3
    return tuple(img.rgb[i : i + 3])


def assert_close(actual: tuple[int, ...], expected: tuple[int, ...], tol: int = 3) -> None:
    assert all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True)), (
        actual,
        expected,
    )


def noise_image(size: tuple[int, int], seed: int = 0) -> Image.Image:
    data = random.Random(seed).randbytes(size[0] * size[1] * 3)
    return Image.frombytes("RGB", size, data)


def save(im: Image.Image, path: Path, **params) -> Path:
    im.save(path, **params)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height RGB pixels (CRCs correct)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


@pytest.fixture
def red_png(tmp_path: Path) -> Path:
    return save(Image.new("RGB", (40, 30), RED), tmp_path / "red.png")


# --- broken inputs -----------------------------------------------------------


@pytest.mark.parametrize("fmt,suffix", [("PNG", "png"), ("JPEG", "jpg")])
def test_truncated_file_is_refused(tmp_path: Path, fmt: str, suffix: str) -> None:
    whole = tmp_path / f"whole.{suffix}"
    save(noise_image((128, 128)), whole, format=fmt)
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(data[: len(data) // 2])

    with pytest.raises(ImageError, match=rf"^cut\.{suffix} is truncated or corrupt: "):
        load_image(cut)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "cat.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match=r"^cat\.png is empty \(0 bytes\)$"):
        load_image(empty)


def test_empty_bytes_are_a_pasted_image() -> None:
    with pytest.raises(ImageError, match=r"^pasted image is empty \(0 bytes\)$"):
        load_image(b"")


UNREADABLE = r"is not an image StageLens can read \(PNG, JPEG, WebP, GIF, BMP, TIFF\)$"


def test_text_file_renamed_png(tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("shopping list: milk, eggs, bread\n" * 20)
    with pytest.raises(ImageError, match=r"^notes\.png " + UNREADABLE):
        load_image(fake)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"^ghost\.png does not exist$"):
        load_image(tmp_path / "ghost.png")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "album.png"
    folder.mkdir()
    with pytest.raises(ImageError, match=r"^album\.png is a folder, not an image file$"):
        load_image(folder)


def test_unreadable_file(red_png: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    red_png.chmod(0)
    try:
        readable = os.access(red_png, os.R_OK)
        if readable:  # running as root: permissions are not enforced, so simulate them

            def deny(*args, **kwargs):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(images, "open", deny, raising=False)
        with pytest.raises(ImageError, match=r"^red\.png cannot be read \(permission denied\)$"):
            load_image(red_png)
    finally:
        red_png.chmod(0o644)


FUZZ_FORMATS = ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "ICO", "PPM", "QOI"]
if features.check("avif"):
    FUZZ_FORMATS.append("AVIF")


@pytest.mark.parametrize("fmt", FUZZ_FORMATS)
def test_damaged_files_only_ever_raise_image_error(fmt: str) -> None:
    """Flipped bytes and cut-offs: Pillow raises many exception types and warnings."""
    rng = random.Random(fmt)
    good = encode(noise_image((24, 16)), fmt)
    outcomes = set()
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        for _ in range(120):
            data = bytearray(good)
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            if rng.random() < 0.3:
                data = data[: rng.randint(1, len(data))]
            try:
                img = load_image(bytes(data))
            except ImageError as exc:
                assert str(exc).startswith("pasted image ")
                outcomes.add("error")
            else:
                assert len(img.rgb) == img.sent_size[0] * img.sent_size[1] * 3
                outcomes.add("ok")
    assert "error" in outcomes
    assert [str(w.message) for w in escaped] == []


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


# --- decompression bombs -----------------------------------------------------


def test_huge_declared_png_is_refused_quickly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_with_declared_size(100_000, 100_000))
    assert bomb.stat().st_size < 200
    with monkeypatch.context() as m:  # prove the header itself is valid
        m.setattr(Image, "MAX_IMAGE_PIXELS", None)
        assert Image.open(bomb).size == (100_000, 100_000)

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match=r"^bomb\.png is too large"):
            load_image(bomb)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "size",
    [
        (9_000, 8_000),  # over MAX_PIXELS, under Pillow's own warning limit
        (10_000, 10_000),  # over Pillow's warning limit: that warning must not escape
        (MAX_PIXELS + 1, 1),
    ],
)
def test_declared_size_over_limit_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    decoded: list[bool] = []
    original_load = ImageFile.ImageFile.load

    def spy_load(self):
        decoded.append(True)
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy_load)
    big = tmp_path / "big.png"
    big.write_bytes(png_with_declared_size(*size))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match=r"^big\.png is too large"):
            load_image(big)
    assert decoded == []


@pytest.mark.parametrize("side", [80, 110])  # 6,400 px: Pillow warns; 12,100 px: Pillow errors
def test_pillow_bomb_warning_and_error_become_image_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000)
    path = save(Image.new("RGB", (side, side), RED), tmp_path / "small.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match=r"^small\.png is too large to load safely"):
            load_image(path)


def test_declared_size_at_limit_is_not_refused_as_too_large(tmp_path: Path) -> None:
    # Exactly MAX_PIXELS passes the size check; the fake pixel data then fails to decode.
    edge = tmp_path / "edge.png"
    edge.write_bytes(png_with_declared_size(MAX_PIXELS // 8_000, 8_000))
    with pytest.raises(ImageError) as info:
        load_image(edge)
    assert "too large" not in str(info.value)
    assert str(info.value).startswith("edge.png is truncated or corrupt")


# --- colour modes ------------------------------------------------------------


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "c.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    img = load_image(path)
    assert_close(pixel(img, 8, 8), RED, tol=4)
    assert len(img.rgb) == 16 * 16 * 3


@pytest.mark.parametrize("suffix", ["png", "tif"])
def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path: Path, suffix: str) -> None:
    levels = list(range(256))
    values = [v * 257 for v in levels]  # 0, 257, ..., 65535: exact 8-bit levels
    im = Image.frombytes("I;16", (256, 1), struct.pack("<256H", *values))
    path = save(im, tmp_path / f"deep.{suffix}")
    assert Image.open(path).mode.startswith("I")

    img = load_image(path)
    assert [pixel(img, x, 0) for x in range(256)] == [(v, v, v) for v in levels]


def test_16_bit_rounds_to_nearest(tmp_path: Path) -> None:
    values = [128, 129, 32767, 32768, 65534]  # /257: 0.498, 0.502, 127.498, 127.502, 254.996
    im = Image.frombytes("I;16", (5, 1), struct.pack("<5H", *values))
    img = load_image(save(im, tmp_path / "r.png"))
    assert [pixel(img, x, 0)[0] for x in range(5)] == [0, 1, 127, 128, 255]


def test_float_image_in_unit_range(tmp_path: Path) -> None:
    im = Image.frombytes("F", (3, 1), struct.pack("<3f", 0.0, 0.5, 1.0))
    img = load_image(save(im, tmp_path / "f.tif"))
    assert [pixel(img, x, 0) for x in range(3)] == [(0, 0, 0), (128, 128, 128), WHITE]


def test_greyscale_png(tmp_path: Path) -> None:
    img = load_image(save(Image.new("L", (4, 4), 77), tmp_path / "g.png"))
    assert pixel(img, 0, 0) == (77, 77, 77)


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("RGBA", (3, 1))
    im.putpixel((0, 0), (255, 0, 0, 0))  # fully transparent red
    im.putpixel((1, 0), (0, 0, 255, 255))  # opaque blue
    im.putpixel((2, 0), (0, 0, 0, 128))  # half-transparent black
    img = load_image(save(im, tmp_path / "a.png"))
    assert pixel(img, 0, 0) == WHITE
    assert pixel(img, 1, 0) == BLUE
    assert_close(pixel(img, 2, 0), (127, 127, 127), tol=1)


def test_la_is_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("LA", (2, 1))
    im.putpixel((0, 0), (0, 0))
    im.putpixel((1, 0), (40, 255))
    img = load_image(save(im, tmp_path / "la.png"))
    assert [pixel(img, 0, 0), pixel(img, 1, 0)] == [WHITE, (40, 40, 40)]


@pytest.mark.parametrize("suffix", ["png", "gif"])
def test_palette_with_transparency(tmp_path: Path, suffix: str) -> None:
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)  # index 0 black, 1 red
    im.putpixel((0, 0), 0)
    im.putpixel((1, 0), 1)
    path = save(im, tmp_path / f"p.{suffix}", transparency=0)
    assert Image.open(path).mode == "P"

    img = load_image(path)
    assert pixel(img, 0, 0) == WHITE  # the transparent index is not black
    assert pixel(img, 1, 0) == RED


def test_palette_without_transparency(tmp_path: Path) -> None:
    im = Image.new("RGB", (4, 4), BLUE).convert("P")
    img = load_image(save(im, tmp_path / "p.png"))
    assert pixel(img, 3, 3) == BLUE


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (10, 10), colour) for colour in (RED, (0, 255, 0), BLUE)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 3

    img = load_image(path)
    assert pixel(img, 5, 5) == RED


def test_exif_orientation_6_swaps_width_and_height(tmp_path: Path) -> None:
    stored = Image.new("RGB", (40, 20), RED)
    stored.paste(BLUE, (20, 0, 40, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = save(stored, tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)

    img = load_image(path)
    assert img.original_size == (20, 40)
    assert img.sent_size == (20, 40)
    assert_close(pixel(img, 10, 5), RED, tol=12)  # the stored left edge is now the top
    assert_close(pixel(img, 10, 35), BLUE, tol=12)


@pytest.mark.parametrize(
    "suffix,params",
    [("webp", {"lossless": True}), ("bmp", {}), ("tif", {}), ("png", {}), ("jpg", {"quality": 95})],
)
def test_common_formats_round_trip(tmp_path: Path, suffix: str, params: dict) -> None:
    im = Image.new("RGB", (30, 20), RED)
    im.paste(BLUE, (0, 10, 30, 20))
    img = load_image(save(im, tmp_path / f"x.{suffix}", **params))
    assert img.original_size == (30, 20)
    tol = 8 if suffix == "jpg" else 0
    assert_close(pixel(img, 15, 2), RED, tol)
    assert_close(pixel(img, 15, 17), BLUE, tol)


# --- sizes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "size,max_side,expected",
    [
        ((3000, 1000), 1024, (1024, 341)),
        ((1000, 3000), 1024, (341, 1024)),
        ((2048, 2048), 1024, (1024, 1024)),
        ((1024, 500), 1024, (1024, 500)),
        ((100, 50), 1024, (100, 50)),  # never upscaled
        ((5000, 3), 16, (16, 1)),  # the short side never reaches 0
    ],
)
def test_downscaling(tmp_path: Path, size, max_side, expected) -> None:
    img = load_image(save(Image.new("RGB", size, RED), tmp_path / "s.png"), max_side=max_side)
    assert img.original_size == size
    assert img.sent_size == expected
    assert len(img.rgb) == expected[0] * expected[1] * 3
    assert pixel(img, expected[0] - 1, expected[1] - 1) == RED


def test_default_max_side(tmp_path: Path) -> None:
    # one default for the library and the app: the settings table's image_max_side (768)
    from stagelens.settings import int_default

    img = load_image(save(Image.new("RGB", (2000, 1500), RED), tmp_path / "d.png"))
    assert DEFAULT_MAX_SIDE == int_default("image_max_side") == 768
    assert img.sent_size == (768, 576)


def test_downscaling_averages_instead_of_sampling(tmp_path: Path) -> None:
    stripes = Image.new("L", (64, 64), 0)
    for x in range(0, 64, 2):
        stripes.paste(255, (x, 0, x + 1, 64))
    img = load_image(save(stripes, tmp_path / "stripes.png"), max_side=16)
    assert_close(pixel(img, 8, 8), (128, 128, 128), tol=16)


@pytest.mark.parametrize("max_side", [15, 0, -1])
def test_max_side_below_16_is_a_value_error(red_png: Path, max_side: int) -> None:
    with pytest.raises(ValueError, match="max_side") as info:
        load_image(red_png, max_side=max_side)
    assert not isinstance(info.value, ImageError)


# --- identity ----------------------------------------------------------------


def test_digest_is_stable_and_pixel_sensitive(tmp_path: Path) -> None:
    im = noise_image((50, 40))
    a = load_image(save(im, tmp_path / "a.png"))
    again = load_image(tmp_path / "a.png")
    same_pixels = load_image(save(im, tmp_path / "b.bmp"))

    changed = im.copy()
    changed.putpixel((3, 3), tuple(255 - c for c in im.getpixel((3, 3))))
    other = load_image(save(changed, tmp_path / "c.png"))

    assert a.digest == again.digest == same_pixels.digest
    assert other.digest != a.digest
    expected = hashlib.sha256(struct.pack(">II", 50, 40) + im.tobytes()).hexdigest()
    assert a.digest == expected


def test_digest_depends_on_size_not_just_bytes(tmp_path: Path) -> None:
    wide = load_image(save(Image.new("RGB", (4, 1), RED), tmp_path / "w.png"))
    tall = load_image(save(Image.new("RGB", (1, 4), RED), tmp_path / "t.png"))
    assert wide.rgb == tall.rgb
    assert wide.digest != tall.digest


def test_to_json_and_fields_for_a_file(red_png: Path) -> None:
    img = load_image(red_png, max_side=16)
    assert img.name == "red.png"
    assert img.path == str(red_png.resolve())
    assert os.path.isabs(img.path)
    assert img.to_json() == {"path": img.path, "original_size": [40, 30], "sent_size": [16, 12]}


def test_relative_path_becomes_absolute(red_png: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(red_png.parent)
    img = load_image("red.png")
    assert img.path == str(red_png.resolve())


def test_bytes_source(red_png: Path) -> None:
    img = load_image(red_png.read_bytes())
    assert (img.name, img.path) == ("pasted image", None)
    assert img.to_json() == {"path": None, "original_size": [40, 30], "sent_size": [40, 30]}
    assert pixel(img, 0, 0) == RED
    assert load_image(red_png.read_bytes(), name="clip.png").name == "clip.png"


def test_name_override_appears_in_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"^screenshot " + UNREADABLE):
        load_image(b"definitely not an image", name="screenshot")


def test_prepared_image_is_frozen_and_repr_is_short(red_png: Path) -> None:
    img = load_image(red_png)
    with pytest.raises(AttributeError):
        img.name = "other"  # type: ignore[misc]
    assert len(repr(img)) < 500


# --- batches -----------------------------------------------------------------


def test_load_images_returns_all_in_order(tmp_path: Path, red_png: Path) -> None:
    blue = save(Image.new("RGB", (10, 10), BLUE), tmp_path / "blue.png")
    loaded = load_images([red_png, blue, blue.read_bytes()], max_side=16)
    assert [img.name for img in loaded] == ["red.png", "blue.png", "pasted image"]
    assert [pixel(img, 0, 0) for img in loaded] == [RED, BLUE, BLUE]
    assert loaded[0].sent_size == (16, 12)


def test_load_images_is_all_or_nothing(tmp_path: Path, red_png: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    missing = tmp_path / "missing.png"
    with pytest.raises(ImageError, match=r"^bad\.png "):
        load_images([red_png, bad, missing])
    with pytest.raises(ImageError, match=r"^missing\.png does not exist$"):
        load_images([missing, bad, red_png])


def test_load_images_accepts_a_generator(red_png: Path) -> None:
    assert len(load_images(p for p in [red_png, red_png])) == 2


def test_first_decode_loads_only_the_allowed_formats_decoders(tmp_path: Path) -> None:
    # Pillow's Image.init() imports every plugin (~120 ms of interpreter time on the first image,
    # which stalled the window's Send click); only the allowlisted formats' plugins may load.
    import subprocess
    import sys

    Image.new("RGB", (8, 8), RED).save(tmp_path / "red.png")
    Image.new("RGB", (8, 8), BLUE).save(tmp_path / "blue.webp")
    script = (
        "import sys\n"
        "from stagelens.images import load_image\n"
        f"for name in ('red.png', 'blue.webp'): load_image({str(tmp_path)!r} + '/' + name)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('PIL.') and m.endswith('ImagePlugin'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert "PIL.PngImagePlugin" in out and "PIL.WebPImagePlugin" in out
    assert "PIL.EpsImagePlugin" not in out and "PIL.PdfImagePlugin" not in out and "PIL.XbmImagePlugin" not in out


def test_warm_up_makes_every_allowed_format_openable() -> None:
    images.warm_up_decoders()
    formats = images._readable_formats()
    assert {"PNG", "JPEG", "GIF", "BMP", "TIFF"} <= set(formats)
    assert features.check("webp") is False or "WEBP" in formats
    assert set(formats) <= set(Image.OPEN)

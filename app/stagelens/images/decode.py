"""Image decoding for the vision-language model.

Every image the app sends to the model goes through :func:`load_image`: it is
decoded with Pillow, turned upright (EXIF orientation), flattened to 8-bit RGB
on white and downscaled so its longest side fits ``max_side``. Anything that
goes wrong on the way becomes an :class:`ImageError` whose message is a single
sentence naming the file, ready to show to the user.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import os
import stat
import struct
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO, cast

from PIL import Image, ImageOps, UnidentifiedImageError

from stagelens.settings import int_default, setting

__all__ = [
    "DEFAULT_MAX_SIDE",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "ImageError",
    "PreparedImage",
    "load_image",
    "load_images",
    "prepare_bytes",
    "read_image_file",
    "warm_up_decoders",
]

DEFAULT_MAX_SIDE = int_default("image_max_side")
MAX_PIXELS = 64_000_000
MAX_FILE_BYTES = 200 * 1024 * 1024
_MIN_MAX_SIDE = int(setting("image_max_side").lowest())
_PASTED_NAME = "pasted image"

_Source = str | os.PathLike[str] | bytes

# Formats we let Pillow try. An allowlist rather than "everything" keeps files
# away from plugins that shell out (EPS runs Ghostscript) or that claim almost
# any input (TGA has no magic number).
_WANTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "ICO", "PPM", "QOI", "AVIF")
# The Pillow plugin modules that register them (BMP registers DIB too). Importing only these, not
# Pillow's `Image.init()` (every plugin, ~120 ms of the first decode), keeps the first image of a
# session from holding the interpreter while the window builds its answer.
_FORMAT_PLUGINS = ("Png", "Jpeg", "WebP", "Gif", "Bmp", "Tiff", "Ico", "Ppm", "Qoi", "Avif")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_WHITE = (255, 255, 255, 255)
# What users are told they may give; the decoder accepts a few more (ICO, PPM, QOI, AVIF).
READABLE_FORMATS = "PNG, JPEG, WebP, GIF, BMP, TIFF"


class ImageError(ValueError):
    """An image could not be loaded; the message names the file and says why."""


@dataclass(frozen=True)
class PreparedImage:
    """An image decoded, made upright, flattened to RGB8 and downscaled."""

    name: str
    path: str | None
    original_size: tuple[int, int]
    sent_size: tuple[int, int]
    rgb: bytes = field(repr=False)
    digest: str

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "original_size": list(self.original_size),
            "sent_size": list(self.sent_size),
        }


def _pixel_digest(size: tuple[int, int], rgb: bytes) -> str:
    """sha256 hex of the size (two big-endian uint32) followed by the RGB8 bytes."""
    h = hashlib.sha256(struct.pack(">II", *size))
    h.update(rgb)
    return h.hexdigest()


def load_image(source: _Source, *, max_side: int = DEFAULT_MAX_SIDE, name: str | None = None) -> PreparedImage:
    """Load a file path, or a file's contents given as bytes, for the model."""
    if max_side < _MIN_MAX_SIDE:
        raise ValueError(f"max_side must be at least {_MIN_MAX_SIDE}, got {max_side}")
    if isinstance(source, bytes | bytearray | memoryview):
        label = name or _PASTED_NAME
        data = bytes(source)
        if not data:
            raise ImageError(f"{label} is empty (0 bytes)")
        return _prepare(io.BytesIO(data), label, None, max_side)

    path = os.path.abspath(os.fsdecode(source))
    label = name or os.path.basename(path) or path
    with _open_file(path, label) as fp:
        return _prepare(fp, label, path, max_side)


def prepare_bytes(
    data: bytes, name: str, *, max_side: int = DEFAULT_MAX_SIDE, path: str | None = None
) -> PreparedImage:
    """A file's contents, already read, for the model; `path` is where they were read from (kept in traces)."""
    if max_side < _MIN_MAX_SIDE:
        raise ValueError(f"max_side must be at least {_MIN_MAX_SIDE}, got {max_side}")
    if not data:
        raise ImageError(f"{name} is empty (0 bytes)")
    return _prepare(io.BytesIO(data), name, path, max_side)


def read_image_file(source: str | os.PathLike[str], name: str | None = None) -> tuple[bytes, str]:
    """The bytes of an image file and its absolute path; every failure is an ImageError naming the file."""
    path = os.path.abspath(os.fsdecode(source))
    label = name or os.path.basename(path) or path
    with _open_file(path, label) as fp:
        try:
            data = fp.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise _unreadable(label, exc) from None
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{label} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    return data, path


def load_images(sources: Iterable[_Source], *, max_side: int = DEFAULT_MAX_SIDE) -> list[PreparedImage]:
    """Load every source, or raise the first ImageError and return nothing."""
    return [load_image(source, max_side=max_side) for source in sources]


def _open_file(path: str, label: str) -> BinaryIO:
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError(f"{label} does not exist") from None
    except OSError as exc:
        raise _unreadable(label, exc) from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{label} is a folder, not an image file")
    # FIFOs and devices could block or never end.
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"{label} is not a regular file")
    if info.st_size == 0:
        raise ImageError(f"{label} is empty (0 bytes)")
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise ImageError(f"{label} does not exist") from None
    except OSError as exc:
        raise _unreadable(label, exc) from None


def _unreadable(label: str, exc: OSError) -> ImageError:
    if isinstance(exc, PermissionError):
        return ImageError(f"{label} cannot be read (permission denied)")
    return ImageError(f"{label} cannot be read: {_reason(exc)}")


def _prepare(fp: BinaryIO, label: str, path: str | None, max_side: int) -> PreparedImage:
    with warnings.catch_warnings():
        # No Pillow warning (corrupt EXIF, palette notes...) may reach the user,
        # but the decompression-bomb one must stop the load, so it becomes an error.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        upright = _decode(fp, label)
        original_size = upright.size
        sent = _downscale(_to_rgb(upright, label), max_side)
    rgb = sent.tobytes()
    return PreparedImage(
        name=label,
        path=path,
        original_size=original_size,
        sent_size=sent.size,
        rgb=rgb,
        digest=_pixel_digest(sent.size, rgb),
    )


@functools.cache
def _readable_formats() -> tuple[str, ...]:
    for plugin in _FORMAT_PLUGINS:
        try:
            importlib.import_module(f"PIL.{plugin}ImagePlugin")
        except ImportError:  # a Pillow built without that codec: its format is simply not offered
            continue
    return tuple(fmt for fmt in _WANTED_FORMATS if fmt in Image.OPEN)


def warm_up_decoders() -> None:
    """Load the decoders now (a background thread at startup), not on the first image."""
    _readable_formats()


def _decode(fp: BinaryIO, label: str) -> Image.Image:
    """Decode the first frame, refusing oversized images before touching pixels."""
    try:
        im = Image.open(fp, formats=_readable_formats())
        _check_declared_size(im.size, label)
        im.load()
        ImageOps.exif_transpose(im, in_place=True)
        return im
    except ImageError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageError(f"{label} is too large to load safely (it would decode to too many pixels)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{label} is not an image StageLens can read ({READABLE_FORMATS})") from None
    except MemoryError:
        raise ImageError(f"{label} is too large to decode in the available memory") from None
    # Pillow's decoders raise a wide range of types on malformed input (OSError,
    # SyntaxError, struct.error, EOFError, IndexError, zlib.error, ...).
    except Exception as exc:
        raise ImageError(f"{label} is truncated or corrupt: {_reason(exc)}") from exc


def _check_declared_size(size: tuple[int, int], label: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(f"{label} declares an invalid size of {width}×{height} pixels")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{label} is too large: {width}×{height} is {width * height:,} pixels, "
            f"more than the limit of {MAX_PIXELS:,}"
        )


def _to_rgb(im: Image.Image, label: str) -> Image.Image:
    if im.mode in _SIXTEEN_BIT_MODES or im.mode == "I":
        im = _int_to_l(im)
    elif im.mode == "F":
        im = _float_to_l(im)
    if im.has_transparency_data:
        return _flatten_on_white(im)
    if im.mode == "RGB":
        return im
    try:
        return im.convert("RGB")
    except ValueError:
        raise ImageError(f"{label} uses the {im.mode} colour mode, which cannot be converted to RGB") from None


def _int_to_l(im: Image.Image) -> Image.Image:
    """16/32-bit integer greyscale to 8 bits, scaled rather than clipped."""
    im = im.convert("I")
    low, high = _extrema(im)
    if low < 0 or high > 65535:
        return _stretch_to_l(im, low, high)
    return _stretch_to_l(im, 0, 65535)


def _float_to_l(im: Image.Image) -> Image.Image:
    """Float greyscale to 8 bits: 0..1 and 0..255 are taken as-is, anything else stretched."""
    low, high = _extrema(im)
    if low >= 0 and high <= 1:
        return _stretch_to_l(im, 0, 1)
    if low >= 0 and high <= 255:
        return _stretch_to_l(im, 0, 255)
    return _stretch_to_l(im, low, high)


def _extrema(im: Image.Image) -> tuple[float, float]:
    """(lowest, highest) value of a one-band image."""
    low, high = cast(tuple[float, float], im.getextrema())
    return low, high


def _stretch_to_l(im: Image.Image, low: float, high: float) -> Image.Image:
    """Map low..high linearly onto 0..255 (rounded), then to mode L."""
    scale = 255 / (high - low) if high > low else 0.0
    # Pillow truncates when converting I/F to L, hence the +0.5.
    offset = 0.5 - low * scale
    return im.point(lambda v: v * scale + offset).convert("L")


def _flatten_on_white(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, _WHITE)
    return Image.alpha_composite(background, rgba).convert("RGB")


def _downscale(im: Image.Image, max_side: int) -> Image.Image:
    target = _fit_size(im.size, max_side)
    if target == im.size:
        return im
    return im.resize(target, Image.Resampling.LANCZOS)


def _fit_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size after shrinking (never growing) so the longest side is at most max_side."""
    width, height = size
    longest = max(width, height)
    if longest <= max_side:
        return size
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text or type(exc).__name__

"""Images: decoding for the model (decode.py), the one image object of a conversation (image.py),
reading it in the background (loader.py) and getting it from the web (web.py). No Qt."""

from stagelens.images.decode import (
    DEFAULT_MAX_SIDE,
    MAX_FILE_BYTES,
    MAX_PIXELS,
    READABLE_FORMATS,
    ImageError,
    PreparedImage,
    load_image,
    load_images,
    prepare_bytes,
    read_image_file,
)
from stagelens.images.image import ChatImage, ImageContent
from stagelens.images.loader import ImageLoader, failed_image

__all__ = [
    "DEFAULT_MAX_SIDE",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "READABLE_FORMATS",
    "ChatImage",
    "ImageContent",
    "ImageError",
    "ImageLoader",
    "PreparedImage",
    "failed_image",
    "load_image",
    "load_images",
    "prepare_bytes",
    "read_image_file",
]

"""Checks that an uploaded file is a safe, whole, reasonably sized image, before anything is stored.

The one full decode that proves the file whole also yields its thumbnail, so an import decodes once.
"""
import hashlib
import io
import re
import unicodedata
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

# The formats a browser shows and every IQA dataset uses; anything else is refused with a clear message.
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}
MAX_NAME_LENGTH = 255
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


class FileRejected(ValueError):
    """A file that is not imported, with the reason a person can act on."""


@dataclass(frozen=True)
class ValidatedImage:
    content_hash: str  # SHA-256 hex of the bytes
    format: str  # Pillow's format name
    extension: str
    width: int
    height: int
    file_size: int
    thumbnail_jpeg: bytes  # longest side LOUPE_THUMBNAIL_SIZE


def safe_name(name: str) -> str:
    """Return the name normalised to `/` separators, or raise FileRejected if it is unsafe.

    Unsafe: empty, too long, control characters, an absolute path, a drive letter, or a `..` part
    (names come from browsers and zip archives, and a zip may try to write outside its folder).
    """
    if not name or not name.strip():
        raise FileRejected("unsafe file name: the name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise FileRejected(f"unsafe file name: longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise FileRejected("unsafe file name: it contains control characters")
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or _WINDOWS_DRIVE.match(normalised):
        raise FileRejected("unsafe file name: it is an absolute path")
    if any(part == ".." for part in normalised.split("/")):
        raise FileRejected("unsafe file name: it points outside its folder ('..')")
    return normalised


def check_size(size: int) -> None:
    """Refuse a file over the per-image byte limit before reading it."""
    limit = settings.LOUPE_MAX_IMAGE_BYTES
    if size > limit:
        raise FileRejected(f"file too large: {_megabytes(size)} exceeds the {_megabytes(limit)} limit")
    if size == 0:
        raise FileRejected("empty file")


def validate_image(data: bytes) -> ValidatedImage:
    """Decode the whole image once; raise FileRejected for anything that is not a valid, safe image."""
    check_size(len(data))
    max_pixels = settings.LOUPE_MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its own limit, raises) on decompression bombs; both are refusals here.
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as img:
                width, height = img.size
                fmt = img.format or ""
                if width * height > max_pixels:
                    raise FileRejected(
                        f"decompression bomb: {width}×{height} = {width * height / 1e6:.0f} megapixels "
                        f"exceeds the {max_pixels / 1e6:.0f} megapixel limit"
                    )
                if fmt not in ALLOWED_FORMATS:
                    raise FileRejected(f"unsupported image format {fmt or 'unknown'}: use JPEG, PNG, WebP, BMP or TIFF")
                img.load()  # decodes every byte: a truncated or corrupt file fails here
                thumbnail = _thumbnail_jpeg(img)
    except FileRejected:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise FileRejected(f"decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise FileRejected("not an image: the file is not in any image format Loupe can read") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise FileRejected(f"truncated or corrupt image: {exc}") from exc
    if width < 1 or height < 1:
        raise FileRejected("image has no pixels")
    return ValidatedImage(
        content_hash=hashlib.sha256(data).hexdigest(),
        format=fmt,
        extension=ALLOWED_FORMATS[fmt],
        width=width,
        height=height,
        file_size=len(data),
        thumbnail_jpeg=thumbnail,
    )


def _thumbnail_jpeg(img: PILImage.Image) -> bytes:
    size = settings.LOUPE_THUMBNAIL_SIZE
    small = img.copy()
    small.thumbnail((size, size))
    buffer = io.BytesIO()
    small.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"

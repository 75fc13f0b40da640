"""Synthetic image distortions at severities 1 to 5, after ImageNet-C.

Plain numpy/scipy/Pillow, no Django (DESIGN.md, "Cores without Django"). Each distortion takes
and returns a uint8 RGB image ``[h, w, 3]`` of the same size. The parameters per severity are the
ImageNet-C tables of Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions
and Perturbations" (ICLR 2019), as packaged for arbitrary image sizes by Michaelis et al. (2019). Randomness
comes only from the ``np.random.Generator`` passed in; numpy's global random state is never used.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage, signal

__all__ = [
    "DISTORTION_KINDS",
    "RANDOM_KINDS",
    "SEVERITIES",
    "brightness",
    "contrast",
    "defocus_blur",
    "distort",
    "gaussian_noise",
    "jpeg_compression",
    "motion_blur",
    "pixelate",
]

SEVERITIES = (1, 2, 3, 4, 5)

# ImageNet-C parameters, one per severity 1..5.
_NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)  # noise standard deviation, image in [0, 1]
_DEFOCUS = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))  # (disk radius px, anti-alias sigma px)
_MOTION = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # (track radius px, fall-off sigma px)
_JPEG_QUALITY = (25, 18, 15, 10, 7)
_BRIGHTNESS_SHIFT = (0.1, 0.2, 0.3, 0.4, 0.5)  # added to HSV value, image in [0, 1]
_CONTRAST_FACTOR = (0.4, 0.3, 0.2, 0.1, 0.05)  # deviation from the channel mean is scaled by this
_PIXELATE_SCALE = (0.6, 0.5, 0.4, 0.3, 0.25)  # box-downscale factor before the nearest-neighbour upscale


def gaussian_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise, independent per pixel and channel, std 0.08 to 0.38 of full scale.

    Parameters
    ----------
    image : uint8 array [h, w, 3]
    severity : int, 1..5
    rng : numpy Generator the noise is drawn from

    Returns
    -------
    uint8 array [h, w, 3]: ``clip(x + N(0, c^2))`` with ``x`` in [0, 1] and ``c`` from the ImageNet-C table.
    """
    _check(image, severity)
    std = _NOISE_STD[severity - 1]
    noise = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(std * 255.0)
    return _to_uint8(image.astype(np.float32) + noise)


def defocus_blur(image: np.ndarray, severity: int) -> np.ndarray:
    """Out-of-focus blur: convolution with an anti-aliased disk of radius 3 to 10 px (edges mirrored)."""
    _check(image, severity)
    radius, alias_sigma = _DEFOCUS[severity - 1]
    return _to_uint8(_filter_same(image.astype(np.float32), _disk_kernel(radius, alias_sigma), pad_mode="reflect"))


def motion_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Linear motion blur: a weighted track of 21 to 41 px taps at a random angle in [-45, 45) degrees.

    Tap ``i`` (``i = 0 .. 2r``) is the image shifted ``i`` px back along the direction, weighted by a
    half-Gaussian ``exp(-i^2 / 2 sigma^2)`` normalised to sum 1, so the trail fades behind each edge; pixels
    shifted in from outside the image repeat the border.
    """
    _check(image, severity)
    radius, sigma = _MOTION[severity - 1]
    angle = np.deg2rad(rng.uniform(-45.0, 45.0))
    steps = np.arange(2 * radius + 1)
    weights = np.exp(-(steps**2) / (2.0 * sigma**2))
    weights /= weights.sum()
    # The rounding of each tap's offset follows ImageNet-C, so the trail has the same shape.
    dy = -np.ceil(steps * np.sin(angle) - 0.5).astype(int)
    dx = -np.ceil(steps * np.cos(angle) - 0.5).astype(int)
    reach = int(max(np.abs(dy).max(), np.abs(dx).max()))
    # blurred[y, x] = sum_i w_i * image[y - dy_i, x - dx_i], written as one correlation kernel.
    kernel = np.zeros((2 * reach + 1, 2 * reach + 1))
    np.add.at(kernel, (reach - dy, reach - dx), weights)
    return _to_uint8(_filter_same(image.astype(np.float32), kernel, pad_mode="edge"))


def jpeg_compression(image: np.ndarray, severity: int) -> np.ndarray:
    """JPEG round trip through Pillow at quality 25, 18, 15, 10 or 7 (its default 4:2:0 chroma subsampling)."""
    _check(image, severity)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=_JPEG_QUALITY[severity - 1])
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def brightness(image: np.ndarray, severity: int) -> np.ndarray:
    """Over-exposure: 0.1 to 0.5 added to the HSV value channel (clipped at 1), hue and saturation kept.

    With hue and saturation fixed, RGB is proportional to the value ``V = max(R, G, B)``, so the HSV round
    trip of ImageNet-C is the same as scaling each pixel by ``V' / V`` (a black pixel becomes grey ``V'``).
    """
    _check(image, severity)
    pixels = image.astype(np.float32) / np.float32(255.0)
    value = pixels.max(axis=2, keepdims=True)
    brighter = np.minimum(value + np.float32(_BRIGHTNESS_SHIFT[severity - 1]), np.float32(1.0))
    scaled = np.where(value > 0, pixels * (brighter / np.maximum(value, np.float32(1e-6))), brighter)
    return _to_uint8(scaled * np.float32(255.0))


def contrast(image: np.ndarray, severity: int) -> np.ndarray:
    """Contrast loss: each channel's deviation from its own mean scaled by 0.4 down to 0.05."""
    _check(image, severity)
    pixels = image.astype(np.float32)
    means = pixels.mean(axis=(0, 1), keepdims=True)
    return _to_uint8((pixels - means) * np.float32(_CONTRAST_FACTOR[severity - 1]) + means)


def pixelate(image: np.ndarray, severity: int) -> np.ndarray:
    """Pixelation: box-downscaled to 0.6 down to 0.25 of each side, then nearest-neighbour upscaled back."""
    _check(image, severity)
    height, width = image.shape[:2]
    scale = _PIXELATE_SCALE[severity - 1]
    small = Image.fromarray(image).resize((max(1, int(width * scale)), max(1, int(height * scale))), Image.Resampling.BOX)
    return np.asarray(small.resize((width, height), Image.Resampling.NEAREST), dtype=np.uint8)


# kind -> (function, whether it draws from the Generator)
_KINDS: dict[str, tuple[Callable[..., np.ndarray], bool]] = {
    "gaussian_noise": (gaussian_noise, True),
    "defocus_blur": (defocus_blur, False),
    "motion_blur": (motion_blur, True),
    "jpeg_compression": (jpeg_compression, False),
    "brightness": (brightness, False),
    "contrast": (contrast, False),
    "pixelate": (pixelate, False),
}
DISTORTION_KINDS = tuple(_KINDS)
RANDOM_KINDS = tuple(kind for kind, (_, random) in _KINDS.items() if random)


def distort(image: np.ndarray, kind: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Apply one distortion kind at one severity.

    Parameters
    ----------
    image : uint8 array [h, w, 3]
    kind : one of DISTORTION_KINDS
    severity : int, 1 (mild) .. 5 (severe)
    rng : numpy Generator; only the kinds in RANDOM_KINDS draw from it, so the same Generator state gives
        the same output

    Returns
    -------
    uint8 array [h, w, 3], the same size as ``image``.

    Raises
    ------
    ValueError
        For an unknown kind, a severity outside 1..5, or an image that is not uint8 [h, w, 3].
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown distortion kind {kind!r}; choose from {', '.join(DISTORTION_KINDS)}")
    function, random = _KINDS[kind]
    return function(image, severity, rng) if random else function(image, severity)


def _check(image: np.ndarray, severity: int) -> None:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ValueError(f"severity must be an integer from 1 to 5, got {severity!r}")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"image must be a uint8 array [h, w, 3], got {dtype} {shape}")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"image must not be empty, got shape {image.shape}")


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Round to the nearest level and clip to [0, 255]."""
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def _disk_kernel(radius: int, alias_sigma: float) -> np.ndarray:
    """ImageNet-C's defocus kernel: a binary disk on a grid of half-width max(8, radius), smoothed by a
    small Gaussian (3x3 up to radius 8, 5x5 beyond) against aliasing, normalised to sum 1."""
    half = max(8, radius)
    offsets = np.arange(-half, half + 1)
    disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    smoothing_half = 1 if radius <= 8 else 2
    kernel = ndimage.gaussian_filter(disk, sigma=alias_sigma, mode="mirror", truncate=smoothing_half / alias_sigma)
    return kernel / kernel.sum()


def _filter_same(pixels: np.ndarray, kernel: np.ndarray, *, pad_mode: str) -> np.ndarray:
    """Correlate every channel of [h, w, c] with a centred, odd-sized kernel [k, k]; same-size output,
    borders filled by np.pad's `pad_mode`. Done by FFT, all channels at once."""
    half = kernel.shape[0] // 2
    padded = np.pad(pixels, ((half, half), (half, half), (0, 0)), mode=pad_mode)
    # Correlation is convolution with the kernel flipped.
    flipped = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32)[:, :, None]
    return signal.fftconvolve(padded, flipped, mode="valid", axes=(0, 1))

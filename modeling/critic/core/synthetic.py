"""Distorted images with a known severity, built offline from scikit-image's sample images.

For tests, benchmarks and the demo: crops of ``skimage.data`` images, resized to the
critic's input size, then blurred or noised at a chosen severity, so that the hidden
ground truth (severity 0 = pristine, 4 = worst) is known. Distortions are applied
after resizing, so they stay visible at 64-96 px.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ALL_DISTORTIONS", "DistortedImage", "SOURCE_IMAGES", "distorted_images", "distort"]

# Sample images shipped with scikit-image (no download), grey ones are made RGB.
SOURCE_IMAGES = (
    "astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins",
    "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "moon", "rocket",
    "retina", "colorwheel",
)

# Gaussian blur sigma (pixels) and Gaussian noise std (of 255) per severity 0..4.
BLUR_SIGMA = (0.0, 0.7, 1.2, 1.9, 3.0)
NOISE_STD = (0.0, 10.0, 20.0, 34.0, 55.0)
# Brightness factor per severity: a global change a tiny critic learns in a few dozen
# steps (quick learning tests), unlike blur and noise, which need local texture.
DARKEN_FACTOR = (1.0, 0.78, 0.58, 0.4, 0.24)
DISTORTIONS = ("blur", "noise")
ALL_DISTORTIONS = ("blur", "noise", "darken")


@dataclass(frozen=True)
class DistortedImage:
    """A generated image and its hidden ground truth.

    Attributes
    ----------
    key : str
        Unique name, e.g. ``"coffee-3-blur-2"`` (source, crop, distortion, severity).
    pixels : ndarray, shape [size, size, 3], uint8
    source : str
        The ``skimage.data`` image it was cut from.
    distortion : str
        ``"blur"``, ``"noise"`` or ``"darken"`` (``"none"`` when pristine).
    severity : int
        0 (pristine) to 4 (worst).
    """

    key: str
    pixels: np.ndarray
    source: str
    distortion: str
    severity: int

    @property
    def quality(self) -> float:
        """A MOS-like ground truth on 0-100: 100 for pristine, 0 for the worst severity."""
        return 100.0 - 25.0 * self.severity

    def image(self):
        """The pixels as a PIL image."""
        from PIL import Image

        return Image.fromarray(self.pixels)


def _load_rgb(name: str) -> np.ndarray:
    import skimage.data

    array = getattr(skimage.data, name)()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return np.ascontiguousarray(array[..., :3]).astype(np.uint8)


def distort(pixels: np.ndarray, distortion: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blur (Gaussian, sigma from ``BLUR_SIGMA``), noise (Gaussian, std from ``NOISE_STD``) or darken
    (times ``DARKEN_FACTOR``) an RGB uint8 image."""
    from scipy import ndimage

    if distortion not in ALL_DISTORTIONS:
        raise ValueError(f"distortion must be one of {ALL_DISTORTIONS}")
    if not 0 <= severity < len(BLUR_SIGMA):
        raise ValueError(f"severity must be in 0..{len(BLUR_SIGMA) - 1}")
    image = pixels.astype(float)
    if severity == 0:
        return pixels.copy()
    if distortion == "blur":
        sigma = BLUR_SIGMA[severity]
        image = ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0), mode="reflect")
    elif distortion == "darken":
        image = image * DARKEN_FACTOR[severity]
    else:
        image = image + rng.normal(0.0, NOISE_STD[severity], size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def distorted_images(
    *,
    sources: Sequence[str] = SOURCE_IMAGES,
    crops_per_source: int = 2,
    severities: Sequence[int] = (0, 1, 2, 3, 4),
    distortions: Sequence[str] = DISTORTIONS,
    size: int = 64,
    crop_fraction: float = 0.5,
    rng: np.random.Generator,
) -> list[DistortedImage]:
    """Every (source, crop, distortion, severity) combination as a :class:`DistortedImage`.

    Each crop is a random square of ``crop_fraction`` of the source's shorter side,
    resized to ``size`` with Lanczos, then distorted. Severity 0 is emitted once per
    crop (not once per distortion).
    """
    from PIL import Image

    if not 0 < crop_fraction <= 1:
        raise ValueError("crop_fraction must be in (0, 1]")
    out = []
    for source in sources:
        full = _load_rgb(source)
        side = int(min(full.shape[:2]) * crop_fraction)
        for crop in range(crops_per_source):
            top = int(rng.integers(0, full.shape[0] - side + 1))
            left = int(rng.integers(0, full.shape[1] - side + 1))
            patch = Image.fromarray(full[top : top + side, left : left + side])
            clean = np.asarray(patch.resize((size, size), Image.Resampling.LANCZOS))
            for distortion in distortions:
                for severity in severities:
                    if severity == 0 and distortion != distortions[0]:
                        continue
                    name = "clean" if severity == 0 else distortion
                    out.append(
                        DistortedImage(
                            key=f"{source}-{crop}-{name}-{severity}",
                            pixels=distort(clean, distortion, severity, rng),
                            source=source,
                            distortion=name if severity else "none",
                            severity=int(severity),
                        )
                    )
    return out

"""Synthetic distortions: stronger with each severity, ImageNet-C's known answers, seeded, same size and dtype."""
import numpy as np
import pytest
import skimage.data
from scipy import ndimage

from annotation.distortions import DISTORTION_KINDS, RANDOM_KINDS, SEVERITIES, distort


def _grey(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _noise_residual_std(image: np.ndarray) -> float:
    """Std of what a 3x3 median filter removes: high-frequency noise."""
    grey = _grey(image)
    return float((grey - ndimage.median_filter(grey, size=3)).std())


def _laplacian_variance(image: np.ndarray) -> float:
    """Variance of the Laplacian: the usual sharpness measure."""
    return float(ndimage.laplace(_grey(image)).var())


def _blockiness(image: np.ndarray) -> float:
    """Mean step across the 8x8 JPEG block borders over the mean step anywhere (1 for an unblocked image)."""
    grey = _grey(image)
    across_columns, across_rows = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0))
    return float((across_columns[:, 7::8].mean() / across_columns.mean() + across_rows[7::8].mean() / across_rows.mean()) / 2)


def _mean_level(image: np.ndarray) -> float:
    return float(image.mean())


def _level_std(image: np.ndarray) -> float:
    return float(image.astype(np.float64).std())


def _share_of_changing_neighbours(image: np.ndarray) -> float:
    """Share of horizontally or vertically neighbouring pixels that differ: falls as the squares grow."""
    grey = _grey(image)
    return float((np.diff(grey, axis=1) != 0).mean() + (np.diff(grey, axis=0) != 0).mean())


# kind -> (no-reference measure, +1 if it rises with severity, -1 if it falls)
MEASURES = {
    "gaussian_noise": (_noise_residual_std, +1),
    "defocus_blur": (_laplacian_variance, -1),
    "motion_blur": (_laplacian_variance, -1),
    "jpeg_compression": (_blockiness, +1),
    "brightness": (_mean_level, +1),
    "contrast": (_level_std, -1),
    "pixelate": (_share_of_changing_neighbours, -1),
}
PHOTOGRAPHS = {
    "astronaut": skimage.data.astronaut,
    "chelsea": skimage.data.chelsea,
    "coffee": skimage.data.coffee,
}


@pytest.fixture(scope="module")
def photographs() -> dict[str, np.ndarray]:
    return {name: np.ascontiguousarray(load()[:256, :320, :3]) for name, load in PHOTOGRAPHS.items()}


def test_every_kind_has_a_measure():
    """Each distortion kind is covered by the monotonicity test below."""
    assert set(MEASURES) == set(DISTORTION_KINDS)
    assert len(DISTORTION_KINDS) >= 7 and SEVERITIES == (1, 2, 3, 4, 5)


@pytest.mark.parametrize("kind", DISTORTION_KINDS)
def test_severity_is_monotone_in_a_no_reference_measure(kind, photographs):
    """On each photograph, the kind's no-reference measure moves one way from pristine through severity 1 to 5."""
    measure, direction = MEASURES[kind]
    for name, image in photographs.items():
        # The same seed at every severity, so a random kind differs only in strength (motion blur: one angle).
        values = [measure(image)] + [measure(distort(image, kind, severity, np.random.default_rng(0))) for severity in SEVERITIES]
        steps = direction * np.diff(values)
        assert np.all(steps > 0), f"{kind} on {name}: {np.round(values, 3).tolist()}"


def test_gaussian_noise_has_the_imagenet_c_standard_deviation():
    """On flat grey, the noise std is 0.08 and 0.12 of full scale at severities 1 and 2 (within 3 %)."""
    grey = np.full((200, 200, 3), 128, dtype=np.uint8)
    for severity, std in ((1, 0.08), (2, 0.12)):
        noisy = distort(grey, "gaussian_noise", severity, np.random.default_rng(1)).astype(np.float64)
        assert noisy.std() == pytest.approx(std * 255, rel=0.03)
        assert noisy.mean() == pytest.approx(128, abs=0.5)


def test_blurs_keep_a_flat_image_flat():
    """Blur kernels sum to one and borders are filled from the image, so a flat image is unchanged."""
    flat = np.full((40, 60, 3), 77, dtype=np.uint8)
    for kind in ("defocus_blur", "motion_blur"):
        for severity in SEVERITIES:
            assert np.array_equal(distort(flat, kind, severity, np.random.default_rng(2)), flat), (kind, severity)


def test_contrast_and_brightness_follow_the_imagenet_c_formulas():
    """Contrast scales the deviation from each channel's mean by 0.4 at severity 1; brightness adds 0.1 to HSV value."""
    halves = np.zeros((10, 20, 3), dtype=np.uint8)
    halves[:, 10:] = 200
    low = distort(halves, "contrast", 1, np.random.default_rng(0))
    assert np.array_equal(low[:, :10], np.full((10, 10, 3), 60)) and np.array_equal(low[:, 10:], np.full((10, 10, 3), 140))

    grey = np.full((8, 8, 3), 100, dtype=np.uint8)
    brighter = distort(grey, "brightness", 1, np.random.default_rng(0)).astype(int)
    assert np.all(np.abs(brighter - (100 + 0.1 * 255)) <= 1)


def test_pixelate_at_severity_five_makes_four_pixel_squares():
    """At severity 5 (scale 0.25) a 64x64 image becomes 16x16 squares of 4x4 equal pixels, the box means."""
    image = np.random.default_rng(3).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    squares = distort(image, "pixelate", 5, np.random.default_rng(0)).astype(int)
    blocks = squares.reshape(16, 4, 16, 4, 3)
    assert np.all(blocks == blocks[:, :1, :, :1])
    box_means = image.reshape(16, 4, 16, 4, 3).mean(axis=(1, 3))
    assert np.all(np.abs(blocks[:, 0, :, 0] - box_means) <= 1)


@pytest.mark.parametrize("shape", [(37, 53, 3), (5, 7, 3)])
def test_shape_and_dtype_are_kept(shape):
    """Every kind at every severity returns uint8 of the input's shape, odd and tiny sizes included."""
    image = np.random.default_rng(4).integers(0, 256, size=shape, dtype=np.uint8)
    for kind in DISTORTION_KINDS:
        for severity in SEVERITIES:
            out = distort(image, kind, severity, np.random.default_rng(5))
            assert out.shape == shape and out.dtype == np.uint8, (kind, severity)


def test_same_seed_same_output_and_different_seed_different_output(photographs):
    """A Generator seeded alike gives identical pixels; the random kinds differ under another seed."""
    image = photographs["chelsea"]
    for kind in DISTORTION_KINDS:
        first = distort(image, kind, 3, np.random.default_rng(11))
        assert np.array_equal(first, distort(image, kind, 3, np.random.default_rng(11))), kind
        if kind in RANDOM_KINDS:
            assert not np.array_equal(first, distort(image, kind, 3, np.random.default_rng(12))), kind
    assert set(RANDOM_KINDS) == {"gaussian_noise", "motion_blur"}


def test_global_random_state_is_untouched(photographs):
    """No kind draws from or reseeds numpy's global random state."""
    np.random.seed(1234)
    before = np.random.get_state()
    for kind in DISTORTION_KINDS:
        distort(photographs["astronaut"][:64, :64], kind, 5, np.random.default_rng(0))
    after = np.random.get_state()

    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]


def test_bad_kind_severity_or_image_is_refused():
    """An unknown kind, a severity outside 1..5 (or not an integer), or a non-uint8-RGB image raises ValueError."""
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown distortion kind 'glass_blur'; choose from gaussian_noise"):
        distort(image, "glass_blur", 1, rng)
    for severity in (0, 6, 2.0, True, "3"):
        with pytest.raises(ValueError, match="severity must be an integer from 1 to 5"):
            distort(image, "contrast", severity, rng)
    for bad in (image.astype(np.float32), image[..., 0], np.zeros((16, 16, 4), dtype=np.uint8)):
        with pytest.raises(ValueError, match=r"uint8 array \[h, w, 3\]"):
            distort(bad, "pixelate", 1, rng)

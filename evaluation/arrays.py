"""Input checks shared by the Django-free cores: float vectors, finiteness, index arrays and random generators."""
from __future__ import annotations

import numpy as np

__all__ = ["as_index_array", "check_n_items", "check_rng", "finite_vector", "float_vector", "require_finite"]


def float_vector(name: str, value, n: int | None = None) -> np.ndarray:
    """``value`` as a 1-D float64 array (of ``n`` entries when given), or raise ValueError naming ``name``."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have {n} entries, got shape {arr.shape}")
    return arr


def require_finite(name: str, arr: np.ndarray) -> None:
    """Raise ValueError naming ``name`` if ``arr`` holds a NaN or an infinity."""
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")


def finite_vector(name: str, value, n: int | None = None) -> np.ndarray:
    """:func:`float_vector` that also refuses NaN and infinities."""
    arr = float_vector(name, value, n)
    require_finite(name, arr)
    return arr


def as_index_array(name: str, values, n_items: int) -> np.ndarray:
    """``values`` as a 1-D int64 array of indices into ``n_items`` items, or raise ValueError naming ``name``.

    Floats are accepted when they hold whole numbers (a column read from a file, say); NaN is not.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ValueError(f"{name} contains NaN")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer item indices")
    elif arr.dtype.kind not in "iu" and arr.size:
        raise ValueError(f"{name} must hold integer item indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= n_items):
        raise ValueError(f"{name} has indices out of range [0, {n_items})")
    return arr


def check_n_items(n_items) -> int:
    """``n_items`` as an int if it is a whole number >= 1 (not a bool); TypeError or ValueError otherwise."""
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)):
        raise TypeError(f"n_items must be an integer, got {n_items!r}")
    if n_items < 1:
        raise ValueError("n_items must be >= 1")
    return int(n_items)


def check_rng(rng) -> np.random.Generator:
    """Return ``rng`` if it is a ``numpy.random.Generator``; raise TypeError otherwise (no seeding of global state)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng

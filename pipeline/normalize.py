"""Flat/dark correction to line integrals, and ring-artifact suppression.

``normalize`` turns counts into ``-log((data - dark) / (flat - dark))`` with a
guard on non-positive transmission; ``remove_rings`` suppresses the detector
stripes that become rings in the reconstruction (column-profile flattening).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

__all__ = ["Normalized", "normalize", "remove_rings"]


@dataclass(frozen=True, eq=False)
class Normalized:
    """Line integrals and how many transmission values had to be guarded.

    Attributes
    ----------
    projections : float32 array (angle, row, col)
        ``-log(T)``, finite everywhere.
    n_clipped : int
        Values with T below ``min_transmission`` (or not finite, or a
        non-positive flat-minus-dark) that were set to ``min_transmission``.
    """

    projections: np.ndarray
    n_clipped: int


def _as_stack(name: str, a, shape_rc: tuple[int, int] | None) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty (n, row, col) or (row, col) array, got shape {a.shape}")
    if shape_rc is not None and a.shape[1:] != shape_rc:
        raise ValueError(f"{name} has (row, col) = {a.shape[1:]}, data has {shape_rc}")
    return a


def normalize(data, flats, darks, *, flat_stat: str = "median", min_transmission: float = 1e-6) -> Normalized:
    """Flat/dark-correct projections and take -log.

    Parameters
    ----------
    data : array (angle, row, col)
        Projections, counts.
    flats, darks : array (n, row, col) or (row, col)
        Flat (open-beam) and dark fields, counts.
    flat_stat : {"median", "mean"}
        How the flat and dark stacks are reduced; the median rejects zingers.
    min_transmission : float
        Floor for the transmission, in (0, 1): keeps -log finite where the
        sample is opaque, noise drives counts to or below the dark level, or a
        detector pixel is dead (flat <= dark).

    Returns
    -------
    Normalized

    Examples
    --------
    >>> d = np.full((2, 1, 3), 110.0); d[0, 0, 0] = 5.0
    >>> out = normalize(d, np.full((1, 3), 1010.0), np.full((1, 3), 10.0))
    >>> [round(float(v), 3) for v in out.projections[1, 0]], out.n_clipped
    ([2.303, 2.303, 2.303], 1)
    """
    if flat_stat not in ("median", "mean"):
        raise ValueError(f"flat_stat must be 'median' or 'mean', got {flat_stat!r}")
    if not (0.0 < min_transmission < 1.0):
        raise ValueError(f"min_transmission must be in (0, 1), got {min_transmission!r}")
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 3 or data.size == 0:
        raise ValueError(f"data must be a non-empty (angle, row, col) array, got shape {data.shape}")
    flats = _as_stack("flats", flats, data.shape[1:])
    darks = _as_stack("darks", darks, data.shape[1:])
    reduce = np.median if flat_stat == "median" else np.mean
    dark = reduce(darks, axis=0)
    open_beam = reduce(flats, axis=0) - dark
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (data - dark) / open_beam
    bad = ~(t >= min_transmission)  # also catches NaN and a non-positive open beam
    bad |= ~np.isfinite(t)
    bad |= (open_beam <= 0)[None]
    t[bad] = min_transmission
    proj = -np.log(t, dtype=np.float32)
    return Normalized(projections=proj, n_clipped=int(bad.sum()))


def remove_rings(sinogram_stack, *, size: int = 9) -> np.ndarray:
    """Suppress stripes (ring artifacts) by flattening the column profile.

    A detector column with a wrong gain or offset adds the same error to every
    angle of its sinogram: a stripe, which backprojects to a ring. The median
    over angles of each column is the sample's angle-averaged projection (a
    smooth curve: the projection of the sample averaged over rotation) plus
    the stripes; its high-pass part, the profile minus a running median of
    ``size`` columns, estimates the stripes and is subtracted from every
    angle. The median over angles ignores zingers and partial stripes of
    short duration; the running median keeps the sample's edges.

    Parameters
    ----------
    sinogram_stack : array (angle, row, col) or (angle, col)
        Line integrals (projection layout; each row is one sinogram).
    size : int
        Odd window (columns), >= 3: stripes up to about ``size // 2`` columns
        wide are removed; a smaller window disturbs a clean sinogram less.

    Returns
    -------
    float32 array, same shape as the input.

    Examples
    --------
    >>> s = np.tile(np.hanning(64), (90, 1)).astype(np.float32)
    >>> s[:, 30] += 0.2
    >>> out = remove_rings(s)
    >>> bool(abs(out[:, 30] - np.hanning(64)[30]).max() < 0.01)
    True
    """
    s = np.asarray(sinogram_stack, dtype=np.float32)
    squeeze = s.ndim == 2
    if squeeze:
        s = s[:, None, :]
    if s.ndim != 3 or s.size == 0:
        raise ValueError(f"sinogram_stack must be (angle, row, col) or (angle, col), got shape {s.shape}")
    if int(size) != size or size < 3 or size % 2 == 0:
        raise ValueError(f"size must be an odd integer >= 3, got {size!r}")
    profile = np.median(s, axis=0)  # (row, col)
    baseline = median_filter(profile, size=(1, int(size)), mode="nearest")
    out = s - (profile - baseline)[None]
    return out[:, 0, :] if squeeze else out
